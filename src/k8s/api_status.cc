#include "k8s/api_status.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "absl/strings/cord.h"
#include "common/absl_compat.h"

namespace kobs::k8s {
namespace {

constexpr char kReasonUrl[] = "kobs.k8s/reason";
constexpr char kCodeUrl[] = "kobs.k8s/code";

std::string ReasonForHttp(int code) {
  switch (code) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 406: return "NotAcceptable";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "RequestEntityTooLarge";
    case 415: return "UnsupportedMediaType";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 503: return "ServiceUnavailable";
    case 504: return "Timeout";
    default: return "";
  }
}

}  // namespace

absl::StatusCode CodeForReason(std::string_view reason, int http_code) {
  using C = absl::StatusCode;
  if (reason == "NotFound") return C::kNotFound;
  if (reason == "AlreadyExists") return C::kAlreadyExists;
  if (reason == "Conflict") return C::kAborted;
  if (reason == "Gone" || reason == "Expired") return C::kOutOfRange;
  if (reason == "Invalid" || reason == "BadRequest" || reason == "NotAcceptable" ||
      reason == "UnsupportedMediaType") {
    return C::kInvalidArgument;
  }
  if (reason == "Forbidden") return C::kPermissionDenied;
  if (reason == "Unauthorized") return C::kUnauthenticated;
  if (reason == "TooManyRequests" || reason == "RequestEntityTooLarge") return C::kResourceExhausted;
  if (reason == "MethodNotAllowed") return C::kUnimplemented;
  if (reason == "Timeout" || reason == "ServerTimeout") return C::kDeadlineExceeded;
  if (reason == "ServiceUnavailable") return C::kUnavailable;
  if (reason == "InternalError") return C::kInternal;
  if (http_code >= 500) return C::kUnavailable;
  if (http_code >= 400) return C::kFailedPrecondition;
  return C::kUnknown;
}

absl::Status StatusFromResponse(int http_code, std::string_view body) {
  if (http_code >= 200 && http_code < 300) return absl::OkStatus();
  std::string reason, message;
  int code = http_code;
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("kind") && j["kind"] == "Status") {
    auto str = [&](const char* k) {
      auto it = j.find(k);
      return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    reason = str("reason");
    message = str("message");
    if (auto it = j.find("code"); it != j.end() && it->is_number_integer()) code = it->get<int>();
  } else {
    message = std::string(body.substr(0, 500));
  }
  if (reason.empty()) reason = ReasonForHttp(code);
  if (message.empty()) message = fmt::format("HTTP {}", code);
  absl::Status s(CodeForReason(reason, code),
                 reason.empty() ? message : fmt::format("{}: {}", reason, message));
  s.SetPayload(kReasonUrl, absl::Cord(reason));
  s.SetPayload(kCodeUrl, absl::Cord(std::to_string(code)));
  return s;
}

absl::Status ApiError(std::string_view reason, int http_code, std::string_view message) {
  absl::Status s(CodeForReason(reason, http_code), ToAbsl(message));
  s.SetPayload(kReasonUrl, absl::Cord(ToAbsl(reason)));
  s.SetPayload(kCodeUrl, absl::Cord(std::to_string(http_code)));
  return s;
}

int HttpCodeFor(const absl::Status& status) {
  if (int code = ApiCode(status); code != 0) return code;
  switch (status.code()) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kInvalidArgument: return 400;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists: return 409;
    case absl::StatusCode::kAborted: return 409;
    case absl::StatusCode::kOutOfRange: return 410;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kFailedPrecondition: return 422;
    case absl::StatusCode::kUnimplemented: return 405;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    case absl::StatusCode::kUnavailable: return 503;
    default: return 500;
  }
}

nlohmann::json StatusObject(const absl::Status& status) {
  int code = HttpCodeFor(status);
  std::string reason = ApiReason(status);
  if (reason.empty()) reason = ReasonForHttp(code);
  if (reason == "Gone" && status.code() == absl::StatusCode::kOutOfRange) reason = "Expired";
  return {{"kind", "Status"},
          {"apiVersion", "v1"},
          {"metadata", nlohmann::json::object()},
          {"status", "Failure"},
          {"message", std::string(ToStd(status.message()))},
          {"reason", reason},
          {"code", code}};
}

std::string ApiReason(const absl::Status& status) {
  auto p = status.GetPayload(kReasonUrl);
  return p.has_value() ? std::string(*p) : std::string();
}

int ApiCode(const absl::Status& status) {
  auto p = status.GetPayload(kCodeUrl);
  return p.has_value() ? std::atoi(std::string(*p).c_str()) : 0;
}

}  // namespace kobs::k8s
