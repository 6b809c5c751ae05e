#include "sim/object_meta.h"

#include <atomic>

#include <fmt/format.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"
#include "common/absl_compat.h"
#include "k8s/api_status.h"

namespace kobs::sim {
namespace {

using nlohmann::json;

json& Obj(json& parent, const char* key) { return ChildObject(parent, key); }

void Default(json& obj, const char* key, json value) {
  if (!obj.contains(key) || obj[key].is_null()) obj[key] = std::move(value);
}

void DefaultContainers(json& pod_spec) {
  for (const char* list : {"containers", "initContainers"}) {
    auto it = pod_spec.find(list);
    if (it == pod_spec.end() || !it->is_array()) continue;
    for (json& c : *it) {
      if (!c.is_object()) continue;
      std::string image = Str(c, "image");
      bool latest = image.find(':') == std::string::npos || image.ends_with(":latest");
      Default(c, "imagePullPolicy", latest ? "Always" : "IfNotPresent");
      Default(c, "terminationMessagePath", "/dev/termination-log");
      Default(c, "terminationMessagePolicy", "File");
      Default(c, "resources", json::object());
    }
  }
  Default(pod_spec, "restartPolicy", "Always");
  Default(pod_spec, "terminationGracePeriodSeconds", 30);
  Default(pod_spec, "dnsPolicy", "ClusterFirst");
  Default(pod_spec, "schedulerName", "default-scheduler");
  Default(pod_spec, "securityContext", json::object());
}

std::atomic<uint32_t> next_cluster_ip{10};

}  // namespace

json& ChildObject(json& parent, const char* key) {
  if (!parent.is_object()) parent = json::object();
  if (!parent.contains(key) || !parent[key].is_object()) parent[key] = json::object();
  return parent[key];
}

json AtPath(const json& obj, std::string_view path) {
  const json* cur = &obj;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') {
      ++i;
      size_t end = path.find_first_of(".[", i);
      std::string key(path.substr(i, end == std::string_view::npos ? path.size() - i : end - i));
      if (key.empty()) continue;
      if (!cur->is_object() || !cur->contains(key)) return nullptr;
      cur = &(*cur)[key];
      i = end == std::string_view::npos ? path.size() : end;
    } else if (path[i] == '[') {
      size_t end = path.find(']', i);
      if (end == std::string_view::npos) return nullptr;
      size_t index = 0;
      for (char c : path.substr(i + 1, end - i - 1)) {
        if (c < '0' || c > '9') return nullptr;
        index = index * 10 + (c - '0');
      }
      if (!cur->is_array() || index >= cur->size()) return nullptr;
      cur = &(*cur)[index];
      i = end + 1;
    } else {
      size_t end = path.find_first_of(".[", i);
      std::string key(path.substr(i, end == std::string_view::npos ? path.size() - i : end - i));
      if (!cur->is_object() || !cur->contains(key)) return nullptr;
      cur = &(*cur)[key];
      i = end == std::string_view::npos ? path.size() : end;
    }
  }
  return *cur;
}

