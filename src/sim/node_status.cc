#include "sim/node_status.h"

#include <sys/statvfs.h>

#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "k8s/patch.h"
#include "sim/object_meta.h"

namespace kobs::sim {
namespace {

using nlohmann::json;

// What the node itself (kubelet, runtime, system daemons) uses besides the pods.
constexpr int64_t kSystemMemory = int64_t{600} << 20;
constexpr int64_t kSystemMillicores = 150;
constexpr int64_t kEvictionMemory = int64_t{100} << 20;  // memory.available<100Mi

struct FsUsage {
  int64_t capacity = 0, available = 0, inodes = 0, inodes_free = 0;
};

FsUsage Statvfs(const std::string& dir) {
  struct statvfs v {};
  FsUsage u;
  if (statvfs(dir.empty() ? "." : dir.c_str(), &v) == 0) {
    u.capacity = static_cast<int64_t>(v.f_blocks) * static_cast<int64_t>(v.f_frsize);
    u.available = static_cast<int64_t>(v.f_bavail) * static_cast<int64_t>(v.f_frsize);
    u.inodes = static_cast<int64_t>(v.f_files);
    u.inodes_free = static_cast<int64_t>(v.f_ffree);
  }
  return u;
}

json Fs(const FsUsage& u, int64_t used, const std::string& now) {
  return {{"time", now},
          {"availableBytes", u.available},
          {"capacityBytes", u.capacity},
          {"usedBytes", used},
          {"inodesFree", u.inodes_free},
          {"inodes", u.inodes},
          {"inodesUsed", used > 0 ? 1 : 0}};
}

// Bytes under a pod's log directory (<log_dir>/<ns>_<pod>_<uid>/<container>).
int64_t LogBytes(const std::string& log_dir, const ContainerUsage& c) {
  if (log_dir.empty()) return 0;
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::path(log_dir) /
                              fmt::format("{}_{}_{}", c.ns, c.pod, c.pod_uid) / c.container;
  int64_t total = 0;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code size_ec;
    auto size = it->file_size(size_ec);
    if (!size_ec) total += static_cast<int64_t>(size);
  }
  return total;
}

json Memory(int64_t working_set, int64_t limit, const std::string& now) {
  json m = {{"time", now},
            {"usageBytes", working_set + working_set / 8},
            {"workingSetBytes", working_set},
            {"rssBytes", working_set - working_set / 10},
            {"pageFaults", working_set / 4096},
            {"majorPageFaults", 0}};
  if (limit > 0) m["availableBytes"] = std::max<int64_t>(0, limit - working_set);
  return m;
}

json Cpu(int64_t millicores, double core_seconds, const std::string& now) {
  return {{"time", now},
          {"usageNanoCores", millicores * 1000000},
          {"usageCoreNanoSeconds", static_cast<int64_t>(core_seconds * 1e9)}};
}

struct NodeTotals {
  int64_t working_set = kSystemMemory;
  int64_t millicores = kSystemMillicores;
  double core_seconds = 0;
  int64_t processes = 200;
};

NodeTotals Totals(const std::vector<ContainerUsage>& usages) {
  NodeTotals t;
  for (const ContainerUsage& u : usages) {
    t.working_set += u.memory_bytes;
    t.millicores += u.cpu_millicores;
    t.core_seconds += u.cpu_core_seconds;
    if (u.running) t.processes += 8;
  }
  return t;
}

}  // namespace

