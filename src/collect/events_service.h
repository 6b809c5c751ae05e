// The event collection role of `kobs serve`: the cluster connection (a kubeconfig, or the pod's
// in-cluster service account), leader election on a Lease so that one replica collects, and
// the EventCollector, started while leading and stopped when leadership is lost.
#pragma once

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

  bool enabled() const { return events && (in_cluster || !kubeconfig.empty()); }
};

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
