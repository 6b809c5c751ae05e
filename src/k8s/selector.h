// Kubernetes label and field selectors: parsing (as the API server accepts them in
// `labelSelector=` / `fieldSelector=`) and matching against an object's labels or fields.
//   labels: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a` (exists), `!a`, joined by
//           commas (all must hold); keys may have a DNS prefix (`app.kubernetes.io/name`).
//   fields: `path=value`, `path==value`, `path!=value`, joined by commas.
// An empty selector matches everything.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace kobs::k8s {

struct Requirement {
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kNotExists };
  std::string key;
  Op op;
  std::vector<std::string> values;  // one for (Not)Equals; the set for (Not)In
};

class LabelSelector {
 public:
  static absl::StatusOr<LabelSelector> Parse(std::string_view text);
  bool Matches(const std::map<std::string, std::string>& labels) const;
  // Matches an object's metadata.labels.
  bool Matches(const nlohmann::json& object) const;
  bool empty() const { return requirements_.empty(); }
  const std::vector<Requirement>& requirements() const { return requirements_; }
  // The canonical text form (parses back to the same selector).
  std::string ToString() const;

 private:
  std::vector<Requirement> requirements_;
};

class FieldSelector {
 public:
  static absl::StatusOr<FieldSelector> Parse(std::string_view text);
  // `path` like "metadata.name" or "involvedObject.kind", looked up in the object; a missing
  // field is "".
  bool Matches(const nlohmann::json& object) const;
  bool empty() const { return requirements_.empty(); }
  const std::vector<Requirement>& requirements() const { return requirements_; }

 private:
  std::vector<Requirement> requirements_;
};

}  // namespace kobs::k8s
