// OTLP/gRPC (https://opentelemetry.io/docs/specs/otlp/#otlpgrpc): the logs, trace and metrics
// Export services on one gRPC server. gzip message compression (grpc-encoding) and a message
// size limit; backpressure as RESOURCE_EXHAUSTED / UNAVAILABLE, which OTLP senders retry.
// Thread-safe; borrows the Ingest, which must outlive Stop().
#pragma once

#include <chrono>
#include <memory>

#include "absl/status/statusor.h"
#include "otlp/http_receiver.h"
#include "otlp/ingest.h"

namespace kobs::otlp {

class GrpcReceiver {
 public:
  // Starts serving on options.grpc_listen ("host:port"; port 0 picks one).
  static absl::StatusOr<std::unique_ptr<GrpcReceiver>> Start(Ingest& ingest,
                                                             const ReceiverOptions& options);
  virtual ~GrpcReceiver() = default;

  // Stops accepting, lets running calls finish up to `grace`, then cancels them.
  virtual void Stop(std::chrono::milliseconds grace) = 0;
  virtual int port() const = 0;
};

}  // namespace kobs::otlp