json StatsSummary(ControllerManager& m) {
  const ControllerOptions& o = m.options();
  const std::string now = NowRfc3339();
  std::vector<ContainerUsage> usages = ContainerUsages(o.time_factor);
  FsUsage fs = Statvfs(o.node.log_dir);
  // Pods by uid, from the API (the kubelet's own pod manager).
  std::map<std::string, json> pods;
  absl::StatusOr<ObjectStore::Snapshot> all = m.api().store().List("/pods", "");
  if (all.ok()) {
    for (const json& p : all->items) {
      if (Str(p, "spec", "nodeName") == o.node_name) pods[Str(p, "metadata", "uid")] = p;
    }
  }
  std::map<std::string, std::vector<const ContainerUsage*>> by_pod;
  for (const ContainerUsage& u : usages) {
    if (pods.count(u.pod_uid) != 0) by_pod[u.pod_uid].push_back(&u);
  }
  NodeTotals totals = Totals(usages);
  json pod_stats = json::array();
  for (const auto& [uid, containers] : by_pod) {
    const json& pod = pods[uid];
    json cs = json::array();
    int64_t ws = 0, millis = 0, logs = 0;
    double seconds = 0;
    for (const ContainerUsage* u : containers) {
      int64_t log_bytes = LogBytes(o.node.log_dir, *u);
      json c = {{"name", u->container},
                {"startTime", u->started_at},
                {"cpu", Cpu(u->cpu_millicores, u->cpu_core_seconds, now)},
                {"memory", Memory(u->memory_bytes, u->memory_limit, now)},
                {"rootfs", Fs(fs, 32768, now)},
                {"logs", Fs(fs, log_bytes, now)}};
      ws += u->memory_bytes;
      millis += u->cpu_millicores;
      seconds += u->cpu_core_seconds;
      logs += log_bytes;
      cs.push_back(std::move(c));
    }
    auto rx = static_cast<int64_t>(seconds * 2e6);
    pod_stats.push_back(
        {{"podRef",
          {{"name", Str(pod, "metadata", "name")},
           {"namespace", Str(pod, "metadata", "namespace")},
           {"uid", uid}}},
         {"startTime", Str(pod, "status", "startTime")},
         {"containers", std::move(cs)},
         {"cpu", Cpu(millis, seconds, now)},
         {"memory", Memory(ws, 0, now)},
         {"network",
          {{"time", now},
           {"name", "eth0"},
           {"rxBytes", rx},
           {"rxErrors", 0},
           {"txBytes", rx / 3},
           {"txErrors", 0},
           {"interfaces",
            {{{"name", "eth0"}, {"rxBytes", rx}, {"rxErrors", 0}, {"txBytes", rx / 3},
              {"txErrors", 0}}}}}},
         {"ephemeral-storage", Fs(fs, logs + 32768 * static_cast<int64_t>(containers.size()), now)},
         {"process_stats", {{"process_count", 8 * containers.size()}}}});
  }
  json node = {
      {"nodeName", o.node_name},
      {"startTime", Str(pods.empty() ? json::object() : pods.begin()->second, "status",
                        "startTime")},
      {"cpu", Cpu(totals.millicores, totals.core_seconds, now)},
      {"memory",
       {{"time", now},
        {"availableBytes", std::max<int64_t>(0, o.node.memory_bytes - totals.working_set)},
        {"usageBytes", totals.working_set + totals.working_set / 8},
        {"workingSetBytes", totals.working_set},
        {"rssBytes", totals.working_set - totals.working_set / 10},
        {"pageFaults", totals.working_set / 4096},
        {"majorPageFaults", 0}}},
      {"network",
       {{"time", now}, {"name", "eth0"}, {"rxBytes", 0}, {"rxErrors", 0}, {"txBytes", 0},
        {"txErrors", 0}}},
      {"fs", Fs(fs, fs.capacity - fs.available, now)},
      {"runtime",
       {{"imageFs", Fs(fs, fs.capacity - fs.available, now)},
        {"containerFs", Fs(fs, fs.capacity - fs.available, now)}}},
      {"rlimit", {{"time", now}, {"maxpid", o.node.max_pids}, {"curproc", totals.processes}}},
      {"systemContainers",
       {{{"name", "kubelet"},
         {"startTime", now},
         {"cpu", Cpu(40, 0, now)},
         {"memory", Memory(int64_t{60} << 20, 0, now)}},
        {{"name", "runtime"},
         {"startTime", now},
         {"cpu", Cpu(20, 0, now)},
         {"memory", Memory(int64_t{40} << 20, 0, now)}}}}};
  return {{"node", std::move(node)}, {"pods", std::move(pod_stats)}};
}

json KubeletPods(Api& api, const std::string& node) {
  json items = json::array();
  absl::StatusOr<ObjectStore::Snapshot> all = api.store().List("/pods", "");
  if (all.ok()) {
    for (const json& p : all->items) {
      if (Str(p, "spec", "nodeName") == node) items.push_back(p);
    }
  }
  return {{"kind", "PodList"}, {"apiVersion", "v1"}, {"metadata", json::object()},
          {"items", std::move(items)}};
}

