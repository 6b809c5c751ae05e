// kobs's Kubernetes client against the simulated API server, over HTTPS with the kubeconfig
// the server writes: paging, conflicts, every patch type, discovery of a CRD created after
// start, watch resume across a server restart without gaps or duplicates, 410 handling, and
// lease takeover.
#include <map>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/metrics.h"
#include "k8s/api_status.h"
#include "k8s/client.h"
#include "k8s/kube_config.h"
#include "k8s/leader_election.h"
#include "k8s/watcher.h"
#include "sim/api.h"
#include "sim/sim_server.h"
#include "status_matchers.h"
#include "temp_dir.h"

namespace kobs::sim {
namespace {

using ::kobs::testing::IsOk;
using ::kobs::testing::StatusIs;
using nlohmann::json;

template <typename F>
bool WaitFor(F cond, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

class ClientSimTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(0); }
  void TearDown() override {
    client_.reset();
    if (server_) server_->Stop();
  }

  // `before_start` runs on the new server's API before it accepts connections.
  void StartServer(uint16_t port, size_t history = 10000,
                   const std::function<void(Api&)>& before_start = nullptr) {
    auto server = SimServer::Create({.port = port,
                                     .dir = dir_.Sub("sim"),
                                     .history = history,
                                     .bookmark_interval = std::chrono::milliseconds(200)},
                                    metrics_);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    if (before_start) before_start(server_->api());
    ASSERT_THAT(server_->Start(), IsOk());
    if (client_ == nullptr) {
      auto config = k8s::LoadKubeconfig({server_->kubeconfig_path()});
      ASSERT_THAT(config, IsOk());
      auto client = k8s::Client::Create(
          *config, {.qps = 0, .discovery_refresh_interval = std::chrono::milliseconds(200)});
      ASSERT_THAT(client, IsOk());
      client_ = *std::move(client);
    }
  }

  k8s::ResourceInfo Resource(const std::string& name) {
    auto r = client_->ResourceByName(name);
    EXPECT_THAT(r, IsOk());
    return r.ok() ? *r : k8s::ResourceInfo{};
  }

  static json ConfigMap(const std::string& name, const std::string& value = "v") {
    return {{"apiVersion", "v1"},
            {"kind", "ConfigMap"},
            {"metadata", {{"name", name}}},
            {"data", {{"k", value}}}};
  }

