#include "sim/tables.h"

#include <fmt/format.h>

#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "sim/object_meta.h"

namespace kobs::sim {
namespace {

using nlohmann::json;
using Clock = std::chrono::system_clock;

struct Column {
  const char* name;
  const char* type;
  int priority;
  const char* description;
};

json ColumnJson(const Column& c) {
  return {{"name", c.name},
          {"type", c.type},
          {"format", std::string(c.name) == "Name" ? "name" : ""},
          {"description", c.description},
          {"priority", c.priority}};
}

int64_t Int(const json& obj, std::string_view path) {
  json v = AtPath(obj, path);
  return v.is_number_integer() ? v.get<int64_t>() : 0;
}

std::string Age(const json& obj, Clock::time_point now) {
  return HumanAge(Str(obj, "metadata", "creationTimestamp"), now);
}

// Containers and images of a pod template, comma-separated (the wide columns).
std::pair<std::string, std::string> ContainersOf(const json& pod_spec) {
  std::vector<std::string> names, images;
  if (pod_spec.is_object() && pod_spec.contains("containers") &&
      pod_spec["containers"].is_array()) {
    for (const json& c : pod_spec["containers"]) {
      names.push_back(Str(c, "name"));
      images.push_back(Str(c, "image"));
    }
  }
  return {absl::StrJoin(names, ","), absl::StrJoin(images, ",")};
}

std::string PodStatus(const json& pod) {
  std::string reason = Str(pod, "status", "reason");
  if (reason.empty()) reason = Str(pod, "status", "phase");
  const json statuses = AtPath(pod, ".status.containerStatuses");
  const json init = AtPath(pod, ".status.initContainerStatuses");
  if (init.is_array()) {
    int i = 0;
    for (const json& s : init) {
      std::string waiting = Str(s, "state", "waiting", "reason");
      json term = AtPath(s, ".state.terminated");
      if (term.is_object() && Int(term, ".exitCode") == 0) {
        ++i;
        continue;
      }
      if (term.is_object()) {
        return "Init:" + (Str(term, "reason").empty() ? "Error" : Str(term, "reason"));
      }
      if (!waiting.empty() && waiting != "PodInitializing") return "Init:" + waiting;
      return fmt::format("Init:{}/{}", i, init.size());
    }
  }
  bool running = false;
  if (statuses.is_array()) {
    for (auto it = statuses.rbegin(); it != statuses.rend(); ++it) {
      const json& s = *it;
      std::string waiting = Str(s, "state", "waiting", "reason");
      json term = AtPath(s, ".state.terminated");
      if (!waiting.empty()) {
        reason = waiting;
      } else if (term.is_object()) {
        reason = Str(term, "reason");
        if (reason.empty()) reason = fmt::format("ExitCode:{}", Int(term, ".exitCode"));
      } else if (AtPath(s, ".state.running").is_object() && AtPath(s, ".ready") == json(true)) {
        running = true;
      }
    }
  }
  if (reason == "Completed" && running) reason = "Running";
  if (!Str(pod, "metadata", "deletionTimestamp").empty()) reason = "Terminating";
  return reason;
}

std::vector<Column> ColumnsFor(const ResourceType& t) {
  const std::string& p = t.plural;
  const bool core = t.group.empty();
  static const Column kName{"Name", "string", 0, "Name must be unique within a namespace."};
  static const Column kAge{"Age", "string", 0, "CreationTimestamp is a timestamp."};
  if (core && p == "pods") {
    return {kName,
            {"Ready", "string", 0, "The aggregate readiness state of this pod."},
            {"Status", "string", 0, "The aggregate status of the containers in this pod."},
            {"Restarts", "string", 0, "The number of times the containers have restarted."},
            kAge,
            {"IP", "string", 1, "IP address allocated to the pod."},
            {"Node", "string", 1, "Name of the node the pod is scheduled on."},
            {"Nominated Node", "string", 1, "Name of the node nominated by the scheduler."},
            {"Readiness Gates", "string", 1, "Pod readiness gates."}};
  }
  if (t.group == "apps" && p == "deployments") {
    return {kName,
            {"Ready", "string", 0, "Number of the pod with ready state"},
            {"Up-to-date", "string", 0, "Total number of non-terminated pods updated."},
            {"Available", "string", 0, "Number of available pods."},
            kAge,
            {"Containers", "string", 1, "Names of each container in the template."},
            {"Images", "string", 1, "Images referenced by each container in the template."},
            {"Selector", "string", 1, "Label selector for pods."}};
  }
  if (t.group == "apps" && p == "replicasets") {
    return {kName,
            {"Desired", "integer", 0, "Number of desired pods."},
            {"Current", "integer", 0, "Number of actual replicas."},
            {"Ready", "integer", 0, "Number of ready replicas."},
            kAge,
            {"Containers", "string", 1, "Names of each container in the template."},
            {"Images", "string", 1, "Images referenced by each container in the template."},
            {"Selector", "string", 1, "Label selector for pods."}};
  }
  if (t.group == "apps" && p == "statefulsets") {
    return {kName, {"Ready", "string", 0, "Number of the pod with ready state"}, kAge,
            {"Containers", "string", 1, "Names of each container in the template."},
            {"Images", "string", 1, "Images referenced by each container in the template."}};
  }
  if (t.group == "apps" && p == "daemonsets") {
    return {kName,
            {"Desired", "integer", 0, "Number of nodes that should run the daemon pod."},
            {"Current", "integer", 0, "Number of nodes running the daemon pod."},
            {"Ready", "integer", 0, "Number of nodes with a ready daemon pod."},
            {"Up-to-date", "integer", 0, "Number of nodes with the updated daemon pod."},
            {"Available", "integer", 0, "Number of nodes with an available daemon pod."},
            {"Node Selector", "string", 0, "Node selector of the daemon pod."},
            kAge};
  }
  if (t.group == "batch" && p == "jobs") {
    return {kName,
            {"Status", "string", 0, "Status of the job."},
            {"Completions", "string", 0, "The completion status of the job."},
            {"Duration", "string", 0, "Time required to complete the job."},
            kAge};
  }
  if ((core || t.group == "events.k8s.io") && p == "events") {
    return {{"Last Seen", "string", 0, "The last time this event was observed."},
            {"Type", "string", 0, "Type of this event (Normal, Warning)."},
            {"Reason", "string", 0, "Why the action was taken."},
            {"Object", "string", 0, "The object this event is about."},
            {"Subobject", "string", 1, "The subobject this event is about."},
            {"Source", "string", 1, "The component reporting this event."},
            {"Message", "string", 0, "A human-readable description of the status."},
            {"First Seen", "string", 1, "The first time this event was observed."},
            {"Count", "string", 1, "The number of times this event has occurred."},
            {"Name", "string", 1, "The name of the event."}};
  }
  if (core && p == "nodes") {
    return {kName,
            {"Status", "string", 0, "The status of the node"},
            {"Roles", "string", 0, "The roles of the node"},
            kAge,
            {"Version", "string", 0, "Kubelet Version reported by the node."},
            {"Internal-IP", "string", 1, "List of internal IPs."},
            {"External-IP", "string", 1, "List of external IPs."},
            {"OS-Image", "string", 1, "OS image reported by the node."},
            {"Kernel-Version", "string", 1, "Kernel version reported by the node."},
            {"Container-Runtime", "string", 1, "Container runtime reported by the node."}};
  }
  if (core && p == "namespaces") {
    return {kName, {"Status", "string", 0, "The status of the namespace"}, kAge};
  }
  if (core && p == "services") {
    return {kName,
            {"Type", "string", 0, "The type of the service."},
            {"Cluster-IP", "string", 0, "The cluster IP of the service."},
            {"External-IP", "string", 0, "The external IPs of the service."},
            {"Port(s)", "string", 0, "The ports of the service."},
            kAge,
            {"Selector", "string", 1, "The label selector of the service."}};
  }
  if (core && p == "configmaps") {
    return {kName, {"Data", "integer", 0, "Number of data entries."}, kAge};
  }
  if (core && p == "secrets") {
    return {kName, {"Type", "string", 0, "The type of the secret."},
            {"Data", "integer", 0, "Number of data entries."}, kAge};
  }
  if (t.group == "coordination.k8s.io" && p == "leases") {
    return {kName, {"Holder", "string", 0, "The holder of the lease."}, kAge};
  }
  return {kName, kAge};
}

std::string EventTime(const json& e, Clock::time_point now, const char* which) {
  std::string t = Str(e, which);
  if (t.empty()) t = Str(e, "series", "lastObservedTime");
  if (t.empty()) t = Str(e, "eventTime");
  if (t.empty()) return "<unknown>";
  return HumanAge(t, now);
}

json CellsFor(const ResourceType& t, const json& o, Clock::time_point now) {
  const std::string& p = t.plural;
  const bool core = t.group.empty();
  const std::string name = Str(o, "metadata", "name");
  const std::string age = Age(o, now);
  if (core && p == "pods") {
    int total = 0, ready = 0, restarts = 0;
    json spec_containers = AtPath(o, ".spec.containers");
    if (spec_containers.is_array()) total = static_cast<int>(spec_containers.size());
    json statuses = AtPath(o, ".status.containerStatuses");
    if (statuses.is_array()) {
      for (const json& s : statuses) {
        if (s.is_object() && AtPath(s, ".ready") == json(true)) ++ready;
        restarts += static_cast<int>(Int(s, ".restartCount"));
      }
    }
    std::string ip = Str(o, "status", "podIP"), node = Str(o, "spec", "nodeName");
    std::string nominated = Str(o, "status", "nominatedNodeName");
    return {name, fmt::format("{}/{}", ready, total), PodStatus(o), std::to_string(restarts), age,
            ip.empty() ? "<none>" : ip, node.empty() ? "<none>" : node,
            nominated.empty() ? "<none>" : nominated, "<none>"};
  }
  if (t.group == "apps" && (p == "deployments" || p == "replicasets" || p == "statefulsets")) {
    auto [containers, images] = ContainersOf(AtPath(o, ".spec.template.spec"));
    std::string selector = SelectorString(AtPath(o, ".spec.selector"));
    const int64_t desired = Int(o, ".spec.replicas");
    if (p == "deployments") {
      return {name, fmt::format("{}/{}", Int(o, ".status.readyReplicas"), desired),
              Int(o, ".status.updatedReplicas"), Int(o, ".status.availableReplicas"), age,
              containers, images, selector};
    }
    if (p == "replicasets") {
      return {name,       desired, Int(o, ".status.replicas"), Int(o, ".status.readyReplicas"),
              age,        containers, images, selector};
    }
    return {name, fmt::format("{}/{}", Int(o, ".status.readyReplicas"), desired), age, containers,
            images};
  }
  if (t.group == "apps" && p == "daemonsets") {
    json ns = AtPath(o, ".spec.template.spec.nodeSelector");
    std::vector<std::string> sel;
    if (ns.is_object()) {
      for (auto it = ns.begin(); it != ns.end(); ++it) {
        if (it->is_string()) sel.push_back(it.key() + "=" + it->get<std::string>());
      }
    }
    return {name,
            Int(o, ".status.desiredNumberScheduled"),
            Int(o, ".status.currentNumberScheduled"),
            Int(o, ".status.numberReady"),
            Int(o, ".status.updatedNumberScheduled"),
            Int(o, ".status.numberAvailable"),
            sel.empty() ? "<none>" : absl::StrJoin(sel, ","),
            age};
  }
  if (t.group == "batch" && p == "jobs") {
    int64_t completions = AtPath(o, ".spec.completions").is_number_integer()
                              ? Int(o, ".spec.completions")
                              : 1;
    std::string status = Int(o, ".status.failed") > 0 && Int(o, ".status.active") == 0 ? "Failed"
                         : Int(o, ".status.succeeded") >= completions                ? "Complete"
                                                                                     : "Running";
    std::string start = Str(o, "status", "startTime");
    std::string done = Str(o, "status", "completionTime");
    std::string duration = start.empty() ? "" : HumanAge(start, now);
    if (!start.empty() && !done.empty()) {
      absl::Time a, b;
      std::string err;
      if (absl::ParseTime(absl::RFC3339_full, start, &a, &err) &&
          absl::ParseTime(absl::RFC3339_full, done, &b, &err)) {
        duration = HumanAge(start, Clock::time_point() + absl::ToChronoSeconds(b - absl::UnixEpoch()));
      }
    }
    return {name, status, fmt::format("{}/{}", Int(o, ".status.succeeded"), completions), duration,
            age};
  }
  if (p == "events" && (core || t.group == "events.k8s.io")) {
    const json e = t.group == "events.k8s.io" ? o : o;
    const bool v1 = t.group == "events.k8s.io";
    const char* regarding = v1 ? "regarding" : "involvedObject";
    std::string kind = Str(e, regarding, "kind");
    for (char& c : kind) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string object = kind + "/" + Str(e, regarding, "name");
    std::string source = v1 ? Str(e, "reportingController") : Str(e, "source", "component");
    if (source.empty()) source = Str(e, "reportingComponent");
    std::string host = v1 ? Str(e, "deprecatedSource", "host") : Str(e, "source", "host");
    if (!host.empty()) source += ", " + host;
    int64_t count = Int(e, v1 ? ".deprecatedCount" : ".count");
    if (AtPath(e, ".series.count").is_number_integer()) count = Int(e, ".series.count");
    return {EventTime(e, now, v1 ? "deprecatedLastTimestamp" : "lastTimestamp"),
            Str(e, "type"),
            Str(e, "reason"),
            object,
            Str(e, regarding, "fieldPath"),
            source,
            Str(e, v1 ? "note" : "message"),
            EventTime(e, now, v1 ? "deprecatedFirstTimestamp" : "firstTimestamp"),
            std::to_string(std::max<int64_t>(count, 1)),
            name};
  }
  if (core && p == "nodes") {
    std::string status = "Unknown";
    std::vector<std::string> roles;
    json conds = AtPath(o, ".status.conditions");
    if (conds.is_array()) {
      for (const json& c : conds) {
        if (Str(c, "type") == "Ready") status = Str(c, "status") == "True" ? "Ready" : "NotReady";
      }
    }
    json labels = AtPath(o, ".metadata.labels");
    if (labels.is_object()) {
      for (auto it = labels.begin(); it != labels.end(); ++it) {
        constexpr std::string_view kRole = "node-role.kubernetes.io/";
        if (it.key().starts_with(kRole)) roles.push_back(it.key().substr(kRole.size()));
      }
    }
    if (AtPath(o, ".spec.unschedulable") == json(true)) status += ",SchedulingDisabled";
    std::string internal = "<none>", external = "<none>";
    json addrs = AtPath(o, ".status.addresses");
    if (addrs.is_array()) {
      for (const json& a : addrs) {
        if (Str(a, "type") == "InternalIP") internal = Str(a, "address");
        if (Str(a, "type") == "ExternalIP") external = Str(a, "address");
      }
    }
    return {name, status, roles.empty() ? "<none>" : absl::StrJoin(roles, ","), age,
            Str(o, "status", "nodeInfo", "kubeletVersion"), internal, external,
            Str(o, "status", "nodeInfo", "osImage"), Str(o, "status", "nodeInfo", "kernelVersion"),
            Str(o, "status", "nodeInfo", "containerRuntimeVersion")};
  }
  if (core && p == "namespaces") return {name, Str(o, "status", "phase"), age};
  if (core && p == "services") {
    std::vector<std::string> ports;
    json ps = AtPath(o, ".spec.ports");
    if (ps.is_array()) {
      for (const json& port : ps) {
        std::string s = std::to_string(Int(port, ".port"));
        if (Int(port, ".nodePort") != 0) s += ":" + std::to_string(Int(port, ".nodePort"));
        ports.push_back(s + "/" + (Str(port, "protocol").empty() ? "TCP" : Str(port, "protocol")));
      }
    }
    json sel = AtPath(o, ".spec.selector");
    std::vector<std::string> sels;
    if (sel.is_object()) {
      for (auto it = sel.begin(); it != sel.end(); ++it) {
        if (it->is_string()) sels.push_back(it.key() + "=" + it->get<std::string>());
      }
    }
    std::string cluster_ip = Str(o, "spec", "clusterIP");
    return {name, Str(o, "spec", "type"), cluster_ip.empty() ? "<none>" : cluster_ip, "<none>",
            ports.empty() ? "<none>" : absl::StrJoin(ports, ","), age,
            sels.empty() ? "<none>" : absl::StrJoin(sels, ",")};
  }
  if (core && (p == "configmaps" || p == "secrets")) {
    size_t n = 0;
    for (const char* k : {"data", "binaryData", "stringData"}) {
      if (o.contains(k) && o[k].is_object()) n += o[k].size();
    }
    if (p == "configmaps") return {name, n, age};
    return {name, Str(o, "type").empty() ? "Opaque" : Str(o, "type"), n, age};
  }
  if (t.group == "coordination.k8s.io" && p == "leases") {
    std::string holder = Str(o, "spec", "holderIdentity");
    return {name, holder, age};
  }
  return {name, age};
}

}  // namespace

std::string HumanAge(const std::string& timestamp, Clock::time_point now) {
  absl::Time t;
  std::string err;
  if (timestamp.empty() || !absl::ParseTime(absl::RFC3339_full, timestamp, &t, &err)) {
    return "<unknown>";
  }
  int64_t seconds = absl::ToInt64Seconds(absl::FromChrono(now) - t);
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) seconds = 0;
  if (seconds < 120) return fmt::format("{}s", seconds);
  int64_t minutes = seconds / 60;
  if (minutes < 10) {
    int64_t s = seconds % 60;
    return s == 0 ? fmt::format("{}m", minutes) : fmt::format("{}m{}s", minutes, s);
  }
  if (minutes < 180) return fmt::format("{}m", minutes);
  int64_t hours = minutes / 60;
  if (hours < 8) {
    int64_t m = minutes % 60;
    return m == 0 ? fmt::format("{}h", hours) : fmt::format("{}h{}m", hours, m);
  }
  if (hours < 48) return fmt::format("{}h", hours);
  if (hours < 24 * 8) {
    int64_t h = hours % 24;
    return h == 0 ? fmt::format("{}d", hours / 24) : fmt::format("{}d{}h", hours / 24, h);
  }
  if (hours < 24 * 365 * 2) return fmt::format("{}d", hours / 24);
  if (hours < 24 * 365 * 8) {
    int64_t d = (hours / 24) % 365;
    return d == 0 ? fmt::format("{}y", hours / 24 / 365)
                  : fmt::format("{}y{}d", hours / 24 / 365, d);
  }
  return fmt::format("{}y", hours / 24 / 365);
}

