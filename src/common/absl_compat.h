// Debian's abseil 20220623 is built with its own absl::string_view (not an alias of
// std::string_view), so Status::message() does not convert to std::string_view and fmt cannot
// print it. This header bridges both. Header-only.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

#include "absl/strings/string_view.h"

namespace kobs {

inline std::string_view ToStd(absl::string_view s) { return {s.data(), s.size()}; }
inline absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }

}  // namespace kobs

#if !defined(ABSL_USES_STD_STRING_VIEW)
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<std::string_view> {
  template <typename Context>
  auto format(absl::string_view s, Context& ctx) const {
    return fmt::formatter<std::string_view>::format(std::string_view(s.data(), s.size()), ctx);
  }
};
#endif
