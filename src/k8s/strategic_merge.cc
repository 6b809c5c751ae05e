// Strategic merge patch: the list-strategy table (kube's patchStrategy / patchMergeKey struct
// tags of the built-in types), SupportsStrategicMerge, and the merge with its directives.
// Follows k8s.io/apimachinery/pkg/util/strategicpatch (mergeMap / mergeSlice).
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "common/status_macros.h"
#include "k8s/patch.h"
#include "k8s/patch_internal.h"

namespace kobs::k8s {
namespace patch_internal {

using nlohmann::json;

namespace {

// `suffix` is matched against the trailing field names of a list's path; a component may offer
// alternatives separated by '|'. `kind` restricts a rule to one kind ("" = any).
struct ListRule {
  std::string_view suffix;
  std::string_view kind;
  ListKind list;
  std::string_view key;
};

constexpr ListRule kListRules[] = {
    // ObjectMeta, at the root and in pod templates.
    {"metadata.finalizers", "", ListKind::kSet, ""},
    {"metadata.ownerReferences", "", ListKind::kMap, "uid"},
    // PodSpec: Pod spec, workload spec.template.spec, CronJob spec.jobTemplate.spec.template.spec.
    {"spec.containers|initContainers|ephemeralContainers", "", ListKind::kMap, "name"},
    {"containers|initContainers|ephemeralContainers.env", "", ListKind::kMap, "name"},
    {"containers|initContainers|ephemeralContainers.ports", "", ListKind::kMap, "containerPort"},
    {"containers|initContainers|ephemeralContainers.volumeMounts", "", ListKind::kMap, "mountPath"},
    {"containers|initContainers|ephemeralContainers.volumeDevices", "", ListKind::kMap,
     "devicePath"},
    {"spec.volumes", "", ListKind::kMap, "name"},
    {"spec.imagePullSecrets", "", ListKind::kMap, "name"},
    {"spec.hostAliases", "", ListKind::kMap, "ip"},
    {"spec.topologySpreadConstraints", "", ListKind::kMap, "topologyKey"},
    {"spec.schedulingGates", "", ListKind::kMap, "name"},
    {"spec.resourceClaims", "", ListKind::kMap, "name"},
    // Kind-specific lists.
    {"spec.ports", "Service", ListKind::kMap, "port"},
    {"secrets", "ServiceAccount", ListKind::kMap, "name"},
    {"spec.podCIDRs", "Node", ListKind::kSet, ""},
    {"status.addresses", "Node", ListKind::kMap, "type"},
    {"status.podIPs", "Pod", ListKind::kMap, "ip"},
    {"status.hostIPs", "Pod", ListKind::kMap, "ip"},
    // The conditions of every built-in kind's status.
    {"status.conditions", "", ListKind::kMap, "type"},
};

bool ComponentMatches(std::string_view alternatives, std::string_view name) {
  while (true) {
    const size_t bar = alternatives.find('|');
    if (alternatives.substr(0, bar) == name) return true;
    if (bar == std::string_view::npos) return false;
    alternatives.remove_prefix(bar + 1);
  }
}

bool SuffixMatches(std::string_view suffix, const std::vector<std::string>& fields) {
  size_t at = fields.size();
  while (!suffix.empty()) {
    if (at == 0) return false;
    const size_t dot = suffix.rfind('.');
    const std::string_view component =
        dot == std::string_view::npos ? suffix : suffix.substr(dot + 1);
    if (!ComponentMatches(component, fields[--at])) return false;
    suffix = dot == std::string_view::npos ? std::string_view() : suffix.substr(0, dot);
  }
  return true;
}

}  // namespace

ListType ListTypeFor(std::string_view kind, const std::vector<std::string>& fields) {
  for (const ListRule& rule : kListRules) {
    if (!rule.kind.empty() && rule.kind != kind) continue;
    if (SuffixMatches(rule.suffix, fields)) return ListType{rule.list, rule.key};
  }
  return ListType{};
}

}  // namespace patch_internal

using nlohmann::json;
using patch_internal::ListKind;
using patch_internal::ListType;
using patch_internal::Short;

namespace {

constexpr std::string_view kPatch = "$patch";
constexpr std::string_view kRetainKeys = "$retainKeys";
constexpr std::string_view kDeletePrefix = "$deleteFromPrimitiveList/";
constexpr std::string_view kOrderPrefix = "$setElementOrder/";

bool IsPrimitive(const json& j) { return !j.is_object() && !j.is_array(); }

// Lists elements by identity (the merge key's value, or the primitive itself) for ordering and
// matching in O(n log n); nlohmann::json orders values, numbers numerically.
class Positions {
 public:
  Positions(const json& list, ListType type) : type_(type) {
    for (size_t i = 0; i < list.size(); ++i) {
      if (const json* id = Identity(list[i])) index_.emplace(*id, i);
    }
  }
  // Position of the first element with `element`'s identity, or -1.
  std::ptrdiff_t Find(const json& element) const {
    const json* id = Identity(element);
    if (id == nullptr) return -1;
    auto it = index_.find(*id);
    return it == index_.end() ? -1 : static_cast<std::ptrdiff_t>(it->second);
  }
  const json* Identity(const json& element) const {
    if (type_.kind != ListKind::kMap) return &element;
    if (!element.is_object()) return nullptr;
    auto it = element.find(std::string(type_.key));
    return it == element.end() ? nullptr : &*it;
  }

