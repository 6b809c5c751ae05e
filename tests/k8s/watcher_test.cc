// k8s::Watcher against the fake API server: paged initial list, resume from the last
// resourceVersion after a dropped stream, re-list on 410 (as HTTP and as an ERROR event) with
// the difference delivered as synthetic events and nothing repeated, idle reconnects, prompt
// Stop().
#include "k8s/watcher.h"

#include <chrono>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fake_api_server.h"
#include "k8s/api_status.h"
#include "status_matchers.h"

namespace kobs::k8s {
namespace {

using ::kobs::k8s::testing::FakeApiServer;
using ::kobs::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;
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

json ConfigMap(const std::string& name, const std::string& value = "1") {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", "default"}}},
          {"data", {{"k", value}}}};
}

template <typename Cond>
bool WaitFor(Cond cond, std::chrono::milliseconds limit = 3000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// "ADDED a" etc., in delivery order.
class Recorder {
 public:
  void operator()(const WatchEvent& e) {
    std::string type = e.type == WatchEvent::Type::kAdded      ? "ADDED"
                       : e.type == WatchEvent::Type::kModified ? "MODIFIED"
                       : e.type == WatchEvent::Type::kDeleted  ? "DELETED"
                                                               : "OTHER";
    std::string name = e.object["metadata"].value("name", "?");
    std::lock_guard lock(mu_);
    seen_.push_back(type + " " + name);
    objects_.push_back(e.object);
  }
  std::vector<std::string> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }
  json last_object() {
    std::lock_guard lock(mu_);
    return objects_.empty() ? json() : objects_.back();
  }
  size_t size() {
    std::lock_guard lock(mu_);
    return seen_.size();
  }

 private:
  std::mutex mu_;
  std::vector<std::string> seen_;
  std::vector<json> objects_;
};

class WatcherTest : public ::testing::Test {
 protected:
  explicit WatcherTest(FakeApiServer::Options options = {}) : server_(options) {}

  void SetUp() override {
    ClusterConfig config;
    config.server = server_.url();
    auto client = Client::Create(config, client_options_);
    ASSERT_THAT(client, IsOk());
    client_ = std::move(*client);
  }

  std::unique_ptr<Watcher> Start(WatcherOptions options = {}) {
    options.namespace_ = "default";
    options.page_size = 2;
    options.initial_backoff = 10ms;
    options.max_backoff = 40ms;
    auto w = std::make_unique<Watcher>(*client_, ConfigMaps(), options,
                                       [this](const WatchEvent& e) { recorder_(e); });
    w->Start();
    return w;
  }

  std::vector<FakeApiServer::Recorded> Watches() {
    std::vector<FakeApiServer::Recorded> out;
    for (auto& r : server_.RequestsTo(kConfigMaps, "GET")) {
      if (r.Param("watch") == "1") out.push_back(std::move(r));
    }
    return out;
  }

