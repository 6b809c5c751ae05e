// k8s::Client against an in-process fake API server: discovery (aggregated and legacy, and a
// CRD that appears later), errors that keep the API reason, paging and the 410 restart, query
// encoding, credentials, patch/delete/scale wire format, throttling retries and watch streams.
#include "k8s/client.h"

#include <atomic>
#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fake_api_server.h"
#include "k8s/api_status.h"
#include "status_matchers.h"

#if __has_include("net/tls.h")
#include "net/tls.h"
#endif

namespace kobs::k8s {
namespace {

using ::kobs::k8s::testing::FakeApiServer;
using ::kobs::testing::IsOk;
using ::kobs::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr char kConfigMaps[] = "/api/v1/namespaces/default/configmaps";

ResourceInfo ConfigMaps() {
  ResourceInfo r;
  r.version = "v1";
  r.kind = "ConfigMap";
  r.resource = "configmaps";
  r.namespaced = true;
  return r;
}

ResourceInfo Deployments() {
  ResourceInfo r;
  r.group = "apps";
  r.version = "v1";
  r.kind = "Deployment";
  r.resource = "deployments";
  r.namespaced = true;
  return r;
}

json ConfigMap(const std::string& name, const std::string& value = "1") {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"data", {{"k", value}}}};
}

std::vector<std::string> Names(const json& items) {
  std::vector<std::string> out;
  for (const auto& i : items) out.push_back(i["metadata"]["name"].get<std::string>());
  return out;
}

std::string_view TypeName(WatchEvent::Type t) {
  switch (t) {
    case WatchEvent::Type::kAdded:
      return "ADDED";
    case WatchEvent::Type::kModified:
      return "MODIFIED";
    case WatchEvent::Type::kDeleted:
      return "DELETED";
    case WatchEvent::Type::kBookmark:
      return "BOOKMARK";
    case WatchEvent::Type::kError:
      return "ERROR";
  }
  return "?";
}

