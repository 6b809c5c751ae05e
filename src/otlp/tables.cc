#include "otlp/tables.h"

#include "otlp/metrics.h"
#include "otlp/traces.h"
#include "store/otel_rows.h"

namespace kobs::otlp {

std::string_view TableName(Table table) {
  switch (table) {
    case Table::kLogs: return "otel_logs";
    case Table::kTraces: return "otel_traces";
    case Table::kMetricsGauge: return "otel_metrics_gauge";
    case Table::kMetricsSum: return "otel_metrics_sum";
    case Table::kMetricsHistogram: return "otel_metrics_histogram";
    case Table::kMetricsExponentialHistogram: return "otel_metrics_exponential_histogram";
    case Table::kMetricsSummary: return "otel_metrics_summary";
  }
  return "";
}

const std::vector<std::string>& TableColumns(Table table) {
  switch (table) {
    case Table::kLogs: return store::LogColumns();
    case Table::kTraces: return TraceColumns();
    default: return MetricColumns(table);
  }
}

}  // namespace kobs::otlp
