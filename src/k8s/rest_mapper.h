// REST mapping from discovery: which resource (plural name, scope, verbs, subresources) serves
// a kind, for any group, custom resources included. Filled from the discovery documents the
// API server serves: legacy APIResourceList (/api/v1, /apis/<group>/<version>) and aggregated
// APIGroupDiscoveryList (apidiscovery.k8s.io/v2 and v2beta1). The first version added for a
// group is its preferred one. Also resolves the names kubectl accepts (plural, singular,
// short names, Kind, `resource.group`). Not thread-safe: the client guards and refreshes it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kobs::k8s {

struct ResourceInfo {
  std::string group;     // "" for core
  std::string version;
  std::string kind;
  std::string resource;  // plural, e.g. "deployments"
  std::string singular;
  bool namespaced = false;
  std::vector<std::string> verbs;
  std::vector<std::string> short_names;
  std::vector<std::string> subresources;  // "status", "scale", "log", ...

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  // The collection or object path: /api/v1/namespaces/<ns>/pods[/<name>], or
  // /apis/<group>/<version>/... ; `ns` is ignored for cluster-scoped resources.
  std::string Path(std::string_view ns = "", std::string_view name = "") const;
};

class RestMapper {
 public:
  // An APIResourceList document (legacy discovery of one group/version).
  absl::Status AddResourceList(std::string_view json);
  // An APIGroupDiscoveryList document (aggregated discovery; /api or /apis).
  absl::Status AddAggregated(std::string_view json);

  // The resource serving `kind` in `group`; `version` "" means the group's preferred version.
  // NotFound when discovery does not know it (the caller refreshes discovery and retries).
  absl::StatusOr<ResourceInfo> ForKind(std::string_view group, std::string_view version,
                                       std::string_view kind) const;
  // A name as kubectl takes it: "pods", "pod", "po", "Pod", "deployments.apps",
  // "deploy.v1.apps". Core and the preferred versions win on ambiguity, as in kubectl.
  absl::StatusOr<ResourceInfo> ForName(std::string_view name) const;

  const std::vector<ResourceInfo>& resources() const { return resources_; }

 private:
  void Add(ResourceInfo info);
  bool Preferred(const ResourceInfo& r) const;

  std::vector<ResourceInfo> resources_;
  std::vector<std::pair<std::string, std::string>> preferred_;  // group -> version
};

}  // namespace kobs::k8s