  kobs::testing::TempDir dir_;
  MetricsRegistry metrics_;
  std::unique_ptr<SimServer> server_;
  std::unique_ptr<k8s::Client> client_;
};

TEST_F(ClientSimTest, PagingConflictsAndErrors) {
  k8s::ResourceInfo cms = Resource("configmaps");
  for (int i = 0; i < 25; ++i) {
    ASSERT_THAT(client_->Create(cms, "default", ConfigMap("cm-" + std::to_string(i))), IsOk());
  }
  ASSERT_OK_AND_ASSIGN(k8s::ListResult page, client_->List(cms, "default", {.limit = 10}));
  EXPECT_EQ(page.items.size(), 10u);
  EXPECT_EQ(page.remaining_item_count, 15);
  EXPECT_FALSE(page.continue_token.empty());
  ASSERT_OK_AND_ASSIGN(json all, client_->ListAll(cms, "default", {}, /*page_size=*/4));
  EXPECT_EQ(all["items"].size(), 25u);

  ASSERT_OK_AND_ASSIGN(json cm, client_->Get(cms, "default", "cm-1"));
  json stale = cm;
  cm["data"]["k"] = "new";
  ASSERT_THAT(client_->Update(cms, "default", cm), IsOk());
  stale["data"]["k"] = "lost";
  absl::Status conflict = client_->Update(cms, "default", stale).status();
  EXPECT_TRUE(k8s::IsConflict(conflict)) << conflict;
  EXPECT_EQ(k8s::ApiCode(conflict), 409);
  absl::Status missing = client_->Get(cms, "default", "nope").status();
  EXPECT_THAT(missing, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(k8s::ApiReason(missing), "NotFound");
  EXPECT_EQ(k8s::ApiReason(client_->Create(cms, "default", ConfigMap("cm-1")).status()),
            "AlreadyExists");
  ASSERT_THAT(client_->Delete(cms, "default", "cm-2", {.precondition_uid = "wrong"}),
              StatusIs(absl::StatusCode::kAborted));
  ASSERT_THAT(client_->Delete(cms, "default", "cm-2"), IsOk());
}

TEST_F(ClientSimTest, EveryPatchTypeAndScale) {
  k8s::ResourceInfo deploys = Resource("deployments");
  json d = {{"apiVersion", "apps/v1"},
            {"kind", "Deployment"},
            {"metadata", {{"name", "web"}}},
            {"spec",
             {{"replicas", 1},
              {"selector", {{"matchLabels", {{"app", "web"}}}}},
              {"template",
               {{"metadata", {{"labels", {{"app", "web"}}}}},
                {"spec",
                 {{"containers",
                   {{{"name", "a"}, {"image", "a:1"}}, {{"name", "b"}, {"image", "b:1"}}}}}}}}}}};
  ASSERT_THAT(client_->Create(deploys, "default", d), IsOk());
  ASSERT_OK_AND_ASSIGN(
      json p, client_->Patch(deploys, "default", "web", k8s::PatchType::kStrategicMergePatch,
                             R"({"spec":{"template":{"spec":{"containers":[{"name":"b","image":"b:2"}]}}}})"));
  EXPECT_EQ(p["spec"]["template"]["spec"]["containers"].size(), 2u);
  EXPECT_EQ(p["spec"]["template"]["spec"]["containers"][1]["image"], "b:2");
  ASSERT_OK_AND_ASSIGN(p, client_->Patch(deploys, "default", "web", k8s::PatchType::kMergePatch,
                                         R"({"metadata":{"annotations":{"x":"1"}}})"));
  EXPECT_EQ(p["metadata"]["annotations"]["x"], "1");
  ASSERT_OK_AND_ASSIGN(p, client_->Patch(deploys, "default", "web", k8s::PatchType::kJsonPatch,
                                         R"([{"op":"add","path":"/metadata/labels","value":{"l":"y"}}])"));
  EXPECT_EQ(p["metadata"]["labels"]["l"], "y");
  ASSERT_OK_AND_ASSIGN(
      p, client_->Patch(deploys, "default", "web", k8s::PatchType::kApplyPatch,
                        R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":3}})",
                        "", "kobs-test", /*force=*/true));
  EXPECT_EQ(p["spec"]["replicas"], 3);
  ASSERT_OK_AND_ASSIGN(int64_t replicas, client_->GetScale(deploys, "default", "web"));
  EXPECT_EQ(replicas, 3);
  ASSERT_THAT(client_->SetScale(deploys, "default", "web", 6), IsOk());
  ASSERT_OK_AND_ASSIGN(json after, client_->Get(deploys, "default", "web"));
  EXPECT_EQ(after["spec"]["replicas"], 6);
}

TEST_F(ClientSimTest, DiscoversACrdCreatedAfterStart) {
  EXPECT_FALSE(client_->ResourceByName("widgets").ok());
  json crd = {{"apiVersion", "apiextensions.k8s.io/v1"},
              {"kind", "CustomResourceDefinition"},
              {"metadata", {{"name", "widgets.example.com"}}},
              {"spec",
               {{"group", "example.com"},
                {"scope", "Namespaced"},
                {"names", {{"kind", "Widget"}, {"plural", "widgets"}, {"shortNames", {"wd"}}}},
                {"versions", {{{"name", "v1"}, {"served", true}, {"storage", true}}}}}}};
  ASSERT_THAT(client_->Create(Resource("customresourcedefinitions"), "", crd), IsOk());
  // Found by kind and by name once discovery is refreshed (the client does it on a miss).
  std::this_thread::sleep_for(client_->options().discovery_refresh_interval);
  ASSERT_OK_AND_ASSIGN(k8s::ResourceInfo widgets, client_->Resource("example.com/v1", "Widget"));
  EXPECT_EQ(widgets.resource, "widgets");
  EXPECT_TRUE(widgets.namespaced);
  ASSERT_THAT(client_->Create(widgets, "default",
                              {{"apiVersion", "example.com/v1"},
                               {"kind", "Widget"},
                               {"metadata", {{"name", "w"}}}}),
              IsOk());
  ASSERT_OK_AND_ASSIGN(k8s::ResourceInfo by_short, client_->ResourceByName("wd"));
  EXPECT_EQ(by_short.kind, "Widget");
}

TEST_F(ClientSimTest, WatchResumesAcrossAServerRestartWithoutGapsOrDuplicates) {
  k8s::ResourceInfo cms = Resource("configmaps");
  absl::Mutex mu;
  std::vector<std::string> seen;  // "<type> <name> <rv>"
  std::map<std::string, int> adds;
  k8s::Watcher watcher(*client_, cms,
                       {.namespace_ = "default",
                        .initial_backoff = std::chrono::milliseconds(50),
                        .max_backoff = std::chrono::milliseconds(200)},
                       [&](const k8s::WatchEvent& e) {
                         absl::MutexLock lock(&mu);
                         std::string name = e.object["metadata"].value("name", "");
                         seen.push_back(name + "@" + e.resource_version);
                         if (e.type == k8s::WatchEvent::Type::kAdded) ++adds[name];
                       });
  watcher.Start();
  ASSERT_TRUE(WaitFor([&] { return watcher.synced(); }));
  for (int i = 0; i < 20; ++i) {
    ASSERT_THAT(client_->Create(cms, "default", ConfigMap("before-" + std::to_string(i))), IsOk());
  }
  ASSERT_TRUE(WaitFor([&] {
    absl::MutexLock lock(&mu);
    return seen.size() == 20;
  }));
  const uint16_t port = server_->port();
  server_->Stop();
  server_.reset();
  StartServer(port);
  for (int i = 0; i < 20; ++i) {
    ASSERT_THAT(client_->Create(cms, "default", ConfigMap("after-" + std::to_string(i))), IsOk());
  }
  ASSERT_TRUE(WaitFor([&] {
    absl::MutexLock lock(&mu);
    return seen.size() >= 40;
  })) << "events seen: " << seen.size();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  watcher.Stop();
  absl::MutexLock lock(&mu);
  EXPECT_EQ(seen.size(), 40u);
  std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), seen.size()) << "duplicate events";
  for (const auto& [name, n] : adds) EXPECT_EQ(n, 1) << name;
  EXPECT_GE(watcher.reconnects(), 1u);
  EXPECT_EQ(watcher.relists(), 0u) << "resumed from its resourceVersion, no re-list";
}

