// The simulated cluster's control loops, run in the `kobs sim` process: the Deployment
// controller (ReplicaSets per pod template, rolling updates within maxSurge/maxUnavailable,
// revisions and rollback, status and conditions that `kubectl rollout status` reads), the
// ReplicaSet controller (pods to match replicas, status), the StatefulSet, DaemonSet and Job
// controllers (workload_controllers.cc), the scheduler (binds pods to the
// simulated node), and the kubelet's pod lifecycle (image pulls, container start, readiness,
// pod status and the events the real components record).
//
// One thread drains a de-duplicated work queue fed by the store's change stream and a
// periodic resync, so controllers never race each other; a conflict requeues the key.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "sim/api.h"
#include "sim/event_recorder.h"
#include "sim/pod_logs.h"

namespace kobs::sim {

// What the simulated node has (node_status.h reports against it).
struct NodeCapacity {
  int64_t memory_bytes = int64_t{8} << 30;
  int64_t cpu_millicores = 2000;
  int64_t max_pids = 62639;
  std::string log_dir;  // the filesystem whose free space DiskPressure watches ("" = ".")
};

struct ControllerOptions {
  std::string node_name = "sim-node-1";
  NodeCapacity node;
  // Every object is reconciled again this often (the kubelet and controllers also requeue
  // themselves when they wait for something).
  std::chrono::milliseconds resync{std::chrono::seconds(30)};
  // Time acceleration: simulated durations (image pulls, back-offs) are divided by this.
  double time_factor = 1.0;
  // Images that fail to pull (ErrImagePull): a reference, or a repository for all its tags.
  // Tags containing "nonexistent" always fail.
  std::vector<std::string> missing_images;
};

class ControllerManager {
 public:
  ControllerManager(Api& api, PodLogs& logs, ControllerOptions options = {});
  ~ControllerManager();

  // Registers the node, then starts the loop.
  void Start();
  void Stop();

  enum class Kind { kDeployment, kReplicaSet, kPod, kStatefulSet, kDaemonSet, kJob };
  // Schedules a reconcile of (kind, namespace, name) after `delay`.
  void Enqueue(Kind kind, const std::string& ns, const std::string& name,
               std::chrono::milliseconds delay = std::chrono::milliseconds(0));

  EventRecorder& recorder() { return recorder_; }
  Api& api() { return api_; }
  PodLogs& logs() { return logs_; }
  const ControllerOptions& options() const { return options_; }
  // A simulated duration, after time acceleration.
  std::chrono::milliseconds Scaled(std::chrono::milliseconds d) const;

 private:
  using Key = std::tuple<Kind, std::string, std::string>;
  void Run();
  void OnChange(const Change& change);
  void Resync();
  void Reconcile(const Key& key);
  void RegisterNode();

  Api& api_;
  PodLogs& logs_;
  const ControllerOptions options_;
  EventRecorder recorder_;
  absl::Mutex mu_;
  std::map<Key, std::chrono::steady_clock::time_point> queue_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The reconcilers (each in its own file).
void ReconcileDeployment(ControllerManager& m, const std::string& ns, const std::string& name);
void ReconcileReplicaSet(ControllerManager& m, const std::string& ns, const std::string& name);
void ReconcilePod(ControllerManager& m, const std::string& ns, const std::string& name);
void ReconcileStatefulSet(ControllerManager& m, const std::string& ns, const std::string& name);
void ReconcileDaemonSet(ControllerManager& m, const std::string& ns, const std::string& name);
void ReconcileJob(ControllerManager& m, const std::string& ns, const std::string& name);
// Drops the kubelet's memory of a deleted pod's containers.
void ForgetPodRuntime(const std::string& uid);

// What the kubelet's containers use now, for /stats/summary.
struct ContainerUsage {
  std::string pod_uid, ns, pod, container;
  bool running = false;
  std::string started_at;  // of the current instance
  int restarts = 0;
  int64_t memory_bytes = 0;  // working set (0 unless running)
  int64_t memory_limit = 0;  // 0: none
  int64_t cpu_millicores = 0;
  double cpu_core_seconds = 0;  // over every instance
};
std::vector<ContainerUsage> ContainerUsages(double time_factor);

}  // namespace kobs::sim
