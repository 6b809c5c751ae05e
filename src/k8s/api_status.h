// Kubernetes API errors as absl::Status. The API's `Status` object (reason, code, message,
// details) becomes a status whose code follows the reason (NotFound -> kNotFound, Conflict ->
// kAborted, Gone/Expired -> kOutOfRange, Forbidden -> kPermissionDenied, ...) and that keeps
// the API reason and HTTP code as payloads, so callers can branch on them exactly.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace kobs::k8s {

// The status for an HTTP response `http_code` with `body` (a Status object, or anything else
// from a proxy). OK for 2xx.
absl::Status StatusFromResponse(int http_code, std::string_view body);

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
