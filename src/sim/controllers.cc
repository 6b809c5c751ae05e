#include "sim/controllers.h"

#include <fmt/format.h>

#include "common/absl_compat.h"
#include "common/log.h"
#include "k8s/api_status.h"
#include "sim/node_status.h"
#include "sim/object_meta.h"

namespace kobs::sim {

using nlohmann::json;

ControllerManager::ControllerManager(Api& api, PodLogs& logs, ControllerOptions options)
    : api_(api), logs_(logs), options_(std::move(options)), recorder_(api) {}

ControllerManager::~ControllerManager() { Stop(); }

std::chrono::milliseconds ControllerManager::Scaled(std::chrono::milliseconds d) const {
  double f = options_.time_factor > 0 ? options_.time_factor : 1.0;
  return std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(d.count()) / f));
}

void ControllerManager::Start() {
  RegisterNode();
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void ControllerManager::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void ControllerManager::RegisterNode() {
  auto nodes = api_.registry().Find("", "v1", "nodes");
  const std::string now = NowRfc3339();
  auto condition = [&](const char* type, const char* status, const char* reason,
                       const char* message) {
    return json{{"type", type},           {"status", status},         {"reason", reason},
                {"message", message},     {"lastHeartbeatTime", now}, {"lastTransitionTime", now}};
  };
  json node = {
      {"apiVersion", "v1"},
      {"kind", "Node"},
      {"metadata",
       {{"name", options_.node_name},
        {"labels",
         {{"kubernetes.io/hostname", options_.node_name},
          {"kubernetes.io/os", "linux"},
          {"kubernetes.io/arch", "amd64"},
          {"node-role.kubernetes.io/control-plane", ""}}}}},
      {"spec", {{"podCIDR", "10.244.0.0/24"}}},
      {"status",
       {{"capacity",
         {{"cpu", fmt::format("{}m", options_.node.cpu_millicores)},
          {"memory", fmt::format("{}Ki", options_.node.memory_bytes / 1024)},
          {"pods", "1100"}}},
        {"allocatable",
         {{"cpu", fmt::format("{}m", options_.node.cpu_millicores)},
          {"memory", fmt::format("{}Ki", (options_.node.memory_bytes - (100 << 20)) / 1024)},
          {"pods", "1100"}}},
        {"conditions",
         {condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available"),
          condition("DiskPressure", "False", "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure"),
          condition("PIDPressure", "False", "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available"),
          condition("Ready", "True", "KubeletReady", "kubelet is posting ready status")}},
        {"addresses",
         {{{"type", "InternalIP"}, {"address", "192.168.49.2"}},
          {{"type", "Hostname"}, {"address", options_.node_name}}}},
        {"nodeInfo",
         {{"kubeletVersion", "v1.32.0"},
          {"kubeProxyVersion", "v1.32.0"},
          {"containerRuntimeVersion", "containerd://1.7.24"},
          {"osImage", "Debian GNU/Linux 12 (bookworm)"},
          {"kernelVersion", "6.1.0-kobs-sim"},
          {"operatingSystem", "linux"},
          {"architecture", "amd64"}}}}}};
  absl::StatusOr<json> made = api_.Create(*nodes, "", node);
  if (!made.ok() && k8s::ApiReason(made.status()) != "AlreadyExists") {
    Log(Logger("sim"), spdlog::level::warn, "registering the node failed",
        {{"error", std::string(ToStd(made.status().message()))}});
  }
}

void ControllerManager::Enqueue(Kind kind, const std::string& ns, const std::string& name,
                                std::chrono::milliseconds delay) {
  auto at = std::chrono::steady_clock::now() + delay;
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = queue_.emplace(Key{kind, ns, name}, at);
  if (!inserted && at < it->second) it->second = at;
}

void ControllerManager::OnChange(const Change& c) {
  auto owner = [&](const json& obj, const char* kind) -> std::string {
    json refs = AtPath(obj, ".metadata.ownerReferences");
    if (!refs.is_array()) return "";
    for (const json& r : refs) {
      if (Str(r, "kind") == kind && AtPath(r, ".controller") == json(true)) return Str(r, "name");
    }
    return "";
  };
  if (c.storage == "apps/deployments") {
    Enqueue(Kind::kDeployment, c.ns, c.name);
  } else if (c.storage == "apps/replicasets") {
    Enqueue(Kind::kReplicaSet, c.ns, c.name);
    if (std::string d = owner(c.object, "Deployment"); !d.empty()) {
      Enqueue(Kind::kDeployment, c.ns, d);
    }
  } else if (c.storage == "apps/statefulsets") {
    Enqueue(Kind::kStatefulSet, c.ns, c.name);
  } else if (c.storage == "apps/daemonsets") {
    Enqueue(Kind::kDaemonSet, c.ns, c.name);
  } else if (c.storage == "batch/jobs") {
    Enqueue(Kind::kJob, c.ns, c.name);
  } else if (c.storage == "/pods") {
    if (c.type != Change::Type::kDeleted) {
      Enqueue(Kind::kPod, c.ns, c.name);
    } else {
      ForgetPodRuntime(Str(c.object, "metadata", "uid"));
    }
    for (auto [owner_kind, kind] :
         {std::pair{"ReplicaSet", Kind::kReplicaSet}, std::pair{"StatefulSet", Kind::kStatefulSet},
          std::pair{"DaemonSet", Kind::kDaemonSet}, std::pair{"Job", Kind::kJob}}) {
      // Coalesced: a burst of pod changes (a rollout, 1,000 pods starting) reconciles each
      // owner a few times, not once per change.
      if (std::string o = owner(c.object, owner_kind); !o.empty()) {
        Enqueue(kind, c.ns, o, std::chrono::milliseconds(100));
      }
    }
  }
}

void ControllerManager::Resync() {
  for (auto [storage, kind] : {std::pair{"apps/deployments", Kind::kDeployment},
                               std::pair{"apps/replicasets", Kind::kReplicaSet},
                               std::pair{"apps/statefulsets", Kind::kStatefulSet},
                               std::pair{"apps/daemonsets", Kind::kDaemonSet},
                               std::pair{"batch/jobs", Kind::kJob},
                               std::pair{"/pods", Kind::kPod}}) {
    absl::StatusOr<ObjectStore::Snapshot> all = api_.store().List(storage, "");
    if (!all.ok()) continue;
    for (const json& o : all->items) {
      Enqueue(kind, Str(o, "metadata", "namespace"), Str(o, "metadata", "name"));
    }
  }
}

void ControllerManager::Reconcile(const Key& key) {
  const auto& [kind, ns, name] = key;
  switch (kind) {
    case Kind::kDeployment:
      ReconcileDeployment(*this, ns, name);
      break;
    case Kind::kReplicaSet:
      ReconcileReplicaSet(*this, ns, name);
      break;
    case Kind::kPod:
      ReconcilePod(*this, ns, name);
      break;
    case Kind::kStatefulSet:
      ReconcileStatefulSet(*this, ns, name);
      break;
    case Kind::kDaemonSet:
      ReconcileDaemonSet(*this, ns, name);
      break;
    case Kind::kJob:
      ReconcileJob(*this, ns, name);
      break;
  }
}

void ControllerManager::Run() {
  uint64_t rv = api_.store().resource_version();
  Resync();
  auto last_resync = std::chrono::steady_clock::now();
  auto last_node = last_resync;
  auto last_lease = last_resync - std::chrono::hours(1);
  while (!stop_ && !api_.store().closed()) {
    // The next due key, if any.
    std::optional<Key> due;
    std::chrono::milliseconds wait(100);
    {
      absl::MutexLock lock(&mu_);
      auto now = std::chrono::steady_clock::now();
      for (auto it = queue_.begin(); it != queue_.end(); ++it) {
        if (it->second <= now) {
          due = it->first;
          queue_.erase(it);
          break;
        }
        wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(
                                  it->second - now));
      }
    }
    if (due) {
      Reconcile(*due);
      wait = std::chrono::milliseconds(0);
    }
    absl::StatusOr<ObjectStore::Batch> batch =
        api_.store().ChangesAfter(rv, "", std::max(wait, std::chrono::milliseconds(0)));
    if (!batch.ok()) {
      rv = api_.store().resource_version();
      Resync();
      continue;
    }
    for (const ChangePtr& c : batch->changes) OnChange(*c);
    rv = batch->rv;
    if (std::chrono::steady_clock::now() - last_node >= std::chrono::seconds(1)) {
      ReconcileNode(*this);
      last_node = std::chrono::steady_clock::now();
    }
    // The node's heartbeat Lease, every 10 s as the kubelet renews it.
    if (std::chrono::steady_clock::now() - last_lease >= std::chrono::seconds(10)) {
      RenewNodeLease(*this);
      last_lease = std::chrono::steady_clock::now();
    }
    if (std::chrono::steady_clock::now() - last_resync >= options_.resync) {
      Resync();
      last_resync = std::chrono::steady_clock::now();
    }
  }
}

}  // namespace kobs::sim
