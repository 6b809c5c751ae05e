// The kubelet's /stats/summary as OTLP metrics, named as the Collector's kubeletstats receiver
// names them (so that the original stack's queries keep working), with the attributes its
// k8sattributes processor added:
//   node       k8s.node.{cpu.usage,cpu.time,memory.*,filesystem.*,network.io,network.errors,uptime}
//   pod        k8s.pod.{cpu.usage,cpu.time,memory.*,filesystem.*,network.io,network.errors,uptime,
//              memory_limit_utilization,cpu_limit_utilization,memory_request_utilization,
//              cpu_request_utilization}
//   container  container.{cpu.usage,cpu.time,memory.*,filesystem.*,uptime},
//              k8s.container.{memory_limit_utilization,cpu_limit_utilization,
//              memory_request_utilization,cpu_request_utilization,restarts}
// Container resources carry k8s.container.status.last_terminated_reason once a container has
// terminated (OOMKilled, Error, ...). Limits, requests, restarts, labels and the owning
// workload come from the kubelet's /pods
// (or any list of the node's pods). Utilizations are usage / limit (memory: usageBytes; CPU:
// cores); a pod's are emitted only when every container has that limit or request, as in
// kubeletstats. Stateless.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "collect/metric_builder.h"

namespace kobs::collect {

struct KubeletMetricsOptions {
  // The composition id of a pod ("" = none), put on its resources under `label_key`.
  std::function<std::string(const nlohmann::json& pod)> composition;
  std::string label_key = "krateo.io/composition-id";
};

// Adds the metrics of `summary` (a /stats/summary document) to `out`; `pods` is a PodList
// (null or malformed: no limits, labels or restarts). Returns the number of points added.
size_t AddKubeletMetrics(const nlohmann::json& summary, const nlohmann::json& pods,
                         const KubeletMetricsOptions& options, MetricBuilder& out);

}  // namespace kobs::collect
