// Container logs, to the store in-process (single-node mode: `kobs serve` next to the simulated
// cluster) or to the server over OTLP (`kobs agent`, collect/exporter.h): the kubelet's log files are tailed
// (agent/tailer.h), each entry stripped of ANSI codes, its severity inferred (the OTLP
// ingest's rule), and tagged as the original stack's DaemonSet collector tagged it, plus what
// it missed:
//   ResourceAttributes k8s.namespace.name, k8s.pod.name, k8s.pod.uid, k8s.container.name,
//                      k8s.container.restart_count, k8s.node.name, the workload name
//                      (k8s.deployment.name via the ReplicaSet, k8s.statefulset.name, ...),
//                      and every pod label both under its raw key (the original's preset) and
//                      as k8s.pod.labels.<key>
//   LogAttributes      log.file.path, log.iostream, and the composition id (through the pod's
//                      owner chain) under its label key
// Pods are looked up through the API once and cached; a pod that is gone keeps the attributes
// its path gives.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "agent/tailer.h"
#include "collect/composition_resolver.h"
#include "store/otel_rows.h"

namespace kobs {
class Counter;
class MetricsRegistry;
}  // namespace kobs

namespace kobs::k8s {
class Client;
}

namespace kobs::collect {

class Exporter;

struct PodLogsOptions {
  std::string root;             // the kubelet's pod log directory
  std::string checkpoint_path;  // tailer offsets ("" = none)
  std::string label_key = "krateo.io/composition-id";
  std::chrono::milliseconds poll{250};
  // The node whose pods these are: pods are then looked up in a node-local cache, one list
  // of the node's pods (fieldSelector spec.nodeName) refreshed when an unknown pod shows up
  // (at most every `pod_list_interval`; a pod still missing is fetched on its own), instead of
  // one GET per pod. "" = one GET per pod.
  std::string node_name;
  std::chrono::milliseconds pod_list_interval{std::chrono::seconds(2)};
};

// What a pod's rows share, worked out once per pod.
struct PodTags {
  store::Attributes attributes;  // pod_attributes.h, sorted; from the path for an unknown pod
  std::string workload;          // its Deployment or controller ("" for a bare or unknown pod)
  std::string composition_id;
};

// PodTags of a Pod object, or (`pod` null) of the path alone.
PodTags TagsOf(const agent::ContainerRef& ref, const nlohmann::json& pod);

// The row of one tailed entry of a pod tagged `tags`.
store::LogRow PodLogRow(const agent::TailedEntry& entry, const PodTags& tags,
                        const std::string& label_key, const std::string& file_path);

class PodLogsCollector {
 public:
  PodLogsCollector(k8s::Client& client, Exporter& exporter, PodLogsOptions options,
                   MetricsRegistry& metrics);
  ~PodLogsCollector();

  absl::Status Start();
  void Stop();
  uint64_t rows() const { return rows_.load(); }

 private:
  const PodTags& Lookup(const agent::ContainerRef& ref);
  absl::Status Deliver(std::vector<agent::TailedEntry>& entries);

  k8s::Client& client_;
  Exporter& exporter_;
  const PodLogsOptions options_;
  CompositionResolver resolver_;
  Counter& rows_metric_;
  std::unique_ptr<agent::Tailer> tailer_;
  // The pod object of `ref`: from the node's pod list, or a GET. NotFound when it is gone.
  absl::StatusOr<nlohmann::json> FetchPod(const agent::ContainerRef& ref);

  std::map<std::string, PodTags> pods_;  // by uid; tailer thread only
  std::map<std::string, nlohmann::json> node_pods_;  // the node's pod list, by uid
  std::chrono::steady_clock::time_point node_pods_at_{};
  PodTags unsettled_;                    // the last lookup that failed transiently
  std::atomic<uint64_t> rows_{0};
  std::jthread thread_;
};

}  // namespace kobs::collect
