#include "store/errors.h"

#include "common/absl_compat.h"

#include <cctype>

#include <absl/strings/cord.h>
#include <absl/strings/match.h>
#include <absl/strings/numbers.h>
#include <absl/strings/str_cat.h>
#include <absl/strings/strip.h>
#include <nlohmann/json.hpp>

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

std::string_view Strip(std::string_view s) { return ToStd(absl::StripAsciiWhitespace(ToAbsl(s))); }

constexpr std::string_view kExceptionMarker = "__exception__";

// 25.11+: "__exception__<tag>\r\n<message>\r\n<size> <tag>__exception__\r\n" ends the body.
std::optional<absl::Status> TaggedException(std::string_view tail, std::string_view header_tag) {
  if (!absl::EndsWith(ToAbsl(tail), ToAbsl(kExceptionMarker))) return std::nullopt;
  tail.remove_suffix(kExceptionMarker.size());
  size_t space = tail.find_last_of(" \n");
  if (space == std::string_view::npos) return std::nullopt;
  std::string_view tag = tail.substr(space + 1);
  if (tag.empty() || (!header_tag.empty() && tag != header_tag)) return std::nullopt;
  std::string open = std::string(kExceptionMarker) + std::string(tag);
  size_t start = tail.rfind(open);
  if (start == std::string_view::npos) return std::nullopt;
  std::string_view message = tail.substr(start + open.size(), space - start - open.size());
  // Drop the "<size>" that precedes the closing tag.
  message = Strip(message);
  size_t last_line = message.find_last_of('\n');
  if (last_line != std::string_view::npos) message = message.substr(0, last_line);
  return ParseClickHouseError(Strip(message));
}

// JSON formats (http_write_exception_in_output_format, 23.x-25.10 default): the last member
// of the output object is "exception": "Code: ...".
std::optional<absl::Status> JsonException(std::string_view tail) {
  size_t key = tail.rfind("\"exception\":");
  if (key == std::string_view::npos) return std::nullopt;
  size_t open = tail.find('"', key + 12);
  if (open == std::string_view::npos) return std::nullopt;
  size_t close = open + 1;
  while (close < tail.size() && tail[close] != '"') close += tail[close] == '\\' ? 2 : 1;
  if (close >= tail.size()) return std::nullopt;
  // Only closing braces and brackets may follow: anything else means this was data.
  std::string_view rest = tail.substr(close + 1);
  if (rest.find_first_not_of(" \t\r\n}]") != std::string_view::npos) return std::nullopt;
  auto value = nlohmann::json::parse(tail.substr(open, close - open + 1), nullptr, false);
  if (!value.is_string()) return std::nullopt;
  std::string text = value.get<std::string>();
  if (!absl::StartsWith(text, "Code: ")) return std::nullopt;
  return ParseClickHouseError(text);
}

// Plain text: "Code: N. DB::Exception: ... (version V)" (19.x+) or "Code: N, e.displayText() =
// DB::Exception: ..., e.what() = DB::Exception" (18.x) at the end of the body, after a line
// break or a closing brace (18.x's JSON writes "}Code: ..."). The server's closing words must
// end the body, so that a row that merely quotes an error is rarely mistaken for one. The
// earliest match wins: a nested error ("... Received from host: Code: 60 ...") is the outer's.
std::optional<absl::Status> TextException(std::string_view body) {
  for (size_t pos = body.find("Code: "); pos != std::string_view::npos;
       pos = body.find("Code: ", pos + 1)) {
    if (pos != 0 && std::string_view("\n}]").find(body[pos - 1]) == std::string_view::npos) {
      continue;
    }
    std::string_view text = body.substr(pos);
    size_t digits = 6;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
    if (digits == 6) continue;
    absl::string_view after = ToAbsl(text.substr(digits));
    bool modern = absl::StartsWith(after, ". DB::Exception:") &&
                  absl::EndsWith(ToAbsl(text), ")") && absl::StrContains(ToAbsl(text), "(version ");
    bool old = absl::StartsWith(after, ", e.displayText() = DB::Exception:") &&
               (absl::EndsWith(ToAbsl(text), "e.what() = DB::Exception") ||
                absl::EndsWith(ToAbsl(text), ")"));
    if (modern || old) return ParseClickHouseError(text);
  }
  return std::nullopt;
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

std::optional<absl::Status> ParseStreamedClickHouseError(std::string_view tail,
                                                         std::string_view exception_tag) {
  tail = Strip(tail);
  if (auto s = TaggedException(tail, exception_tag)) return s;
  if (auto s = JsonException(tail)) return s;
  return TextException(tail);
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
