#include "k8s/objects.h"

#include <cctype>
#include <cmath>
#include <string_view>

#include <fmt/format.h>

#include "absl/strings/numbers.h"
#include "common/absl_compat.h"

namespace kobs::k8s {
namespace {

using nlohmann::json;

const json& Field(const json& obj, std::string_view key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

std::string S(const json& obj, std::string_view key) {
  const json& v = Field(obj, key);
  return v.is_string() ? v.get<std::string>() : "";
}

int64_t I(const json& obj, std::string_view key) {
  const json& v = Field(obj, key);
  return v.is_number_integer() ? v.get<int64_t>() : 0;
}

bool B(const json& obj, std::string_view key) {
  const json& v = Field(obj, key);
  return v.is_boolean() && v.get<bool>();
}

std::map<std::string, std::string> StringMap(const json& obj) {
  std::map<std::string, std::string> out;
  if (!obj.is_object()) return out;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (it->is_string()) out[it.key()] = it->get<std::string>();
  }
  return out;
}

ObjectMeta Meta(const json& m) {
  ObjectMeta meta;
  meta.name = S(m, "name");
  meta.namespace_ = S(m, "namespace");
  meta.uid = S(m, "uid");
  meta.resource_version = S(m, "resourceVersion");
  meta.generate_name = S(m, "generateName");
  meta.generation = I(m, "generation");
  meta.creation_timestamp = S(m, "creationTimestamp");
  meta.deletion_timestamp = S(m, "deletionTimestamp");
  meta.labels = StringMap(Field(m, "labels"));
  meta.annotations = StringMap(Field(m, "annotations"));
  const json& refs = Field(m, "ownerReferences");
  if (refs.is_array()) {
    for (const json& r : refs) {
      meta.owner_references.push_back({S(r, "apiVersion"), S(r, "kind"), S(r, "name"),
                                       S(r, "uid"), B(r, "controller"),
                                       B(r, "blockOwnerDeletion")});
    }
  }
  const json& finalizers = Field(m, "finalizers");
  if (finalizers.is_array()) {
    for (const json& f : finalizers) {
      if (f.is_string()) meta.finalizers.push_back(f.get<std::string>());
    }
  }
  return meta;
}

ObjectReference Reference(const json& r) {
  return {S(r, "apiVersion"), S(r, "kind"), S(r, "namespace"),
          S(r, "name"),       S(r, "uid"),  S(r, "fieldPath")};
}

ContainerStatus Container(const json& c) {
  ContainerStatus s;
  s.name = S(c, "name");
  s.image = S(c, "image");
  s.container_id = S(c, "containerID");
  s.ready = B(c, "ready");
  s.restart_count = I(c, "restartCount");
  const json& state = Field(c, "state");
  for (const char* kind : {"running", "waiting", "terminated"}) {
    const json& st = Field(state, kind);
    if (!st.is_object()) continue;
    s.state = kind;
    s.reason = S(st, "reason");
    s.message = S(st, "message");
    s.exit_code = static_cast<int>(I(st, "exitCode"));
  }
  const json& last = Field(Field(c, "lastState"), "terminated");
  if (last.is_object()) {
    s.last_termination_reason = S(last, "reason");
    s.last_exit_code = static_cast<int>(I(last, "exitCode"));
  }
  return s;
}

std::vector<ContainerStatus> Containers(const json& list) {
  std::vector<ContainerStatus> out;
  if (list.is_array()) {
    for (const json& c : list) out.push_back(Container(c));
  }
  return out;
}

std::vector<std::string> Names(const json& list) {
  std::vector<std::string> out;
  if (list.is_array()) {
    for (const json& c : list) out.push_back(S(c, "name"));
  }
  return out;
}

absl::Status NotAnObject(std::string_view what) {
  return absl::InvalidArgumentError(std::string(what) + ": not a JSON object");
}

}  // namespace

const OwnerReference* ObjectMeta::Controller() const {
  for (const OwnerReference& r : owner_references) {
    if (r.controller) return &r;
  }
  return nullptr;
}

std::string Event::LastSeen() const {
  if (!last_timestamp.empty()) return last_timestamp;
  if (!event_time.empty()) return event_time;
  return metadata.creation_timestamp;
}

int64_t Pod::Restarts() const {
  int64_t n = 0;
  for (const ContainerStatus& c : container_statuses) n += c.restart_count;
  return n;
}

absl::StatusOr<ObjectMeta> DecodeObjectMeta(const json& object) {
  if (!object.is_object()) return NotAnObject("object");
  return Meta(Field(object, "metadata"));
}

absl::StatusOr<Event> DecodeEvent(const json& o) {
  if (!o.is_object()) return NotAnObject("event");
  const bool v1 = S(o, "apiVersion") == "events.k8s.io/v1" || o.contains("regarding") ||
                  o.contains("note");
  Event e;
  e.metadata = Meta(Field(o, "metadata"));
  e.involved_object = Reference(Field(o, v1 ? "regarding" : "involvedObject"));
  e.related = Reference(Field(o, "related"));
  e.reason = S(o, "reason");
  e.message = S(o, v1 ? "note" : "message");
  e.type = S(o, "type");
  e.action = S(o, "action");
  e.reporting_component = S(o, v1 ? "reportingController" : "reportingComponent");
  e.reporting_instance = S(o, "reportingInstance");
  const json& source = Field(o, v1 ? "deprecatedSource" : "source");
  e.source_component = S(source, "component");
  e.source_host = S(source, "host");
  e.first_timestamp = S(o, v1 ? "deprecatedFirstTimestamp" : "firstTimestamp");
  e.last_timestamp = S(o, v1 ? "deprecatedLastTimestamp" : "lastTimestamp");
  e.event_time = S(o, "eventTime");
  const int64_t count = I(o, v1 ? "deprecatedCount" : "count");
  const json& series = Field(o, "series");
  const int64_t series_count = I(series, "count");
  e.count = std::max<int64_t>({1, count, series_count});
  if (e.last_timestamp.empty()) e.last_timestamp = S(series, "lastObservedTime");
  if (e.reporting_component.empty()) e.reporting_component = e.source_component;
  return e;
}

absl::StatusOr<Pod> DecodePod(const json& o) {
  if (!o.is_object()) return NotAnObject("pod");
  Pod p;
  p.metadata = Meta(Field(o, "metadata"));
  const json& spec = Field(o, "spec");
  p.node_name = S(spec, "nodeName");
  p.service_account = S(spec, "serviceAccountName");
  p.containers = Names(Field(spec, "containers"));
  p.init_containers = Names(Field(spec, "initContainers"));
  const json& status = Field(o, "status");
  p.phase = S(status, "phase");
  p.reason = S(status, "reason");
  p.message = S(status, "message");
  p.pod_ip = S(status, "podIP");
  p.host_ip = S(status, "hostIP");
  p.start_time = S(status, "startTime");
  p.container_statuses = Containers(Field(status, "containerStatuses"));
  p.init_container_statuses = Containers(Field(status, "initContainerStatuses"));
  return p;
}

absl::StatusOr<Lease> DecodeLease(const json& o) {
  if (!o.is_object()) return NotAnObject("lease");
  Lease l;
  l.metadata = Meta(Field(o, "metadata"));
  const json& spec = Field(o, "spec");
  l.holder_identity = S(spec, "holderIdentity");
  l.lease_duration_seconds = I(spec, "leaseDurationSeconds");
  l.acquire_time = S(spec, "acquireTime");
  l.renew_time = S(spec, "renewTime");
  l.lease_transitions = I(spec, "leaseTransitions");
  return l;
}

absl::StatusOr<int64_t> ParseQuantityMilli(std::string_view q) {
  if (q.empty()) return absl::InvalidArgumentError("empty quantity");
  static const std::pair<std::string_view, double> kSuffixes[] = {
      {"Ki", 1024.0},  {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
      {"Pi", 1125899906842624.0}, {"Ei", 1152921504606846976.0}, {"m", 1e-3}, {"k", 1e3},
      {"M", 1e6},      {"G", 1e9},        {"T", 1e12},          {"P", 1e15},  {"E", 1e18}};
  double scale = 1;
  std::string_view number = q;
  for (const auto& [suffix, s] : kSuffixes) {
    if (q.size() > suffix.size() && q.substr(q.size() - suffix.size()) == suffix) {
      scale = s;
      number = q.substr(0, q.size() - suffix.size());
      break;
    }
  }
  for (char c : number) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '+' || c == '-' ||
          ((c == 'e' || c == 'E') && scale == 1))) {
      return absl::InvalidArgumentError(fmt::format("invalid quantity \"{}\"", q));
    }
  }
  double v = 0;
  if (!absl::SimpleAtod(ToAbsl(number), &v) || !std::isfinite(v)) {
    return absl::InvalidArgumentError(fmt::format("invalid quantity \"{}\"", q));
  }
  double milli = v * scale * 1000.0;
  if (std::fabs(milli) > 9e18) return absl::InvalidArgumentError("quantity out of range");
  return static_cast<int64_t>(std::llround(milli));
}

}  // namespace kobs::k8s
