// Where the collectors' rows go. In `kobs serve` (single-node mode) StoreExporter writes them
// into the store through the writer (metrics through the OTLP ingest's decoding, so that both
// paths store a point identically). In `kobs agent` on each node OtlpExporter ships them to
// the server over OTLP/HTTP (protobuf): every batch is first appended to a bounded on-disk
// buffer (store::Spool), then sent in order by a sender thread that retries with backoff
// (honouring Retry-After) while the server is away, so that neither a server restart nor an
// agent restart loses what was accepted here. A full buffer refuses logs (the tailer keeps its
// offsets and retries: lines wait in their files) and drops metric samples (counted). A batch
// the server refuses as malformed (4xx other than 401/403/408/429) cannot succeed by retrying:
// it is set aside in <buffer_dir>/rejected/ and counted.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/otel_rows.h"

namespace opentelemetry::proto::collector::metrics::v1 {
class ExportMetricsServiceRequest;
}
namespace opentelemetry::proto::collector::logs::v1 {
class ExportLogsServiceRequest;
}

namespace kobs {
class Counter;
class Gauge;
class MetricsRegistry;
}  // namespace kobs

namespace kobs::net {
class CurlPool;
}

namespace kobs::otlp {
class Ingest;
}

namespace kobs::store {
struct SpoolEntry;
class Spool;
class Writer;
}  // namespace kobs::store

namespace kobs::collect {

using MetricsRequest = opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;

class Exporter {
 public:
  virtual ~Exporter() = default;
  // OK once the rows are durable (in the store, or in the agent's buffer). An error leaves
  // them with the caller, to offer again.
  virtual absl::Status ExportLogs(std::vector<store::LogRow>& rows) = 0;
  virtual absl::Status ExportMetrics(MetricsRequest& request) = 0;
};

// LogRows as an OTLP request: consecutive rows with the same resource share a ResourceLogs.
// The ingest decodes it back to the same rows (service.name is carried as a resource
// attribute, as the exporter stores it).
void LogRowsToRequest(const std::vector<store::LogRow>& rows,
                      opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest* out);

class StoreExporter : public Exporter {
 public:
  StoreExporter(store::Writer& writer, MetricsRegistry& metrics);
  ~StoreExporter() override;
  absl::Status ExportLogs(std::vector<store::LogRow>& rows) override;
  absl::Status ExportMetrics(MetricsRequest& request) override;

 private:
  store::Writer& writer_;
  std::unique_ptr<otlp::Ingest> ingest_;
};

struct OtlpExporterOptions {
  std::string endpoint = "http://127.0.0.1:4318";  // the server's OTLP/HTTP base URL
  std::string bearer_token;                       // sent as Authorization when set
  std::string buffer_dir = "./kobs-agent-buffer";
  uint64_t buffer_max_bytes = 256ull << 20;
  std::chrono::milliseconds timeout{10000};
  std::chrono::milliseconds min_backoff{500};
  std::chrono::milliseconds max_backoff{30000};
  uint64_t max_request_bytes = 1ull << 20;  // buffered batches are merged up to this size
  std::string ca_file;                      // for an https endpoint with a private CA
};

class OtlpExporter : public Exporter {
 public:
  static absl::StatusOr<std::unique_ptr<OtlpExporter>> Create(OtlpExporterOptions options,
                                                               MetricsRegistry& metrics);
  ~OtlpExporter() override;

  absl::Status ExportLogs(std::vector<store::LogRow>& rows) override;
  absl::Status ExportMetrics(MetricsRequest& request) override;

  // Starts the sender thread.
  void Start();
  // Stops sending; what is buffered stays on disk for the next start. With a positive
  // `drain`, first waits up to that long for the buffer to empty.
  void Stop(std::chrono::milliseconds drain = std::chrono::milliseconds(0));

  uint64_t buffered_bytes() const;
  uint64_t sent_batches() const { return sent_.load(); }
  // The server answered the last attempt (2xx or a refusal it explained).
  bool connected() const { return connected_.load(); }

 private:
  OtlpExporter(OtlpExporterOptions options, std::unique_ptr<store::Spool> spool,
               MetricsRegistry& metrics);
  absl::Status Buffer(const std::string& signal, uint64_t items, std::string data);
  void Run(std::stop_token stop);
  // Writes a refused batch to <buffer_dir>/rejected/; returns where.
  std::string Quarantine(const store::SpoolEntry& batch);
  // One POST; returns the HTTP status (0 on a transport error) and sets `retry_after`.
  int Post(const std::string& signal, const std::string& body, std::string* error,
           std::chrono::seconds* retry_after);

  const OtlpExporterOptions options_;
  std::unique_ptr<store::Spool> spool_;
  std::unique_ptr<net::CurlPool> curl_;  // the sender thread's connection
  std::atomic<uint64_t> sent_{0};
  std::atomic<bool> connected_{false};
  Counter& sent_items_;
  Counter& failures_;
  Counter& rejected_;
  Counter& dropped_metrics_;
  std::jthread thread_;
};

}  // namespace kobs::collect
