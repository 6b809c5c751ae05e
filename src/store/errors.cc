#include "store/errors.h"

#include "common/absl_compat.h"

#include <absl/strings/cord.h>
#include <absl/strings/numbers.h>
#include <absl/strings/str_cat.h>
#include <absl/strings/strip.h>

namespace kobs::store {
namespace {

constexpr char kCodePayload[] = "kobs.clickhouse/code";

absl::StatusCode CanonicalFor(int code) {
  switch (code) {
    case kUnknownTable:
    case kUnknownDatabase:
    case 46:  // UNKNOWN_FUNCTION
    case 47:  // UNKNOWN_IDENTIFIER
      return absl::StatusCode::kNotFound;
    case kSyntaxError:
    case kBadArguments:
    case kUnknownSetting:
    case kUnknownFormat:
    case kUnknownQueryParameter:
    case kBadQueryParameter:
    case 6:   // CANNOT_PARSE_TEXT
    case 27:  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    case 42:  // NUMBER_OF_ARGUMENTS_DOESNT_MATCH
    case 43:  // ILLEGAL_TYPE_OF_ARGUMENT
    case 53:  // TYPE_MISMATCH
    case 117: // INCORRECT_DATA
      return absl::StatusCode::kInvalidArgument;
    case kTimeoutExceeded:
    case kSocketTimeout:
      return absl::StatusCode::kDeadlineExceeded;
    case kReadonly:
    case kAccessDenied:
    case kTableIsReadOnly:
      return absl::StatusCode::kPermissionDenied;
    case kAuthenticationFailed:
    case kRequiredPassword:
    case kUnknownUser:
    case 193:  // WRONG_PASSWORD
      return absl::StatusCode::kUnauthenticated;
    case kNetworkError:
    case kAllConnectionTriesFailed:
      return absl::StatusCode::kUnavailable;
    case kQueryIsTooLarge:
    case 158:  // TOO_MANY_ROWS
    case 396:  // TOO_MANY_ROWS_OR_BYTES
    case 241:  // MEMORY_LIMIT_EXCEEDED
      return absl::StatusCode::kResourceExhausted;
    case kNotImplemented:
      return absl::StatusCode::kUnimplemented;
    case kQueryWasCancelled:
      return absl::StatusCode::kCancelled;
    case 57:  // TABLE_ALREADY_EXISTS
    case 82:  // DATABASE_ALREADY_EXISTS
      return absl::StatusCode::kAlreadyExists;
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

absl::Status ClickHouseError(int code, std::string_view message) {
  absl::Status status(CanonicalFor(code), ToAbsl(message));
  status.SetPayload(kCodePayload, absl::Cord(absl::StrCat(code)));
  return status;
}

absl::Status ParseClickHouseError(std::string_view text, int fallback_code) {
  std::string_view msg = ToStd(absl::StripAsciiWhitespace(ToAbsl(text)));
  // Modern: "Code: 60. DB::Exception: ...". Old (18.x): "Code: 60, e.displayText() = DB::Exception: ...".
  size_t pos = msg.find("Code: ");
  if (pos != std::string_view::npos) {
    size_t start = pos + 6;
    size_t end = start;
    while (end < msg.size() && msg[end] >= '0' && msg[end] <= '9') ++end;
    int code;
    if (end > start && absl::SimpleAtoi(ToAbsl(msg.substr(start, end - start)), &code)) {
      return ClickHouseError(code, msg);
    }
  }
  return ClickHouseError(fallback_code, msg);
}

std::optional<int> ClickHouseErrorCode(const absl::Status& status) {
  auto payload = status.GetPayload(kCodePayload);
  if (!payload) return std::nullopt;
  int code;
  if (!absl::SimpleAtoi(std::string(*payload), &code)) return std::nullopt;
  return code;
}

int ClickHouseCodeToHttpStatus(int code) {
  switch (code) {
    case kRequiredPassword:
      return 401;
    case kUnknownUser:
    case 193:  // WRONG_PASSWORD
    case kAuthenticationFailed:
    case kAccessDenied:
    case kReadonly:
      return 403;
    case 6: case 25: case 26: case 27: case 38: case 41: case 72:  // CANNOT_PARSE_*
    case 35: case 36: case 42: case 43: case 53: case 62: case 117: case 167: case 168: case 169:
    case kUnknownQueryParameter: case kBadQueryParameter:
      return 400;
    case kUnknownTable: case 46: case 47: case 50: case 56: case kUnknownDatabase:
    case kUnknownSetting: case 61: case 63: case kUnknownFormat: case 78: case 80:
      return 404;
    case kQueryIsTooLarge:
      return 413;
    case kNotImplemented:
      return 501;
    case kSocketTimeout:
    case 76:  // CANNOT_OPEN_FILE
      return 503;
    case 381:  // HTTP_LENGTH_REQUIRED
      return 411;
    case kTimeoutExceeded:
      return 504;
    default:
      return 500;
  }
}

}  // namespace kobs::store
