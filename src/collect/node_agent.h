// The per-node collector (`kobs agent`, or in-process in `kobs serve` next to the simulated
// cluster): the node's container logs (PodLogsCollector) and, every `metrics_interval`, the
// kubelet's /stats/summary with its /pods (through the API server's node proxy, so the agent
// needs only `nodes/proxy get` and no kubelet port), and the host's /proc metrics. Everything
// goes to one Exporter.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "collect/composition_resolver.h"
#include "collect/exporter.h"
#include "collect/host_metrics.h"
#include "collect/pod_logs.h"

namespace YAML {
class Node;
}

namespace kobs {
class Counter;
class MetricsRegistry;
}  // namespace kobs

namespace kobs::collect {

struct NodeAgentOptions {
  std::string node_name;        // required for kubelet metrics
  PodLogsOptions logs;          // logs.root "" = no logs
  std::chrono::milliseconds metrics_interval{std::chrono::seconds(60)};  // 0 = no metrics
  bool kubelet_metrics = true;
  bool host_metrics = true;
  HostMetricsOptions host;      // node_name is filled in from above
  std::string label_key = "krateo.io/composition-id";
};

// `kobs agent`: the `agent` section of kobs.yaml (the cluster connection and the label key
// come from the `k8s` section).
struct AgentConfig {
  std::string listen = "127.0.0.1:9465";  // /healthz, /readyz, /metrics
  OtlpExporterOptions exporter;
  NodeAgentOptions node;
};
absl::StatusOr<AgentConfig> ParseAgentConfig(const YAML::Node& node);

class NodeAgent {
 public:
  NodeAgent(k8s::Client& client, Exporter& exporter, NodeAgentOptions options,
            MetricsRegistry& metrics);
  ~NodeAgent();

  absl::Status Start();
  void Stop();

  // One round of metrics: reads the kubelet and /proc and exports. Returns the points.
  absl::StatusOr<size_t> ScrapeMetrics();

  uint64_t log_rows() const { return logs_ != nullptr ? logs_->rows() : 0; }
  uint64_t metric_points() const { return points_.load(); }
  // The last metrics round succeeded (or metrics are off).
  bool healthy() const { return healthy_.load(); }

 private:
  k8s::Client& client_;
  Exporter& exporter_;
  NodeAgentOptions options_;
  MetricsRegistry& metrics_;
  CompositionResolver resolver_;
  Counter& scrape_errors_;
  std::unique_ptr<PodLogsCollector> logs_;
  std::atomic<uint64_t> points_{0};
  std::atomic<bool> healthy_{true};
  std::jthread thread_;
};

}  // namespace kobs::collect
