// Api's patches (the four patch types) and the scale subresource.
#include <fmt/format.h>

#include "common/absl_compat.h"
#include "common/status_macros.h"
#include "common/yaml_json.h"
#include "k8s/api_status.h"
#include "sim/api.h"
#include "sim/api_errors.h"
#include "sim/object_meta.h"

namespace kobs::sim {

using internal::BadRequest;
using internal::Invalid;
using internal::NotFound;
using internal::ParseJson;
using nlohmann::json;

namespace {

// The JSON pointer of a simple ".a.b" path.
json::json_pointer PointerOf(const std::string& path) {
  std::string p = path;
  for (char& c : p) {
    if (c == '.') c = '/';
  }
  try {
    return json::json_pointer(p);
  } catch (const json::exception&) {
    return json::json_pointer("/spec/replicas");
  }
}



absl::StatusOr<json> ApplyPatch(const ResourceType& type, const json& current,
                                k8s::PatchType patch_type, std::string_view patch,
                                const WriteRequest& request) {
  auto wrap = [](absl::StatusOr<json> r) -> absl::StatusOr<json> {
    if (r.ok()) return r;
    if (r.status().code() == absl::StatusCode::kFailedPrecondition) {
      return k8s::ApiError("Invalid", 422, ToStd(r.status().message()));
    }
    if (r.status().code() == absl::StatusCode::kAborted) {
      return k8s::ApiError("Conflict", 409, ToStd(r.status().message()));
    }
    return BadRequest(ToStd(r.status().message()));
  };
  switch (patch_type) {
    case k8s::PatchType::kJsonPatch: {
      KOBS_ASSIGN_OR_RETURN(json p, ParseJson(patch, "json patch"));
      return wrap(k8s::ApplyJsonPatch(current, p));
    }
    case k8s::PatchType::kMergePatch: {
      KOBS_ASSIGN_OR_RETURN(json p, ParseJson(patch, "merge patch"));
      return wrap(k8s::ApplyMergePatch(current, p));
    }
    case k8s::PatchType::kStrategicMergePatch: {
      if (type.custom || !k8s::SupportsStrategicMerge(type.api_version(), type.kind)) {
        return k8s::ApiError("UnsupportedMediaType", 415,
                             "the body of the request was in an unknown format - accepted media "
                             "types include: application/json-patch+json, "
                             "application/merge-patch+json, application/apply-patch+yaml");
      }
      KOBS_ASSIGN_OR_RETURN(json p, ParseJson(patch, "strategic merge patch"));
      return wrap(k8s::ApplyStrategicMergePatch(current, p));
    }
    case k8s::PatchType::kApplyPatch: {
      if (request.field_manager.empty()) {
        return BadRequest("PATCH requests of the apply type need a fieldManager");
      }
      absl::StatusOr<json> applied = YamlToJson(patch);
      if (!applied.ok()) return BadRequest(ToStd(applied.status().message()));
      if (!applied->is_object()) return BadRequest("the apply configuration must be an object");
      return wrap(k8s::ServerSideApply(
          current, *applied,
          {.manager = request.field_manager, .force = request.force, .now = NowRfc3339()}));
    }
  }
  return BadRequest("unknown patch type");
}

}  // namespace

absl::StatusOr<json> Api::Patch(const ResourceType& type, const std::string& ns,
                                const std::string& name, k8s::PatchType patch_type,
                                std::string_view patch, const std::string& subresource,
                                const WriteRequest& request) {
  absl::StatusOr<json> result = Write(type, ns, name, subresource, request,
                                      [&](const json& current) -> absl::StatusOr<json> {
                                        return ApplyPatch(type, current, patch_type, patch,
                                                          request);
                                      });
  if (result.ok() || patch_type != k8s::PatchType::kApplyPatch || subresource == "status" ||
      k8s::ApiReason(result.status()) != "NotFound") {
    return result;
  }
  // Apply creates what does not exist yet.
  KOBS_ASSIGN_OR_RETURN(json created, ApplyPatch(type, json(), patch_type, patch, request));
  if (!created.contains("metadata") || !created["metadata"].is_object()) {
    created["metadata"] = json::object();
  }
  created["metadata"]["name"] = name;
  WriteRequest plain = request;
  plain.field_manager.clear();  // the apply entry already records the manager
  return Create(type, ns, std::move(created), plain);
}

absl::StatusOr<json> Api::GetScale(const ResourceType& type, const std::string& ns,
                                   const std::string& name) const {
  if (!type.scale_subresource) return NotFound(type, name);
  KOBS_ASSIGN_OR_RETURN(json obj, Get(type, ns, name));
  return ScaleOf(type, obj);
}

absl::StatusOr<json> Api::UpdateScale(const ResourceType& type, const std::string& ns,
                                      const std::string& name, json scale) {
  if (!type.scale_subresource) return NotFound(type, name);
  json::json_pointer replicas_ptr = PointerOf(type.spec_replicas_path);
  if (!scale.is_object() || !scale.contains("spec") || !scale["spec"].is_object() ||
      !scale["spec"].contains("replicas") || !scale["spec"]["replicas"].is_number_integer() ||
      scale["spec"]["replicas"].get<int64_t>() < 0) {
    return k8s::ApiError("Invalid", 422,
                         fmt::format("Scale.autoscaling \"{}\" is invalid: spec.replicas: "
                                     "Invalid value: must be greater than or equal to 0",
                                     name));
  }
  const int64_t replicas = scale["spec"]["replicas"].get<int64_t>();
  const std::string want_rv = Str(scale, "metadata", "resourceVersion");
  KOBS_ASSIGN_OR_RETURN(json updated,
                        Write(type, ns, name, "", {},
                              [&](const json& current) -> absl::StatusOr<json> {
                                json next = current;
                                try {
                                  next[replicas_ptr] = replicas;
                                } catch (const json::exception&) {
                                  return Invalid(type, name,
                                                 fmt::format("{}: not an object path",
                                                             type.spec_replicas_path));
                                }
                                next["metadata"]["resourceVersion"] =
                                    want_rv.empty() ? Str(current, "metadata", "resourceVersion")
                                                    : want_rv;
                                return next;
                              }));
  return ScaleOf(type, updated);
}

absl::StatusOr<json> Api::PatchScale(const ResourceType& type, const std::string& ns,
                                     const std::string& name, k8s::PatchType patch_type,
                                     std::string_view patch) {
  KOBS_ASSIGN_OR_RETURN(json scale, GetScale(type, ns, name));
  if (patch_type == k8s::PatchType::kStrategicMergePatch) patch_type = k8s::PatchType::kMergePatch;
  ResourceType scale_type;
  scale_type.group = "autoscaling";
  scale_type.version = "v1";
  scale_type.kind = "Scale";
  KOBS_ASSIGN_OR_RETURN(json patched,
                        ApplyPatch(scale_type, scale, patch_type, patch,
                                   {.field_manager = "kobs-scale"}));
  // As the real server: a patch is a precondition only when it sets a resourceVersion itself;
  // otherwise a concurrent write (a controller's status update) must not make it fail.
  if (patched.contains("metadata") && patched["metadata"].is_object() &&
      Str(patched, "metadata", "resourceVersion") == Str(scale, "metadata", "resourceVersion")) {
    patched["metadata"].erase("resourceVersion");
  }
  return UpdateScale(type, ns, name, std::move(patched));
}

}  // namespace kobs::sim
