#include "otlp/grpc_receiver.h"

#include <grpcpp/grpcpp.h>

#include <fmt/format.h>

#include "common/absl_compat.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.grpc.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace kobs::otlp {
namespace {

namespace logs_v1 = ::opentelemetry::proto::collector::logs::v1;
namespace trace_v1 = ::opentelemetry::proto::collector::trace::v1;
namespace metrics_v1 = ::opentelemetry::proto::collector::metrics::v1;

grpc::Status ToGrpc(const absl::Status& s) {
  // absl and gRPC share the canonical code numbers.
  const auto code = static_cast<grpc::StatusCode>(s.code());
  std::string message(ToStd(s.message()));
  const int delay = RetryAfterSeconds(s.code());
  if (delay == 0) return grpc::Status(code, message);
  // Backpressure: a RetryInfo detail makes the sender retry (as HTTP's Retry-After does).
  google::rpc::RetryInfo retry;
  retry.mutable_retry_delay()->set_seconds(delay);
  google::rpc::Status details;
  details.set_code(static_cast<int>(code));
  details.set_message(message);
  details.add_details()->PackFrom(retry);
  return grpc::Status(code, message, details.SerializeAsString());
}

grpc::Status Authorize(const grpc::ServerContext& context, const std::string& token) {
  if (token.empty()) return grpc::Status::OK;
  auto it = context.client_metadata().find("authorization");
  std::string_view got;
  if (it != context.client_metadata().end()) got = std::string_view(it->second.data(), it->second.size());
  if (!net::BearerTokenMatches(got, token)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing or wrong bearer token");
  }
  return grpc::Status::OK;
}

template <typename Response, typename Request>
grpc::Status Export(Ingest& ingest, const std::string& token, grpc::ServerContext* context,
                    const Request* request, Response* response,
                    void (*partial)(Response*, const ExportResult&)) {
  if (grpc::Status s = Authorize(*context, token); !s.ok()) return s;
  auto result = ingest.Export(*request);
  if (!result.ok()) return ToGrpc(result.status());
  if (result->rejected > 0) partial(response, *result);
  return grpc::Status::OK;
}

class LogsService final : public logs_v1::LogsService::Service {
 public:
  LogsService(Ingest& ingest, std::string token) : ingest_(ingest), token_(std::move(token)) {}
  grpc::Status Export(grpc::ServerContext* c, const logs_v1::ExportLogsServiceRequest* rq,
                      logs_v1::ExportLogsServiceResponse* rs) override {
    return otlp::Export(ingest_, token_, c, rq, rs, +[](logs_v1::ExportLogsServiceResponse* r,
                                                       const ExportResult& e) {
      r->mutable_partial_success()->set_rejected_log_records(e.rejected);
      r->mutable_partial_success()->set_error_message(e.message);
    });
  }

 private:
  Ingest& ingest_;
  const std::string token_;
};

class TraceService final : public trace_v1::TraceService::Service {
 public:
  TraceService(Ingest& ingest, std::string token) : ingest_(ingest), token_(std::move(token)) {}
  grpc::Status Export(grpc::ServerContext* c, const trace_v1::ExportTraceServiceRequest* rq,
                      trace_v1::ExportTraceServiceResponse* rs) override {
    return otlp::Export(ingest_, token_, c, rq, rs, +[](trace_v1::ExportTraceServiceResponse* r,
                                                       const ExportResult& e) {
      r->mutable_partial_success()->set_rejected_spans(e.rejected);
      r->mutable_partial_success()->set_error_message(e.message);
    });
  }

 private:
  Ingest& ingest_;
  const std::string token_;
};

class MetricsService final : public metrics_v1::MetricsService::Service {
 public:
  MetricsService(Ingest& ingest, std::string token) : ingest_(ingest), token_(std::move(token)) {}
  grpc::Status Export(grpc::ServerContext* c, const metrics_v1::ExportMetricsServiceRequest* rq,
                      metrics_v1::ExportMetricsServiceResponse* rs) override {
    return otlp::Export(ingest_, token_, c, rq, rs, +[](metrics_v1::ExportMetricsServiceResponse* r,
                                                       const ExportResult& e) {
      r->mutable_partial_success()->set_rejected_data_points(e.rejected);
      r->mutable_partial_success()->set_error_message(e.message);
    });
  }

 private:
  Ingest& ingest_;
  const std::string token_;
};

class Receiver final : public GrpcReceiver {
 public:
  Receiver(Ingest& ingest, const std::string& token)
      : logs_(ingest, token), traces_(ingest, token), metrics_(ingest, token) {}
  ~Receiver() override { Stop(std::chrono::milliseconds(0)); }

  absl::Status Start(const ReceiverOptions& options) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(options.grpc_listen, grpc::InsecureServerCredentials(), &port_);
    builder.SetMaxReceiveMessageSize(static_cast<int>(
        std::min<uint64_t>(options.max_request_bytes, std::numeric_limits<int>::max())));
    builder.RegisterService(&logs_);
    builder.RegisterService(&traces_);
    builder.RegisterService(&metrics_);
    server_ = builder.BuildAndStart();
    if (server_ == nullptr || port_ == 0) {
      return absl::UnavailableError(
          fmt::format("cannot listen for OTLP/gRPC on {}", options.grpc_listen));
    }
    return absl::OkStatus();
  }

  void Stop(std::chrono::milliseconds grace) override {
    if (server_ == nullptr) return;
    server_->Shutdown(std::chrono::system_clock::now() + grace);
    server_->Wait();
    server_.reset();
  }
  int port() const override { return port_; }

 private:
  LogsService logs_;
  TraceService traces_;
  MetricsService metrics_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcReceiver>> GrpcReceiver::Start(Ingest& ingest,
                                                                  const ReceiverOptions& options) {
  auto r = std::make_unique<Receiver>(ingest, options.bearer_token);
  if (absl::Status s = r->Start(options); !s.ok()) return s;
  return std::unique_ptr<GrpcReceiver>(std::move(r));
}

}  // namespace kobs::otlp
