#include "collect/node_agent.h"

#include <fmt/format.h>

#include "collect/exporter.h"
#include "collect/json_fields.h"
#include "collect/kubelet_metrics.h"
#include "collect/metric_builder.h"
#include "common/absl_compat.h"
#include "common/config_util.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "k8s/client.h"

namespace kobs::collect {

using nlohmann::json;

absl::StatusOr<AgentConfig> ParseAgentConfig(const YAML::Node& node) {
  AgentConfig c;
  c.node.logs.root = "/var/log/pods";
  c.node.logs.checkpoint_path = "./kobs-agent-offsets.json";
  KOBS_RETURN_IF_ERROR(CheckKeys(node,
                                 {"listen", "endpoint", "bearer_token", "ca_file", "buffer_dir",
                                  "buffer_max_bytes", "node_name", "pod_logs_dir", "checkpoint",
                                  "metrics_interval", "kubelet_metrics", "host_metrics",
                                  "proc_root", "host_root"},
                                 "agent"));
  KOBS_RETURN_IF_ERROR(ReadString(node, "listen", &c.listen));
  KOBS_RETURN_IF_ERROR(ReadString(node, "endpoint", &c.exporter.endpoint));
  KOBS_RETURN_IF_ERROR(ReadString(node, "bearer_token", &c.exporter.bearer_token));
  KOBS_RETURN_IF_ERROR(ReadString(node, "ca_file", &c.exporter.ca_file));
  KOBS_RETURN_IF_ERROR(ReadString(node, "buffer_dir", &c.exporter.buffer_dir));
  KOBS_RETURN_IF_ERROR(ReadBytes(node, "buffer_max_bytes", &c.exporter.buffer_max_bytes));
  KOBS_RETURN_IF_ERROR(ReadString(node, "node_name", &c.node.node_name));
  KOBS_RETURN_IF_ERROR(ReadString(node, "pod_logs_dir", &c.node.logs.root));
  KOBS_RETURN_IF_ERROR(ReadString(node, "checkpoint", &c.node.logs.checkpoint_path));
  KOBS_RETURN_IF_ERROR(ReadDuration(node, "metrics_interval", &c.node.metrics_interval));
  KOBS_RETURN_IF_ERROR(ReadBool(node, "kubelet_metrics", &c.node.kubelet_metrics));
  KOBS_RETURN_IF_ERROR(ReadBool(node, "host_metrics", &c.node.host_metrics));
  KOBS_RETURN_IF_ERROR(ReadString(node, "proc_root", &c.node.host.proc_root));
  KOBS_RETURN_IF_ERROR(ReadString(node, "host_root", &c.node.host.host_root));
  if (c.exporter.buffer_max_bytes < (1u << 20)) {
    return absl::InvalidArgumentError("agent.buffer_max_bytes must be at least 1MiB");
  }
  return c;
}

NodeAgent::NodeAgent(k8s::Client& client, Exporter& exporter, NodeAgentOptions options,
                     MetricsRegistry& metrics)
    : client_(client),
      exporter_(exporter),
      options_(std::move(options)),
      metrics_(metrics),
      resolver_(FetchWith(client), {.label_key = options_.label_key}, metrics),
      scrape_errors_(metrics.GetCounter("kobs_agent_scrape_errors_total",
                                        "Metric rounds that could not read the kubelet.")) {
  options_.host.node_name = options_.node_name;
  options_.logs.node_name = options_.node_name;
}

NodeAgent::~NodeAgent() { Stop(); }

absl::StatusOr<size_t> NodeAgent::ScrapeMetrics() {
  MetricsRequest request;
  MetricBuilder b(&request, "kobs/node-agent",
                  std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count());
  absl::Status kubelet = absl::OkStatus();
  if (options_.kubelet_metrics && !options_.node_name.empty()) {
    const std::string proxy = fmt::format("/api/v1/nodes/{}/proxy/", options_.node_name);
    absl::StatusOr<std::string> summary = client_.Do("GET", proxy + "stats/summary");
    absl::StatusOr<std::string> pods =
        summary.ok() ? client_.Do("GET", proxy + "pods") : summary.status();
    if (summary.ok() && pods.ok()) {
      json s = json::parse(*summary, nullptr, false), p = json::parse(*pods, nullptr, false);
      if (s.is_discarded() || !s.is_object()) {
        kubelet = absl::DataLossError("the kubelet's /stats/summary is not a JSON object");
      } else {
        KubeletMetricsOptions km{.label_key = options_.label_key};
        km.composition = [this](const json& pod) -> std::string {
          const json& m = At(pod, "metadata");
          absl::StatusOr<std::string> id = resolver_.Resolve(
              {.api_version = "v1", .kind = "Pod", .namespace_ = Str(m, "namespace"),
               .name = Str(m, "name"), .uid = Str(m, "uid")},
              &pod);
          return id.ok() ? *id : "";
        };
        AddKubeletMetrics(s, p.is_discarded() ? json() : p, km, b);
      }
    } else {
      kubelet = summary.ok() ? pods.status() : summary.status();
    }
  }
  if (options_.host_metrics) AddHostMetrics(options_.host, b);
  if (b.points() > 0) KOBS_RETURN_IF_ERROR(exporter_.ExportMetrics(request));
  points_ += b.points();
  if (!kubelet.ok()) {
    return absl::Status(kubelet.code(), fmt::format("kubelet metrics of node {}: {}",
                                                    options_.node_name, ToStd(kubelet.message())));
  }
  return b.points();
}

absl::Status NodeAgent::Start() {
  if (!options_.logs.root.empty()) {
    logs_ = std::make_unique<PodLogsCollector>(client_, exporter_, options_.logs, metrics_);
    KOBS_RETURN_IF_ERROR(logs_->Start());
  }
  if (options_.metrics_interval.count() <= 0) return absl::OkStatus();
  thread_ = std::jthread([this](std::stop_token stop) {
    while (!stop.stop_requested()) {
      absl::StatusOr<size_t> n = ScrapeMetrics();
      healthy_ = n.ok();
      if (!n.ok()) {
        scrape_errors_.Inc();
        Log(Logger("agent"), spdlog::level::warn, "metrics round failed",
            {{"error", std::string(ToStd(n.status().message()))}});
      }
      for (auto t = std::chrono::milliseconds(0);
           t < options_.metrics_interval && !stop.stop_requested();
           t += std::chrono::milliseconds(50)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  });
  return absl::OkStatus();
}

void NodeAgent::Stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
  if (logs_ != nullptr) logs_->Stop();
}

}  // namespace kobs::collect
