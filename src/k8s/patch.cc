// Patch content types, RFC 6902 JSON Patch and RFC 7386 JSON Merge Patch, and the shared
// helpers of patch_internal.h.
#include "k8s/patch.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include "common/status_macros.h"
#include "k8s/patch_internal.h"

namespace kobs::k8s {
namespace patch_internal {

using nlohmann::json;

Size Measure(const json& j, int depth_limit) {
  Size size;
  std::vector<std::pair<const json*, int>> stack = {{&j, 1}};
  while (!stack.empty()) {
    auto [node, depth] = stack.back();
    stack.pop_back();
    ++size.values;
    size.depth = std::max(size.depth, depth);
    if (depth > depth_limit) break;
    if (node->is_object() || node->is_array()) {
      for (const auto& child : *node) stack.emplace_back(&child, depth + 1);
    }
  }
  return size;
}

absl::Status CheckDepth(const json& j, std::string_view what) {
  if (Measure(j, kMaxPatchDepth).depth > kMaxPatchDepth) {
    return absl::InvalidArgumentError(
        fmt::format("{} nests deeper than {} levels", what, kMaxPatchDepth));
  }
  return absl::OkStatus();
}

std::string Short(const json& j) {
  std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

std::string_view KindOf(const json& object) {
  if (!object.is_object()) return {};
  auto it = object.find("kind");
  if (it == object.end() || !it->is_string()) return {};
  return it->get_ref<const std::string&>();
}

}  // namespace patch_internal

using nlohmann::json;
using patch_internal::CheckDepth;
using patch_internal::Short;

namespace {

constexpr std::string_view kJsonPatchType = "application/json-patch+json";
constexpr std::string_view kMergePatchType = "application/merge-patch+json";
constexpr std::string_view kStrategicType = "application/strategic-merge-patch+json";
constexpr std::string_view kApplyType = "application/apply-patch+yaml";

// ---- RFC 6901 JSON Pointer ----

// Values a JSON patch may copy in total (move does not count), against a patch that doubles
// the document with every operation (kube-apiserver has the same guard).
constexpr size_t kMaxCopiedValues = size_t{1} << 20;

absl::StatusOr<std::vector<std::string>> ParsePointer(std::string_view pointer) {
  std::vector<std::string> tokens;
  if (pointer.empty()) return tokens;
  if (pointer[0] != '/') {
    return absl::InvalidArgumentError(
        fmt::format("json pointer \"{}\" must be empty or start with '/'", pointer));
  }
  std::string token;
  for (size_t i = 1; i <= pointer.size(); ++i) {
    if (i == pointer.size() || pointer[i] == '/') {
      tokens.push_back(std::move(token));
      token.clear();
    } else if (pointer[i] == '~') {
      const char next = i + 1 < pointer.size() ? pointer[i + 1] : '\0';
      if (next != '0' && next != '1') {
        return absl::InvalidArgumentError(
            fmt::format("json pointer \"{}\": '~' must be followed by '0' or '1'", pointer));
      }
      token += next == '0' ? '~' : '/';
      ++i;
    } else {
      token += pointer[i];
    }
  }
  return tokens;
}

// An array index token: "0" or digits without a leading zero, below `size` (or equal to it
// when `allow_end`, which "-" also means).
absl::StatusOr<size_t> ArrayIndex(const std::string& token, size_t size, bool allow_end,
                                  std::string_view pointer) {
  if (token == "-" && allow_end) return size;
  const bool digits =
      !token.empty() && token.size() <= 18 && std::all_of(token.begin(), token.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      });
  if (!digits || (token.size() > 1 && token[0] == '0')) {
    return absl::FailedPreconditionError(
        fmt::format("path {}: \"{}\" is not an index into an array", pointer, token));
  }
  const size_t index = std::stoull(token);
  if (index > size || (index == size && !allow_end)) {
    return absl::FailedPreconditionError(fmt::format(
        "path {}: index {} is out of range for an array of {} elements", pointer, index, size));
  }
  return index;
}

// The value `tokens[0, count)` names inside `root`.
absl::StatusOr<json*> Resolve(json& root, const std::vector<std::string>& tokens, size_t count,
                              std::string_view pointer) {
  json* node = &root;
  for (size_t i = 0; i < count; ++i) {
    const std::string& token = tokens[i];
    if (node->is_object()) {
      auto it = node->find(token);
      if (it == node->end()) {
        return absl::FailedPreconditionError(
            fmt::format("path {}: member \"{}\" does not exist", pointer, token));
      }
      node = &*it;
    } else if (node->is_array()) {
      KOBS_ASSIGN_OR_RETURN(size_t index, ArrayIndex(token, node->size(), false, pointer));
      node = &(*node)[index];
    } else {
      return absl::FailedPreconditionError(
          fmt::format("path {}: cannot look up \"{}\" in a {}", pointer, token, node->type_name()));
    }
  }
  return node;
}

class JsonPatcher {
 public:
  explicit JsonPatcher(json doc) : doc_(std::move(doc)) {}

  absl::Status Apply(const json& op);
  json Take() { return std::move(doc_); }

