// Time text as Kubernetes and container runtimes write it.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace kobs {

// RFC 3339 ("2020-08-19T21:06:24.33754077Z": fractions of 0 to 9 digits, `Z` or a ±hh:mm
// offset) to Unix nanoseconds. InvalidArgument when malformed.
absl::StatusOr<int64_t> ParseRfc3339Nanos(std::string_view text);

}  // namespace kobs
