// The simulated node as its kubelet reports it: `/stats/summary` (node, pods and containers
// with CPU, memory working set against limits, and log usage, in the kubelet's Summary API
// shape) and `/pods` (the kubelet's PodList), both reached through the API server's node
// proxy (`/api/v1/nodes/<node>/proxy/stats/summary`, as `kubectl get --raw` and collectors
// that go through the API server read them); and the Node's conditions, which follow what the
// containers use: MemoryPressure below 100Mi available (the kubelet's default eviction
// threshold), DiskPressure below 10% free on the filesystem that holds the logs, PIDPressure
// past 90% of the PID limit, Ready otherwise.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "sim/api.h"
#include "sim/controllers.h"

namespace kobs::sim {

// The Summary API document for `node`.
nlohmann::json StatsSummary(ControllerManager& m);
// The kubelet's `/pods`: the pods bound to the node.
nlohmann::json KubeletPods(Api& api, const std::string& node);

// Serves GET /api/v1/nodes/<node>/proxy/<path> for the simulated node: the JSON body, or
// nullopt when the node or the path is unknown.
std::optional<nlohmann::json> NodeProxy(ControllerManager& m, const std::string& node,
                                        const std::string& path);

// Brings the Node's conditions and heartbeat up to date, recording the kubelet's events when a
// condition changes (NodeHasInsufficientMemory, NodeHasSufficientMemory, ...).
void ReconcileNode(ControllerManager& m);
// Renews (or creates) the node's heartbeat Lease in kube-node-lease.
void RenewNodeLease(ControllerManager& m);

}  // namespace kobs::sim
