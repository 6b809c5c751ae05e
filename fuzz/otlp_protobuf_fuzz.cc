// Fuzzes OTLP/protobuf ingest: bytes from the network parsed as each Export*ServiceRequest and
// decoded into exporter rows (the path of POST /v1/* with application/x-protobuf, and gRPC).
// The first byte picks the signal.
#include <cstdint>
#include <string_view>

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "otlp/logs.h"
#include "otlp/metrics.h"
#include "otlp/traces.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  namespace collector = ::opentelemetry::proto::collector;
  const char* body = reinterpret_cast<const char*>(data + 1);
  const int len = static_cast<int>(size - 1);
  kobs::otlp::Decoded out;
  switch (data[0] % 3) {
    case 0: {
      collector::logs::v1::ExportLogsServiceRequest r;
      if (r.ParseFromArray(body, len)) kobs::otlp::DecodeLogs(r, &out);
      break;
    }
    case 1: {
      collector::trace::v1::ExportTraceServiceRequest r;
      if (r.ParseFromArray(body, len)) kobs::otlp::DecodeTraces(r, &out);
      break;
    }
    default: {
      collector::metrics::v1::ExportMetricsServiceRequest r;
      if (r.ParseFromArray(body, len)) kobs::otlp::DecodeMetrics(r, &out);
      break;
    }
  }
  for (const auto& t : out.tables) {
    if (t.rows == 0 && !t.data.empty()) __builtin_trap();  // rows and bytes must agree
  }
  return 0;
}