std::vector<std::string> Finalizers(const json& obj) {
  std::vector<std::string> out;
  auto meta = obj.find("metadata");
  if (meta == obj.end() || !meta->is_object()) return out;
  auto f = meta->find("finalizers");
  if (f == meta->end() || !f->is_array()) return out;
  for (const json& v : *f) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

bool HasPendingFinalizers(const json& obj) {
  if (!Finalizers(obj).empty()) return true;
  json spec_finalizers = AtPath(obj, ".spec.finalizers");
  return Str(obj, "kind") == "Namespace" && spec_finalizers.is_array() && !spec_finalizers.empty();
}

void ApplyDefaults(const ResourceType& type, json& obj) {
  const std::string& p = type.plural;
  if (type.group.empty() && p == "namespaces") {
    Obj(Obj(obj, "metadata"), "labels")["kubernetes.io/metadata.name"] = Str(obj, "metadata", "name");
    Default(Obj(obj, "spec"), "finalizers", json::array({"kubernetes"}));
    Default(Obj(obj, "status"), "phase", "Active");
  } else if (type.group.empty() && p == "pods") {
    DefaultContainers(Obj(obj, "spec"));
    json& status = Obj(obj, "status");
    Default(status, "phase", "Pending");
    Default(status, "qosClass", "BestEffort");
  } else if (type.group == "apps" || (type.group == "batch" && p == "jobs")) {
    json& spec = Obj(obj, "spec");
    if (p != "daemonsets" && p != "controllerrevisions" && p != "jobs") Default(spec, "replicas", 1);
    if (p == "deployments") {
      Default(spec, "strategy",
              {{"type", "RollingUpdate"},
               {"rollingUpdate", {{"maxUnavailable", "25%"}, {"maxSurge", "25%"}}}});
      Default(spec, "revisionHistoryLimit", 10);
      Default(spec, "progressDeadlineSeconds", 600);
    } else if (p == "statefulsets") {
      Default(spec, "updateStrategy",
              {{"type", "RollingUpdate"}, {"rollingUpdate", {{"partition", 0}}}});
      Default(spec, "podManagementPolicy", "OrderedReady");
      Default(spec, "revisionHistoryLimit", 10);
      Default(spec, "persistentVolumeClaimRetentionPolicy",
              {{"whenDeleted", "Retain"}, {"whenScaled", "Retain"}});
    } else if (p == "daemonsets") {
      Default(spec, "updateStrategy",
              {{"type", "RollingUpdate"},
               {"rollingUpdate", {{"maxUnavailable", 1}, {"maxSurge", 0}}}});
      Default(spec, "revisionHistoryLimit", 10);
    } else if (p == "jobs") {
      Default(spec, "parallelism", 1);
      Default(spec, "completions", 1);
      Default(spec, "backoffLimit", 6);
      Default(spec, "completionMode", "NonIndexed");
      Default(spec, "suspend", false);
    }
    if (spec.contains("template") && spec["template"].is_object()) {
      DefaultContainers(Obj(spec["template"], "spec"));
    }
    Obj(obj, "status");
  } else if (type.group.empty() && p == "services") {
    json& spec = Obj(obj, "spec");
    Default(spec, "type", "ClusterIP");
    if (Str(spec, "clusterIP").empty() && Str(spec, "type") != "ExternalName") {
      uint32_t n = next_cluster_ip++;
      spec["clusterIP"] = fmt::format("10.96.{}.{}", (n >> 8) & 0xff, n & 0xff);
      spec["clusterIPs"] = {spec["clusterIP"]};
    }
    Default(spec, "sessionAffinity", "None");
    if (spec.contains("ports") && spec["ports"].is_array()) {
      for (json& port : spec["ports"]) {
        if (!port.is_object()) continue;
        Default(port, "protocol", "TCP");
        if (port.contains("port")) Default(port, "targetPort", port["port"]);
      }
    }
    Obj(obj, "status")["loadBalancer"] = json::object();
  } else if (p == "customresourcedefinitions") {
    json& status = Obj(obj, "status");
    const std::string now = Str(obj, "metadata", "creationTimestamp");
    json names = AtPath(obj, ".spec.names");
    status["acceptedNames"] = names.is_object() ? names : json::object();
    status["conditions"] = json::array(
        {{{"type", "NamesAccepted"}, {"status", "True"}, {"lastTransitionTime", now},
          {"reason", "NoConflicts"}, {"message", "no conflicts found"}},
         {{"type", "Established"}, {"status", "True"}, {"lastTransitionTime", now},
          {"reason", "InitialNamesAccepted"},
          {"message", "the initial names have been accepted"}}});
    json stored = json::array();
    if (obj["spec"].contains("versions") && obj["spec"]["versions"].is_array()) {
      for (const json& v : obj["spec"]["versions"]) {
        if (AtPath(v, ".storage") == json(true)) stored.push_back(Str(v, "name"));
      }
    }
    status["storedVersions"] = stored;
  }
}

std::string SelectorString(const json& selector) {
  std::vector<std::string> parts;
  if (!selector.is_object()) return "";
  if (auto ml = selector.find("matchLabels"); ml != selector.end() && ml->is_object()) {
    for (auto it = ml->begin(); it != ml->end(); ++it) {
      if (it->is_string()) parts.push_back(it.key() + "=" + it->get<std::string>());
    }
  }
  if (auto me = selector.find("matchExpressions"); me != selector.end() && me->is_array()) {
    for (const json& e : *me) {
      std::string key = Str(e, "key"), op = Str(e, "operator");
      std::vector<std::string> values;
      if (e.contains("values") && e["values"].is_array()) {
        for (const json& v : e["values"]) {
          if (v.is_string()) values.push_back(v.get<std::string>());
        }
      }
      if (op == "In") parts.push_back(fmt::format("{} in ({})", key, absl::StrJoin(values, ",")));
      if (op == "NotIn") {
        parts.push_back(fmt::format("{} notin ({})", key, absl::StrJoin(values, ",")));
      }
      if (op == "Exists") parts.push_back(key);
      if (op == "DoesNotExist") parts.push_back("!" + key);
    }
  }
  return absl::StrJoin(parts, ",");
}

json ScaleOf(const ResourceType& type, const json& obj) {
  json spec_replicas = AtPath(obj, type.spec_replicas_path);
  json status_replicas = AtPath(obj, type.status_replicas_path);
  std::string selector;
  if (!type.custom) {
    selector = SelectorString(AtPath(obj, ".spec.selector"));
  } else if (!type.label_selector_path.empty()) {
    json s = AtPath(obj, type.label_selector_path);
    if (s.is_string()) selector = s.get<std::string>();
  }
  json meta = {{"name", Str(obj, "metadata", "name")},
               {"uid", Str(obj, "metadata", "uid")},
               {"resourceVersion", Str(obj, "metadata", "resourceVersion")},
               {"creationTimestamp", Str(obj, "metadata", "creationTimestamp")}};
  if (type.namespaced) meta["namespace"] = Str(obj, "metadata", "namespace");
  json status = {{"replicas", status_replicas.is_number_integer() ? status_replicas : json(0)}};
  if (!selector.empty()) status["selector"] = selector;
  return {{"kind", "Scale"},
          {"apiVersion", "autoscaling/v1"},
          {"metadata", meta},
          {"spec", {{"replicas", spec_replicas.is_number_integer() ? spec_replicas : json(0)}}},
          {"status", status}};
}

std::string EncodeContinue(const ContinueToken& token) {
  json j = {{"v", "meta.k8s.io/v1"}, {"rv", token.rv}, {"start", token.after}};
  return absl::WebSafeBase64Escape(j.dump());
}

absl::StatusOr<ContinueToken> DecodeContinue(std::string_view token) {
  std::string decoded;
  auto bad = [] {
    return k8s::ApiError("BadRequest", 400, "continue key is not valid: incorrect encoded start "
                                            "resourceVersion (version meta.k8s.io/v1)");
  };
  if (!absl::WebSafeBase64Unescape(ToAbsl(token), &decoded)) return bad();
  json j = json::parse(decoded, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || Str(j, "v") != "meta.k8s.io/v1" || !j.contains("rv") ||
      !j["rv"].is_number_unsigned() || !j.contains("start") || !j["start"].is_string()) {
    return bad();
  }
  return ContinueToken{j["rv"].get<uint64_t>(), j["start"].get<std::string>()};
}

bool ControlledBy(const json& obj, const std::string& uid) {
  json refs = AtPath(obj, ".metadata.ownerReferences");
  if (!refs.is_array()) return false;
  for (const json& r : refs) {
    if (Str(r, "uid") == uid && AtPath(r, ".controller") == json(true)) return true;
  }
  return false;
}

bool PodReady(const json& pod) {
  json conds = AtPath(pod, ".status.conditions");
  if (!conds.is_array()) return false;
  for (const json& c : conds) {
    if (Str(c, "type") == "Ready") return Str(c, "status") == "True";
  }
  return false;
}

json PodFromTemplate(const json& owner, const json& tmpl, const std::string& name, bool generate) {
  json meta = {{"namespace", Str(owner, "metadata", "namespace")},
               {"ownerReferences",
                {{{"apiVersion", Str(owner, "apiVersion")},
                  {"kind", Str(owner, "kind")},
                  {"name", Str(owner, "metadata", "name")},
                  {"uid", Str(owner, "metadata", "uid")},
                  {"controller", true},
                  {"blockOwnerDeletion", true}}}}};
  meta[generate ? "generateName" : "name"] = name;
  json labels = AtPath(tmpl, ".metadata.labels");
  if (labels.is_object()) meta["labels"] = labels;
  json annotations = AtPath(tmpl, ".metadata.annotations");
  if (annotations.is_object()) meta["annotations"] = annotations;
  return {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", meta}, {"spec", AtPath(tmpl, ".spec")}};
}

}  // namespace kobs::sim
