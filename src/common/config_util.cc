#include "common/config_util.h"

#include "common/absl_compat.h"

#include <algorithm>
#include <cctype>

#include <absl/strings/ascii.h>
#include <absl/strings/numbers.h>
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace kobs {

absl::Status CheckKeys(const YAML::Node& node, std::initializer_list<std::string_view> allowed,
                       std::string_view where) {
  if (!node || node.IsNull()) return absl::OkStatus();
  if (!node.IsMap()) {
    return absl::InvalidArgumentError(fmt::format("{}: expected a map", where));
  }
  for (const auto& kv : node) {
    std::string key = kv.first.as<std::string>();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string known;
      for (auto a : allowed) known += fmt::format("{}{}", known.empty() ? "" : ", ", a);
      return absl::InvalidArgumentError(
          fmt::format("{}: unknown key '{}' (known: {})", where, key, known));
    }
  }
  return absl::OkStatus();
}

namespace {

// Splits "150ms" into 150 and "ms".
bool SplitNumber(std::string_view text, double* number, std::string* unit) {
  text = ToStd(absl::StripAsciiWhitespace(ToAbsl(text)));
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    ++i;
  }
  if (i == 0) return false;
  if (!absl::SimpleAtod(ToAbsl(text.substr(0, i)), number)) return false;
  *unit = absl::AsciiStrToLower(absl::StripAsciiWhitespace(ToAbsl(text.substr(i))));
  return true;
}

}  // namespace

absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  double n;
  std::string unit;
  if (!SplitNumber(text, &n, &unit)) {
    return absl::InvalidArgumentError(fmt::format("invalid duration '{}'", text));
  }
  double ms;
  if (unit == "ms") ms = n;
  else if (unit.empty() || unit == "s") ms = n * 1000;
  else if (unit == "m") ms = n * 60'000;
  else if (unit == "h") ms = n * 3'600'000;
  else if (unit == "d") ms = n * 86'400'000;
  else {
    return absl::InvalidArgumentError(
        fmt::format("invalid duration '{}': unit must be ms, s, m, h or d", text));
  }
  return std::chrono::milliseconds(static_cast<int64_t>(ms));
}

absl::StatusOr<uint64_t> ParseBytes(std::string_view text) {
  double n;
  std::string unit;
  if (!SplitNumber(text, &n, &unit)) {
    return absl::InvalidArgumentError(fmt::format("invalid size '{}'", text));
  }
  double mult;
  if (unit.empty() || unit == "b") mult = 1;
  else if (unit == "kib" || unit == "k") mult = 1024.0;
  else if (unit == "mib" || unit == "m") mult = 1024.0 * 1024;
  else if (unit == "gib" || unit == "g") mult = 1024.0 * 1024 * 1024;
  else if (unit == "kb") mult = 1e3;
  else if (unit == "mb") mult = 1e6;
  else if (unit == "gb") mult = 1e9;
  else {
    return absl::InvalidArgumentError(
        fmt::format("invalid size '{}': unit must be B, KiB, MiB, GiB, KB, MB or GB", text));
  }
  return static_cast<uint64_t>(n * mult);
}

absl::StatusOr<bool> ParseBool(std::string_view text) {
  std::string t = absl::AsciiStrToLower(absl::StripAsciiWhitespace(ToAbsl(text)));
  if (t == "true" || t == "1" || t == "yes" || t == "on") return true;
  if (t == "false" || t == "0" || t == "no" || t == "off") return false;
  return absl::InvalidArgumentError(fmt::format("invalid boolean '{}'", text));
}

namespace {

absl::StatusOr<std::string> Scalar(const YAML::Node& node, std::string_view key) {
  YAML::Node v = node[std::string(key)];
  if (!v.IsScalar()) {
    return absl::InvalidArgumentError(fmt::format("'{}' must be a scalar", key));
  }
  return v.Scalar();
}

template <typename T, typename Fn>
absl::Status ReadWith(const YAML::Node& node, std::string_view key, T* out, Fn parse) {
  if (!node || !node.IsMap() || !node[std::string(key)]) return absl::OkStatus();
  auto s = Scalar(node, key);
  if (!s.ok()) return s.status();
  auto v = parse(*s);
  if (!v.ok()) {
    return absl::InvalidArgumentError(fmt::format("'{}': {}", key, v.status().message()));
  }
  *out = *v;
  return absl::OkStatus();
}

}  // namespace

absl::Status ReadString(const YAML::Node& node, std::string_view key, std::string* out) {
  return ReadWith(node, key, out, [](const std::string& s) -> absl::StatusOr<std::string> {
    return s;
  });
}

absl::Status ReadInt(const YAML::Node& node, std::string_view key, int64_t* out) {
  return ReadWith(node, key, out, [](const std::string& s) -> absl::StatusOr<int64_t> {
    int64_t v;
    if (!absl::SimpleAtoi(s, &v)) {
      return absl::InvalidArgumentError(fmt::format("invalid integer '{}'", s));
    }
    return v;
  });
}

absl::Status ReadBool(const YAML::Node& node, std::string_view key, bool* out) {
  return ReadWith(node, key, out, [](const std::string& s) { return ParseBool(s); });
}

absl::Status ReadDuration(const YAML::Node& node, std::string_view key,
                          std::chrono::milliseconds* out) {
  return ReadWith(node, key, out, [](const std::string& s) { return ParseDuration(s); });
}

absl::Status ReadBytes(const YAML::Node& node, std::string_view key, uint64_t* out) {
  return ReadWith(node, key, out, [](const std::string& s) { return ParseBytes(s); });
}

YAML::Node Child(const YAML::Node& node, std::string_view key) {
  if (!node || !node.IsMap()) return YAML::Node();
  YAML::Node child = node[std::string(key)];
  return child ? child : YAML::Node();
}

}  // namespace kobs
