// Small helpers over Kubernetes objects as JSON: checked field access, finalizers, the
// defaults the API server fills in on create, the Scale view of a scalable object, and list
// continue tokens.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "sim/resources.h"

namespace kobs::sim {

// The string at obj[k1][k2]...; "" when absent or not a string.
template <typename... Keys>
std::string Str(const nlohmann::json& obj, const Keys&... keys) {
  const nlohmann::json* cur = &obj;
  for (std::string_view k : {std::string_view(keys)...}) {
    if (!cur->is_object()) return "";
    auto it = cur->find(k);
    if (it == cur->end()) return "";
    cur = &*it;
  }
  return cur->is_string() ? cur->get<std::string>() : "";
}

// parent[key], made an empty object first when it is absent or not an object.
nlohmann::json& ChildObject(nlohmann::json& parent, const char* key);

// The value at a ".a.b[0].c" path (a JSONPath subset: fields and array indexes); null when
// absent.
nlohmann::json AtPath(const nlohmann::json& obj, std::string_view path);

// Whether `obj` has a controller ownerReference to `uid`.
bool ControlledBy(const nlohmann::json& obj, const std::string& uid);
// Whether a pod's Ready condition is True.
bool PodReady(const nlohmann::json& pod);
// A pod made from a workload's template, owned (as controller) by `owner`. `name` is the
// pod's name, or with `generate` its generateName prefix.
nlohmann::json PodFromTemplate(const nlohmann::json& owner, const nlohmann::json& tmpl,
                               const std::string& name, bool generate);

std::vector<std::string> Finalizers(const nlohmann::json& obj);
// Whether an object marked for deletion still waits for someone: metadata.finalizers, and for
// namespaces also spec.finalizers (the namespace controller's "kubernetes").
bool HasPendingFinalizers(const nlohmann::json& obj);

// Fills in what the API server defaults on create (namespace phase, pod phase, deployment
// replicas and strategy, service cluster IP, CRD conditions, ...).
void ApplyDefaults(const ResourceType& type, nlohmann::json& obj);

// The autoscaling/v1 Scale of a scalable object.
nlohmann::json ScaleOf(const ResourceType& type, const nlohmann::json& obj);

// A LabelSelector object ({matchLabels, matchExpressions}) in its string form.
std::string SelectorString(const nlohmann::json& selector);

struct ContinueToken {
  uint64_t rv = 0;
  std::string after;  // the key of the last item returned
};
std::string EncodeContinue(const ContinueToken& token);
// BadRequest for a token this server did not make.
absl::StatusOr<ContinueToken> DecodeContinue(std::string_view token);

}  // namespace kobs::sim
