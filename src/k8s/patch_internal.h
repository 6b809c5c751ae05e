// Internals shared by patch.cc, strategic_merge.cc and server_side_apply.cc: input size guards,
// short value rendering for messages, the exception firewall, and the list-strategy table that
// both strategic merge and server-side apply use. Not part of the k8s library's interface.
#pragma once

#include <fmt/format.h>

#include <exception>
#include <new>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kobs::k8s::patch_internal {

// Depth (a scalar is 1) and value count of `j`, measured without recursion; stops counting
// once the depth passes `depth_limit`.
struct Size {
  int depth = 0;
  size_t values = 0;
};
Size Measure(const nlohmann::json& j, int depth_limit);

// InvalidArgument when `j` nests deeper than kMaxPatchDepth; `what` names it in the message.
absl::Status CheckDepth(const nlohmann::json& j, std::string_view what);

// `j` as compact JSON for a message, invalid UTF-8 replaced, cut at about 80 characters.
std::string Short(const nlohmann::json& j);

// How a list merges: replaced whole, merged by a key field, or merged as a set of primitives.
enum class ListKind { kAtomic, kMap, kSet };
struct ListType {
  ListKind kind = ListKind::kAtomic;
  std::string_view key;  // the merge key for kMap
};

// The strategy of the list at `fields` (field names from the object root) in an object of
// `kind`, from the table in strategic_merge.cc.
ListType ListTypeFor(std::string_view kind, const std::vector<std::string>& fields);

// The object's "kind" when it is a string, else "".
std::string_view KindOf(const nlohmann::json& object);

// Runs `f`, turning an escaped exception (a bug, or memory exhaustion) into a status, so
// the public functions never throw.
template <typename F>
auto NoThrow(std::string_view what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(fmt::format("{}: out of memory", what));
  } catch (const std::exception& e) {
    return absl::InternalError(fmt::format("{}: unexpected error: {}", what, e.what()));
  }
}

}  // namespace kobs::k8s::patch_internal
