#include "otlp/ingest.h"

#include "common/metrics.h"
#include "otlp/logs.h"
#include "otlp/metrics.h"
#include "otlp/traces.h"

namespace kobs::otlp {

std::string_view SignalName(Signal signal) {
  switch (signal) {
    case Signal::kLogs: return "logs";
    case Signal::kTraces: return "traces";
    case Signal::kMetrics: return "metrics";
  }
  return "";
}

std::vector<store::TableRows> ToTableRows(Decoded& rows, const std::string& database) {
  std::vector<store::TableRows> parts;
  for (int i = 0; i < kTableCount; ++i) {
    EncodedRows& t = rows.tables[i];
    if (t.rows == 0) continue;
    const Table table = static_cast<Table>(i);
    parts.push_back(store::TableRows{
        .table = database.empty() ? std::string(TableName(table))
                                  : database + "." + std::string(TableName(table)),
        .columns = &TableColumns(table),
        .data = std::move(t.data),
        .rows = t.rows});
    t.rows = 0;
  }
  return parts;
}

Ingest::Ingest(RowSink sink, MetricsRegistry& metrics) : sink_(std::move(sink)), metrics_(metrics) {}

absl::StatusOr<ExportResult> Ingest::Export(
    const opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest& request) {
  Decoded rows;
  DecodeLogs(request, &rows);
  return Store(Signal::kLogs, rows);
}

absl::StatusOr<ExportResult> Ingest::Export(
    const opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest& request) {
  Decoded rows;
  DecodeTraces(request, &rows);
  return Store(Signal::kTraces, rows);
}

absl::StatusOr<ExportResult> Ingest::Export(
    const opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest& request) {
  Decoded rows;
  DecodeMetrics(request, &rows);
  return Store(Signal::kMetrics, rows);
}

int RetryAfterSeconds(absl::StatusCode code) {
  // Memory full clears as soon as a batch is written; a store outage takes longer.
  switch (code) {
    case absl::StatusCode::kResourceExhausted: return 1;
    case absl::StatusCode::kUnavailable: return 5;
    default: return 0;
  }
}

absl::StatusOr<ExportResult> Ingest::Store(Signal signal, Decoded& rows) {
  const std::string name(SignalName(signal));
  const uint64_t n = rows.total_rows();
  if (n > 0) {
    absl::Status s = sink_(rows);
    if (!s.ok()) {
      metrics_
          .GetCounter("kobs_otlp_refused_records_total",
                      "Records not accepted because the store could not take them.",
                      {{"signal", name}, {"reason", absl::StatusCodeToString(s.code())}})
          .Inc(static_cast<double>(n));
      return s;
    }
  }
  metrics_.GetCounter("kobs_otlp_accepted_rows_total", "Rows stored from OTLP exports.",
                      {{"signal", name}})
      .Inc(static_cast<double>(n));
  if (rows.rejected > 0) {
    metrics_
        .GetCounter("kobs_otlp_rejected_records_total",
                    "Records dropped as invalid (reported as partial_success).",
                    {{"signal", name}})
        .Inc(static_cast<double>(rows.rejected));
  }
  return ExportResult{rows.rejected, rows.rejected_reason};
}

}  // namespace kobs::otlp