std::optional<json> NodeProxy(ControllerManager& m, const std::string& node,
                              const std::string& path) {
  if (node != m.options().node_name) return std::nullopt;
  if (path == "stats/summary" || path == "stats/summary/") return StatsSummary(m);
  if (path == "pods" || path == "pods/") return KubeletPods(m.api(), node);
  if (path == "healthz") return json("ok");
  return std::nullopt;
}

void RenewNodeLease(ControllerManager& m) {
  const ControllerOptions& o = m.options();
  auto leases = m.api().registry().Find("coordination.k8s.io", "v1", "leases");
  if (leases == nullptr) return;
  json lease = {{"apiVersion", "coordination.k8s.io/v1"},
                {"kind", "Lease"},
                {"metadata", {{"name", o.node_name}, {"namespace", "kube-node-lease"}}},
                {"spec",
                 {{"holderIdentity", o.node_name},
                  {"leaseDurationSeconds", 40},
                  {"renewTime", NowRfc3339Micro()}}}};
  absl::StatusOr<json> current = m.api().Get(*leases, "kube-node-lease", o.node_name);
  if (!current.ok()) {
    (void)m.api().Create(*leases, "kube-node-lease", std::move(lease));
    return;
  }
  json patch = {{"spec", lease["spec"]}};
  (void)m.api().Patch(*leases, "kube-node-lease", o.node_name, k8s::PatchType::kMergePatch,
                      patch.dump());
}

void ReconcileNode(ControllerManager& m) {
  const ControllerOptions& o = m.options();
  auto nodes = m.api().registry().Find("", "v1", "nodes");
  absl::StatusOr<json> node = m.api().Get(*nodes, "", o.node_name);
  if (!node.ok()) return;
  NodeTotals t = Totals(ContainerUsages(o.time_factor));
  FsUsage fs = Statvfs(o.node.log_dir);
  struct Want {
    const char* type;
    bool pressure;
    const char* reason_true;
    const char* reason_false;
    const char* message_true;
    const char* message_false;
  };
  const Want wants[] = {
      {"MemoryPressure", o.node.memory_bytes - t.working_set < kEvictionMemory,
       "KubeletHasInsufficientMemory", "KubeletHasSufficientMemory",
       "kubelet has insufficient memory available", "kubelet has sufficient memory available"},
      {"DiskPressure", fs.capacity > 0 && fs.available * 10 < fs.capacity, "KubeletHasDiskPressure",
       "KubeletHasNoDiskPressure", "kubelet has disk pressure", "kubelet has no disk pressure"},
      {"PIDPressure", t.processes * 10 > o.node.max_pids * 9, "KubeletHasInsufficientPID",
       "KubeletHasSufficientPID", "kubelet has insufficient PID available",
       "kubelet has sufficient PID available"},
  };
  const std::string now = NowRfc3339();
  json conditions = AtPath(*node, ".status.conditions");
  if (!conditions.is_array()) conditions = json::array();
  bool changed = false;
  for (const Want& w : wants) {
    json c = {{"type", w.type},
              {"status", w.pressure ? "True" : "False"},
              {"reason", w.pressure ? w.reason_true : w.reason_false},
              {"message", w.pressure ? w.message_true : w.message_false},
              {"lastHeartbeatTime", now},
              {"lastTransitionTime", now}};
    bool found = false;
    for (json& old : conditions) {
      if (Str(old, "type") != w.type) continue;
      found = true;
      if (Str(old, "status") == Str(c, "status")) continue;
      old = c;
      changed = true;
      // The kubelet's node events: NodeHasInsufficientMemory, NodeHasSufficientMemory, ...
      std::string event = std::string(w.pressure ? w.reason_true : w.reason_false);
      event.replace(0, std::string("Kubelet").size(), "Node");
      // kubectl describe node finds node events by uid = the node's name, as the kubelet
      // records them.
      json node_ref = {{"apiVersion", "v1"},
                       {"kind", "Node"},
                       {"metadata", {{"name", o.node_name}, {"uid", o.node_name}}}};
      m.recorder().Record(node_ref, {"kubelet", o.node_name}, "Normal", event,
                          fmt::format("Node {} status is now: {}", o.node_name, event));
    }
    if (!found) {
      conditions.push_back(c);
      changed = true;
    }
  }
  if (!changed) return;
  json patch = {{"status", {{"conditions", conditions}}}};
  (void)m.api().Patch(*nodes, "", o.node_name, k8s::PatchType::kMergePatch, patch.dump(),
                      "status");
}

}  // namespace kobs::sim