 private:
  ListType type_;
  std::map<json, size_t> index_;
};

// kube-apiserver's element order: the elements `order` names, sorted by it, interleaved with the
// others in `live` order; a live-only element goes before an ordered one only when both are in
// `live` and it comes first there.
json OrderList(json merged, const json& order, const json& live, ListType type) {
  const Positions in_order(order, type);
  const Positions in_live(live, type);
  std::vector<json> ordered, server_only;
  for (json& e : merged) (in_order.Find(e) >= 0 ? ordered : server_only).push_back(std::move(e));
  std::stable_sort(ordered.begin(), ordered.end(), [&](const json& a, const json& b) {
    return in_order.Find(a) < in_order.Find(b);
  });
  json out = json::array();
  size_t i = 0, j = 0;
  while (i < server_only.size() || j < ordered.size()) {
    bool take_server = j >= ordered.size();
    if (!take_server && i < server_only.size()) {
      const std::ptrdiff_t li = in_live.Find(server_only[i]);
      const std::ptrdiff_t ri = in_live.Find(ordered[j]);
      take_server = li >= 0 && ri >= 0 && li < ri;
    }
    out.push_back(std::move(take_server ? server_only[i++] : ordered[j++]));
  }
  return out;
}

class StrategicMerger {
 public:
  explicit StrategicMerger(std::string_view kind) : kind_(kind) {}

  // Merges the object `patch` into `target` (made an object first if it is not one). Sets
  // *remove when the patch says `$patch: delete`, which the caller does by dropping the field.
  absl::Status MergeObject(json& target, const json& patch, bool* remove);

 private:
  absl::Status MergeField(json& target, const json& patch, const std::string& field);
  absl::StatusOr<json> MergeList(const json& live, const json& patch, ListType type);
  absl::Status Reorder(json& list, const json& order, const json& patch_list, const json& live,
                       ListType type, const std::string& directive);

  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(
        fmt::format("strategic merge patch: {}: {}", where_.empty() ? "." : where_, what));
  }

