// Helpers for the per-module `ParseFooOptions(const YAML::Node&)` functions: strict key
// checking, durations ("250ms", "5s", "7d") and byte sizes ("64MiB"). Stateless, thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace YAML {
class Node;
}

namespace kobs {

// Fails when `node` (a map, or null) has a key not in `allowed`. `where` names the section.
absl::Status CheckKeys(const YAML::Node& node, std::initializer_list<std::string_view> allowed,
                       std::string_view where);

// "150ms", "5s", "10m", "2h", "7d"; a bare number is seconds.
absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text);

// "512", "64KiB", "64MiB", "1GiB", "10MB" (SI), case-insensitive units.
absl::StatusOr<uint64_t> ParseBytes(std::string_view text);

// Booleans as YAML and environment variables write them: true/false, 1/0, yes/no, on/off.
absl::StatusOr<bool> ParseBool(std::string_view text);

// The child `key` of map `node`, or a null node when `node` is not a map or lacks the key
// (yaml-cpp's operator[] returns an unusable "zombie" node then, which throws when indexed).
YAML::Node Child(const YAML::Node& node, std::string_view key);

// Reads scalar `key` of `node` into `*out` when present, with a clear error naming the key.
absl::Status ReadString(const YAML::Node& node, std::string_view key, std::string* out);
absl::Status ReadInt(const YAML::Node& node, std::string_view key, int64_t* out);
absl::Status ReadBool(const YAML::Node& node, std::string_view key, bool* out);
absl::Status ReadDuration(const YAML::Node& node, std::string_view key,
                          std::chrono::milliseconds* out);
absl::Status ReadBytes(const YAML::Node& node, std::string_view key, uint64_t* out);

}  // namespace kobs