TEST_F(ClientSimTest, WatchSendsBookmarksAndFollowsSelectors) {
  k8s::ResourceInfo cms = Resource("configmaps");
  json labeled = ConfigMap("sel");
  labeled["metadata"]["labels"] = {{"team", "a"}};
  ASSERT_OK_AND_ASSIGN(json made, client_->Create(cms, "default", labeled));
  std::string rv = made["metadata"]["resourceVersion"];
  std::vector<std::string> types;
  bool bookmark = false;
  std::thread changer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    // Leaves the selector: a DELETED for this watch. Back in: ADDED.
    ASSERT_THAT(client_->Patch(cms, "default", "sel", k8s::PatchType::kMergePatch,
                               R"({"metadata":{"labels":{"team":"b"}}})"),
                IsOk());
    ASSERT_THAT(client_->Patch(cms, "default", "sel", k8s::PatchType::kMergePatch,
                               R"({"metadata":{"labels":{"team":"a"}}})"),
                IsOk());
  });
  ASSERT_THAT(client_->WatchOnce(cms, "default",
                                 {.label_selector = "team=a", .resource_version = rv,
                                  .timeout_seconds = 3},
                                 [&](k8s::WatchEvent& e) {
                                   if (e.type == k8s::WatchEvent::Type::kBookmark) {
                                     bookmark = true;
                                     EXPECT_FALSE(e.resource_version.empty());
                                   } else {
                                     types.push_back(e.type == k8s::WatchEvent::Type::kDeleted
                                                         ? "DELETED"
                                                         : e.type == k8s::WatchEvent::Type::kAdded
                                                               ? "ADDED"
                                                               : "MODIFIED");
                                   }
                                   return !(bookmark && types.size() >= 2);
                                 }),
              IsOk());
  changer.join();
  EXPECT_EQ(types, (std::vector<std::string>{"DELETED", "ADDED"}));
  EXPECT_TRUE(bookmark);
}

