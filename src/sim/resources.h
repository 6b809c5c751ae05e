// The resource types the simulated API server serves, and the discovery documents that
// describe them. Built-in types come from a fixed table (core, apps, batch, coordination,
// events.k8s.io, apiextensions, rbac, networking, policy, ...); custom resources are added and
// removed as their CustomResourceDefinitions are established and deleted. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace kobs::sim {

// A column of the server-side Table output (kubectl get), built-in or from a CRD's
// additionalPrinterColumns.
struct PrinterColumn {
  std::string name;         // "Ready"
  std::string type;         // string, integer, number, boolean, date
  std::string format;       // "name" for the name column, else ""
  std::string description;
  int priority = 0;         // 1: shown only with -o wide
  std::string json_path;    // CRD columns: ".spec.replicas"; built-ins compute theirs
};

struct ResourceType {
  std::string group;  // "" for core
  std::string version;
  std::string kind;
  std::string plural;
  std::string singular;
  bool namespaced = true;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  std::vector<std::string> verbs;  // "create", "get", ...
  bool status_subresource = false;
  // The scale subresource: where the desired and current replicas live, and the label
  // selector (as the string form Scale.status.selector carries).
  bool scale_subresource = false;
  std::string spec_replicas_path = ".spec.replicas";
  std::string status_replicas_path = ".status.replicas";
  std::string label_selector_path = ".status.selector";
  bool log_subresource = false;  // pods
  // Objects of this type live under another type's storage (events.k8s.io/v1 Events share
  // the core/v1 Events); empty: their own.
  std::string storage_of;
  std::vector<PrinterColumn> columns;  // CRD additionalPrinterColumns
  bool custom = false;                 // defined by a CRD

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  // Storage identity: "<group>/<plural>" (or storage_of).
  std::string StorageKey() const;
};

class ResourceRegistry {
 public:
  // With the built-in types.
  ResourceRegistry();

  // The type served at /api[s]/<group>/<version>/<plural>. Null when unknown.
  std::shared_ptr<const ResourceType> Find(std::string_view group, std::string_view version,
                                           std::string_view plural) const;
  // The type of `kind` in api version "group/version" (or "v1"). Null when unknown.
  std::shared_ptr<const ResourceType> FindKind(std::string_view api_version,
                                               std::string_view kind) const;
  // Every served type.
  std::vector<std::shared_ptr<const ResourceType>> All() const;

  // Replaces the custom types defined by the CRD named `crd_name` (empty: removes them).
  // InvalidArgument when a type would shadow a built-in one.
  absl::Status SetCustom(const std::string& crd_name, std::vector<ResourceType> types);
  // The types a CRD object defines (its served versions), or an error naming the bad field.
  static absl::StatusOr<std::vector<ResourceType>> TypesFromCrd(const nlohmann::json& crd);

  // Discovery documents.
  nlohmann::json ApiVersions() const;                      // GET /api
  nlohmann::json ApiGroupList() const;                     // GET /apis
  std::optional<nlohmann::json> ApiGroup(std::string_view group) const;  // /apis/<group>
  // APIResourceList for /api/v1 or /apis/<group>/<version>; nullopt when not served.
  std::optional<nlohmann::json> ResourceList(std::string_view group,
                                             std::string_view version) const;
  // OpenAPI v3: the root index (GET /openapi/v3) and one group-version's document, with the
  // operations, their query parameters (kubectl looks for fieldValidation there before it
  // relies on server-side validation) and x-kubernetes-group-version-kind. No schemas: kubectl
  // then builds patches from its own built-in types.
  nlohmann::json OpenApiV3Root() const;
  std::optional<nlohmann::json> OpenApiV3(std::string_view group, std::string_view version) const;

  // Aggregated discovery (apidiscovery.k8s.io/v2 or v2beta1) of core (`core` true, /api) or
  // of every group (/apis).
  nlohmann::json Aggregated(bool core, std::string_view discovery_version) const;

 private:
  struct Group {
    std::string name;
    std::vector<std::string> versions;  // preferred first
  };
  std::vector<Group> GroupsLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  std::vector<std::shared_ptr<const ResourceType>> InGroupVersion(std::string_view group,
                                                                  std::string_view version) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<const ResourceType>> builtin_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<std::shared_ptr<const ResourceType>>> custom_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace kobs::sim
