#include "sim/resources.h"

#include <algorithm>

#include <fmt/format.h>

#include "absl/strings/ascii.h"

namespace kobs::sim {
namespace {

using nlohmann::json;

const std::vector<std::string> kAllVerbs = {"create", "delete", "deletecollection", "get",
                                            "list",   "patch",  "update",           "watch"};

struct Builtin {
  const char* group;
  const char* version;
  const char* kind;
  const char* plural;
  bool namespaced;
  std::vector<std::string> short_names;
  bool all = false;     // in the "all" category
  bool status = false;  // status subresource
  bool scale = false;   // scale subresource
};

// The order of groups here is the order /apis lists them in (as the real server does: the
// legacy-ish groups first, then alphabetical-ish by priority).
const std::vector<Builtin>& Builtins() {
  static const auto* builtins = new std::vector<Builtin>{
      {"", "v1", "Namespace", "namespaces", false, {"ns"}, false, true},
      {"", "v1", "Pod", "pods", true, {"po"}, true, true},
      {"", "v1", "Event", "events", true, {"ev"}},
      {"", "v1", "Secret", "secrets", true, {}},
      {"", "v1", "ConfigMap", "configmaps", true, {"cm"}},
      {"", "v1", "Service", "services", true, {"svc"}, true, true},
      {"", "v1", "Endpoints", "endpoints", true, {"ep"}},
      {"", "v1", "Node", "nodes", false, {"no"}, false, true},
      {"", "v1", "ServiceAccount", "serviceaccounts", true, {"sa"}},
      {"", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, {"pvc"}, false, true},
      {"", "v1", "PersistentVolume", "persistentvolumes", false, {"pv"}, false, true},
      {"", "v1", "ReplicationController", "replicationcontrollers", true, {"rc"}, true, true,
       true},
      {"", "v1", "ResourceQuota", "resourcequotas", true, {"quota"}, false, true},
      {"", "v1", "LimitRange", "limitranges", true, {"limits"}},
      {"apps", "v1", "Deployment", "deployments", true, {"deploy"}, true, true, true},
      {"apps", "v1", "ReplicaSet", "replicasets", true, {"rs"}, true, true, true},
      {"apps", "v1", "StatefulSet", "statefulsets", true, {"sts"}, true, true, true},
      {"apps", "v1", "DaemonSet", "daemonsets", true, {"ds"}, true, true},
      {"apps", "v1", "ControllerRevision", "controllerrevisions", true, {}},
      {"events.k8s.io", "v1", "Event", "events", true, {"ev"}},
      {"autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, {"hpa"},
       true, true},
      {"batch", "v1", "Job", "jobs", true, {}, true, true},
      {"batch", "v1", "CronJob", "cronjobs", true, {"cj"}, true, true},
      {"networking.k8s.io", "v1", "Ingress", "ingresses", true, {"ing"}, false, true},
      {"networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", true, {"netpol"}},
      {"policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true, {"pdb"}, false, true},
      {"rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false, {}},
      {"rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false, {}},
      {"rbac.authorization.k8s.io", "v1", "Role", "roles", true, {}},
      {"rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true, {}},
      {"storage.k8s.io", "v1", "StorageClass", "storageclasses", false, {"sc"}},
      {"apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
       false, {"crd", "crds"}, false, true},
      {"coordination.k8s.io", "v1", "Lease", "leases", true, {}},
      {"discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", true, {}},
  };
  return *builtins;
}

ResourceType FromBuiltin(const Builtin& b) {
  ResourceType t;
  t.group = b.group;
  t.version = b.version;
  t.kind = b.kind;
  t.plural = b.plural;
  t.singular = absl::AsciiStrToLower(t.kind);
  t.namespaced = b.namespaced;
  t.short_names = b.short_names;
  if (b.all) t.categories = {"all"};
  t.verbs = kAllVerbs;
  if (t.plural == "namespaces") {
    t.verbs.erase(std::find(t.verbs.begin(), t.verbs.end(), "deletecollection"));
  }
  t.status_subresource = b.status;
  t.scale_subresource = b.scale;
  // Built-in workloads keep a LabelSelector object in spec.selector; Scale formats it.
  t.label_selector_path = ".spec.selector";
  t.log_subresource = t.plural == "pods";
  if (t.group == "events.k8s.io") t.storage_of = "/events";
  return t;
}

json Verbs(const std::vector<std::string>& v) { return json(v); }

// The subresources of `t` as (name, group, version, kind, verbs).
struct Sub {
  std::string name, group, version, kind;
  std::vector<std::string> verbs;
};
std::vector<Sub> Subresources(const ResourceType& t) {
  std::vector<Sub> subs;
  if (t.log_subresource) subs.push_back({"log", "", "v1", "Pod", {"get"}});
  if (t.scale_subresource) {
    subs.push_back({"scale", "autoscaling", "v1", "Scale", {"get", "patch", "update"}});
  }
  if (t.status_subresource) {
    subs.push_back({"status", t.group, t.version, t.kind, {"get", "patch", "update"}});
  }
  return subs;
}

}  // namespace

std::string ResourceType::StorageKey() const {
  return storage_of.empty() ? group + "/" + plural : storage_of;
}

ResourceRegistry::ResourceRegistry() {
  for (const Builtin& b : Builtins()) {
    builtin_.push_back(std::make_shared<const ResourceType>(FromBuiltin(b)));
  }
}

std::shared_ptr<const ResourceType> ResourceRegistry::Find(std::string_view group,
                                                          std::string_view version,
                                                          std::string_view plural) const {
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& t : builtin_) {
    if (t->group == group && t->version == version && t->plural == plural) return t;
  }
  for (const auto& [_, types] : custom_) {
    for (const auto& t : types) {
      if (t->group == group && t->version == version && t->plural == plural) return t;
    }
  }
  return nullptr;
}

std::shared_ptr<const ResourceType> ResourceRegistry::FindKind(std::string_view api_version,
                                                              std::string_view kind) const {
  std::string_view group, version = api_version;
  if (size_t slash = api_version.find('/'); slash != std::string_view::npos) {
    group = api_version.substr(0, slash);
    version = api_version.substr(slash + 1);
  }
  for (const auto& t : All()) {
    if (t->group == group && t->version == version && t->kind == kind) return t;
  }
  return nullptr;
}

std::vector<std::shared_ptr<const ResourceType>> ResourceRegistry::All() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::shared_ptr<const ResourceType>> all = builtin_;
  for (const auto& [_, types] : custom_) all.insert(all.end(), types.begin(), types.end());
  return all;
}

absl::Status ResourceRegistry::SetCustom(const std::string& crd_name,
                                         std::vector<ResourceType> types) {
  absl::MutexLock lock(&mu_);
  for (const ResourceType& t : types) {
    for (const auto& b : builtin_) {
      if (b->group == t.group) {
        return absl::InvalidArgumentError(
            fmt::format("group '{}' is served by the API server itself", t.group));
      }
    }
  }
  if (types.empty()) {
    custom_.erase(crd_name);
    return absl::OkStatus();
  }
  std::vector<std::shared_ptr<const ResourceType>> shared;
  for (ResourceType& t : types) shared.push_back(std::make_shared<const ResourceType>(t));
  custom_[crd_name] = std::move(shared);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ResourceType>> ResourceRegistry::TypesFromCrd(const json& crd) {
  auto str = [](const json& o, const char* key) -> std::string {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : "";
  };
  auto strs = [](const json& o, const char* key) {
    std::vector<std::string> out;
    auto it = o.find(key);
    if (it == o.end() || !it->is_array()) return out;
    for (const json& v : *it) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
    return out;
  };
  const json* spec = crd.contains("spec") && crd["spec"].is_object() ? &crd["spec"] : nullptr;
  if (spec == nullptr) return absl::InvalidArgumentError("spec: Required value");
  const json* names =
      spec->contains("names") && (*spec)["names"].is_object() ? &(*spec)["names"] : nullptr;
  if (names == nullptr) return absl::InvalidArgumentError("spec.names: Required value");
  ResourceType base;
  base.group = str(*spec, "group");
  base.kind = str(*names, "kind");
  base.plural = str(*names, "plural");
  base.singular = str(*names, "singular");
  if (base.singular.empty()) base.singular = absl::AsciiStrToLower(base.kind);
  base.short_names = strs(*names, "shortNames");
  base.categories = strs(*names, "categories");
  std::string scope = str(*spec, "scope");
  if (base.group.empty()) return absl::InvalidArgumentError("spec.group: Required value");
  if (base.kind.empty()) return absl::InvalidArgumentError("spec.names.kind: Required value");
  if (base.plural.empty()) return absl::InvalidArgumentError("spec.names.plural: Required value");
  if (scope != "Namespaced" && scope != "Cluster") {
    return absl::InvalidArgumentError(
        fmt::format("spec.scope: Unsupported value: \"{}\": supported values: \"Cluster\", "
                    "\"Namespaced\"",
                    scope));
  }
  std::string crd_name = crd.contains("metadata") && crd["metadata"].is_object()
                             ? str(crd["metadata"], "name")
                             : "";
  if (crd_name != base.plural + "." + base.group) {
    return absl::InvalidArgumentError(fmt::format(
        "metadata.name: Invalid value: \"{}\": must be spec.names.plural+\".\"+spec.group",
        crd_name));
  }
  base.namespaced = scope == "Namespaced";
  base.verbs = kAllVerbs;
  base.custom = true;
  base.label_selector_path = "";
  std::vector<ResourceType> types;
  auto versions = spec->find("versions");
  if (versions == spec->end() || !versions->is_array() || versions->empty()) {
    return absl::InvalidArgumentError("spec.versions: Required value");
  }
  for (const json& v : *versions) {
    if (!v.is_object()) return absl::InvalidArgumentError("spec.versions: must be objects");
    if (v.contains("served") && v["served"].is_boolean() && !v["served"].get<bool>()) continue;
    ResourceType t = base;
    t.version = str(v, "name");
    if (t.version.empty()) return absl::InvalidArgumentError("spec.versions[].name: Required");
    if (auto sub = v.find("subresources"); sub != v.end() && sub->is_object()) {
      t.status_subresource = sub->contains("status");
      if (auto scale = sub->find("scale"); scale != sub->end() && scale->is_object()) {
        t.scale_subresource = true;
        t.spec_replicas_path = str(*scale, "specReplicasPath");
        t.status_replicas_path = str(*scale, "statusReplicasPath");
        t.label_selector_path = str(*scale, "labelSelectorPath");
      }
    }
    if (auto cols = v.find("additionalPrinterColumns"); cols != v.end() && cols->is_array()) {
      for (const json& c : *cols) {
        if (!c.is_object()) continue;
        PrinterColumn col{.name = str(c, "name"),
                          .type = str(c, "type"),
                          .format = str(c, "format"),
                          .description = str(c, "description"),
                          .json_path = str(c, "jsonPath")};
        if (c.contains("priority") && c["priority"].is_number_integer()) {
          col.priority = c["priority"].get<int>();
        }
        t.columns.push_back(std::move(col));
      }
    }
    // The storage version first: it is also the preferred version here.
    bool storage = v.contains("storage") && v["storage"].is_boolean() && v["storage"].get<bool>();
    if (storage) {
      types.insert(types.begin(), std::move(t));
    } else {
      types.push_back(std::move(t));
    }
  }
  // Every version shares one storage (no conversion webhooks here).
  for (ResourceType& t : types) t.storage_of = base.group + "/" + base.plural;
  return types;
}

std::vector<ResourceRegistry::Group> ResourceRegistry::GroupsLocked() const {
  std::vector<Group> groups;
  auto add = [&](const ResourceType& t) {
    if (t.group.empty()) return;
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const Group& g) { return g.name == t.group; });
    if (it == groups.end()) {
      groups.push_back({t.group, {t.version}});
    } else if (std::find(it->versions.begin(), it->versions.end(), t.version) ==
               it->versions.end()) {
      it->versions.push_back(t.version);
    }
  };
  for (const auto& t : builtin_) add(*t);
  for (const auto& [_, types] : custom_) {
    for (const auto& t : types) add(*t);
  }
  return groups;
}

std::vector<std::shared_ptr<const ResourceType>> ResourceRegistry::InGroupVersion(
    std::string_view group, std::string_view version) const {
  std::vector<std::shared_ptr<const ResourceType>> out;
  for (const auto& t : builtin_) {
    if (t->group == group && t->version == version) out.push_back(t);
  }
  for (const auto& [_, types] : custom_) {
    for (const auto& t : types) {
      if (t->group == group && t->version == version) out.push_back(t);
    }
  }
  return out;
}

json ResourceRegistry::ApiVersions() const {
  return {{"kind", "APIVersions"},
          {"versions", {"v1"}},
          {"serverAddressByClientCIDRs", json::array()}};
}

namespace {
json GroupJson(const std::string& name, const std::vector<std::string>& versions) {
  json vs = json::array();
  for (const std::string& v : versions) {
    vs.push_back({{"groupVersion", name + "/" + v}, {"version", v}});
  }
  return {{"name", name}, {"versions", vs}, {"preferredVersion", vs.at(0)}};
}
}  // namespace

json ResourceRegistry::ApiGroupList() const {
  absl::ReaderMutexLock lock(&mu_);
  json groups = json::array();
  for (const Group& g : GroupsLocked()) groups.push_back(GroupJson(g.name, g.versions));
  return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
}

std::optional<json> ResourceRegistry::ApiGroup(std::string_view group) const {
  absl::ReaderMutexLock lock(&mu_);
  for (const Group& g : GroupsLocked()) {
    if (g.name != group) continue;
    json doc = GroupJson(g.name, g.versions);
    doc["kind"] = "APIGroup";
    doc["apiVersion"] = "v1";
    return doc;
  }
  return std::nullopt;
}

std::optional<json> ResourceRegistry::ResourceList(std::string_view group,
                                                   std::string_view version) const {
  absl::ReaderMutexLock lock(&mu_);
  auto types = InGroupVersion(group, version);
  if (types.empty()) return std::nullopt;
  json resources = json::array();
  for (const auto& t : types) {
    json r = {{"name", t->plural},         {"singularName", t->singular},
              {"namespaced", t->namespaced}, {"kind", t->kind},
              {"verbs", Verbs(t->verbs)}};
    if (!t->short_names.empty()) r["shortNames"] = t->short_names;
    if (!t->categories.empty()) r["categories"] = t->categories;
    resources.push_back(std::move(r));
    for (const Sub& s : Subresources(*t)) {
      json sr = {{"name", t->plural + "/" + s.name},
                 {"singularName", ""},
                 {"namespaced", t->namespaced},
                 {"kind", s.kind},
                 {"verbs", Verbs(s.verbs)}};
      if (s.group != t->group || s.version != t->version) {
        sr["group"] = s.group;
        sr["version"] = s.version;
      }
      resources.push_back(std::move(sr));
    }
  }
  std::string gv = group.empty() ? std::string(version) : fmt::format("{}/{}", group, version);
  return json{{"kind", "APIResourceList"},
              {"apiVersion", "v1"},
              {"groupVersion", gv},
              {"resources", resources}};
}

json ResourceRegistry::Aggregated(bool core, std::string_view discovery_version) const {
  absl::ReaderMutexLock lock(&mu_);
  auto version_doc = [&](std::string_view group, const std::string& version) {
    json resources = json::array();
    for (const auto& t : InGroupVersion(group, version)) {
      json r = {{"resource", t->plural},
                {"responseKind", {{"group", ""}, {"version", ""}, {"kind", t->kind}}},
                {"scope", t->namespaced ? "Namespaced" : "Cluster"},
                {"singularResource", t->singular},
                {"verbs", Verbs(t->verbs)}};
      if (!t->short_names.empty()) r["shortNames"] = t->short_names;
      if (!t->categories.empty()) r["categories"] = t->categories;
      json subs = json::array();
      for (const Sub& s : Subresources(*t)) {
        json kind = {{"group", s.group == t->group ? "" : s.group},
                     {"version", s.version == t->version && s.group == t->group ? "" : s.version},
                     {"kind", s.kind}};
        subs.push_back({{"subresource", s.name}, {"responseKind", kind}, {"verbs", s.verbs}});
      }
      if (!subs.empty()) r["subresources"] = subs;
      resources.push_back(std::move(r));
    }
    return json{{"version", version}, {"resources", resources}, {"freshness", "Current"}};
  };
  json items = json::array();
  if (core) {
    items.push_back({{"metadata", {{"creationTimestamp", nullptr}}},
                     {"versions", {version_doc("", "v1")}}});
  } else {
    for (const Group& g : GroupsLocked()) {
      json versions = json::array();
      for (const std::string& v : g.versions) versions.push_back(version_doc(g.name, v));
      items.push_back({{"metadata", {{"name", g.name}, {"creationTimestamp", nullptr}}},
                       {"versions", versions}});
    }
  }
  return {{"kind", "APIGroupDiscoveryList"},
          {"apiVersion", fmt::format("apidiscovery.k8s.io/{}", discovery_version)},
          {"metadata", json::object()},
          {"items", items}};
}

json ResourceRegistry::OpenApiV3Root() const {
  absl::ReaderMutexLock lock(&mu_);
  json paths = json::object();
  paths["api/v1"] = {{"serverRelativeURL", "/openapi/v3/api/v1"}};
  for (const Group& g : GroupsLocked()) {
    for (const std::string& v : g.versions) {
      std::string key = fmt::format("apis/{}/{}", g.name, v);
      paths[key] = {{"serverRelativeURL", "/openapi/v3/" + key}};
    }
  }
  return {{"paths", paths}};
}

std::optional<json> ResourceRegistry::OpenApiV3(std::string_view group,
                                                std::string_view version) const {
  absl::ReaderMutexLock lock(&mu_);
  auto types = InGroupVersion(group, version);
  if (types.empty()) return std::nullopt;
  auto param = [](const char* name) {
    return json{{"name", name}, {"in", "query"}, {"schema", {{"type", "string"}}}};
  };
  const json write_params = {param("dryRun"), param("fieldManager"), param("fieldValidation")};
  json patch_params = write_params;
  patch_params.push_back(param("force"));
  json paths = json::object();
  for (const auto& t : types) {
    std::string prefix = group.empty() ? fmt::format("/api/{}", version)
                                       : fmt::format("/apis/{}/{}", group, version);
    std::string collection = t->namespaced
                                 ? fmt::format("{}/namespaces/{{namespace}}/{}", prefix, t->plural)
                                 : fmt::format("{}/{}", prefix, t->plural);
    json gvk = {{"group", t->group}, {"version", t->version}, {"kind", t->kind}};
    auto op = [&](const char* action, const json& params) {
      return json{{"parameters", params},
                  {"x-kubernetes-action", action},
                  {"x-kubernetes-group-version-kind", gvk}};
    };
    paths[collection] = {{"get", op("list", json::array())}, {"post", op("post", write_params)}};
    paths[collection + "/{name}"] = {{"get", op("get", json::array())},
                                     {"put", op("put", write_params)},
                                     {"patch", op("patch", patch_params)},
                                     {"delete", op("delete", json::array({param("dryRun")}))}};
  }
  return json{{"openapi", "3.0.0"},
              {"info", {{"title", "Kubernetes"}, {"version", "v1.32.0"}}},
              {"paths", paths},
              {"components", {{"schemas", json::object()}}}};
}

}  // namespace kobs::sim
