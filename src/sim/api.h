// The REST semantics of the simulated API server, without HTTP: what create, get, list,
// update, patch and delete mean for Kubernetes objects. Object bookkeeping (uid,
// creationTimestamp, generation, resourceVersion, generateName), optimistic concurrency (409
// on a stale resourceVersion), the status and scale subresources, the four patch types,
// deletion with finalizers and propagation policies, namespaces that must exist, CRDs that
// install their custom types, and the events.k8s.io/v1 view of core/v1 Events. Errors are API
// errors (k8s::ApiError) with the reason and code the real server uses. The HTTP front end
// (http_api.h), the garbage collector and (later) the simulated controllers all go through
// this class. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "k8s/patch.h"
#include "sim/object_store.h"
#include "sim/resources.h"

namespace kobs::sim {

struct ListRequest {
  std::string label_selector;
  std::string field_selector;
  int64_t limit = 0;  // 0: everything
  std::string continue_token;
  std::string resource_version;  // "" or "0": the latest; a number: that snapshot
};

struct ListResult {
  std::vector<nlohmann::json> items;  // in the requested type's view
  uint64_t rv = 0;
  std::string continue_token;
  int64_t remaining = -1;  // remainingItemCount when paging, else -1
};

struct DeleteRequest {
  std::string propagation_policy;  // Background (default), Foreground, Orphan
  std::string precondition_uid;
  std::string precondition_resource_version;
  bool dry_run = false;
};

struct WriteRequest {
  std::string field_manager;
  bool force = false;  // server-side apply conflicts
  bool dry_run = false;
};

class Api {
 public:
  Api(ObjectStore& store, ResourceRegistry& registry);

  ObjectStore& store() { return store_; }
  ResourceRegistry& registry() { return registry_; }

  absl::StatusOr<nlohmann::json> Get(const ResourceType& type, const std::string& ns,
                                     const std::string& name) const;
  absl::StatusOr<ListResult> List(const ResourceType& type, const std::string& ns,
                                  const ListRequest& request) const;
  absl::StatusOr<nlohmann::json> Create(const ResourceType& type, const std::string& ns,
                                        nlohmann::json object, const WriteRequest& request = {});
  // PUT of the object or of its "status" subresource.
  absl::StatusOr<nlohmann::json> Update(const ResourceType& type, const std::string& ns,
                                        const std::string& name, nlohmann::json object,
                                        const std::string& subresource = "",
                                        const WriteRequest& request = {});
  // PATCH of the object or of its "status" subresource. An apply patch creates the object
  // when it does not exist.
  absl::StatusOr<nlohmann::json> Patch(const ResourceType& type, const std::string& ns,
                                       const std::string& name, k8s::PatchType patch_type,
                                       std::string_view patch,
                                       const std::string& subresource = "",
                                       const WriteRequest& request = {});
  // The deleted object, or the object now waiting for its finalizers.
  absl::StatusOr<nlohmann::json> Delete(const ResourceType& type, const std::string& ns,
                                        const std::string& name,
                                        const DeleteRequest& request = {});

  // The scale subresource (autoscaling/v1 Scale).
  absl::StatusOr<nlohmann::json> GetScale(const ResourceType& type, const std::string& ns,
                                          const std::string& name) const;
  absl::StatusOr<nlohmann::json> UpdateScale(const ResourceType& type, const std::string& ns,
                                             const std::string& name, nlohmann::json scale);
  absl::StatusOr<nlohmann::json> PatchScale(const ResourceType& type, const std::string& ns,
                                            const std::string& name, k8s::PatchType patch_type,
                                            std::string_view patch);

  // A stored object as `type` shows it (the events.k8s.io view of an Event, the requested
  // version of a custom resource).
  nlohmann::json View(const ResourceType& type, nlohmann::json stored) const;

  // The type of a stored object (by its apiVersion and kind); null when not served any more.
  std::shared_ptr<const ResourceType> TypeOf(const nlohmann::json& object) const;

  // Re-registers the custom types of every established CRD in the store (after a load).
  void RestoreCustomTypes();

 private:
  absl::StatusOr<nlohmann::json> Write(const ResourceType& type, const std::string& ns,
                                       const std::string& name, const std::string& subresource,
                                       const WriteRequest& request,
                                       const std::function<absl::StatusOr<nlohmann::json>(
                                           const nlohmann::json& current)>& change);
  absl::Status CheckNamespace(const ResourceType& type, const std::string& ns) const;
  void AfterWrite(const ResourceType& type, const Change& change);

  ObjectStore& store_;
  ResourceRegistry& registry_;
};

// Now as the API server writes timestamps: RFC 3339 in UTC, seconds ("2026-11-25T10:00:00Z").
std::string NowRfc3339();
// With microseconds, as MicroTime fields (eventTime, renewTime) carry them.
std::string NowRfc3339Micro();

}  // namespace kobs::sim
