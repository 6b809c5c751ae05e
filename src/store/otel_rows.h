// Row types of the OTel exporter tables and their RowBinary encoding, shared by every
// writer of those tables (OTLP ingest, collectors, benchmarks). Plain data; not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kobs::store {

using Attributes = std::vector<std::pair<std::string, std::string>>;

// One otel_logs row. Attribute maps are written in the order given: sort them by key first
// (equal sets must encode equally, or cityHash64(map) grouping breaks).
struct LogRow {
  int64_t timestamp_ns = 0;
  std::string trace_id;  // hex
  std::string span_id;   // hex
  uint8_t trace_flags = 0;
  std::string severity_text;
  uint8_t severity_number = 0;
  std::string service_name;
  std::string body;
  std::string resource_schema_url;
  Attributes resource_attributes;
  std::string scope_schema_url;
  std::string scope_name;
  std::string scope_version;
  Attributes scope_attributes;
  Attributes log_attributes;
  std::string event_name;
};

// The otel_logs columns LogRow encodes, in encoding order. Valid for both the current and
// the legacy layout (TimestampTime has a DEFAULT there).
const std::vector<std::string>& LogColumns();

// Appends `row` in RowBinary for LogColumns().
void EncodeLogRow(const LogRow& row, std::string* out);

}  // namespace kobs::store
