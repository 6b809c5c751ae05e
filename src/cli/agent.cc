#include "cli/agent.h"

#include <malloc.h>

#include <fmt/format.h>

#include "cli/http_util.h"
#include "cli/signals.h"
#include "collect/exporter.h"
#include "collect/node_agent.h"
#include "common/absl_compat.h"
#include "common/log.h"
#include "common/metrics.h"
#include "k8s/client.h"

#ifndef KOBS_VERSION
#define KOBS_VERSION "dev"
#endif

namespace kobs::cli {
namespace {

int Fail(const std::string& what, const absl::Status& status) {
  Log(Logger("agent"), spdlog::level::critical, what,
      {{"error", ToStd(status.message())}, {"code", absl::StatusCodeToString(status.code())}});
  return 1;
}

}  // namespace

int RunAgent(const KobsConfig& c) {
  const sigset_t signals = BlockShutdownSignals();
  // A small, steady footprint on every node: few malloc arenas (each thread would otherwise
  // keep its own), and freed memory handed back.
  mallopt(M_ARENA_MAX, 2);
  mallopt(M_TRIM_THRESHOLD, 4 << 20);
  MetricsRegistry metrics;
  RegisterProcessMetrics(metrics);
  metrics.GetGauge("kobs_build_info", "Build information.", {{"version", KOBS_VERSION}}).Set(1);

  collect::AgentConfig config = c.agent;
  if (config.node.node_name.empty() && config.node.kubelet_metrics &&
      config.node.metrics_interval.count() > 0) {
    return Fail("cannot read the kubelet",
                absl::InvalidArgumentError("agent.node_name (or K8S_NODE_NAME) is required"));
  }
  if (!c.k8s.in_cluster && c.k8s.kubeconfig.empty()) {
    return Fail("no cluster", absl::InvalidArgumentError(
                                  "set k8s.in_cluster (in a pod) or --kubeconfig / k8s.kubeconfig"));
  }
  auto client = collect::ConnectCluster(c.k8s);
  if (!client.ok()) return Fail("cannot connect to the cluster", client.status());
  if (absl::Status s = (*client)->Resource("v1", "Pod").status(); !s.ok()) {
    return Fail("cannot reach the API server", s);
  }
  auto exporter = collect::OtlpExporter::Create(config.exporter, metrics);
  if (!exporter.ok()) return Fail("cannot open the buffer", exporter.status());
  collect::NodeAgent agent(**client, **exporter, config.node, metrics);

  auto http = MakeServer(config.listen, "agent", metrics, /*workers=*/2, /*max_body=*/1 << 16);
  if (!http.ok()) return Fail("cannot listen", http.status());
  collect::OtlpExporter* e = exporter->get();
  RouteHealth(**http, metrics, [e, &agent]() -> std::string {
    if (!e->connected() && e->buffered_bytes() > 0) return "the server does not answer";
    if (!agent.healthy()) return "the kubelet cannot be read";
    return "";
  });
  if (absl::Status s = (*http)->Start(); !s.ok()) return Fail("cannot listen", s);

  (*exporter)->Start();
  if (absl::Status s = agent.Start(); !s.ok()) return Fail("cannot start collecting", s);
  Log(Logger("agent"), spdlog::level::info, "agent running",
      {{"node", config.node.node_name},
       {"pod_logs_dir", config.node.logs.root.empty() ? "disabled" : config.node.logs.root},
       {"server", config.exporter.endpoint},
       {"buffer", config.exporter.buffer_dir},
       {"health", Url(config.listen, (*http)->port())}});

  const char* sig = WaitForShutdownSignal(signals);
  Log(Logger("agent"), spdlog::level::info, "shutting down", {{"signal", sig}});
  agent.Stop();  // the last lines go to the buffer, offsets are saved
  // What the server does not take within the grace period stays buffered on disk.
  (*exporter)->Stop(c.shutdown_grace);
  (*http)->Stop(std::chrono::seconds(1));
  Log(Logger("agent"), spdlog::level::info, "stopped",
      {{"buffered_bytes", std::to_string((*exporter)->buffered_bytes())}});
  return 0;
}

}  // namespace kobs::cli