json ToTable(const ResourceType& type, const std::vector<json>& objects,
             const TableOptions& options) {
  json columns = json::array();
  std::vector<Column> builtin;
  if (type.custom && !type.columns.empty()) {
    columns.push_back(ColumnJson({"Name", "string", 0, "Name must be unique within a namespace."}));
    for (const PrinterColumn& c : type.columns) {
      columns.push_back({{"name", c.name},
                         {"type", c.type == "date" ? "date" : c.type},
                         {"format", c.format},
                         {"description", c.description},
                         {"priority", c.priority}});
    }
  } else {
    builtin = ColumnsFor(type);
    for (const Column& c : builtin) columns.push_back(ColumnJson(c));
  }
  json rows = json::array();
  for (const json& o : objects) {
    json cells;
    if (type.custom && !type.columns.empty()) {
      cells = json::array({Str(o, "metadata", "name")});
      for (const PrinterColumn& c : type.columns) {
        json v = AtPath(o, c.json_path);
        if (c.type == "date" && v.is_string()) v = HumanAge(v.get<std::string>(), options.now);
        cells.push_back(v.is_null() ? json("") : v);
      }
    } else if (type.custom) {
      cells = {Str(o, "metadata", "name"), Age(o, options.now)};
    } else {
      cells = CellsFor(type, o, options.now);
    }
    json row = {{"cells", std::move(cells)}};
    if (options.include == IncludeObject::kMetadata) {
      row["object"] = {{"kind", "PartialObjectMetadata"},
                       {"apiVersion", "meta.k8s.io/v1"},
                       {"metadata", o.contains("metadata") ? o["metadata"] : json::object()}};
    } else if (options.include == IncludeObject::kObject) {
      row["object"] = o;
    }
    rows.push_back(std::move(row));
  }
  json table = {{"kind", "Table"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", json::object()}};
  if (options.with_columns) table["columnDefinitions"] = std::move(columns);
  table["rows"] = std::move(rows);
  return table;
}

}  // namespace kobs::sim
