// ClickHouse errors as absl::Status: the numeric ClickHouse code rides in a payload, the
// message is the server's text, and the absl code follows the error's meaning (unknown table
// -> NotFound, syntax error -> InvalidArgument, ...). Stateless, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace kobs::store {

// Well-known ClickHouse error codes (src/Common/ErrorCodes.cpp).
inline constexpr int kUnknownTable = 60;
inline constexpr int kSyntaxError = 62;
inline constexpr int kUnknownDatabase = 81;
inline constexpr int kTimeoutExceeded = 159;
inline constexpr int kReadonly = 164;
inline constexpr int kNetworkError = 210;
inline constexpr int kBadArguments = 36;
inline constexpr int kUnknownSetting = 115;
inline constexpr int kUnknownFormat = 73;
inline constexpr int kQueryIsTooLarge = 202;
inline constexpr int kNotImplemented = 48;
inline constexpr int kAuthenticationFailed = 516;
inline constexpr int kRequiredPassword = 194;
inline constexpr int kAccessDenied = 497;
inline constexpr int kUnknownUser = 192;
inline constexpr int kTableIsReadOnly = 242;
inline constexpr int kQueryWasCancelled = 394;
inline constexpr int kSocketTimeout = 209;
inline constexpr int kAllConnectionTriesFailed = 279;
inline constexpr int kUnknownQueryParameter = 456;
inline constexpr int kBadQueryParameter = 457;

// Builds a status for ClickHouse error `code` with `message`.
absl::Status ClickHouseError(int code, std::string_view message);

// Parses "Code: 60. DB::Exception: ..." (any version's layout) into a status; messages without
// a code become Internal with code 1000 (POCO_EXCEPTION) unless `fallback_code` is given.
absl::Status ParseClickHouseError(std::string_view text, int fallback_code = 1000);

// Finds an error that a server appended to a response whose status (200) and first rows were
// already sent, in `tail`, the last bytes of the body (16 KiB is plenty). Recognises, best
// effort: the `__exception__<tag>` block of 25.11+ servers (`exception_tag` is the
// X-ClickHouse-Exception-Tag header; empty accepts any tag), a final `"exception": "Code: ..."`
// member of JSON formats, and a last line "Code: N. DB::Exception: ... (version V)" (19.x+) or
// "Code: N, e.displayText() = DB::Exception: ..." (18.x). nullopt when the body ends normally.
std::optional<absl::Status> ParseStreamedClickHouseError(std::string_view tail,
                                                         std::string_view exception_tag = {});

// The ClickHouse code carried by `status`, if any.
std::optional<int> ClickHouseErrorCode(const absl::Status& status);

// The HTTP status ClickHouse answers for `code` (HTTPHandler's exceptionCodeToHTTPStatus).
int ClickHouseCodeToHttpStatus(int code);

}  // namespace kobs::store