TEST_F(ClientSimTest, GoneResourceVersionsRelistAndDeliverTheDifference) {
  // A small history: the watch's version is compacted away while the watcher is disconnected.
  const uint16_t port = server_->port();
  server_->Stop();
  server_.reset();
  StartServer(port, /*history=*/5);
  k8s::ResourceInfo cms = Resource("configmaps");
  ASSERT_THAT(client_->Create(cms, "default", ConfigMap("keep")), IsOk());
  ASSERT_THAT(client_->Create(cms, "default", ConfigMap("doomed")), IsOk());
  // The raw watch: an old resourceVersion ends in a 410 Expired error event.
  for (int i = 0; i < 10; ++i) {
    ASSERT_THAT(client_->Patch(cms, "default", "keep", k8s::PatchType::kMergePatch,
                               json{{"data", {{"i", std::to_string(i)}}}}.dump()),
                IsOk());
  }
  absl::Status gone;
  ASSERT_THAT(client_->WatchOnce(cms, "default", {.resource_version = "1"},
                                 [&](k8s::WatchEvent& e) {
                                   if (e.type == k8s::WatchEvent::Type::kError) gone = e.error;
                                   return true;
                                 }),
              IsOk());
  EXPECT_TRUE(k8s::IsGone(gone)) << gone;
  EXPECT_EQ(k8s::ApiCode(gone), 410);

  absl::Mutex mu;
  std::map<std::string, std::string> state;  // name -> last event type
  k8s::Watcher watcher(*client_, cms,
                       {.namespace_ = "default",
                        .initial_backoff = std::chrono::milliseconds(50),
                        .max_backoff = std::chrono::milliseconds(100)},
                       [&](const k8s::WatchEvent& e) {
                         absl::MutexLock lock(&mu);
                         std::string name = e.object["metadata"].value("name", "");
                         state[name] = e.type == k8s::WatchEvent::Type::kDeleted ? "DELETED"
                                                                                 : "PRESENT";
                       });
  watcher.Start();
  ASSERT_TRUE(WaitFor([&] { return watcher.synced(); }));
  // While the watcher is disconnected, the history moves far past its version.
  server_->Stop();
  server_.reset();
  StartServer(port, /*history=*/5, [](Api& api) {
    auto type = api.registry().Find("", "v1", "configmaps");
    ASSERT_THAT(api.Delete(*type, "default", "doomed"), IsOk());
    ASSERT_THAT(api.Create(*type, "default", ConfigMap("born")), IsOk());
    for (int i = 0; i < 10; ++i) {
      ASSERT_THAT(api.Patch(*type, "default", "born", k8s::PatchType::kMergePatch,
                            json{{"data", {{"i", std::to_string(i)}}}}.dump()),
                  IsOk());
    }
  });
  ASSERT_TRUE(WaitFor([&] {
    absl::MutexLock lock(&mu);
    return state["doomed"] == "DELETED" && state["born"] == "PRESENT";
  }));
  watcher.Stop();
  EXPECT_GE(watcher.relists(), 1u);
}

TEST_F(ClientSimTest, LeaseTakeoverWhenTheHolderStopsRenewing) {
  auto config = k8s::LoadKubeconfig({server_->kubeconfig_path()});
  ASSERT_THAT(config, IsOk());
  ASSERT_OK_AND_ASSIGN(auto other_client, k8s::Client::Create(*config, {.qps = 0}));
  std::atomic<bool> a_leading{false}, b_leading{false};
  auto options = [](const std::string& id, std::atomic<bool>* leading) {
    k8s::LeaderElectionOptions o;
    o.lease_namespace = "default";
    o.lease_name = "kobs-leader";
    o.identity = id;
    o.lease_duration = std::chrono::milliseconds(1000);
    o.renew_deadline = std::chrono::milliseconds(700);
    o.retry_period = std::chrono::milliseconds(100);
    o.release_on_stop = false;  // a crashed holder releases nothing
    o.on_started_leading = [leading] { *leading = true; };
    o.on_stopped_leading = [leading] { *leading = false; };
    return o;
  };
  ASSERT_OK_AND_ASSIGN(auto a, k8s::LeaderElector::Create(*client_, options("a", &a_leading)));
  a->Start();
  ASSERT_TRUE(WaitFor([&] { return a_leading.load(); }));
  ASSERT_OK_AND_ASSIGN(auto b,
                       k8s::LeaderElector::Create(*other_client, options("b", &b_leading)));
  b->Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_FALSE(b_leading.load()) << "b took a lease that a keeps renewing";
  EXPECT_EQ(b->leader(), "a");
  a->Stop();  // a stops renewing
  ASSERT_TRUE(WaitFor([&] { return b_leading.load(); }, std::chrono::seconds(5)));
  ASSERT_OK_AND_ASSIGN(json lease, client_->Get(Resource("leases"), "default", "kobs-leader"));
  EXPECT_EQ(lease["spec"]["holderIdentity"], "b");
  EXPECT_GE(lease["spec"].value("leaseTransitions", 0), 1);
  b->Stop();
}

}  // namespace
}  // namespace kobs::sim
