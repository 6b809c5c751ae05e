// Cluster-level metrics from the API, named as the Collector's k8s_cluster receiver names
// them (the original stack's Deployment collector ran it):
//   node        k8s.node.condition_{ready,memory_pressure,disk_pressure,pid_pressure}
//               (1 True, 0 False, -1 Unknown), k8s.node.allocatable_{cpu,memory,
//               ephemeral_storage,pods}
//   deployment  k8s.deployment.desired, k8s.deployment.available (with the composition id
//               label of the Deployment, when it has one)
//   pod         k8s.pod.phase (1 Pending, 2 Running, 3 Succeeded, 4 Failed, 5 Unknown)
//   container   k8s.container.ready, k8s.container.{cpu,memory}_{limit,request} (cores,
//               bytes); restarts come from each node's agent
// Stateless.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "collect/metric_builder.h"

namespace kobs::collect {

// `nodes`, `deployments` and `pods` are List documents (null: none). Returns points added.
size_t AddClusterMetrics(const nlohmann::json& nodes, const nlohmann::json& deployments,
                         const nlohmann::json& pods, const std::string& label_key,
                         MetricBuilder& out);

}  // namespace kobs::collect
