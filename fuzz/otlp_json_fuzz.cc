// Fuzzes OTLP/JSON ingest: a body parsed by ParseOtlpJson into each Export*ServiceRequest and
// decoded into rows (POST /v1/* with application/json). The first byte picks the signal.
#include <cstdint>
#include <string_view>

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "otlp/json.h"
#include "otlp/logs.h"
#include "otlp/metrics.h"
#include "otlp/traces.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  namespace collector = ::opentelemetry::proto::collector;
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  kobs::otlp::Decoded out;
  switch (data[0] % 3) {
    case 0: {
      collector::logs::v1::ExportLogsServiceRequest r;
      if (kobs::otlp::ParseOtlpJson(body, &r).ok()) kobs::otlp::DecodeLogs(r, &out);
      break;
    }
    case 1: {
      collector::trace::v1::ExportTraceServiceRequest r;
      if (kobs::otlp::ParseOtlpJson(body, &r).ok()) kobs::otlp::DecodeTraces(r, &out);
      break;
    }
    default: {
      collector::metrics::v1::ExportMetricsServiceRequest r;
      if (kobs::otlp::ParseOtlpJson(body, &r).ok()) kobs::otlp::DecodeMetrics(r, &out);
      break;
    }
  }
  return 0;
}