// Waits up to `limit` for `cond`, polling.
template <typename Cond>
bool WaitFor(Cond cond, std::chrono::milliseconds limit = 3000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

class ClientTest : public ::testing::Test {
 protected:
  explicit ClientTest(FakeApiServer::Options options = {}) : server_(WithToken(options)) {}

  static FakeApiServer::Options WithToken(FakeApiServer::Options o) {
    o.token = "secret-token";
    return o;
  }

  void SetUp() override { client_ = MakeClient(); }

  std::unique_ptr<Client> MakeClient(ClientOptions options = {}) {
    ClusterConfig config;
    config.server = server_.url();
    config.token = "secret-token";
    options.user_agent = "kobs-test/1";
    if (options.watch_idle_timeout == ClientOptions().watch_idle_timeout) {
      options.watch_idle_timeout = 5000ms;
    }
    auto client = Client::Create(std::move(config), std::move(options));
    EXPECT_THAT(client, IsOk());
    return client.ok() ? std::move(*client) : nullptr;
  }

  FakeApiServer server_;
  std::unique_ptr<Client> client_;
};

TEST_F(ClientTest, AggregatedDiscoveryMapsKindsAndNames) {
  ASSERT_OK_AND_ASSIGN(ResourceInfo deploy, client_->Resource("apps/v1", "Deployment"));
  EXPECT_EQ(deploy.resource, "deployments");
  EXPECT_TRUE(deploy.namespaced);
  ASSERT_OK_AND_ASSIGN(ResourceInfo cm, client_->Resource("v1", "ConfigMap"));
  EXPECT_EQ(cm.Path("default", "x"), "/api/v1/namespaces/default/configmaps/x");
  ASSERT_OK_AND_ASSIGN(ResourceInfo by_name, client_->ResourceByName("deploy"));
  EXPECT_EQ(by_name.kind, "Deployment");
  EXPECT_THAT(client_->Resource("v1", "NoSuchKind"), StatusIs(absl::StatusCode::kNotFound));
  // One aggregated document each for /api and /apis, asked for with the v2 media type.
  auto api = server_.RequestsTo("/api");
  ASSERT_EQ(api.size(), 1u);
  EXPECT_THAT(api[0].accept, HasSubstr("g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"));
  EXPECT_EQ(server_.RequestsTo("/apis").size(), 1u);
  EXPECT_THAT(server_.RequestsTo("/apis/apps/v1"), IsEmpty());
}

TEST_F(ClientTest, DiscoveryRefreshFindsLaterCustomResourcesAtMostOncePerInterval) {
  ClientOptions options;
  options.discovery_refresh_interval = 100ms;
  auto client = MakeClient(options);
  EXPECT_THAT(client->Resource("example.com/v1", "Widget"), StatusIs(absl::StatusCode::kNotFound));
  server_.AddCustomResource("example.com", "v1", "Widget", "widgets");
  // Discovery is fresh: no new request, still unknown.
  EXPECT_THAT(client->Resource("example.com/v1", "Widget"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(server_.RequestsTo("/apis").size(), 1u);
  std::this_thread::sleep_for(110ms);
  ASSERT_OK_AND_ASSIGN(ResourceInfo widget, client->Resource("example.com/v1", "Widget"));
  EXPECT_EQ(widget.Path("ns"), "/apis/example.com/v1/namespaces/ns/widgets");
  EXPECT_EQ(server_.RequestsTo("/apis").size(), 2u);
  ASSERT_OK_AND_ASSIGN(ResourceInfo again, client->ResourceByName("widgets.example.com"));
  EXPECT_EQ(again.kind, "Widget");
  EXPECT_EQ(server_.RequestsTo("/apis").size(), 2u);
}

class LegacyDiscoveryTest : public ClientTest {
 protected:
  LegacyDiscoveryTest() : ClientTest(FakeApiServer::Options{.aggregated_discovery = false}) {}
};

TEST_F(LegacyDiscoveryTest, FallsBackToPerGroupVersionDocumentsAndSkipsBrokenGroups) {
  ASSERT_THAT(client_->RefreshDiscovery(), IsOk());
  ASSERT_OK_AND_ASSIGN(ResourceInfo deploy, client_->Resource("apps/v1", "Deployment"));
  EXPECT_EQ(deploy.resource, "deployments");
  EXPECT_EQ(deploy.api_version(), "apps/v1");
  ASSERT_OK_AND_ASSIGN(ResourceInfo pod, client_->ResourceByName("po"));
  EXPECT_EQ(pod.kind, "Pod");
  EXPECT_EQ(server_.RequestsTo("/api/v1").size(), 1u);
  EXPECT_EQ(server_.RequestsTo("/apis/apps/v1").size(), 1u);
  EXPECT_EQ(server_.RequestsTo("/apis/broken.example.com/v1").size(), 1u);
}

TEST_F(ClientTest, SendsTheBearerTokenAndUserAgent) {
  server_.Put(kConfigMaps, ConfigMap("a"));
  ASSERT_THAT(client_->Get(ConfigMaps(), "default", "a"), IsOk());
  auto gets = server_.RequestsTo(std::string(kConfigMaps) + "/a");
  ASSERT_EQ(gets.size(), 1u);
  EXPECT_EQ(gets[0].authorization, "Bearer secret-token");
  EXPECT_EQ(gets[0].user_agent, "kobs-test/1");
  EXPECT_EQ(gets[0].accept, "application/json");

  ClusterConfig wrong;
  wrong.server = server_.url();
  wrong.token = "wrong";
  ASSERT_OK_AND_ASSIGN(auto unauthorized, Client::Create(wrong));
  auto got = unauthorized->Get(ConfigMaps(), "default", "a");
  EXPECT_THAT(got, StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_EQ(ApiReason(got.status()), "Unauthorized");
}

TEST_F(ClientTest, ErrorsKeepTheApiReason) {
  auto missing = client_->Get(ConfigMaps(), "default", "nope");
  EXPECT_THAT(missing, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(ApiReason(missing.status()), "NotFound");
  EXPECT_EQ(ApiCode(missing.status()), 404);

  ASSERT_OK_AND_ASSIGN(json created, client_->Create(ConfigMaps(), "", ConfigMap("a")));
  EXPECT_EQ(created["metadata"]["namespace"], "default");
  const std::string rv = created["metadata"]["resourceVersion"].get<std::string>();
  auto again = client_->Create(ConfigMaps(), "default", ConfigMap("a"));
  EXPECT_THAT(again, StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(ApiReason(again.status()), "AlreadyExists");

  json update = created;
  update["data"]["k"] = "2";
  ASSERT_OK_AND_ASSIGN(json updated, client_->Update(ConfigMaps(), "default", update));
  EXPECT_NE(updated["metadata"]["resourceVersion"], rv);
  // A second update from the same (now stale) version conflicts.
  auto stale = client_->Update(ConfigMaps(), "default", update);
  EXPECT_THAT(stale, StatusIs(absl::StatusCode::kAborted));
  EXPECT_TRUE(IsConflict(stale.status()));
  EXPECT_EQ(ApiCode(stale.status()), 409);
}

TEST_F(ClientTest, RejectsNamesThatAreNotPathSegmentsWithoutSendingAnything) {
  const size_t before = server_.requests().size();
  EXPECT_THAT(client_->Get(ConfigMaps(), "default", "a/b"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(client_->Get(ConfigMaps(), "default", ".."),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(client_->Get(ConfigMaps(), "a?b", "x"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(client_->Get(ConfigMaps(), "", "x"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(client_->Do("GET", "api/v1"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(server_.requests().size(), before);
}

TEST_F(ClientTest, ListsPageByPageWithEncodedContinueTokens) {
  for (const char* name : {"a", "b", "c", "d", "e"}) server_.Put(kConfigMaps, ConfigMap(name));
  ASSERT_OK_AND_ASSIGN(ListResult page, client_->List(ConfigMaps(), "default", {.limit = 2}));
  EXPECT_THAT(Names(page.items), ElementsAre("a", "b"));
  EXPECT_EQ(page.remaining_item_count, 3);
  EXPECT_EQ(page.resource_version, std::to_string(server_.resource_version()));
  // The token has '/', '+' and '=': the server decodes them back only if they were encoded.
  EXPECT_EQ(page.continue_token, fmt::format("tok/2+{}=", server_.resource_version()));

  ASSERT_OK_AND_ASSIGN(json all, client_->ListAll(ConfigMaps(), "default", {}, /*page_size=*/2));
  EXPECT_THAT(Names(all["items"]), ElementsAre("a", "b", "c", "d", "e"));
  EXPECT_EQ(all["kind"], "ConfigMapList");
  EXPECT_EQ(all["metadata"]["resourceVersion"], std::to_string(server_.resource_version()));
  auto lists = server_.RequestsTo(kConfigMaps, "GET");
  ASSERT_EQ(lists.size(), 4u);  // List, then three pages
  EXPECT_EQ(lists[2].Param("continue"), page.continue_token);
  EXPECT_THAT(lists[2].target, HasSubstr("continue=tok%2F2%2B"));
  EXPECT_EQ(lists[3].Param("limit"), "2");
}

TEST_F(ClientTest, ListAllStartsOverUnpagedWhenTheContinueTokenExpires) {
  for (const char* name : {"a", "b", "c", "d", "e"}) server_.Put(kConfigMaps, ConfigMap(name));
  server_.ExpireContinueTokens(1);
  ASSERT_OK_AND_ASSIGN(json all, client_->ListAll(ConfigMaps(), "default", {}, /*page_size=*/2));
  EXPECT_THAT(Names(all["items"]), ElementsAre("a", "b", "c", "d", "e"));
  auto lists = server_.RequestsTo(kConfigMaps, "GET");
  ASSERT_EQ(lists.size(), 3u);
  EXPECT_EQ(lists[0].Param("limit"), "2");
  EXPECT_NE(lists[1].Param("continue"), "");  // 410 Expired
  EXPECT_EQ(lists[2].Param("continue"), "");
  EXPECT_EQ(lists[2].Param("limit"), "");

  // List itself reports the expiry with the API's reason.
  server_.ExpireContinueTokens(1);
  auto expired = client_->List(ConfigMaps(), "default", {.limit = 2, .continue_token = "tok/2+1="});
  EXPECT_THAT(expired, StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_TRUE(IsGone(expired.status()));
}

TEST_F(ClientTest, PercentEncodesQueryParameters) {
  ListOptions options;
  options.label_selector = "app in (a,b),tier!=x";
  options.field_selector = "metadata.name=a+b";
  options.resource_version = "0";
  options.resource_version_match = "NotOlderThan";
  ASSERT_THAT(client_->List(ConfigMaps(), "default", options), IsOk());
  auto lists = server_.RequestsTo(kConfigMaps, "GET");
  ASSERT_EQ(lists.size(), 1u);
  EXPECT_THAT(lists[0].target, HasSubstr("labelSelector=app%20in%20%28a%2Cb%29%2Ctier%21%3Dx"));
  EXPECT_EQ(lists[0].Param("labelSelector"), options.label_selector);
  EXPECT_EQ(lists[0].Param("fieldSelector"), options.field_selector);
  EXPECT_EQ(lists[0].Param("resourceVersion"), "0");
  EXPECT_EQ(lists[0].Param("resourceVersionMatch"), "NotOlderThan");
}

TEST_F(ClientTest, PatchSendsTheContentTypeFieldManagerAndForce) {
  server_.Put(kConfigMaps, ConfigMap("a"));
  const std::string path = std::string(kConfigMaps) + "/a";
  ASSERT_OK_AND_ASSIGN(json applied,
                       client_->Patch(ConfigMaps(), "default", "a", PatchType::kApplyPatch,
                                      R"({"data":{"k":"applied"}})", "", "kobs-ctl", true));
  EXPECT_EQ(applied["data"]["k"], "applied");
  ASSERT_OK_AND_ASSIGN(json merged,
                       client_->Patch(ConfigMaps(), "default", "a", PatchType::kMergePatch,
                                      R"({"data":{"j":"2"}})"));
  EXPECT_EQ(merged["data"]["j"], "2");
  auto patches = server_.RequestsTo(path, "PATCH");
  ASSERT_EQ(patches.size(), 2u);
  EXPECT_EQ(patches[0].content_type, "application/apply-patch+yaml");
  EXPECT_EQ(patches[0].Param("fieldManager"), "kobs-ctl");
  EXPECT_EQ(patches[0].Param("force"), "true");
  EXPECT_EQ(patches[1].content_type, "application/merge-patch+json");
  EXPECT_EQ(patches[1].Param("fieldManager"), "kobs");
  EXPECT_EQ(patches[1].Param("force"), "");
  EXPECT_THAT(client_->Patch(ConfigMaps(), "default", "a", PatchType::kApplyPatch, "{}", "", ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(ClientTest, DeleteSendsDeleteOptions) {
  json created = server_.Put(kConfigMaps, ConfigMap("a"));
  DeleteOptions options;
  options.propagation_policy = "Foreground";
  options.precondition_uid = created["metadata"]["uid"].get<std::string>();
  options.grace_period_seconds = 0;
  ASSERT_THAT(client_->Delete(ConfigMaps(), "default", "a", options), IsOk());
  auto deletes = server_.RequestsTo(std::string(kConfigMaps) + "/a", "DELETE");
  ASSERT_EQ(deletes.size(), 1u);
  json body = json::parse(deletes[0].body);
  EXPECT_EQ(body["kind"], "DeleteOptions");
  EXPECT_EQ(body["propagationPolicy"], "Foreground");
  EXPECT_EQ(body["preconditions"]["uid"], created["metadata"]["uid"]);
  EXPECT_EQ(body["gracePeriodSeconds"], 0);
  EXPECT_THAT(client_->Delete(ConfigMaps(), "default", "a"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(ClientTest, ReadsAndSetsTheScaleSubresource) {
  const std::string deployments = "/apis/apps/v1/namespaces/default/deployments";
  server_.Put(deployments, {{"apiVersion", "apps/v1"},
                            {"kind", "Deployment"},
                            {"metadata", {{"name", "web"}, {"namespace", "default"}}},
                            {"spec", {{"replicas", 2}}}});
  ASSERT_OK_AND_ASSIGN(int64_t replicas, client_->GetScale(Deployments(), "default", "web"));
  EXPECT_EQ(replicas, 2);
  ASSERT_THAT(client_->SetScale(Deployments(), "default", "web", 5), IsOk());
  ASSERT_OK_AND_ASSIGN(replicas, client_->GetScale(Deployments(), "default", "web"));
  EXPECT_EQ(replicas, 5);
  auto patches = server_.RequestsTo(deployments + "/web/scale", "PATCH");
  ASSERT_EQ(patches.size(), 1u);
  EXPECT_EQ(patches[0].content_type, "application/merge-patch+json");
  EXPECT_EQ(json::parse(patches[0].body), json::parse(R"({"spec":{"replicas":5}})"));
}

TEST_F(ClientTest, RetriesThrottledRequestsAfterRetryAfter) {
  server_.Put(kConfigMaps, ConfigMap("a"));
  std::atomic<int> refused{0};
  server_.SetHook([&](const net::Request&, net::ResponseWriter& w) {
    if (refused.fetch_add(1) >= 2) return false;
    w.SetHeader("Retry-After", "0");
    net::Reply(w, 429, "application/json",
               testing::StatusBody(429, "TooManyRequests", "too many requests"));
    return true;
  });
  ASSERT_THAT(client_->Get(ConfigMaps(), "default", "a"), IsOk());
  EXPECT_EQ(server_.RequestsTo(std::string(kConfigMaps) + "/a").size(), 3u);

  ClientOptions no_retries;
  no_retries.max_throttle_retries = 0;
  auto client = MakeClient(no_retries);
  refused = 0;
  auto got = client->Get(ConfigMaps(), "default", "a");
  EXPECT_THAT(got, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(ApiReason(got.status()), "TooManyRequests");
}

TEST_F(ClientTest, TransportFailuresAreUnavailable) {
  ClusterConfig config;
  config.server = "http://127.0.0.1:1";  // nothing listens there
  ASSERT_OK_AND_ASSIGN(auto client, Client::Create(config));
  EXPECT_THAT(client->Get(ConfigMaps(), "default", "a"), StatusIs(absl::StatusCode::kUnavailable));
  config.server = "ftp://example.com";
  EXPECT_THAT(Client::Create(config), StatusIs(absl::StatusCode::kInvalidArgument));
  config.server = "https://example.com?x=1";
  EXPECT_THAT(Client::Create(config), StatusIs(absl::StatusCode::kInvalidArgument));
}

// ---------------------------------------------------------------------------------------------
// Watch streams

struct Seen {
  std::string type;
  std::string name;
  std::string rv;
};

TEST_F(ClientTest, WatchDeliversEventsAndBookmarksUntilTheConsumerStops) {
  json a = server_.Put(kConfigMaps, ConfigMap("a"));
  const std::string from = a["metadata"]["resourceVersion"].get<std::string>();
  std::thread producer([&] {
    ASSERT_TRUE(WaitFor([&] { return server_.active_watches() > 0; }));
    server_.Put(kConfigMaps, ConfigMap("b"));
    server_.Bookmark();
    server_.Remove(kConfigMaps, "a");
  });
  std::vector<Seen> seen;
  ListOptions options;
  options.resource_version = from;
  absl::Status s = client_->WatchOnce(ConfigMaps(), "default", options, [&](WatchEvent& e) {
    seen.push_back({std::string(TypeName(e.type)), e.object["metadata"].value("name", ""),
                    e.resource_version});
    return e.type != WatchEvent::Type::kDeleted;
  });
  producer.join();
  EXPECT_THAT(s, IsOk());
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].type, "ADDED");
  EXPECT_EQ(seen[0].name, "b");
  EXPECT_EQ(seen[1].type, "BOOKMARK");
  EXPECT_EQ(seen[2].type, "DELETED");
  EXPECT_EQ(seen[2].name, "a");
  auto watches = server_.RequestsTo(kConfigMaps, "GET");
  ASSERT_EQ(watches.size(), 1u);
  EXPECT_EQ(watches[0].Param("watch"), "1");
  EXPECT_EQ(watches[0].Param("allowWatchBookmarks"), "true");
  EXPECT_EQ(watches[0].Param("resourceVersion"), from);
  const int timeout = std::stoi(watches[0].Param("timeoutSeconds"));
  EXPECT_GE(timeout, 300);
  EXPECT_LT(timeout, 600);
}

TEST_F(ClientTest, WatchFromACompactedVersionGetsGoneAsAnErrorEvent) {
  json a = server_.Put(kConfigMaps, ConfigMap("a"));
  server_.Put(kConfigMaps, ConfigMap("b"));
  server_.DropWatches(/*compact=*/true);
  std::vector<WatchEvent> events;
  ListOptions options{.resource_version = a["metadata"]["resourceVersion"].get<std::string>()};
  absl::Status s = client_->WatchOnce(ConfigMaps(), "default", options, [&](WatchEvent& e) {
    events.push_back(e);
    return false;
  });
  EXPECT_THAT(s, IsOk());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, WatchEvent::Type::kError);
  EXPECT_TRUE(IsGone(events[0].error)) << events[0].error;
}

class GoneAsHttpTest : public ClientTest {
 protected:
  GoneAsHttpTest() : ClientTest(FakeApiServer::Options{.gone_as_http = true}) {}
};

TEST_F(GoneAsHttpTest, WatchFromACompactedVersionFailsWithGone) {
  json a = server_.Put(kConfigMaps, ConfigMap("a"));
  server_.Put(kConfigMaps, ConfigMap("b"));
  server_.DropWatches(/*compact=*/true);
  ListOptions options{.resource_version = a["metadata"]["resourceVersion"].get<std::string>()};
  absl::Status s =
      client_->WatchOnce(ConfigMaps(), "default", options, [](WatchEvent&) { return true; });
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_TRUE(IsGone(s));
}

TEST_F(ClientTest, WatchStopsPromptlyOnRequest) {
  std::stop_source stop;
  absl::Status s;
  std::thread watcher([&] {
    s = client_->WatchOnce(
        ConfigMaps(), "default", {}, [](WatchEvent&) { return true; }, stop.get_token());
  });
  ASSERT_TRUE(WaitFor([&] { return server_.active_watches() > 0; }));
  std::this_thread::sleep_for(20ms);
  const auto start = std::chrono::steady_clock::now();
  stop.request_stop();
  watcher.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 200ms);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kCancelled));
}

TEST_F(ClientTest, SilentWatchEndsAfterTheIdleTimeout) {
  ClientOptions options;
  options.watch_idle_timeout = 150ms;
  auto client = MakeClient(options);
  const auto start = std::chrono::steady_clock::now();
  absl::Status s = client->WatchOnce(ConfigMaps(), "default", {}, [](WatchEvent&) { return true; });
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_GE(took, 150ms);
  EXPECT_LT(took, 1000ms);
}

TEST_F(ClientTest, DroppedWatchConnectionIsUnavailable) {
  std::thread dropper([&] {
    ASSERT_TRUE(WaitFor([&] { return server_.active_watches() > 0; }));
    server_.DropWatches(/*compact=*/false);
  });
  absl::Status s =
      client_->WatchOnce(ConfigMaps(), "default", {}, [](WatchEvent&) { return true; });
  dropper.join();
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable));
}

class ChunkedWatchTest : public ClientTest {
 protected:
  ChunkedWatchTest() : ClientTest(FakeApiServer::Options{.chunked_watch = true}) {}
};

TEST_F(ChunkedWatchTest, WatchThatTheServerEndsReturnsOk) {
  server_.Put(kConfigMaps, ConfigMap("a"));
  std::thread dropper([&] {
    ASSERT_TRUE(WaitFor([&] { return server_.active_watches() > 0; }));
    server_.DropWatches(/*compact=*/false);
  });
  int added = 0;
  absl::Status s = client_->WatchOnce(ConfigMaps(), "default", {}, [&](WatchEvent& e) {
    added += e.type == WatchEvent::Type::kAdded;  // no resourceVersion: current objects first
    return true;
  });
  dropper.join();
  EXPECT_THAT(s, IsOk());
  EXPECT_EQ(added, 1);
}

#if __has_include("net/tls.h")
TEST(ClientTlsTest, VerifiesTheServerWithTheClusterCaAndServerName) {
  ASSERT_OK_AND_ASSIGN(net::KeyPair ca, net::GenerateCa("kobs-test-ca"));
  net::LeafOptions leaf;
  leaf.common_name = "kube-apiserver";
  leaf.dns_names = {"kubernetes.default.svc"};
  leaf.ip_addresses = {"127.0.0.1"};
  ASSERT_OK_AND_ASSIGN(net::KeyPair serving, net::IssueCertificate(ca, leaf));
  FakeApiServer server(
      FakeApiServer::Options{.tls_cert_pem = serving.cert_pem, .tls_key_pem = serving.key_pem});
  server.Put(kConfigMaps, ConfigMap("a"));

  ClusterConfig config;
  config.server = server.url();
  config.ca_pem = ca.cert_pem;
  ASSERT_OK_AND_ASSIGN(auto client, Client::Create(config));
  ASSERT_OK_AND_ASSIGN(json got, client->Get(ConfigMaps(), "default", "a"));
  EXPECT_EQ(got["data"]["k"], "1");

  // A name the certificate has, while connecting to 127.0.0.1; and one it lacks.
  config.tls_server_name = "kubernetes.default.svc";
  ASSERT_OK_AND_ASSIGN(auto named, Client::Create(config));
  EXPECT_THAT(named->Get(ConfigMaps(), "default", "a"), IsOk());
  config.tls_server_name = "other.example.com";
  ASSERT_OK_AND_ASSIGN(auto misnamed, Client::Create(config));
  EXPECT_THAT(misnamed->Get(ConfigMaps(), "default", "a"),
              StatusIs(absl::StatusCode::kUnavailable));

  // Another CA does not verify the server, unless verification is off.
  ASSERT_OK_AND_ASSIGN(net::KeyPair other_ca, net::GenerateCa("other-ca"));
  config.tls_server_name.clear();
  config.ca_pem = other_ca.cert_pem;
  ASSERT_OK_AND_ASSIGN(auto untrusted, Client::Create(config));
  EXPECT_THAT(untrusted->Get(ConfigMaps(), "default", "a"),
              StatusIs(absl::StatusCode::kUnavailable));
  config.insecure_skip_tls_verify = true;
  ASSERT_OK_AND_ASSIGN(auto insecure, Client::Create(config));
  EXPECT_THAT(insecure->Get(ConfigMaps(), "default", "a"), IsOk());
}
#endif

}  // namespace
}  // namespace kobs::k8s
