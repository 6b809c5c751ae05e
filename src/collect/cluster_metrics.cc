#include "collect/cluster_metrics.h"

#include <map>
#include <tuple>

#include "collect/json_fields.h"
#include "collect/pod_attributes.h"
#include "k8s/objects.h"

namespace kobs::collect {

using nlohmann::json;

namespace {

const json& Items(const json& list) {
  static const json kEmpty = json::array();
  const json& items = At(list, "items");
  return items.is_array() ? items : kEmpty;
}

double Int(const json& j, std::string_view key) { return Num(j, key).value_or(0); }

}  // namespace

size_t AddClusterMetrics(const json& nodes, const json& deployments, const json& pods,
                         const std::string& label_key, MetricBuilder& b) {
  const size_t before = b.points();
  for (const json& node : Items(nodes)) {
    const json& meta = At(node, "metadata");
    b.Resource({{"k8s.node.name", Str(meta, "name")}, {"k8s.node.uid", Str(meta, "uid")}});
    static const std::pair<std::string_view, std::string_view> kConditions[] = {
        {"Ready", "ready"}, {"MemoryPressure", "memory_pressure"},
        {"DiskPressure", "disk_pressure"}, {"PIDPressure", "pid_pressure"}};
    const json& conditions = At(At(node, "status"), "conditions");
    for (const auto& [type, name] : kConditions) {
      if (!conditions.is_array()) break;
      for (const json& c : conditions) {
        if (Str(c, "type") != type) continue;
        const std::string status = Str(c, "status");
        b.Gauge("k8s.node.condition_" + std::string(name), "1",
                status == "True" ? 1 : status == "False" ? 0 : -1);
      }
    }
    const json& allocatable = At(At(node, "status"), "allocatable");
    static const std::tuple<std::string_view, std::string_view, std::string_view, double>
        kAllocatable[] = {{"cpu", "cpu", "{cpu}", 1000.0},
                          {"memory", "memory", "By", 1000.0},
                          {"ephemeral-storage", "ephemeral_storage", "By", 1000.0},
                          {"pods", "pods", "{pod}", 1000.0}};
    for (const auto& [field, name, unit, milli] : kAllocatable) {
      const json& v = At(allocatable, field);
      if (!v.is_string()) continue;
      absl::StatusOr<int64_t> q = k8s::ParseQuantityMilli(v.get<std::string>());
      if (q.ok()) b.Gauge("k8s.node.allocatable_" + std::string(name), unit, *q / milli);
    }
  }
  for (const json& d : Items(deployments)) {
    const json& meta = At(d, "metadata");
    Labels attrs = {{"k8s.namespace.name", Str(meta, "namespace")},
                    {"k8s.deployment.name", Str(meta, "name")},
                    {"k8s.deployment.uid", Str(meta, "uid")}};
    if (std::string id = Str(At(meta, "labels"), label_key); !id.empty()) {
      attrs.emplace_back(label_key, id);
    }
    b.Resource(attrs);
    const json& replicas = At(At(d, "spec"), "replicas");
    b.Gauge("k8s.deployment.desired", "{pod}", replicas.is_number() ? replicas.get<double>() : 1);
    b.Gauge("k8s.deployment.available", "{pod}", Int(At(d, "status"), "availableReplicas"));
  }
  for (const json& p : Items(pods)) {
    const Labels pod = PodResourceAttributes(p);
    b.Resource(pod);
    const std::string phase = Str(At(p, "status"), "phase");
    b.Gauge("k8s.pod.phase", "1",
            phase == "Pending"     ? 1
            : phase == "Running"   ? 2
            : phase == "Succeeded" ? 3
            : phase == "Failed"    ? 4
                                   : 5);
    // Per container, as k8s_cluster reports them: readiness, limits and requests.
    std::map<std::string, const json*> statuses;
    const json& list = At(At(p, "status"), "containerStatuses");
    if (list.is_array()) {
      for (const json& st : list) statuses[Str(st, "name")] = &st;
    }
    const json& containers = At(At(p, "spec"), "containers");
    if (!containers.is_array()) continue;
    for (const json& c : containers) {
      const std::string name = Str(c, "name");
      Labels attrs = pod;
      attrs.emplace_back("k8s.container.name", name);
      b.Resource(attrs);
      auto st = statuses.find(name);
      if (st != statuses.end()) {
        const json& ready = At(*st->second, "ready");
        b.Gauge("k8s.container.ready", "1", ready.is_boolean() && ready.get<bool>() ? 1 : 0);
      }
      const json& resources = At(c, "resources");
      for (const auto& [kind, resource, metric, unit] :
           {std::tuple{"limits", "cpu", "k8s.container.cpu_limit", "{cpu}"},
            {"limits", "memory", "k8s.container.memory_limit", "By"},
            {"requests", "cpu", "k8s.container.cpu_request", "{cpu}"},
            {"requests", "memory", "k8s.container.memory_request", "By"}}) {
        const json& v = At(At(resources, kind), resource);
        if (!v.is_string()) continue;
        absl::StatusOr<int64_t> q = k8s::ParseQuantityMilli(v.get<std::string>());
        if (q.ok()) b.Gauge(metric, unit, static_cast<double>(*q) / 1000.0);
      }
    }
  }
  return b.points() - before;
}

}  // namespace kobs::collect
