// OTLP traces to otel_traces rows (RowBinary, columns TraceColumns()), with the OTel
// ClickHouse exporter's mapping: SPAN_KIND_* and STATUS_CODE_* names, Duration in ns, events
// and links as Nested arrays. The trace-id lookup table is filled by its materialized view.
// Stateless, thread-safe.
#pragma once

#include <string>
#include <vector>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "otlp/tables.h"

namespace kobs::otlp {

const std::vector<std::string>& TraceColumns();

// Appends one otel_traces row per valid span to out->at(Table::kTraces); spans with malformed
// ids are counted in out->rejected.
void DecodeTraces(
    const opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest& request,
    Decoded* out);

// The exporter's names: "SPAN_KIND_SERVER", "STATUS_CODE_ERROR", ...
std::string_view SpanKindName(int kind);
std::string_view StatusCodeName(int code);

}  // namespace kobs::otlp
