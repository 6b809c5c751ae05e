// The whole collection path against the simulated cluster playing the built-in scenarios:
// events through `kobs serve`'s EventsService (with cluster metrics), pod logs and kubelet and
// host metrics through the node agent shipping over OTLP/HTTP to the real receiver, into the
// embedded store. The agent is restarted while the server is away. Then: the expected rows
// exist with the right attributes (composition ids through owner chains included), every log
// line is stored exactly once, and the original stack's MCP, alert and agent SQL returns the
// expected answers, unchanged.
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "collect/events_service.h"
#include "collect/exporter.h"
#include "collect/node_agent.h"
#include "embedded_store_suite.h"
#include "net/http_server.h"
#include "otlp/http_receiver.h"
#include "otlp/ingest.h"
#include "sim_cluster.h"
#include "store/schema.h"
#include "store/writer.h"

namespace kobs::collect {
namespace {

using ::kobs::testing::IsOk;
using ::testing::HasSubstr;

class CollectionProofTest : public kobs::testing::EmbeddedStoreSuite {
 protected:
  static void SetUpTestSuite() {
    OpenStore();
    ASSERT_THAT(store::EnsureSchema(*store_, {}), IsOk());
  }
  static std::string Sql(const std::string& sql) {
    auto r = store::QueryScalar(*store_, sql);
    EXPECT_THAT(r, IsOk()) << sql;
    return r.ok() ? *r : "";
  }
  static int64_t Count(const std::string& sql) {
    std::string s = Sql(sql);
    return s.empty() ? -1 : std::stoll(s);
  }
};

// The OTLP/HTTP listener of `kobs serve`, over the writer.
class Receiver {
 public:
  Receiver(otlp::Ingest& ingest, MetricsRegistry& metrics, uint16_t port = 0)
      : receiver_(ingest, {}) {
    auto s = net::HttpServer::Create(
        {.host = "127.0.0.1", .port = port, .name = "otlp", .error_body = otlp::OtlpErrorBody},
        metrics);
    EXPECT_THAT(s, IsOk());
    server_ = std::move(*s);
    receiver_.Register(*server_);
    EXPECT_THAT(server_->Start(), IsOk());
  }
  ~Receiver() { server_->Stop(std::chrono::seconds(1)); }
  uint16_t port() const { return server_->port(); }