  FakeApiServer server_;
  ClientOptions client_options_;
  std::unique_ptr<Client> client_;
  Recorder recorder_;
};

TEST_F(WatcherTest, ListsPagedThenWatchesFromTheListVersion) {
  for (const char* name : {"a", "b", "c"}) server_.Put(kConfigMaps, ConfigMap(name));
  const std::string list_rv = std::to_string(server_.resource_version());
  std::atomic<bool> synced{false};
  Watcher watcher(
      *client_, ConfigMaps(), WatcherOptions{.namespace_ = "default", .page_size = 2},
      [this](const WatchEvent& e) { recorder_(e); }, [&] { synced = true; });
  watcher.Start();
  ASSERT_TRUE(WaitFor([&] { return synced.load(); }));
  EXPECT_TRUE(watcher.synced());
  EXPECT_THAT(recorder_.seen(), ElementsAre("ADDED a", "ADDED b", "ADDED c"));
  // List items get the apiVersion and kind that the server leaves out of lists.
  EXPECT_EQ(recorder_.last_object()["kind"], "ConfigMap");
  ASSERT_TRUE(WaitFor([&] { return server_.active_watches() > 0; }));
  server_.Put(kConfigMaps, ConfigMap("d"));
  ASSERT_TRUE(WaitFor([&] { return recorder_.size() == 4; }));
  EXPECT_EQ(recorder_.seen().back(), "ADDED d");
  auto lists = server_.RequestsTo(kConfigMaps, "GET");
  ASSERT_GE(lists.size(), 3u);
  EXPECT_EQ(lists[0].Param("limit"), "2");
  EXPECT_NE(lists[1].Param("continue"), "");
  auto watches = Watches();
  ASSERT_EQ(watches.size(), 1u);
  EXPECT_EQ(watches[0].Param("resourceVersion"), list_rv);
  EXPECT_EQ(watcher.events(), 4u);
  EXPECT_EQ(watcher.relists(), 0u);
}

TEST_F(WatcherTest, ResumesFromTheLastResourceVersionAfterADroppedStream) {
  for (const char* name : {"a", "b"}) server_.Put(kConfigMaps, ConfigMap(name));
  auto watcher = Start();
  ASSERT_TRUE(WaitFor([&] { return watcher->synced() && server_.active_watches() > 0; }));
  server_.Put(kConfigMaps, ConfigMap("a", "2"));
  server_.Bookmark();
  const std::string bookmark = std::to_string(server_.resource_version());
  ASSERT_TRUE(WaitFor([&] { return watcher->resource_version() == bookmark; }));
  server_.DropWatches(/*compact=*/false);
  server_.Put(kConfigMaps, ConfigMap("c"));
  ASSERT_TRUE(WaitFor([&] { return recorder_.size() == 4; }));
  std::this_thread::sleep_for(50ms);  // nothing more arrives
  EXPECT_THAT(recorder_.seen(), ElementsAre("ADDED a", "ADDED b", "MODIFIED a", "ADDED c"));
  auto watches = Watches();
  ASSERT_GE(watches.size(), 2u);
  EXPECT_EQ(watches[1].Param("resourceVersion"), bookmark);
  EXPECT_GE(watcher->reconnects(), 1u);
  EXPECT_EQ(watcher->relists(), 0u);
  EXPECT_THAT(watcher->last_error(), ::kobs::testing::StatusIs(absl::StatusCode::kUnavailable));
}

class WatcherGoneTest : public WatcherTest, public ::testing::WithParamInterface<bool> {
 protected:
  WatcherGoneTest() : WatcherTest(FakeApiServer::Options{.gone_as_http = GetParam()}) {}
};

TEST_P(WatcherGoneTest, RelistsOnGoneAndDeliversOnlyTheDifference) {
  for (const char* name : {"a", "b", "c"}) server_.Put(kConfigMaps, ConfigMap(name));
  auto watcher = Start();
  ASSERT_TRUE(WaitFor([&] { return watcher->synced() && server_.active_watches() > 0; }));
  server_.Put(kConfigMaps, ConfigMap("a", "2"));
  server_.Bookmark();
  const std::string bookmark = std::to_string(server_.resource_version());
  ASSERT_TRUE(WaitFor([&] { return watcher->resource_version() == bookmark; }));
  // While the stream is held: b changes, c goes, d comes; then the history is compacted and
  // the stream dropped, so resuming from the bookmark gets 410.
  server_.HoldWatches();
  server_.Put(kConfigMaps, ConfigMap("b", "2"));
  server_.Remove(kConfigMaps, "c");
  server_.Put(kConfigMaps, ConfigMap("d"));
  server_.DropWatches(/*compact=*/true);
  ASSERT_TRUE(WaitFor([&] { return recorder_.size() == 7; }));
  auto seen = recorder_.seen();
  EXPECT_THAT(std::vector<std::string>(seen.begin(), seen.begin() + 4),
              ElementsAre("ADDED a", "ADDED b", "ADDED c", "MODIFIED a"));
  EXPECT_THAT(std::vector<std::string>(seen.begin() + 4, seen.end()),
              UnorderedElementsAre("MODIFIED b", "ADDED d", "DELETED c"));
  EXPECT_EQ(watcher->relists(), 1u);
  EXPECT_TRUE(IsGone(watcher->last_error())) << watcher->last_error();
  // The new stream starts from the re-list's version and goes on normally.
  ASSERT_TRUE(WaitFor([&] { return server_.active_watches() > 0; }));
  server_.Put(kConfigMaps, ConfigMap("e"));
  ASSERT_TRUE(WaitFor([&] { return recorder_.size() == 8; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(recorder_.seen().back(), "ADDED e");
  EXPECT_EQ(recorder_.size(), 8u);
  EXPECT_EQ(watcher->events(), 8u);
}

INSTANTIATE_TEST_SUITE_P(HttpAndErrorEvent, WatcherGoneTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Http410" : "ErrorEvent"; });

TEST_F(WatcherTest, SyntheticDeleteCarriesTheLastStateWhenAskedTo) {
  server_.Put(kConfigMaps, ConfigMap("a", "kept"));
  auto watcher = Start(WatcherOptions{.keep_objects = true});
  ASSERT_TRUE(WaitFor([&] { return watcher->synced() && server_.active_watches() > 0; }));
  server_.HoldWatches();
  server_.Remove(kConfigMaps, "a");
  server_.DropWatches(/*compact=*/true);
  ASSERT_TRUE(WaitFor([&] { return recorder_.size() == 2; }));
  EXPECT_EQ(recorder_.seen().back(), "DELETED a");
  EXPECT_EQ(recorder_.last_object()["data"]["k"], "kept");
}

TEST_F(WatcherTest, StopEndsAnIdleStreamPromptly) {
  auto watcher = Start();
  ASSERT_TRUE(WaitFor([&] { return watcher->synced() && server_.active_watches() > 0; }));
  std::this_thread::sleep_for(20ms);
  const auto start = std::chrono::steady_clock::now();
  watcher->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 200ms);
  watcher->Stop();  // idempotent
}

TEST_F(WatcherTest, RetriesAFailingListWithBackoff) {
  std::atomic<int> failures{0};
  server_.SetHook([&](const net::Request& r, net::ResponseWriter& w) {
    if (r.QueryParam("watch").has_value() || failures.fetch_add(1) >= 2) return false;
    net::Reply(w, 500, "application/json",
               testing::StatusBody(500, "InternalError", "etcd is sad"));
    return true;
  });
  server_.Put(kConfigMaps, ConfigMap("a"));
  auto watcher = Start();
  ASSERT_TRUE(WaitFor([&] { return watcher->synced(); }));
  EXPECT_THAT(recorder_.seen(), ElementsAre("ADDED a"));
  EXPECT_EQ(ApiReason(watcher->last_error()), "InternalError");
}

class IdleWatcherTest : public WatcherTest {
 protected:
  IdleWatcherTest() { client_options_.watch_idle_timeout = 60ms; }
};

TEST_F(IdleWatcherTest, ReconnectsASilentStreamWithoutRepeatingEvents) {
  server_.Put(kConfigMaps, ConfigMap("a"));
  auto watcher = Start();
  ASSERT_TRUE(WaitFor([&] { return watcher->reconnects() >= 2; }));
  EXPECT_THAT(recorder_.seen(), ElementsAre("ADDED a"));
  EXPECT_THAT(watcher->last_error(),
              ::kobs::testing::StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(watcher->relists(), 0u);
}

}  // namespace
}  // namespace kobs::k8s
