#include "collect/kubelet_metrics.h"

#include <algorithm>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "collect/json_fields.h"
#include "collect/pod_attributes.h"
#include "common/time_util.h"
#include "k8s/objects.h"

namespace kobs::collect {

using nlohmann::json;

namespace {

int64_t TimeNs(const json& j, std::string_view key) {
  absl::StatusOr<int64_t> t = ParseRfc3339Nanos(Str(j, key));
  return t.ok() ? *t : 0;
}


// `prefix`.cpu.usage / cpu.time / memory.* from a CPUStats and a MemoryStats.
void CpuMemory(const json& stats, const std::string& prefix, int64_t start_ns, MetricBuilder& b) {
  const json& cpu = At(stats, "cpu");
  if (auto v = Num(cpu, "usageNanoCores")) b.Gauge(prefix + ".cpu.usage", "{cpu}", *v / 1e9);
  if (auto v = Num(cpu, "usageCoreNanoSeconds")) {
    b.Sum(prefix + ".cpu.time", "s", *v / 1e9, start_ns);
  }
  const json& mem = At(stats, "memory");
  static const std::pair<std::string_view, std::string_view> kMemory[] = {
      {"availableBytes", "available"}, {"usageBytes", "usage"}, {"rssBytes", "rss"},
      {"workingSetBytes", "working_set"}};
  for (const auto& [field, name] : kMemory) {
    if (auto v = Num(mem, field)) b.Gauge(fmt::format("{}.memory.{}", prefix, name), "By", *v);
  }
  if (auto v = Num(mem, "pageFaults")) b.Gauge(prefix + ".memory.page_faults", "1", *v);
  if (auto v = Num(mem, "majorPageFaults")) b.Gauge(prefix + ".memory.major_page_faults", "1", *v);
}

void Filesystem(const json& fs, const std::string& prefix, MetricBuilder& b) {
  if (auto v = Num(fs, "availableBytes")) b.Gauge(prefix + ".filesystem.available", "By", *v);
  if (auto v = Num(fs, "capacityBytes")) b.Gauge(prefix + ".filesystem.capacity", "By", *v);
  if (auto v = Num(fs, "usedBytes")) b.Gauge(prefix + ".filesystem.usage", "By", *v);
}

void Network(const json& net, const std::string& prefix, int64_t start_ns, MetricBuilder& b) {
  std::vector<const json*> interfaces;
  const json& list = At(net, "interfaces");
  if (list.is_array()) {
    for (const json& i : list) interfaces.push_back(&i);
  } else if (net.is_object()) {
    interfaces.push_back(&net);
  }
  for (const json* i : interfaces) {
    const std::string name = Str(*i, "name");
    for (const auto& [field, direction, metric] :
         {std::tuple{"rxBytes", "receive", ".network.io"}, {"txBytes", "transmit", ".network.io"},
          {"rxErrors", "receive", ".network.errors"}, {"txErrors", "transmit", ".network.errors"}}) {
      if (auto v = Num(*i, field)) {
        b.Sum(prefix + metric, std::string_view(metric) == ".network.io" ? "By" : "{error}", *v,
              start_ns, {{"direction", direction}, {"interface", name}});
      }
    }
  }
}

void Uptime(const std::string& name, int64_t start_ns, MetricBuilder& b) {
  if (start_ns > 0 && b.now_ns() >= start_ns) {
    b.Sum(name, "s", static_cast<double>((b.now_ns() - start_ns) / 1000000000), start_ns);
  }
}

struct ContainerSpec {
  std::optional<double> cpu_limit, cpu_request, memory_limit, memory_request;  // cores, bytes
  int64_t restarts = -1;
  std::string last_terminated_reason;  // OOMKilled, Error, ...
};

std::optional<double> Quantity(const json& resources, std::string_view kind,
                               std::string_view resource) {
  const json& v = At(resources, kind, resource);
  if (!v.is_string()) return std::nullopt;
  absl::StatusOr<int64_t> milli = k8s::ParseQuantityMilli(v.get<std::string>());
  if (!milli.ok() || *milli <= 0) return std::nullopt;
  return static_cast<double>(*milli) / 1000.0;
}

std::map<std::string, ContainerSpec> Containers(const json& pod) {
  std::map<std::string, ContainerSpec> out;
  const json& containers = At(pod, "spec", "containers");
  if (containers.is_array()) {
    for (const json& c : containers) {
      const json& r = At(c, "resources");
      out[Str(c, "name")] = {.cpu_limit = Quantity(r, "limits", "cpu"),
                             .cpu_request = Quantity(r, "requests", "cpu"),
                             .memory_limit = Quantity(r, "limits", "memory"),
                             .memory_request = Quantity(r, "requests", "memory")};
    }
  }
  const json& statuses = At(pod, "status", "containerStatuses");
  if (statuses.is_array()) {
    for (const json& s : statuses) {
      ContainerSpec& spec = out[Str(s, "name")];
      if (auto n = Num(s, "restartCount")) spec.restarts = static_cast<int64_t>(*n);
      spec.last_terminated_reason = Str(At(s, "lastState", "terminated"), "reason");
    }
  }
  return out;
}

// usage / limit of each kind, for a container or (with sums over every container) a pod.
void Utilizations(const std::string& prefix, std::optional<double> cpu_cores,
                  std::optional<double> memory_bytes, const ContainerSpec& spec, MetricBuilder& b) {
  auto ratio = [&](std::string_view what, std::optional<double> usage, std::optional<double> of) {
    if (usage && of && *of > 0) b.Gauge(fmt::format("{}.{}_utilization", prefix, what), "1", *usage / *of);
  };
  ratio("memory_limit", memory_bytes, spec.memory_limit);
  ratio("cpu_limit", cpu_cores, spec.cpu_limit);
  ratio("memory_request", memory_bytes, spec.memory_request);
  ratio("cpu_request", cpu_cores, spec.cpu_request);
}

std::optional<double> CpuCores(const json& stats) {
  if (auto v = Num(At(stats, "cpu"), "usageNanoCores")) return *v / 1e9;
  return std::nullopt;
}

std::optional<double> MemoryBytes(const json& stats) { return Num(At(stats, "memory"), "usageBytes"); }

}  // namespace

size_t AddKubeletMetrics(const json& summary, const json& pods,
                         const KubeletMetricsOptions& options, MetricBuilder& b) {
  const size_t before = b.points();
  const json& node = At(summary, "node");
  const std::string node_name = Str(node, "nodeName");
  const int64_t node_start = TimeNs(node, "startTime");
  if (node.is_object()) {
    b.Resource({{"k8s.node.name", node_name}});
    CpuMemory(node, "k8s.node", node_start, b);
    Filesystem(At(node, "fs"), "k8s.node", b);
    Network(At(node, "network"), "k8s.node", node_start, b);
    Uptime("k8s.node.uptime", node_start, b);
  }

  std::map<std::string, const json*> by_uid;
  const json& items = At(pods, "items");
  if (items.is_array()) {
    for (const json& p : items) by_uid[Str(At(p, "metadata"), "uid")] = &p;
  }
  const json& pod_stats = At(summary, "pods");
  if (!pod_stats.is_array()) return b.points() - before;
  for (const json& ps : pod_stats) {
    const json& ref = At(ps, "podRef");
    auto it = by_uid.find(Str(ref, "uid"));
    json pod = it != by_uid.end() ? *it->second
                                  : json{{"metadata",
                                          {{"namespace", Str(ref, "namespace")},
                                           {"name", Str(ref, "name")},
                                           {"uid", Str(ref, "uid")}}},
                                         {"spec", {{"nodeName", node_name}}}};
    // The summary's podRef fills what a (trimmed) pod object lacks.
    if (!pod["metadata"].is_object()) pod["metadata"] = json::object();
    for (const char* key : {"namespace", "name", "uid"}) {
      if (Str(pod["metadata"], key).empty()) pod["metadata"][key] = Str(ref, key);
    }
    if (!pod["spec"].is_object()) pod["spec"] = json::object();
    if (Str(pod["spec"], "nodeName").empty()) pod["spec"]["nodeName"] = node_name;
    Labels attrs = PodResourceAttributes(pod);
    if (options.composition) {
      if (std::string id = options.composition(pod); !id.empty()) {
        attrs.emplace_back(options.label_key, id);
        SortByKey(attrs);
      }
    }
    const std::map<std::string, ContainerSpec> specs = Containers(pod);
    const int64_t pod_start = TimeNs(ps, "startTime");

    b.Resource(attrs);
    CpuMemory(ps, "k8s.pod", pod_start, b);
    Filesystem(At(ps, "ephemeral-storage"), "k8s.pod", b);
    Network(At(ps, "network"), "k8s.pod", pod_start, b);
    Uptime("k8s.pod.uptime", pod_start, b);
    // A pod's limit is the sum of its containers', defined only when each has one.
    ContainerSpec total{.cpu_limit = 0.0, .cpu_request = 0.0, .memory_limit = 0.0,
                        .memory_request = 0.0};
    auto add = [](std::optional<double>& sum, std::optional<double> v) {
      sum = (sum && v) ? std::optional<double>(*sum + *v) : std::nullopt;
    };
    for (const auto& [name, spec] : specs) {
      add(total.cpu_limit, spec.cpu_limit);
      add(total.cpu_request, spec.cpu_request);
      add(total.memory_limit, spec.memory_limit);
      add(total.memory_request, spec.memory_request);
    }
    if (!specs.empty()) Utilizations("k8s.pod", CpuCores(ps), MemoryBytes(ps), total, b);

    const json& containers = At(ps, "containers");
    if (!containers.is_array()) continue;
    for (const json& c : containers) {
      const std::string name = Str(c, "name");
      Labels cattrs = attrs;
      cattrs.emplace_back("k8s.container.name", name);
      auto spec = specs.find(name);
      if (spec != specs.end() && !spec->second.last_terminated_reason.empty()) {
        cattrs.emplace_back("k8s.container.status.last_terminated_reason",
                            spec->second.last_terminated_reason);
      }
      SortByKey(cattrs);
      b.Resource(cattrs);
      const int64_t start = TimeNs(c, "startTime");
      CpuMemory(c, "container", start, b);
      Filesystem(At(c, "rootfs"), "container", b);
      Uptime("container.uptime", start, b);
      if (spec == specs.end()) continue;
      Utilizations("k8s.container", CpuCores(c), MemoryBytes(c), spec->second, b);
      if (spec->second.restarts >= 0) {
        b.Gauge("k8s.container.restarts", "{restart}", static_cast<double>(spec->second.restarts));
      }
    }
  }
  return b.points() - before;
}

}  // namespace kobs::collect
