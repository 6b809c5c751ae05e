// YAML to JSON, as Kubernetes reads manifests and apply patches: plain scalars become
// numbers, booleans or null when they look like them (YAML 1.2 core schema, plus the
// yes/no/on/off booleans sigs.k8s.io/yaml accepts); quoted scalars stay strings.
#pragma once

#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace kobs {

// The first document of `text`. InvalidArgument with the line and column on a syntax error;
// JSON is YAML, so JSON text works too.
absl::StatusOr<nlohmann::json> YamlToJson(std::string_view text);

// Every document of a multi-document stream (`---` separated); empty documents are skipped.
absl::StatusOr<std::vector<nlohmann::json>> YamlDocumentsToJson(std::string_view text);

}  // namespace kobs