  std::string_view kind_;
  std::vector<std::string> fields_;  // field names from the root, for ListTypeFor
  std::string where_;                // the same path for messages, with list elements
};

absl::Status StrategicMerger::MergeObject(json& target, const json& patch, bool* remove) {
  *remove = false;
  if (auto it = patch.find(kPatch); it != patch.end()) {
    const std::string directive = it->is_string() ? it->get<std::string>() : Short(*it);
    if (directive == "delete") {
      *remove = true;
      return absl::OkStatus();
    }
    if (directive == "replace") {
      target = json::object();
    } else if (directive != "merge") {
      return Error(
          fmt::format("unknown $patch directive {} (want replace, delete or merge)", Short(*it)));
    }
  }
  if (!target.is_object()) target = json::object();

  std::set<std::string> fields;
  for (const auto& [key, value] : patch.items()) {
    if (key == kPatch || key == kRetainKeys) continue;
    if (key.rfind(kDeletePrefix, 0) == 0 || key.rfind(kOrderPrefix, 0) == 0) {
      const std::string field = key.substr(key.find('/') + 1);
      if (field.empty()) return Error(fmt::format("directive \"{}\" names no field", key));
      if (!value.is_array()) return Error(fmt::format("{} must be a list", key));
      fields.insert(field);
    } else if (!key.empty() && key[0] == '$') {
      return Error(fmt::format("unknown directive \"{}\"", key));
    } else {
      fields.insert(key);
    }
  }

  if (auto it = patch.find(kRetainKeys); it != patch.end()) {
    if (!it->is_array()) return Error("$retainKeys must be a list of field names");
    std::set<std::string> retain;
    for (const json& name : *it) {
      if (!name.is_string()) return Error("$retainKeys must be a list of field names");
      retain.insert(name.get<std::string>());
    }
    for (const auto& [key, value] : patch.items()) {
      if (!value.is_null() && key[0] != '$' && retain.count(key) == 0) {
        return Error(fmt::format("field \"{}\" is in the patch but not in $retainKeys", key));
      }
    }
    for (auto field = target.begin(); field != target.end();) {
      field = retain.count(field.key()) ? std::next(field) : target.erase(field);
    }
  }

  for (const std::string& field : fields) {
    const size_t where_size = where_.size();
    fields_.push_back(field);
    where_ += "." + field;
    absl::Status s = MergeField(target, patch, field);
    fields_.pop_back();
    where_.resize(where_size);
    KOBS_RETURN_IF_ERROR(s);
  }
  return absl::OkStatus();
}

absl::Status StrategicMerger::MergeField(json& target, const json& patch,
                                         const std::string& field) {
  const ListType type = patch_internal::ListTypeFor(kind_, fields_);
  auto current = target.find(field);
  const auto order = patch.find(std::string(kOrderPrefix) + field);
  // $setElementOrder orders against the list as it was before the patch.
  json live = json::array();
  if (order != patch.end() && current != target.end() && current->is_array()) live = *current;

  if (auto del = patch.find(std::string(kDeletePrefix) + field); del != patch.end()) {
    std::set<json> doomed;
    for (const json& v : *del) {
      if (!IsPrimitive(v)) return Error("$deleteFromPrimitiveList takes a list of primitives");
      doomed.insert(v);
    }
    if (current != target.end()) {
      if (!current->is_array()) return Error("$deleteFromPrimitiveList applies to a list");
      json kept = json::array();
      for (json& v : *current) {
        if (doomed.count(v) == 0) kept.push_back(std::move(v));
      }
      *current = std::move(kept);
    }
  }

  const json* patch_list = nullptr;
  if (auto it = patch.find(field); it != patch.end()) {
    const json& value = *it;
    current = target.find(field);
    if (value.is_null()) {
      if (current != target.end()) target.erase(current);
    } else if (value.is_object()) {
      bool remove = false;
      if (current == target.end()) {
        json fresh = json::object();
        KOBS_RETURN_IF_ERROR(MergeObject(fresh, value, &remove));
        if (!remove) target[field] = std::move(fresh);
      } else {
        KOBS_RETURN_IF_ERROR(MergeObject(*current, value, &remove));
        if (remove) target.erase(field);
      }
    } else if (value.is_array()) {
      patch_list = &value;
      const json existing =
          current != target.end() && current->is_array() ? std::move(*current) : json::array();
      KOBS_ASSIGN_OR_RETURN(target[field], MergeList(existing, value, type));
    } else {
      target[field] = value;
    }
  }

  if (order != patch.end()) {
    current = target.find(field);
    if (current != target.end() && current->is_array() && type.kind != ListKind::kAtomic) {
      KOBS_RETURN_IF_ERROR(Reorder(*current, *order, patch_list ? *patch_list : json::array(), live,
                                   type, std::string(kOrderPrefix) + field));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<json> StrategicMerger::MergeList(const json& live, const json& patch,
                                                ListType type) {
  if (type.kind == ListKind::kAtomic) return patch;
  if (type.kind == ListKind::kSet) {
    for (const json& v : patch) {
      if (!IsPrimitive(v)) return Error(fmt::format("{} in a list of primitives", Short(v)));
    }
    std::set<json> seen;
    json merged = json::array();
    for (const json* list : {&live, &patch}) {
      for (const json& v : *list) {
        if (seen.insert(v).second) merged.push_back(v);
      }
    }
    return OrderList(std::move(merged), patch, live, type);
  }

  const std::string key(type.key);
  for (size_t i = 0; i < live.size(); ++i) {
    if (!live[i].is_object()) {
      return Error(
          fmt::format("element {} of the live list is {}, not an object", i, Short(live[i])));
    }
  }
  // Special elements first: `$patch: replace` drops the live list, `$patch: delete` the
  // elements with that key.
  bool replace = false;
  std::set<json> deleted;
  json plain = json::array();
  for (size_t i = 0; i < patch.size(); ++i) {
    const json& e = patch[i];
    if (!e.is_object()) return Error(fmt::format("element {} is {}, not an object", i, Short(e)));
    auto directive = e.find(kPatch);
    auto id = e.find(key);
    const bool merge = directive != e.end() && *directive == "merge";
    if (directive == e.end() || merge) {
      if (id == e.end()) return Error(fmt::format("element {} has no merge key \"{}\"", i, key));
      plain.push_back(e);
      if (merge) plain.back().erase(std::string(kPatch));
    } else if (*directive == "replace") {
      replace = true;
    } else if (*directive == "delete") {
      if (id == e.end()) return Error(fmt::format("element {} has no merge key \"{}\"", i, key));
      deleted.insert(*id);
    } else {
      return Error(fmt::format("element {}: unknown $patch directive {}", i, Short(*directive)));
    }
  }
  json merged = json::array();
  if (!replace) {
    for (const json& e : live) {
      auto id = e.find(key);
      if (id == e.end() || deleted.count(*id) == 0) merged.push_back(e);
    }
  }
  std::map<json, size_t> index;
  for (size_t i = 0; i < merged.size(); ++i) {
    if (auto id = merged[i].find(key); id != merged[i].end()) index.emplace(*id, i);
  }
  const size_t where_size = where_.size();
  for (const json& e : plain) {
    const json& id = e[key];
    where_ += fmt::format("[{}={}]", key, Short(id));
    auto found = index.find(id);
    bool remove = false;
    absl::Status s;
    if (found != index.end()) {
      s = MergeObject(merged[found->second], e, &remove);
    } else {
      json fresh = json::object();
      s = MergeObject(fresh, e, &remove);
      index.emplace(id, merged.size());
      merged.push_back(std::move(fresh));
    }
    where_.resize(where_size);
    KOBS_RETURN_IF_ERROR(s);
  }
  if (replace) return merged;
  return OrderList(std::move(merged), plain, live, type);
}

absl::Status StrategicMerger::Reorder(json& list, const json& order, const json& patch_list,
                                      const json& live, ListType type,
                                      const std::string& directive) {
  const Positions positions(order, type);
  for (const json& e : order) {
    if (type.kind == ListKind::kMap && positions.Identity(e) == nullptr) {
      return Error(
          fmt::format("{} element {} has no merge key \"{}\"", directive, Short(e), type.key));
    }
    if (type.kind == ListKind::kSet && !IsPrimitive(e)) {
      return Error(fmt::format("{} element {} is not a primitive", directive, Short(e)));
    }
  }
  std::ptrdiff_t last = -1;
  for (const json& e : patch_list) {
    if (e.is_object() && e.contains(kPatch) && e[std::string(kPatch)] != "merge") continue;
    const std::ptrdiff_t at = positions.Find(e);
    if (at < 0) {
      return Error(fmt::format("{} does not list the patch element {}", directive, Short(e)));
    }
    if (at < last) {
      return Error(fmt::format("the patch list is not in the order of {}", directive));
    }
    last = at;
  }
  list = OrderList(std::move(list), order, live, type);
  return absl::OkStatus();
}

}  // namespace

bool SupportsStrategicMerge(std::string_view api_version, std::string_view kind) {
  static const std::map<std::string_view, std::set<std::string_view>> kBuiltIn = {
      {"v1",
       {"Binding", "ComponentStatus", "ConfigMap", "Endpoints", "Event", "LimitRange", "Namespace",
        "Node", "PersistentVolume", "PersistentVolumeClaim", "Pod", "PodTemplate",
        "ReplicationController", "ResourceQuota", "Secret", "Service", "ServiceAccount"}},
      {"apps/v1", {"ControllerRevision", "DaemonSet", "Deployment", "ReplicaSet", "StatefulSet"}},
      {"batch/v1", {"CronJob", "Job"}},
      {"networking.k8s.io/v1", {"Ingress", "IngressClass", "NetworkPolicy"}},
      {"policy/v1", {"PodDisruptionBudget"}},
      {"rbac.authorization.k8s.io/v1",
       {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}},
      {"coordination.k8s.io/v1", {"Lease"}},
      {"events.k8s.io/v1", {"Event"}},
      {"discovery.k8s.io/v1", {"EndpointSlice"}},
      {"autoscaling/v1", {"HorizontalPodAutoscaler"}},
      {"autoscaling/v2", {"HorizontalPodAutoscaler"}},
  };
  auto it = kBuiltIn.find(api_version);
  return it != kBuiltIn.end() && it->second.count(kind) > 0;
}

absl::StatusOr<json> ApplyStrategicMergePatch(const json& doc, const json& patch) {
  return patch_internal::NoThrow("strategic merge patch", [&]() -> absl::StatusOr<json> {
    KOBS_RETURN_IF_ERROR(patch_internal::CheckDepth(doc, "strategic merge patch: the document"));
    KOBS_RETURN_IF_ERROR(patch_internal::CheckDepth(patch, "strategic merge patch"));
    if (!doc.is_object() && !doc.is_null()) {
      return absl::InvalidArgumentError(fmt::format(
          "strategic merge patch: the document must be an object, got a {}", doc.type_name()));
    }
    if (!patch.is_object()) {
      return absl::InvalidArgumentError(
          fmt::format("strategic merge patch must be an object, got a {}", patch.type_name()));
    }
    std::string_view kind = patch_internal::KindOf(doc);
    if (kind.empty()) kind = patch_internal::KindOf(patch);
    json result = doc.is_null() ? json::object() : doc;
    StrategicMerger merger(kind);
    bool remove = false;
    KOBS_RETURN_IF_ERROR(merger.MergeObject(result, patch, &remove));
    if (remove) return json::object();
    return result;
  });
}

}  // namespace kobs::k8s
