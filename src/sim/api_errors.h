// Errors as the API server words them, shared by the files of Api (internal to src/sim).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "sim/resources.h"

namespace kobs::sim::internal {

// "pods", "deployments.apps": how messages name a resource.
std::string ResourceName(const ResourceType& t);
absl::Status NotFound(const ResourceType& t, const std::string& name);
absl::Status Conflict(const ResourceType& t, const std::string& name, std::string_view why);
absl::Status Invalid(const ResourceType& t, const std::string& name, std::string_view detail);
absl::Status BadRequest(std::string_view message);
// The body as JSON, or BadRequest naming `what`.
absl::StatusOr<nlohmann::json> ParseJson(std::string_view body, std::string_view what);

}  // namespace kobs::sim::internal
