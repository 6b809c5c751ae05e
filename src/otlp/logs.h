// OTLP logs to otel_logs rows (RowBinary, columns store::LogColumns()), with the OTel
// ClickHouse exporter's mapping plus severity inference for records that carry none.
// Stateless, thread-safe.
#pragma once

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "otlp/tables.h"

namespace kobs::otlp {

// Appends one otel_logs row per valid record of `request` to out->at(Table::kLogs); invalid
// records (malformed trace or span ids) are counted in out->rejected.
void DecodeLogs(const opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest& request,
                Decoded* out);

}  // namespace kobs::otlp