 private:
  absl::Status Add(const std::vector<std::string>& path, std::string_view pointer, json value);
  absl::StatusOr<json> Remove(const std::vector<std::string>& path, std::string_view pointer);
  absl::StatusOr<json*> Get(const std::vector<std::string>& path, std::string_view pointer) {
    return Resolve(doc_, path, path.size(), pointer);
  }
  // InvalidArgument when `value` inserted at `path` would nest too deep.
  absl::Status CheckInsert(const std::vector<std::string>& path, const json& value);

  json doc_;
  size_t copied_ = 0;
};

absl::Status JsonPatcher::CheckInsert(const std::vector<std::string>& path, const json& value) {
  const int limit = kMaxPatchDepth - static_cast<int>(std::min<size_t>(path.size(), 1000));
  if (limit < 1 || patch_internal::Measure(value, limit).depth > limit) {
    return absl::InvalidArgumentError(
        fmt::format("the result would nest deeper than {} levels", kMaxPatchDepth));
  }
  return absl::OkStatus();
}

absl::Status JsonPatcher::Add(const std::vector<std::string>& path, std::string_view pointer,
                              json value) {
  KOBS_RETURN_IF_ERROR(CheckInsert(path, value));
  if (path.empty()) {
    doc_ = std::move(value);
    return absl::OkStatus();
  }
  KOBS_ASSIGN_OR_RETURN(json * parent, Resolve(doc_, path, path.size() - 1, pointer));
  const std::string& last = path.back();
  if (parent->is_object()) {
    (*parent)[last] = std::move(value);
  } else if (parent->is_array()) {
    KOBS_ASSIGN_OR_RETURN(size_t index, ArrayIndex(last, parent->size(), true, pointer));
    parent->insert(parent->begin() + static_cast<std::ptrdiff_t>(index), std::move(value));
  } else {
    return absl::FailedPreconditionError(
        fmt::format("path {}: cannot add \"{}\" to a {}", pointer, last, parent->type_name()));
  }
  return absl::OkStatus();
}

absl::StatusOr<json> JsonPatcher::Remove(const std::vector<std::string>& path,
                                         std::string_view pointer) {
  if (path.empty()) {
    return absl::InvalidArgumentError("cannot remove the whole document");
  }
  KOBS_ASSIGN_OR_RETURN(json * parent, Resolve(doc_, path, path.size() - 1, pointer));
  const std::string& last = path.back();
  json removed;
  if (parent->is_object()) {
    auto it = parent->find(last);
    if (it == parent->end()) {
      return absl::FailedPreconditionError(
          fmt::format("path {}: member \"{}\" does not exist", pointer, last));
    }
    removed = std::move(*it);
    parent->erase(it);
  } else if (parent->is_array()) {
    KOBS_ASSIGN_OR_RETURN(size_t index, ArrayIndex(last, parent->size(), false, pointer));
    removed = std::move((*parent)[index]);
    parent->erase(parent->begin() + static_cast<std::ptrdiff_t>(index));
  } else {
    return absl::FailedPreconditionError(
        fmt::format("path {}: cannot remove \"{}\" from a {}", pointer, last, parent->type_name()));
  }
  return removed;
}

absl::StatusOr<std::string_view> StringMember(const json& op, const char* name) {
  auto it = op.find(name);
  if (it == op.end()) return absl::InvalidArgumentError(fmt::format("missing \"{}\"", name));
  if (!it->is_string()) {
    return absl::InvalidArgumentError(
        fmt::format("\"{}\" must be a string, got {}", name, Short(*it)));
  }
  return std::string_view(it->get_ref<const std::string&>());
}

absl::StatusOr<const json*> ValueMember(const json& op) {
  auto it = op.find("value");
  if (it == op.end()) return absl::InvalidArgumentError("missing \"value\"");
  return &*it;
}

absl::Status JsonPatcher::Apply(const json& op) {
  if (!op.is_object()) {
    return absl::InvalidArgumentError(
        fmt::format("an operation must be an object, got {}", Short(op)));
  }
  KOBS_ASSIGN_OR_RETURN(std::string_view name, StringMember(op, "op"));
  KOBS_ASSIGN_OR_RETURN(std::string_view pointer, StringMember(op, "path"));
  KOBS_ASSIGN_OR_RETURN(std::vector<std::string> path, ParsePointer(pointer));
  if (name == "add" || name == "replace" || name == "test") {
    KOBS_ASSIGN_OR_RETURN(const json* value, ValueMember(op));
    if (name == "add") return Add(path, pointer, *value);
    KOBS_ASSIGN_OR_RETURN(json * target, Get(path, pointer));
    if (name == "test") {
      if (*target == *value) return absl::OkStatus();
      return absl::FailedPreconditionError(fmt::format("test failed: {} is {}, not {}",
                                                       pointer.empty() ? "the document" : pointer,
                                                       Short(*target), Short(*value)));
    }
    KOBS_RETURN_IF_ERROR(CheckInsert(path, *value));
    *target = *value;
    return absl::OkStatus();
  }
  if (name == "remove") return Remove(path, pointer).status();
  if (name == "move" || name == "copy") {
    KOBS_ASSIGN_OR_RETURN(std::string_view from_pointer, StringMember(op, "from"));
    KOBS_ASSIGN_OR_RETURN(std::vector<std::string> from, ParsePointer(from_pointer));
    if (name == "copy") {
      KOBS_ASSIGN_OR_RETURN(json * source, Get(from, from_pointer));
      copied_ += patch_internal::Measure(*source, kMaxPatchDepth).values;
      if (copied_ > kMaxCopiedValues) {
        return absl::InvalidArgumentError(
            fmt::format("the patch copies more than {} values in total", kMaxCopiedValues));
      }
      return Add(path, pointer, *source);
    }
    if (from.size() < path.size() && std::equal(from.begin(), from.end(), path.begin())) {
      return absl::InvalidArgumentError(
          fmt::format("cannot move {} into its own child {}", from_pointer, pointer));
    }
    if (from == path) return Get(path, pointer).status();
    KOBS_ASSIGN_OR_RETURN(json value, Remove(from, from_pointer));
    return Add(path, pointer, std::move(value));
  }
  return absl::InvalidArgumentError(
      fmt::format("unknown op \"{}\" (want add, remove, replace, move, copy or test)", name));
}

json MergePatch(json target, const json& patch) {
  if (!patch.is_object()) return patch;
  if (!target.is_object()) target = json::object();
  for (const auto& [key, value] : patch.items()) {
    if (value.is_null()) {
      target.erase(key);
    } else {
      auto it = target.find(key);
      json current = it == target.end() ? json() : std::move(*it);
      target[key] = MergePatch(std::move(current), value);
    }
  }
  return target;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

absl::StatusOr<PatchType> PatchTypeFromContentType(std::string_view content_type) {
  std::string_view media = content_type.substr(0, content_type.find(';'));
  while (!media.empty() && std::isspace(static_cast<unsigned char>(media.front()))) {
    media.remove_prefix(1);
  }
  while (!media.empty() && std::isspace(static_cast<unsigned char>(media.back()))) {
    media.remove_suffix(1);
  }
  const std::string type = Lower(media);
  if (type == kJsonPatchType) return PatchType::kJsonPatch;
  if (type == kMergePatchType) return PatchType::kMergePatch;
  if (type == kStrategicType) return PatchType::kStrategicMergePatch;
  if (type == kApplyType) return PatchType::kApplyPatch;
  if (type.rfind("application/apply-patch+", 0) == 0) {
    return absl::InvalidArgumentError(
        fmt::format("unsupported patch content type \"{}\": server-side apply takes {}",
                    content_type, kApplyType));
  }
  return absl::InvalidArgumentError(
      fmt::format("unsupported patch content type \"{}\" (want {}, {}, {} or {})", content_type,
                  kJsonPatchType, kMergePatchType, kStrategicType, kApplyType));
}

std::string_view ContentTypeFor(PatchType type) {
  switch (type) {
    case PatchType::kJsonPatch:
      return kJsonPatchType;
    case PatchType::kMergePatch:
      return kMergePatchType;
    case PatchType::kStrategicMergePatch:
      return kStrategicType;
    case PatchType::kApplyPatch:
      return kApplyType;
  }
  return kMergePatchType;
}

absl::StatusOr<json> ApplyJsonPatch(const json& doc, const json& patch) {
  return patch_internal::NoThrow("json patch", [&]() -> absl::StatusOr<json> {
    KOBS_RETURN_IF_ERROR(CheckDepth(doc, "json patch: the document"));
    KOBS_RETURN_IF_ERROR(CheckDepth(patch, "json patch"));
    if (!patch.is_array()) {
      return absl::InvalidArgumentError(
          fmt::format("json patch must be an array of operations, got a {}", patch.type_name()));
    }
    JsonPatcher patcher(doc);
    for (size_t i = 0; i < patch.size(); ++i) {
      absl::Status s = patcher.Apply(patch[i]);
      if (!s.ok()) {
        const json& op = patch[i];
        std::string what = fmt::format("json patch operation {}", i);
        if (op.is_object() && op.contains("op") && op["op"].is_string()) {
          what += fmt::format(" ({}", op["op"].get_ref<const std::string&>());
          if (op.contains("path") && op["path"].is_string()) {
            what += fmt::format(" {}", op["path"].get_ref<const std::string&>());
          }
          what += ")";
        }
        return absl::Status(s.code(), fmt::format("{}: {}", what, std::string(s.message())));
      }
    }
    return patcher.Take();
  });
}

absl::StatusOr<json> ApplyMergePatch(const json& doc, const json& patch) {
  return patch_internal::NoThrow("merge patch", [&]() -> absl::StatusOr<json> {
    KOBS_RETURN_IF_ERROR(CheckDepth(doc, "merge patch: the document"));
    KOBS_RETURN_IF_ERROR(CheckDepth(patch, "merge patch"));
    return MergePatch(doc, patch);
  });
}

}  // namespace kobs::k8s
