// OTLP metrics to the otel_metrics_{gauge,sum,histogram,exponential_histogram,summary} rows
// (RowBinary, columns MetricColumns(table)), one row per data point, with the OTel ClickHouse
// exporter's mapping: int values as Float64, exemplars as Nested arrays, absent min/max as 0.
// Stateless, thread-safe.
#pragma once

#include <string>
#include <vector>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "otlp/tables.h"

namespace kobs::otlp {

// Columns of a metric table (Table::kMetrics*).
const std::vector<std::string>& MetricColumns(Table table);

// Appends one row per data point to the table of its metric type; metrics without a data
// type are counted in out->rejected.
void DecodeMetrics(
    const opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest& request,
    Decoded* out);

}  // namespace kobs::otlp
