#include "otlp/http_receiver.h"

#include <absl/strings/ascii.h>
#include <absl/strings/match.h>
#include <fmt/format.h>
#include <google/protobuf/arena.h>
#include <yaml-cpp/yaml.h>

#include "common/absl_compat.h"
#include "common/config_util.h"
#include "common/status_macros.h"
#include "google/rpc/status.pb.h"
#include "otlp/json.h"

namespace kobs::otlp {
namespace {

namespace logs_v1 = ::opentelemetry::proto::collector::logs::v1;
namespace trace_v1 = ::opentelemetry::proto::collector::trace::v1;
namespace metrics_v1 = ::opentelemetry::proto::collector::metrics::v1;

enum class Encoding { kProtobuf, kJson, kUnknown };

Encoding EncodingOf(const net::Headers& headers) {
  std::string type(headers.Get("content-type").value_or(""));
  type = absl::AsciiStrToLower(type.substr(0, type.find(';')));
  absl::StripAsciiWhitespace(&type);
  if (type == "application/x-protobuf" || type == "application/protobuf") {
    return Encoding::kProtobuf;
  }
  if (type == "application/json") return Encoding::kJson;
  return Encoding::kUnknown;
}

Encoding EncodingOf(const net::Request& request) { return EncodingOf(request.headers); }

absl::Status StatusForHttp(int status, std::string_view message) {
  std::string m(message);
  switch (status) {
    case 413: return absl::ResourceExhaustedError(m);
    case 415:
    case 400: return absl::InvalidArgumentError(m);
    default: return absl::UnknownError(m);
  }
}

int HttpStatusFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

void SendStatus(net::ResponseWriter& w, int http_status, const absl::Status& status,
                Encoding encoding) {
  google::rpc::Status body;
  body.set_code(static_cast<int>(status.code()));
  body.set_message(std::string(ToStd(status.message())));
  if (int retry = RetryAfterSeconds(status.code()); retry > 0) {
    // Senders back off on their own too; this is the floor (OTLP spec: honour Retry-After).
    w.SetHeader("Retry-After", std::to_string(retry));
  }
  if (encoding == Encoding::kJson) {
    net::Reply(w, http_status, "application/json", PrintOtlpJson(body));
  } else {
    net::Reply(w, http_status, "application/x-protobuf", body.SerializeAsString());
  }
}

template <typename Request, typename Response>
void Serve(Ingest& ingest, const net::Request& http, net::ResponseWriter& w, Encoding encoding,
           const std::function<void(Response&, const ExportResult&)>& partial) {
  google::protobuf::Arena arena;
  auto* request = google::protobuf::Arena::CreateMessage<Request>(&arena);
  if (encoding == Encoding::kProtobuf) {
    if (!request->ParseFromString(http.body)) {
      SendStatus(w, 400, absl::InvalidArgumentError("malformed protobuf body"), encoding);
      return;
    }
  } else {
    absl::Status s = ParseOtlpJson(http.body, request);
    if (!s.ok()) {
      SendStatus(w, 400, s, encoding);
      return;
    }
  }
  auto result = ingest.Export(*request);
  if (!result.ok()) {
    SendStatus(w, HttpStatusFor(result.status()), result.status(), encoding);
    return;
  }
  Response response;
  if (result->rejected > 0) partial(response, *result);
  if (encoding == Encoding::kJson) {
    net::Reply(w, 200, "application/json", PrintOtlpJson(response));
  } else {
    net::Reply(w, 200, "application/x-protobuf", response.SerializeAsString());
  }
}

}  // namespace

void OtlpErrorBody(int status, std::string_view message, const net::Headers& request_headers,
                   std::string* content_type, std::string* body) {
  google::rpc::Status s;
  absl::Status st = StatusForHttp(status, message);
  s.set_code(static_cast<int>(st.code()));
  s.set_message(std::string(message));
  if (EncodingOf(request_headers) == Encoding::kJson) {
    *content_type = "application/json";
    *body = PrintOtlpJson(s);
  } else {
    *content_type = "application/x-protobuf";
    *body = s.SerializeAsString();
  }
}

absl::StatusOr<ReceiverOptions> ParseReceiverOptions(const YAML::Node& node) {
  ReceiverOptions o;
  KOBS_RETURN_IF_ERROR(CheckKeys(
      node, {"http_listen", "grpc_listen", "max_request_size", "bearer_token", "http_workers"},
      "otlp"));
  KOBS_RETURN_IF_ERROR(ReadString(node, "http_listen", &o.http_listen));
  KOBS_RETURN_IF_ERROR(ReadString(node, "grpc_listen", &o.grpc_listen));
  KOBS_RETURN_IF_ERROR(ReadBytes(node, "max_request_size", &o.max_request_bytes));
  KOBS_RETURN_IF_ERROR(ReadString(node, "bearer_token", &o.bearer_token));
  int64_t workers = o.http_workers;
  KOBS_RETURN_IF_ERROR(ReadInt(node, "http_workers", &workers));
  if (workers < 1 || workers > 1024) {
    return absl::InvalidArgumentError(
        fmt::format("otlp.http_workers must be 1..1024, not {}", workers));
  }
  o.http_workers = static_cast<int>(workers);
  if (o.max_request_bytes < 1024) {
    return absl::InvalidArgumentError("otlp.max_request_size must be at least 1KiB");
  }
  return o;
}

void HttpReceiver::Register(net::HttpServer& server) {
  for (Signal signal : {Signal::kLogs, Signal::kTraces, Signal::kMetrics}) {
    server.Route(fmt::format("/v1/{}", SignalName(signal)),
                 [this, signal](const net::Request& rq, net::ResponseWriter& rs) {
                   Handle(signal, rq, rs);
                 });
  }
}

void HttpReceiver::Handle(Signal signal, const net::Request& request,
                          net::ResponseWriter& response) {
  Encoding encoding = EncodingOf(request);
  if (request.method != "POST") {
    response.SetHeader("Allow", "POST");
    SendStatus(response, 405,
               absl::InvalidArgumentError(fmt::format("{} wants POST", request.path)),
               encoding == Encoding::kJson ? encoding : Encoding::kProtobuf);
    return;
  }
  if (!net::BearerTokenMatches(request.headers.Get("authorization").value_or(""),
                          options_.bearer_token)) {
    response.SetHeader("WWW-Authenticate", "Bearer");
    SendStatus(response, 401, absl::UnauthenticatedError("missing or wrong bearer token"),
               encoding == Encoding::kJson ? encoding : Encoding::kProtobuf);
    return;
  }
  if (encoding == Encoding::kUnknown) {
    SendStatus(response, 415,
               absl::InvalidArgumentError(fmt::format(
                   "unsupported Content-Type '{}': use application/x-protobuf or application/json",
                   request.headers.Get("content-type").value_or(""))),
               Encoding::kProtobuf);
    return;
  }
  switch (signal) {
    case Signal::kLogs:
      Serve<logs_v1::ExportLogsServiceRequest, logs_v1::ExportLogsServiceResponse>(
          ingest_, request, response, encoding, [](auto& r, const ExportResult& e) {
            r.mutable_partial_success()->set_rejected_log_records(e.rejected);
            r.mutable_partial_success()->set_error_message(e.message);
          });
      break;
    case Signal::kTraces:
      Serve<trace_v1::ExportTraceServiceRequest, trace_v1::ExportTraceServiceResponse>(
          ingest_, request, response, encoding, [](auto& r, const ExportResult& e) {
            r.mutable_partial_success()->set_rejected_spans(e.rejected);
            r.mutable_partial_success()->set_error_message(e.message);
          });
      break;
    case Signal::kMetrics:
      Serve<metrics_v1::ExportMetricsServiceRequest, metrics_v1::ExportMetricsServiceResponse>(
          ingest_, request, response, encoding, [](auto& r, const ExportResult& e) {
            r.mutable_partial_success()->set_rejected_data_points(e.rejected);
            r.mutable_partial_success()->set_error_message(e.message);
          });
      break;
  }
}

}  // namespace kobs::otlp
