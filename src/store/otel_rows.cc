#include "store/otel_rows.h"

#include "store/row_binary.h"

namespace kobs::store {

const std::vector<std::string>& LogColumns() {
  static const auto* columns = new std::vector<std::string>{
      "Timestamp",          "TraceId",         "SpanId",           "TraceFlags",
      "SeverityText",       "SeverityNumber",  "ServiceName",      "Body",
      "ResourceSchemaUrl",  "ResourceAttributes", "ScopeSchemaUrl", "ScopeName",
      "ScopeVersion",       "ScopeAttributes", "LogAttributes",    "EventName"};
  return *columns;
}

void EncodeLogRow(const LogRow& row, std::string* out) {
  RowBinaryWriter w(out);
  w.DateTime64Nanos(row.timestamp_ns);
  w.String(row.trace_id);
  w.String(row.span_id);
  w.UInt8(row.trace_flags);
  w.String(row.severity_text);
  w.UInt8(row.severity_number);
  w.String(row.service_name);
  w.String(row.body);
  w.String(row.resource_schema_url);
  w.StringMap(row.resource_attributes);
  w.String(row.scope_schema_url);
  w.String(row.scope_name);
  w.String(row.scope_version);
  w.StringMap(row.scope_attributes);
  w.StringMap(row.log_attributes);
  w.String(row.event_name);
}

}  // namespace kobs::store
