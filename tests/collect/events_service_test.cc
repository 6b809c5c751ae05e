// The event collection role: options, and two replicas against the simulated cluster, of
// which one collects; when it stops (releasing the Lease) the other takes over.
#include "collect/events_service.h"

#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "common/metrics.h"
#include "embedded_store_suite.h"
#include "sim/sim_server.h"
#include "store/schema.h"
#include "store/writer.h"

namespace kobs::collect {
namespace {

using ::kobs::testing::IsOk;

TEST(EventsServiceOptionsTest, ParsesAndRefusesContradictions) {
  auto o = ParseEventsServiceOptions(YAML::Load("{kubeconfig: /k, namespace: shop, qps: 5}"));
  ASSERT_THAT(o, IsOk());
  EXPECT_TRUE(o->enabled());
  EXPECT_EQ(o->namespace_, "shop");
  EXPECT_EQ(o->qps, 5);
  EXPECT_FALSE(ParseEventsServiceOptions(YAML::Load("{}"))->enabled());
  EXPECT_FALSE(ParseEventsServiceOptions(YAML::Load("{kubeconfig: /k, in_cluster: true}")).ok());
  EXPECT_FALSE(ParseEventsServiceOptions(YAML::Load("{kubeconfg: /k}")).ok());
  EXPECT_FALSE(ParseEventsServiceOptions(YAML::Load("{composition_label: ''}")).ok());
}

class EventsServiceTest : public kobs::testing::EmbeddedStoreSuite {
 protected:
  static void SetUpTestSuite() {
    OpenStore();
    ASSERT_THAT(store::EnsureSchema(*store_, {}), IsOk());
  }
};

TEST_F(EventsServiceTest, OneReplicaCollectsAndTheOtherTakesOver) {
  kobs::testing::TempDir dir;
  MetricsRegistry metrics;
  auto server = sim::SimServer::Create(
      {.port = 0, .dir = dir.Sub("sim"), .time_factor = 20, .scenarios = {"crashloop-pod"}},
      metrics);
  ASSERT_THAT(server, IsOk());
  ASSERT_THAT((*server)->Start(), IsOk());
  auto writer = store::Writer::Create(*store_, {.spool_dir = dir.Sub("spool")}, metrics);
  ASSERT_THAT(writer, IsOk());
  auto make = [&](const std::string& state) {
    auto s = EventsService::Create({.kubeconfig = (*server)->kubeconfig_path(),
                                    .state_file = dir.Sub(state)},
                                   **writer, metrics);
    EXPECT_THAT(s, IsOk());
    EXPECT_THAT((*s)->Start(), IsOk());
    return *std::move(s);
  };
  auto a = make("a.json");
  for (int i = 0; i < 100 && !a->collecting(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(a->collecting());
  auto b = make("b.json");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_FALSE(b->collecting());
  a->Stop();  // releases the Lease
  for (int i = 0; i < 200 && !b->collecting(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(b->collecting());
  b->Stop();
  (*writer)->Stop();
  (*server)->Stop();
  EXPECT_THAT(metrics.Render(), ::testing::HasSubstr("kobs_k8s_event_rows_total"));
}

TEST_F(EventsServiceTest, AnUnreachableClusterFailsAtStart) {
  kobs::testing::TempDir dir;
  std::ofstream(dir.Sub("kubeconfig")) << R"(apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
)";
  MetricsRegistry metrics;
  auto writer = store::Writer::Create(*store_, {.spool_dir = dir.Sub("spool")}, metrics);
  ASSERT_THAT(writer, IsOk());
  auto s = EventsService::Create({.kubeconfig = dir.Sub("kubeconfig")}, **writer, metrics);
  ASSERT_THAT(s, IsOk());
  EXPECT_FALSE((*s)->Start().ok());
  (*writer)->Stop();
}

}  // namespace
}  // namespace kobs::collect
