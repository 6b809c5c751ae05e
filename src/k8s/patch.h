// Kubernetes PATCH semantics on JSON documents, shared by the simulated API server (to apply
// PATCH requests) and the client: RFC 6902 JSON Patch, RFC 7386 JSON Merge Patch, strategic
// merge patch for built-in kinds, and a simplified server-side apply that keeps
// metadata.managedFields. Pure functions without I/O: thread-safe, and they never throw.
// Inputs nested deeper than kMaxPatchDepth levels are refused (InvalidArgument).
//
// Status codes and the HTTP answers the API server gives for them:
//   InvalidArgument    400 BadRequest: malformed patch, bad directive, missing merge key, too
//                      deep; from PatchTypeFromContentType: 415 UnsupportedMediaType.
//   FailedPrecondition 422 Unprocessable: a JSON Patch "test" failed or a path does not exist.
//   Aborted            409 Conflict: server-side apply conflicts (message lists the fields).
//
// Strategic merge (k8s.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch):
// a list's strategy comes from a table matched on the trailing field names of its path from the
// object root (list elements add no name), optionally restricted to a kind, so `spec.containers`
// covers Pod, `spec.template.spec.containers` and `spec.jobTemplate.spec.template.spec.containers`:
//   merge by key: spec.{containers,initContainers,ephemeralContainers} name; in those:
//     env name, ports containerPort, volumeMounts mountPath, volumeDevices devicePath;
//     spec.volumes / imagePullSecrets / schedulingGates / resourceClaims name; spec.hostAliases
//     ip; spec.topologySpreadConstraints topologyKey; metadata.ownerReferences uid;
//     status.conditions type; Service spec.ports port; ServiceAccount secrets name;
//     Node status.addresses type; Pod status.podIPs / hostIPs ip.
//   set of primitives: metadata.finalizers, Node spec.podCIDRs.
//   every other list (tolerations, envFrom, args, ...) is replaced.
// Directives: "$patch": replace | delete | merge on maps and as list elements (`merge` is the
// default; kube-apiserver refuses it, we accept it), "$deleteFromPrimitiveList/<f>",
// "$setElementOrder/<f>", "$retainKeys"; null deletes a key. A map with `$patch: delete` is
// removed from its parent (the whole document becomes {}). Merged lists are ordered as
// kube-apiserver orders them: elements named by the patch (or by $setElementOrder) in that order,
// interleaved with the live-only elements in live order; so a new element comes first. Patch values
// for fields absent from the live object are cleaned of directives and nulls (kube-apiserver copies
// them verbatim).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kobs::k8s {

inline constexpr int kMaxPatchDepth = 100;

enum class PatchType { kJsonPatch, kMergePatch, kStrategicMergePatch, kApplyPatch };

// From a PATCH request's Content-Type (parameters such as `; charset=utf-8` are ignored):
// application/json-patch+json, application/merge-patch+json,
// application/strategic-merge-patch+json, application/apply-patch+yaml. Anything else,
// including application/apply-patch+json and +cbor, is InvalidArgument naming the type.
absl::StatusOr<PatchType> PatchTypeFromContentType(std::string_view content_type);
std::string_view ContentTypeFor(PatchType type);

// RFC 6902 JSON Patch: add, remove, replace, move, copy, test; JSON Pointers with ~0 / ~1 and
// "-" for the end of an array. The operations apply in order, all or nothing.
// InvalidArgument: `patch` is not an array of well-formed operations, a pointer is malformed, a
// move into its own child, removing the whole document, a result deeper than kMaxPatchDepth,
// or copies totalling more than a million values. FailedPrecondition: a "test" failed, or a
// path (or its parent, or an array index) does not exist in the document.
absl::StatusOr<nlohmann::json> ApplyJsonPatch(const nlohmann::json& doc,
                                              const nlohmann::json& patch);

// RFC 7386 JSON Merge Patch. Fails only on input deeper than kMaxPatchDepth.
absl::StatusOr<nlohmann::json> ApplyMergePatch(const nlohmann::json& doc,
                                               const nlohmann::json& patch);

// Whether kube-apiserver takes strategic merge patches for this kind: the built-in kinds of
// v1, apps/v1, batch/v1, networking.k8s.io/v1, policy/v1, rbac.authorization.k8s.io/v1,
// coordination.k8s.io/v1, events.k8s.io/v1, discovery.k8s.io/v1 and autoscaling/v1|v2. For
// other kinds (custom resources) the server answers 415 UnsupportedMediaType.
bool SupportsStrategicMerge(std::string_view api_version, std::string_view kind);

// Strategic merge patch (see above) of an object `doc` (null counts as {}) with an object
// `patch`. The list table applies to `doc`'s kind (or the patch's when doc has none); the caller
// checks SupportsStrategicMerge first. InvalidArgument for any malformed patch.
absl::StatusOr<nlohmann::json> ApplyStrategicMergePatch(const nlohmann::json& doc,
                                                        const nlohmann::json& patch);

// Server-side apply (https://kubernetes.io/docs/reference/using-api/server-side-apply/),
// simplified: `applied` (the full intent of `manager`, no directives; nulls count as absent)
// merges into `live` (null when creating) like a strategic merge patch for built-in kinds and
// like a merge patch otherwise; fields the manager's previous Apply owned that `applied` no
// longer sets are removed unless another manager owns them (or something under them).
// Ownership lives in metadata.managedFields (FieldsV1: "f:<field>", "k:{<key>:<value>}" for
// merge-key lists, "v:<value>" for primitive sets, "." for an element itself; other lists and
// custom-resource lists are atomic). Leaves set by `applied` that another manager (any other
// name, Apply or Update) owns with a different value are conflicts: Aborted listing them, or
// with `force` ownership moves to `manager`. Not modelled: multi-field list keys, defaulting,
// version conversion (apiVersion must match the live object), the status subresource rules,
// and metadata.{name,namespace,uid,resourceVersion,generation,creationTimestamp,...} ownership.
// Malformed managedFields entries are kept as they are and own nothing. InvalidArgument: no
// manager, no apiVersion/kind or another kind than `live`, directives or managedFields in
// `applied`, or what ApplyStrategicMergePatch refuses.
struct ApplyOptions {
  std::string manager;  // the field manager (required)
  bool force = false;   // take over conflicting fields instead of failing
  std::string now;      // RFC 3339 time for the managedFields entry; omitted when empty
};
absl::StatusOr<nlohmann::json> ServerSideApply(const nlohmann::json& live,
                                               const nlohmann::json& applied,
                                               const ApplyOptions& options);

// Records a non-apply write (update, patch, scale) by `manager` in new_object's managedFields,
// starting from old_object's (null when creating): the fields whose value the write set or
// changed move to the manager's "Update" entry, and fields gone from `new_object` are dropped
// from every entry. Returns new_object with the updated metadata.managedFields (new_object's
// own managedFields are ignored). InvalidArgument: no manager, or the objects are not objects.
absl::StatusOr<nlohmann::json> RecordUpdate(const nlohmann::json& old_object,
                                            const nlohmann::json& new_object,
                                            std::string_view manager, std::string_view now);

}  // namespace kobs::k8s
