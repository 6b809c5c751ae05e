// The attributes that tag everything collected from a pod (its log rows and its metrics), as
// the Collector's k8sattributes processor set them: namespace, name, uid, node, start time, the
// owning workload, and each label both under its raw key (the original stack's preset) and as
// k8s.pod.labels.<key>. Stateless.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace kobs::collect {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Sorts by key; of equal keys the first one stays (so that k8s.* keys added first win over a
// label of the same name).
void SortByKey(Labels& attributes);

// The pod's attributes, sorted. The workload is k8s.<controller kind>.name, plus
// k8s.deployment.name for a ReplicaSet named <deployment>-<pod-template-hash>.
Labels PodResourceAttributes(const nlohmann::json& pod);

// The name of the pod's workload in `attributes`: its Deployment, else its controller; "" for
// a bare pod.
std::string WorkloadName(const Labels& attributes, const nlohmann::json& pod);

}  // namespace kobs::collect
