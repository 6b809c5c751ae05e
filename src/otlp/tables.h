// What OTLP decoding produces: RowBinary rows per OTel exporter table, ready for
// store::Writer. One Decoded per request; plain data, not thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kobs::otlp {

enum class Table {
  kLogs,
  kTraces,
  kMetricsGauge,
  kMetricsSum,
  kMetricsHistogram,
  kMetricsExponentialHistogram,
  kMetricsSummary,
};
inline constexpr int kTableCount = 7;

// "otel_logs", "otel_traces", "otel_metrics_gauge", ...
std::string_view TableName(Table table);
// The columns the RowBinary rows of `table` carry, in order.
const std::vector<std::string>& TableColumns(Table table);

struct EncodedRows {
  std::string data;   // RowBinary
  uint64_t rows = 0;
};

struct Decoded {
  std::array<EncodedRows, kTableCount> tables;
  // Records dropped as invalid (OTLP partial_success), with the first reason.
  int64_t rejected = 0;
  std::string rejected_reason;

  EncodedRows& at(Table t) { return tables[static_cast<int>(t)]; }
  const EncodedRows& at(Table t) const { return tables[static_cast<int>(t)]; }
  uint64_t total_rows() const {
    uint64_t n = 0;
    for (const auto& t : tables) n += t.rows;
    return n;
  }
};

}  // namespace kobs::otlp
