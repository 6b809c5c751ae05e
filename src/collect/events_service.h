// The collection role of `kobs serve`: the cluster connection (a kubeconfig, or the pod's
// in-cluster service account), leader election on a Lease so that one replica collects
// events, the EventCollector, started while leading and stopped when leadership is lost, and
// cluster-level metrics (nodes, deployments, pods) on the same leader, and in single-node mode
// the node agent in-process (every replica collects its own node's logs and metrics).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "collect/event_collector.h"

namespace YAML {
class Node;
}

namespace kobs {
class MetricsRegistry;
}

namespace kobs::store {
class Writer;
}

namespace kobs::k8s {
class Client;
}

namespace kobs::collect {

struct EventsServiceOptions {
  std::string kubeconfig;  // a file; "" with in_cluster false: no cluster, nothing collected
  std::string context;     // "" = the kubeconfig's current-context
  bool in_cluster = false;
  bool events = true;        // collect events (when a cluster is configured)
  std::string namespace_;    // "" = every namespace
  std::string state_file = "./kobs-k8s-events.json";
  std::string composition_label = "krateo.io/composition-id";
  bool leader_election = true;
  std::string lease_namespace = "default";
  std::string lease_name = "kobs-k8s-events";
  double qps = 20;
  int burst = 40;
  // Single-node mode: tail this kubelet log directory in-process ("" = no pod logs here; on a
  // real cluster the node agent does it on each node).
  std::string pod_logs_dir;
  std::string pod_logs_checkpoint = "./kobs-pod-logs.json";
  // Cluster metrics (by the leader) and, with pod_logs_dir, the node's kubelet and host
  // metrics, this often (0 = none).
  std::chrono::milliseconds metrics_interval{std::chrono::seconds(60)};
  // The node whose kubelet is read in single-node mode ("" = the cluster's only node).
  std::string node_name;

  bool enabled() const {
    return (in_cluster || !kubeconfig.empty()) &&
           (events || !pod_logs_dir.empty() || metrics_interval.count() > 0);
  }
};

// A client of the configured cluster (the kubeconfig's context, or the pod's service account).
absl::StatusOr<std::unique_ptr<k8s::Client>> ConnectCluster(const EventsServiceOptions& options);

// The `k8s` section of kobs.yaml.
absl::StatusOr<EventsServiceOptions> ParseEventsServiceOptions(const YAML::Node& node);

class EventsService {
 public:
  // Connects (discovery is checked at Start).
  static absl::StatusOr<std::unique_ptr<EventsService>> Create(EventsServiceOptions options,
                                                               store::Writer& writer,
                                                               MetricsRegistry& metrics);
  ~EventsService();

  absl::Status Start();
  void Stop();
  // Leading (or not electing) and the watch has listed.
  bool collecting() const;

 private:
  struct Impl;
  explicit EventsService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kobs::collect