 private:
  otlp::HttpReceiver receiver_;
  std::unique_ptr<net::HttpServer> server_;
};

TEST_F(CollectionProofTest, EventsLogsAndMetricsOfTheScenarios) {
  SimCluster sim;
  ASSERT_NO_FATAL_FAILURE(sim.Start(
      {"background", "composition-crashloop", "crashloop-pod", "oom"}, /*time_factor=*/20));
  MetricsRegistry& metrics = sim.metrics;
  auto writer = store::Writer::Create(
      *store_, {.spool_dir = sim.dir.Sub("spool"), .write_ahead = false}, metrics);
  ASSERT_THAT(writer, IsOk());
  otlp::Ingest ingest(
      [w = writer->get()](otlp::Decoded& rows) { return w->Write(otlp::ToTableRows(rows, "")); },
      metrics);
  auto receiver = std::make_unique<Receiver>(ingest, metrics);
  const uint16_t port = receiver->port();

  auto events = EventsService::Create({.kubeconfig = sim.server->kubeconfig_path(),
                                       .state_file = sim.dir.Sub("events.json"),
                                       .leader_election = false,
                                       .metrics_interval = std::chrono::seconds(1)},
                                      **writer, metrics);
  ASSERT_THAT(events, IsOk());
  ASSERT_THAT((*events)->Start(), IsOk());

  const OtlpExporterOptions exporter_options{
      .endpoint = "http://127.0.0.1:" + std::to_string(port),
      .buffer_dir = sim.dir.Sub("agent-buffer"),
      .min_backoff = std::chrono::milliseconds(50),
      .max_backoff = std::chrono::milliseconds(200)};
  const NodeAgentOptions agent_options{
      .node_name = "sim-node-1",
      .logs = {.root = sim.server->log_dir(),
               .checkpoint_path = sim.dir.Sub("agent-offsets.json"),
               .poll = std::chrono::milliseconds(100)},
      .metrics_interval = std::chrono::seconds(1)};
  auto start_agent = [&](std::unique_ptr<OtlpExporter>& exporter,
                         std::unique_ptr<NodeAgent>& agent) {
    auto e = OtlpExporter::Create(exporter_options, metrics);
    ASSERT_THAT(e, IsOk());
    exporter = std::move(*e);
    exporter->Start();
    agent = std::make_unique<NodeAgent>(*sim.client, *exporter, agent_options, metrics);
    ASSERT_THAT(agent->Start(), IsOk());
  };
  std::unique_ptr<OtlpExporter> exporter;
  std::unique_ptr<NodeAgent> agent;
  ASSERT_NO_FATAL_FAILURE(start_agent(exporter, agent));
  std::this_thread::sleep_for(std::chrono::seconds(4));

  // The server goes away; the agent buffers, is restarted, and the server comes back.
  receiver.reset();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  agent->Stop();
  exporter->Stop();
  EXPECT_GT(exporter->buffered_bytes(), 0u);
  ASSERT_NO_FATAL_FAILURE(start_agent(exporter, agent));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  receiver = std::make_unique<Receiver>(ingest, metrics, port);
  std::this_thread::sleep_for(std::chrono::seconds(6));

  sim.server->Stop();  // no more lines or events
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  agent->Stop();
  exporter->Stop(std::chrono::seconds(10));
  EXPECT_EQ(exporter->buffered_bytes(), 0u);
  (*events)->Stop();
  (*writer)->Stop();

  // --- Logs: every line of every file exactly once, through the restart and the outage.
  int64_t lines = 0;
  std::map<std::string, int64_t> per_file;
  for (const auto& f : std::filesystem::recursive_directory_iterator(sim.server->log_dir())) {
    if (!f.is_regular_file() || f.path().extension() != ".log") continue;
    std::ifstream in(f.path());
    for (std::string l; std::getline(in, l);) ++lines, ++per_file[f.path().string()];
  }
  // (Files of older container instances are deleted by the kubelet as it goes: only the
  // files still there can be counted.)
  EXPECT_GT(lines, 100);
  for (const auto& [path, n] : per_file) {
    EXPECT_EQ(Count("SELECT sum(length(splitByChar('\\n', Body))) FROM otel_logs WHERE "
                    "LogAttributes['log.file.path'] = '" + path + "'"),
              n)
        << path;
  }
  EXPECT_EQ(Count("SELECT count() FROM (SELECT ResourceAttributes['k8s.pod.uid'] AS u, "
                  "Timestamp, Body, count() AS n FROM otel_logs WHERE ScopeName = "
                  "'kobs/pod-logs' GROUP BY u, Timestamp, Body HAVING n > 1)"),
            0);

  // The composition: its label is on the Deployment only; pods, their events, logs and
  // metrics get it through Pod -> ReplicaSet -> Deployment.
  const std::string composition =
      Sql("SELECT any(ResourceAttributes['krateo.io/composition-id']) FROM otel_metrics_gauge "
          "WHERE MetricName = 'k8s.deployment.desired' AND "
          "ResourceAttributes['k8s.deployment.name'] = 'fireworks-demo-app'");
  ASSERT_EQ(composition.size(), 36u) << composition;
  EXPECT_GT(Count("SELECT count() FROM otel_logs WHERE ScopeName = 'kobs/pod-logs' AND "
                  "LogAttributes['krateo.io/composition-id'] = '" + composition + "'"),
            0);
  EXPECT_EQ(Sql("SELECT DISTINCT ResourceAttributes['k8s.deployment.name'] FROM otel_metrics_gauge "
                "WHERE MetricName = 'k8s.pod.memory.working_set' AND "
                "ResourceAttributes['krateo.io/composition-id'] = '" + composition + "'"),
            "fireworks-demo-app");

  // The original /events handler (§1.4), unchanged: Pod events of the composition.
  const std::string events_sql =
      "SELECT ifNull(JSONExtractString(Body, 'object', 'involvedObject', 'kind'), '') AS obj_kind, "
      "ifNull(JSONExtractString(Body, 'object', 'reason'), '') AS reason, "
      "ifNull(JSONExtractString(Body, 'object', 'source', 'component'), '') AS source_component "
      "FROM otel_logs WHERE ResourceAttributes['telemetry.source'] = 'k8s-events' "
      "AND LogAttributes['krateo.io/composition-id'] = '" + composition + "' "
      "AND JSONExtractString(Body, 'object', 'reason') != '' ORDER BY Timestamp DESC";
  EXPECT_THAT(Sql("SELECT groupUniqArray(obj_kind) FROM (" + events_sql + ")"), HasSubstr("Pod"));
  EXPECT_THAT(Sql("SELECT groupUniqArray(reason) FROM (" + events_sql + ")"), HasSubstr("BackOff"));

  // Krateo MCP tools (§6.2): get_pod_errors for the crash-looping bare pod.
  const std::string errors = Sql(
      "SELECT SeverityText AS severity, substring(Body, 1, 500) AS body FROM otel_logs WHERE "
      "ResourceAttributes['k8s.pod.name'] LIKE 'demo-crashloop%' AND "
      "ResourceAttributes['k8s.namespace.name'] = 'default' AND SeverityText IN ('ERROR', "
      "'FATAL') AND Timestamp > now() - INTERVAL 30 MINUTE ORDER BY Timestamp DESC LIMIT 1");
  EXPECT_EQ(errors, "FATAL\tFATAL: unhandled exception in main loop");
  // get_warning_summary: BackOff of the bare pod among the top warnings.
  EXPECT_THAT(
      Sql("SELECT groupArray(concat(resource, '/', reason)) FROM (SELECT JSONExtractString(Body, "
          "'object', 'involvedObject', 'name') AS resource, JSONExtractString(Body, 'object', "
          "'reason') AS reason, count() AS event_count FROM otel_logs WHERE "
          "ResourceAttributes['telemetry.source'] = 'k8s-events' AND JSONExtractString(Body, "
          "'object', 'type') = 'Warning' AND Timestamp > now() - INTERVAL 30 MINUTE GROUP BY "
          "resource, reason ORDER BY event_count DESC LIMIT 30)"),
      HasSubstr("demo-crashloop/BackOff"));
  // HyperDX alert 1 (Pod Restart Events, above 2 in 5m per namespace and pod) fires for it.
  EXPECT_GT(Count("SELECT count() FROM otel_logs WHERE ResourceAttributes['telemetry.source'] = "
                  "'k8s-events' AND JSONExtractString(Body, 'object', 'involvedObject', 'kind') = "
                  "'Pod' AND JSONExtractString(Body, 'object', 'type') = 'Warning' AND "
                  "ResourceAttributes['k8s.namespace.name'] = 'default' AND "
                  "JSONExtractString(Body, 'object', 'involvedObject', 'name') = 'demo-crashloop' "
                  "AND Timestamp > now() - INTERVAL 5 MINUTE"),
            2);
  // Alert 3 (Application Errors): container errors, not events.
  EXPECT_GT(Count("SELECT count() FROM otel_logs WHERE SeverityText IN ('ERROR', 'FATAL') AND "
                  "ResourceAttributes['telemetry.source'] != 'k8s-events'"),
            0);
  // Proactive monitor check 1 (memory pressure), unchanged: the orders pods run at 83 % of
  // their limit in the background workload.
  EXPECT_THAT(
      Sql("SELECT groupArray(pod) FROM (SELECT ResourceAttributes['k8s.pod.name'] AS pod, "
          "ResourceAttributes['k8s.namespace.name'] AS namespace, avg(Value) AS "
          "avg_utilization, max(Value) AS peak_utilization FROM otel_metrics_gauge WHERE "
          "MetricName = 'k8s.container.memory_limit_utilization' AND TimeUnix > now() - "
          "INTERVAL 2 HOUR GROUP BY pod, namespace HAVING avg_utilization > 0.8 ORDER BY "
          "avg_utilization DESC LIMIT 10)"),
      HasSubstr("orders-"));
  // The oomkill runbook's diagnosis query: per-minute utilization of the memory hog.
  EXPECT_GT(Count("SELECT count() FROM (SELECT toStartOfMinute(TimeUnix) AS minute, avg(Value) "
                  "AS avg_util, max(Value) AS peak_util FROM otel_metrics_gauge WHERE MetricName "
                  "= 'k8s.container.memory_limit_utilization' AND "
                  "ResourceAttributes['k8s.pod.name'] LIKE 'memory-hog%' AND "
                  "ResourceAttributes['k8s.namespace.name'] = 'default' AND TimeUnix > now() - "
                  "INTERVAL 2 HOUR GROUP BY minute ORDER BY minute DESC LIMIT 30)"),
            0);
  // Check 3 (restart acceleration) sees the crash loops; check 4 (pipeline health) events.
  EXPECT_GT(Count("SELECT countIf(Timestamp > now() - INTERVAL 30 MINUTE) FROM otel_logs WHERE "
                  "ResourceAttributes['telemetry.source'] = 'k8s-events' AND "
                  "JSONExtractString(Body, 'object', 'reason') IN ('BackOff', 'Killing', "
                  "'OOMKilling') AND Timestamp > now() - INTERVAL 60 MINUTE"),
            2);
  EXPECT_GT(Count("SELECT count() AS recent_events FROM otel_logs WHERE "
                  "ResourceAttributes['telemetry.source'] = 'k8s-events' AND Timestamp > now() - "
                  "INTERVAL 5 MINUTE"),
            0);

  // Metrics: kubelet, host and cluster, with their attributes.
  EXPECT_EQ(Sql("SELECT max(Value) FROM otel_metrics_gauge WHERE MetricName = "
                "'k8s.node.condition_ready' AND ResourceAttributes['k8s.node.name'] = 'sim-node-1'"),
            "1");
  EXPECT_GT(Count("SELECT max(Value) FROM otel_metrics_gauge WHERE MetricName = "
                  "'k8s.container.restarts' AND ResourceAttributes['k8s.pod.name'] = "
                  "'demo-crashloop'"),
            0);
  EXPECT_EQ(Sql("SELECT DISTINCT ResourceAttributes['k8s.container.name'] FROM otel_metrics_gauge "
                "WHERE MetricName = 'container.memory.working_set' AND "
                "ResourceAttributes['k8s.pod.name'] = 'cache-0'"),
            "redis");
  EXPECT_GT(Count("SELECT count() FROM otel_metrics_sum WHERE MetricName = 'system.cpu.time' AND "
                  "ResourceAttributes['k8s.node.name'] = 'sim-node-1'"),
            0);
  EXPECT_GT(Count("SELECT count() FROM otel_metrics_sum WHERE MetricName = 'k8s.pod.uptime'"), 0);
  EXPECT_EQ(Sql("SELECT max(Value) FROM otel_metrics_gauge WHERE MetricName = "
                "'k8s.deployment.desired' AND ResourceAttributes['k8s.deployment.name'] = "
                "'frontend'"),
            "3");
}

}  // namespace
}  // namespace kobs::collect
