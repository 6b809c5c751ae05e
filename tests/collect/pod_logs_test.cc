// Container logs of the simulated cluster's background scenario, tailed in-process into the
// embedded store: attributes as the original collector set them (and the ones it missed),
// severities inferred, stack traces recombined, and a restart that neither loses nor repeats.
#include "collect/pod_logs.h"

#include "collect/exporter.h"

#include <filesystem>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/metrics.h"
#include "embedded_store_suite.h"
#include "k8s/client.h"
#include "sim_cluster.h"
#include "store/schema.h"
#include "store/writer.h"

namespace kobs::collect {
namespace {

using ::kobs::testing::IsOk;
using ::testing::HasSubstr;

class PodLogsTest : public kobs::testing::EmbeddedStoreSuite {
 protected:
  static void SetUpTestSuite() {
    OpenStore();
    ASSERT_THAT(store::EnsureSchema(*store_, {}), IsOk());
  }
  std::string Scalar(const std::string& sql) {
    auto r = store::QueryScalar(*store_, sql);
    EXPECT_THAT(r, IsOk());
    return r.ok() ? *r : "";
  }
};

TEST_F(PodLogsTest, TailsTheSimulatedClusterWithAttributesAndSurvivesARestart) {
  SimCluster sim;
  ASSERT_NO_FATAL_FAILURE(sim.Start({"background"}, /*time_factor=*/10));
  auto& dir = sim.dir;
  auto& metrics = sim.metrics;
  auto& client = sim.client;
  auto& server = sim.server;
  auto writer = store::Writer::Create(*store_, {.spool_dir = dir.Sub("spool"), .write_ahead = false},
                                      metrics);
  ASSERT_THAT(writer, IsOk());
  PodLogsOptions options{.root = server->log_dir(), .checkpoint_path = dir.Sub("offsets.json"),
                         .poll = std::chrono::milliseconds(100)};
  StoreExporter exporter(**writer, metrics);
  auto collector = std::make_unique<PodLogsCollector>(*client, exporter, options, metrics);
  ASSERT_THAT(collector->Start(), IsOk());
  for (int i = 0; i < 100 && collector->rows() < 50; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  collector->Stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // lines written while it is down
  collector = std::make_unique<PodLogsCollector>(*client, exporter, options, metrics);
  ASSERT_THAT(collector->Start(), IsOk());
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  server->Stop();  // no more lines
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  collector->Stop();
  (*writer)->Stop();

  // The frontend's web lines: attributes of the pod, its Deployment and labels.
  EXPECT_EQ(Scalar("SELECT ResourceAttributes['k8s.deployment.name'], "
                   "ResourceAttributes['app'], ResourceAttributes['k8s.pod.labels.app'], "
                   "ResourceAttributes['k8s.node.name'], ResourceAttributes['k8s.container.name'], "
                   "LogAttributes['log.iostream'] FROM otel_logs WHERE "
                   "ResourceAttributes['k8s.namespace.name'] = 'shop' AND "
                   "ResourceAttributes['k8s.deployment.name'] = 'frontend' LIMIT 1"),
            "frontend\tfrontend\tfrontend\tsim-node-1\tweb\tstdout");
  EXPECT_EQ(Scalar("SELECT ResourceAttributes['k8s.statefulset.name'] FROM otel_logs WHERE "
                   "ResourceAttributes['k8s.pod.name'] = 'cache-0' LIMIT 1"),
            "cache");
  // ANSI codes stripped, severities inferred (the worker's coloured lines, the JSON levels).
  EXPECT_EQ(Scalar("SELECT countIf(position(Body, '\\x1b') > 0) FROM otel_logs"), "0");
  EXPECT_NE(Scalar("SELECT count() FROM otel_logs WHERE SeverityText = 'INFO' AND "
                   "ResourceAttributes['k8s.deployment.name'] = 'worker'"),
            "0");
  // Every line of every file is in the store exactly once.
  int64_t lines = 0;
  for (const auto& f : std::filesystem::recursive_directory_iterator(server->log_dir())) {
    if (!f.is_regular_file() || f.path().extension() != ".log") continue;
    std::ifstream in(f.path());
    for (std::string l; std::getline(in, l);) ++lines;
  }
  // Java stack traces are one row for several lines: count the lines each row holds.
  EXPECT_EQ(Scalar("SELECT sum(length(splitByChar('\\n', Body))) FROM otel_logs WHERE "
                   "ScopeName = 'kobs/pod-logs'"),
            std::to_string(lines));
  EXPECT_EQ(Scalar("SELECT count() FROM (SELECT ResourceAttributes['k8s.pod.uid'] AS u, "
                   "Timestamp, Body, count() AS n FROM otel_logs WHERE ScopeName = "
                   "'kobs/pod-logs' GROUP BY u, Timestamp, Body HAVING n > 1)"),
            "0");
}

}  // namespace
}  // namespace kobs::collect
