// Reading fields of Kubernetes JSON that may be missing or of the wrong type, without
// exceptions: a missing or mistyped field reads as null, "" or nullopt. For the collectors that
// turn API and kubelet documents into rows and metrics.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace kobs::collect {

// j[key] when j is an object that has it, else null.
inline const nlohmann::json& At(const nlohmann::json& j, std::string_view key) {
  static const nlohmann::json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

template <typename... Keys>
const nlohmann::json& At(const nlohmann::json& j, std::string_view key, Keys... rest) {
  return At(At(j, key), rest...);
}

inline std::string Str(const nlohmann::json& j, std::string_view key) {
  const nlohmann::json& v = At(j, key);
  return v.is_string() ? v.get<std::string>() : "";
}

inline std::optional<double> Num(const nlohmann::json& j, std::string_view key) {
  const nlohmann::json& v = At(j, key);
  if (v.is_number()) return v.get<double>();
  return std::nullopt;
}

}  // namespace kobs::collect
