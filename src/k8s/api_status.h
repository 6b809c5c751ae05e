// Kubernetes API errors as absl::Status. The API's `Status` object (reason, code, message,
// details) becomes a status whose code follows the reason (NotFound -> kNotFound, Conflict ->
// kAborted, Gone/Expired -> kOutOfRange, Forbidden -> kPermissionDenied, ...) and that keeps
// the API reason and HTTP code as payloads, so callers can branch on them exactly.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"

namespace kobs::k8s {

// The status for an HTTP response `http_code` with `body` (a Status object, or anything else
// from a proxy). OK for 2xx.
absl::Status StatusFromResponse(int http_code, std::string_view body);

// A status as the API server answers it: `reason` ("NotFound", "Conflict", "Invalid", ...),
// its HTTP code and the message (kept as is, without the reason prefix).
absl::Status ApiError(std::string_view reason, int http_code, std::string_view message);

// The HTTP code for a status: its API code when it carries one, else one from the absl code.
int HttpCodeFor(const absl::Status& status);

// The `Status` object (kind: Status, status: Failure) an API server sends for `status`.
nlohmann::json StatusObject(const absl::Status& status);

// The absl code for an API reason ("NotFound", ...), falling back on the HTTP code.
absl::StatusCode CodeForReason(std::string_view reason, int http_code);

// The API reason and HTTP code a status carries ("" and 0 when it came from elsewhere).
std::string ApiReason(const absl::Status& status);
int ApiCode(const absl::Status& status);

// Convenience predicates on ApiReason.
inline bool IsGone(const absl::Status& s) {
  return ApiReason(s) == "Gone" || ApiReason(s) == "Expired";
}
inline bool IsConflict(const absl::Status& s) { return ApiReason(s) == "Conflict"; }

}  // namespace kobs::k8s
