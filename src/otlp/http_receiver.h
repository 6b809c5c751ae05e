// OTLP/HTTP (https://opentelemetry.io/docs/specs/otlp/#otlphttp): POST /v1/logs, /v1/traces,
// /v1/metrics with protobuf or JSON bodies (gzip and chunked bodies are undone by the HTTP
// server). Answers Export*ServiceResponse, or a google.rpc.Status in the request's encoding:
// 400 malformed, 401 bad token, 413 too large (server limit), 415 unknown content type,
// 429/503 with Retry-After under backpressure. Thread-safe; borrows the Ingest.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "net/http.h"
#include "net/http_server.h"
#include "otlp/ingest.h"

namespace YAML {
class Node;
}

namespace kobs::otlp {

struct ReceiverOptions {
  // OTLP/HTTP listen address (empty disables it).
  std::string http_listen = "127.0.0.1:4318";
  // OTLP/gRPC listen address (empty disables it).
  std::string grpc_listen = "127.0.0.1:4317";
  // Largest request accepted, after decompression (HTTP 413, gRPC RESOURCE_EXHAUSTED).
  uint64_t max_request_bytes = 64ull << 20;
  // When set, requests must carry `Authorization: Bearer <token>`.
  std::string bearer_token;
  // Concurrent OTLP/HTTP requests being decoded and stored (requests wait for durability, so
  // more concurrency means larger group commits).
  int http_workers = 32;
};

absl::StatusOr<ReceiverOptions> ParseReceiverOptions(const YAML::Node& node);

class HttpReceiver {
 public:
  HttpReceiver(Ingest& ingest, ReceiverOptions options) : ingest_(ingest), options_(std::move(options)) {}

  void Handle(Signal signal, const net::Request& request, net::ResponseWriter& response);
  // Routes /v1/logs, /v1/traces and /v1/metrics of `server` here. The server should be made
  // with OtlpErrorBody and max_body_bytes = max_request_bytes.
  void Register(net::HttpServer& server);

 private:
  Ingest& ingest_;
  const ReceiverOptions options_;
};

// net::HttpServerOptions::error_body for the OTLP server: errors the HTTP layer answers itself
// (413 too large, 415 bad Content-Encoding, 400 corrupt gzip) as a google.rpc.Status in the
// request's encoding.
void OtlpErrorBody(int status, std::string_view message, const net::Headers& request_headers,
                   std::string* content_type, std::string* body);


}  // namespace kobs::otlp
