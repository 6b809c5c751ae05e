// The transport-independent core of OTLP ingest: decode an Export*ServiceRequest into rows
// and hand them to the sink (store::Writer in kobs serve), which returns once they are
// durable. Shared by the HTTP and gRPC receivers. Thread-safe if the sink is.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "otlp/tables.h"
#include "store/writer.h"

namespace kobs {
class MetricsRegistry;
class Counter;
}  // namespace kobs

namespace kobs::otlp {

enum class Signal { kLogs, kTraces, kMetrics };
std::string_view SignalName(Signal signal);  // "logs", "traces", "metrics"

// Stores decoded rows; OK only once they are durable. ResourceExhausted and Unavailable mean
// "retry later" (backpressure), InvalidArgument that the rows were refused.
using RowSink = std::function<absl::Status(Decoded& rows)>;

// What a successful export reports back (OTLP partial_success).
struct ExportResult {
  int64_t rejected = 0;
  std::string message;
};

// How long a sender refused with `code` should wait before retrying: 0 when it should not
// retry. Sent as Retry-After over HTTP and as google.rpc.RetryInfo over gRPC.
int RetryAfterSeconds(absl::StatusCode code);

// Moves the non-empty tables of `rows` into writer parts for tables in `database`.
std::vector<store::TableRows> ToTableRows(Decoded& rows, const std::string& database);

class Ingest {
 public:
  Ingest(RowSink sink, MetricsRegistry& metrics);

  absl::StatusOr<ExportResult> Export(
      const opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest& request);
  absl::StatusOr<ExportResult> Export(
      const opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest& request);
  absl::StatusOr<ExportResult> Export(
      const opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest& request);

 private:
  absl::StatusOr<ExportResult> Store(Signal signal, Decoded& rows);

  RowSink sink_;
  MetricsRegistry& metrics_;
};

}  // namespace kobs::otlp
