// The event collector against the simulated cluster, into the embedded store: rows appear with
// composition ids, and across a restart of the collector (and a 410 from a short server
// history) no version of an event is missing or stored twice.
#include "collect/event_collector.h"

#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/metrics.h"
#include "embedded_store_suite.h"
#include "k8s/client.h"
#include "k8s/kube_config.h"
#include "sim/sim_server.h"
#include "store/schema.h"
#include "store/writer.h"

namespace kobs::collect {
namespace {

using nlohmann::json;
using ::kobs::testing::IsOk;

class EventCollectorTest : public kobs::testing::EmbeddedStoreSuite {
 protected:
  static void SetUpTestSuite() {
    OpenStore();
    ASSERT_THAT(store::EnsureSchema(*store_, {}), IsOk());
  }
  void SetUp() override {
    ASSERT_THAT(store_->Query("TRUNCATE TABLE otel_logs", {}), IsOk());
    auto writer = store::Writer::Create(
        *store_, {.spool_dir = dir_.Sub("spool"), .write_ahead = false}, metrics_);
    ASSERT_THAT(writer, IsOk());
    writer_ = *std::move(writer);
  }
  void TearDown() override {
    if (writer_) writer_->Stop();
    if (server_) server_->Stop();
  }
  void StartSim(size_t history, std::vector<std::string> scenarios) {
    auto server = sim::SimServer::Create({.port = 0,
                                          .dir = dir_.Sub("sim"),
                                          .history = history,
                                          .time_factor = 20,
                                          .scenarios = std::move(scenarios)},
                                         metrics_);
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    ASSERT_THAT(server_->Start(), IsOk());
    auto config = k8s::LoadKubeconfig({server_->kubeconfig_path()});
    ASSERT_THAT(config, IsOk());
    auto client = k8s::Client::Create(*config, {.qps = 0});
    ASSERT_THAT(client, IsOk());
    client_ = *std::move(client);
  }
  std::unique_ptr<EventCollector> Collector() {
    auto c = std::make_unique<EventCollector>(
        *client_, *writer_,
        EventCollectorOptions{.state_path = dir_.Sub("events-state.json"),
                              .flush_interval = std::chrono::milliseconds(100)},
        metrics_);
    EXPECT_THAT(c->Start(), IsOk());
    return c;
  }
  // (uid, resourceVersion) of every stored row, with how often each is stored.
  std::map<std::pair<std::string, std::string>, int> Stored() {
    auto r = store_->Query(
        "SELECT JSONExtractString(Body, 'object', 'metadata', 'uid'), "
        "JSONExtractString(Body, 'object', 'metadata', 'resourceVersion'), count() "
        "FROM otel_logs WHERE ResourceAttributes['telemetry.source'] = 'k8s-events' "
        "GROUP BY 1, 2",
        {});
    EXPECT_THAT(r, IsOk());
    std::map<std::pair<std::string, std::string>, int> out;
    std::istringstream in(r.ok() ? r->data : "");
    for (std::string uid, rv, n; in >> uid >> rv >> n;) out[{uid, rv}] = std::stoi(n);
    return out;
  }
  // Every event version the API shows now is stored exactly once (waiting for the collector to
  // catch up), and no version is stored twice.
  void ExpectCompleteAndUnique() {
    auto events = client_->ResourceByName("events");
    ASSERT_THAT(events, IsOk());
    auto list = client_->ListAll(*events, "", {});
    ASSERT_THAT(list, IsOk());
    std::map<std::pair<std::string, std::string>, int> stored;
    std::vector<std::string> missing;
    for (int i = 0; i < 50; ++i) {
      stored = Stored();
      missing.clear();
      for (const json& e : (*list)["items"]) {
        std::pair<std::string, std::string> key{e["metadata"]["uid"], e["metadata"]["resourceVersion"]};
        if (stored.count(key) == 0) missing.push_back(e["metadata"]["name"]);
      }
      if (missing.empty()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_THAT(missing, ::testing::IsEmpty());
    for (const auto& [key, n] : stored) EXPECT_EQ(n, 1) << key.first << " " << key.second;
    EXPECT_GT(stored.size(), 5u);
  }

  kobs::testing::TempDir dir_;
  MetricsRegistry metrics_;
  std::unique_ptr<sim::SimServer> server_;
  std::unique_ptr<k8s::Client> client_;
  std::unique_ptr<store::Writer> writer_;
};

TEST_F(EventCollectorTest, RestartsStoreNothingTwiceAndMissNothing) {
  StartSim(10000, {"crashloop-pod", "composition-crashloop"});
  auto first = Collector();
  for (int i = 0; i < 100 && first->stored() < 10; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ExpectCompleteAndUnique();
  first->Stop();
  // While it is down, the crash loops go on (new events and count updates).
  std::this_thread::sleep_for(std::chrono::seconds(1));
  auto second = Collector();
  for (int i = 0; i < 100 && !second->synced(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ExpectCompleteAndUnique();
  EXPECT_GT(second->skipped(), 5u);  // its first list repeated what the first one stored
  second->Stop();
  // Composition ids on the composition's events, through the owner chain.
  auto tagged = store::QueryScalar(
      *store_,
      "SELECT count() FROM otel_logs WHERE LogAttributes['krateo.io/composition-id'] != '' AND "
      "JSONExtractString(Body, 'object', 'involvedObject', 'kind') = 'Pod' AND "
      "JSONExtractString(Body, 'object', 'involvedObject', 'namespace') = 'demo-system'");
  ASSERT_THAT(tagged, IsOk());
  EXPECT_NE(*tagged, "0");
}

TEST_F(EventCollectorTest, AGoneResourceVersionRelistsWithoutDuplicates) {
  // A server history of 30 changes: after a pause the collector's version is compacted away.
  StartSim(30, {"concurrent-crashloops"});
  auto first = Collector();
  for (int i = 0; i < 100 && first->stored() < 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  first->Stop();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  auto second = Collector();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ExpectCompleteAndUnique();
  second->Stop();
}

}  // namespace
}  // namespace kobs::collect
