// `kobs agent` as a DaemonSet pod runs it: against `kobs serve --sim` (the simulated cluster in
// the server's process, its own log tailing pointed elsewhere), the agent tails the simulated
// node's pod logs and reads its kubelet, ships both over OTLP/HTTP, answers /readyz and
// /metrics, and exits 0 on SIGTERM.
#include <curl/curl.h>
#include <signal.h>

#include <chrono>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kobs_process.h"
#include "temp_dir.h"

namespace kobs {
namespace {

using ::testing::HasSubstr;
using testing::KobsServer;
using testing::RunKobs;

size_t Append(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

// GET `url`: the status, and the body in `body`.
long Get(const std::string& url, std::string* body) {
  CURL* h = curl_easy_init();
  body->clear();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
  long status = 0;
  if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(h);
  return status;
}

std::string Sql(const KobsServer& s, const std::string& q) {
  auto r = RunKobs({"sql", "--url", s.clickhouse_url(), q});
  EXPECT_EQ(r.code, 0) << q << "\n" << r.err;
  return r.out;
}

TEST(AgentE2ETest, ShipsTheNodesLogsAndMetricsToTheServer) {
  testing::TempDir dir;
  const std::string sim_dir = dir.Sub("sim");
  KobsServer server(dir.Sub("data"),
                    {"KOBS_K8S_STATE_FILE=" + dir.Sub("events.json"),
                     "KOBS_K8S_POD_LOGS_DIR=" + dir.Sub("server-tails-nothing"),
                     "KOBS_K8S_POD_LOGS_CHECKPOINT=" + dir.Sub("server-offsets.json")},
                    {"--sim", "--sim-dir", sim_dir, "--sim-listen",
                     fmt::format("127.0.0.1:{}", testing::FreePort()), "--sim-scenario",
                     "crashloop-pod", "--sim-scenario", "background"});
  ASSERT_TRUE(server.ready()) << server.log();
  const std::string health = fmt::format("127.0.0.1:{}", testing::FreePort());
  testing::Proc agent = testing::SpawnKobs(
      {"agent", "--kubeconfig", sim_dir + "/kubeconfig"},
      {"KOBS_AGENT_ENDPOINT=" + server.otlp_http_url(), "K8S_NODE_NAME=sim-node-1",
       "KOBS_AGENT_POD_LOGS_DIR=" + sim_dir + "/pods",
       "KOBS_AGENT_CHECKPOINT=" + dir.Sub("agent-offsets.json"),
       "KOBS_AGENT_BUFFER_DIR=" + dir.Sub("agent-buffer"), "KOBS_AGENT_LISTEN=" + health,
       "KOBS_AGENT_METRICS_INTERVAL=1s", "KOBS_LOG_LEVEL=warn"});
  ASSERT_GT(agent.pid, 0);
  // Ready once the server took what the agent sent.
  std::string body;
  long ready = 0;
  for (int i = 0; i < 200 && ready != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ready = Get("http://" + health + "/readyz", &body);
  }
  EXPECT_EQ(ready, 200) << body;
  // Pod logs with their attributes (the composition of none here), kubelet and host metrics.
  std::string logs, metrics;
  for (int i = 0; i < 100; ++i) {
    logs = Sql(server,
               "SELECT count() > 0, any(ResourceAttributes['service.name']) FROM otel_logs WHERE "
               "ScopeName = 'kobs/pod-logs' AND ResourceAttributes['k8s.deployment.name'] = "
               "'frontend' AND ResourceAttributes['k8s.node.name'] = 'sim-node-1'");
    metrics = Sql(server,
                  "SELECT countIf(MetricName = 'k8s.pod.memory.working_set') > 0, "
                  "countIf(MetricName = 'system.memory.utilization') > 0 FROM otel_metrics_gauge");
    if (logs == "1\tfrontend\n" && metrics == "1\t1\n") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(logs, "1\tfrontend\n");
  EXPECT_EQ(metrics, "1\t1\n");
  EXPECT_EQ(Get("http://" + health + "/metrics", &body), 200);
  EXPECT_THAT(body, HasSubstr("kobs_agent_sent_items_total"));
  EXPECT_THAT(body, ::testing::Not(HasSubstr("kobs_agent_sent_items_total 0\n")));
  kill(agent.pid, SIGTERM);
  EXPECT_EQ(testing::WaitExit(agent.pid), 0) << testing::ReadAll(agent.err_fd);
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

TEST(AgentE2ETest, RefusesToStartWithoutANodeOrACluster) {
  testing::TempDir dir;
  auto r = RunKobs({"agent"}, {"KOBS_AGENT_BUFFER_DIR=" + dir.Sub("b")});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("K8S_NODE_NAME"));
  r = RunKobs({"agent"}, {"K8S_NODE_NAME=n1", "KOBS_AGENT_BUFFER_DIR=" + dir.Sub("b")});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("kubeconfig"));
  r = RunKobs({"agent", "--kubeconfig", "/nonexistent"}, {"K8S_NODE_NAME=n1"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent"));
}

}  // namespace
}  // namespace kobs
