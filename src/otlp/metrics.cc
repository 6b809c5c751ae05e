#include "otlp/metrics.h"

#include <fmt/format.h>

#include "otlp/attributes.h"
#include "store/row_binary.h"

namespace kobs::otlp {
namespace {

namespace m1 = ::opentelemetry::proto::metrics::v1;

std::vector<std::string> With(std::vector<std::string> specific) {
  std::vector<std::string> c = {"ResourceAttributes", "ResourceSchemaUrl", "ScopeName",
                                "ScopeVersion", "ScopeAttributes", "ScopeDroppedAttrCount",
                                "ScopeSchemaUrl", "ServiceName", "MetricName",
                                "MetricDescription", "MetricUnit", "Attributes", "StartTimeUnix",
                                "TimeUnix"};
  c.insert(c.end(), specific.begin(), specific.end());
  for (const char* e : {"Exemplars.FilteredAttributes", "Exemplars.TimeUnix", "Exemplars.Value",
                        "Exemplars.SpanId", "Exemplars.TraceId"}) {
    c.emplace_back(e);
  }
  return c;
}

void Reject(Decoded* out, std::string reason, int64_t n = 1) {
  if (out->rejected == 0) out->rejected_reason = std::move(reason);
  out->rejected += n;
}

double Value(const m1::NumberDataPoint& p) {
  return p.value_case() == m1::NumberDataPoint::kAsInt ? static_cast<double>(p.as_int())
                                                       : p.as_double();
}

double Value(const m1::Exemplar& e) {
  return e.value_case() == m1::Exemplar::kAsInt ? static_cast<double>(e.as_int()) : e.as_double();
}

void Exemplars(const google::protobuf::RepeatedPtrField<m1::Exemplar>& ex, std::string* d) {
  store::RowBinaryWriter w(d);
  w.ArraySize(ex.size());
  for (const auto& e : ex) EncodeAttributeMap(e.filtered_attributes(), d);
  w.ArraySize(ex.size());
  for (const auto& e : ex) w.DateTime64Nanos(static_cast<int64_t>(e.time_unix_nano()));
  w.ArraySize(ex.size());
  for (const auto& e : ex) w.Float64(Value(e));
  w.ArraySize(ex.size());
  for (const auto& e : ex) EncodeHexId(e.span_id(), d);
  w.ArraySize(ex.size());
  for (const auto& e : ex) EncodeHexId(e.trace_id(), d);
}

// Starts a row: the metric's shared prefix, then the point's attributes and times.
template <typename Point>
store::RowBinaryWriter Begin(EncodedRows& rows, const std::string& prefix, const Point& p) {
  rows.data.append(prefix);
  EncodeAttributeMap(p.attributes(), &rows.data);
  store::RowBinaryWriter w(&rows.data);
  w.DateTime64Nanos(static_cast<int64_t>(p.start_time_unix_nano()));
  w.DateTime64Nanos(static_cast<int64_t>(p.time_unix_nano()));
  ++rows.rows;
  return w;
}

bool ValidExemplars(const google::protobuf::RepeatedPtrField<m1::Exemplar>& ex) {
  for (const auto& e : ex) {
    if ((!e.trace_id().empty() && e.trace_id().size() != 16) ||
        (!e.span_id().empty() && e.span_id().size() != 8)) {
      return false;
    }
  }
  return true;
}

}  // namespace

const std::vector<std::string>& MetricColumns(Table table) {
  static const auto* gauge = new std::vector<std::string>(With({"Value", "Flags"}));
  static const auto* sum = new std::vector<std::string>(
      With({"Value", "Flags", "AggregationTemporality", "IsMonotonic"}));
  static const auto* histogram = new std::vector<std::string>(
      With({"Count", "Sum", "BucketCounts", "ExplicitBounds", "Flags", "Min", "Max",
            "AggregationTemporality"}));
  static const auto* exponential = new std::vector<std::string>(
      With({"Count", "Sum", "Scale", "ZeroCount", "PositiveOffset", "PositiveBucketCounts",
            "NegativeOffset", "NegativeBucketCounts", "Flags", "Min", "Max",
            "AggregationTemporality"}));
  static const auto* summary = new std::vector<std::string>(
      With({"Count", "Sum", "ValueAtQuantiles.Quantile", "ValueAtQuantiles.Value", "Flags"}));
  switch (table) {
    case Table::kMetricsGauge: return *gauge;
    case Table::kMetricsSum: return *sum;
    case Table::kMetricsHistogram: return *histogram;
    case Table::kMetricsExponentialHistogram: return *exponential;
    case Table::kMetricsSummary: return *summary;
    default: break;
  }
  static const auto* none = new std::vector<std::string>();
  return *none;
}

void DecodeMetrics(
    const opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest& request,
    Decoded* out) {
  std::string resource_attributes, scope_attributes, prefix;
  for (const auto& rm : request.resource_metrics()) {
    resource_attributes.clear();
    EncodeAttributeMap(rm.resource().attributes(), &resource_attributes);
    const std::string_view service = FindStringAttribute(rm.resource().attributes(), "service.name");
    for (const auto& sm : rm.scope_metrics()) {
      scope_attributes.clear();
      EncodeAttributeMap(sm.scope().attributes(), &scope_attributes);
      for (const auto& m : sm.metrics()) {
        prefix.clear();
        store::RowBinaryWriter p(&prefix);
        prefix.append(resource_attributes);
        p.String(rm.schema_url());
        p.String(sm.scope().name());
        p.String(sm.scope().version());
        prefix.append(scope_attributes);
        p.UInt32(sm.scope().dropped_attributes_count());
        p.String(sm.schema_url());
        p.String(service);
        p.String(m.name());
        p.String(m.description());
        p.String(m.unit());
        switch (m.data_case()) {
          case m1::Metric::kGauge:
            for (const auto& dp : m.gauge().data_points()) {
              if (!ValidExemplars(dp.exemplars())) {
                Reject(out, fmt::format("metric '{}': malformed exemplar id", m.name()));
                continue;
              }
              EncodedRows& rows = out->at(Table::kMetricsGauge);
              auto w = Begin(rows, prefix, dp);
              w.Float64(Value(dp));
              w.UInt32(dp.flags());
              Exemplars(dp.exemplars(), &rows.data);
            }
            break;
          case m1::Metric::kSum:
            for (const auto& dp : m.sum().data_points()) {
              if (!ValidExemplars(dp.exemplars())) {
                Reject(out, fmt::format("metric '{}': malformed exemplar id", m.name()));
                continue;
              }
              EncodedRows& rows = out->at(Table::kMetricsSum);
              auto w = Begin(rows, prefix, dp);
              w.Float64(Value(dp));
              w.UInt32(dp.flags());
              w.Int32(m.sum().aggregation_temporality());
              w.Bool(m.sum().is_monotonic());
              Exemplars(dp.exemplars(), &rows.data);
            }
            break;
          case m1::Metric::kHistogram:
            for (const auto& dp : m.histogram().data_points()) {
              if (!ValidExemplars(dp.exemplars())) {
                Reject(out, fmt::format("metric '{}': malformed exemplar id", m.name()));
                continue;
              }
              EncodedRows& rows = out->at(Table::kMetricsHistogram);
              auto w = Begin(rows, prefix, dp);
              w.UInt64(dp.count());
              w.Float64(dp.sum());
              w.ArraySize(dp.bucket_counts_size());
              for (uint64_t c : dp.bucket_counts()) w.UInt64(c);
              w.ArraySize(dp.explicit_bounds_size());
              for (double b : dp.explicit_bounds()) w.Float64(b);
              w.UInt32(dp.flags());
              w.Float64(dp.min());
              w.Float64(dp.max());
              w.Int32(m.histogram().aggregation_temporality());
              Exemplars(dp.exemplars(), &rows.data);
            }
            break;
          case m1::Metric::kExponentialHistogram:
            for (const auto& dp : m.exponential_histogram().data_points()) {
              if (!ValidExemplars(dp.exemplars())) {
                Reject(out, fmt::format("metric '{}': malformed exemplar id", m.name()));
                continue;
              }
              EncodedRows& rows = out->at(Table::kMetricsExponentialHistogram);
              auto w = Begin(rows, prefix, dp);
              w.UInt64(dp.count());
              w.Float64(dp.sum());
              w.Int32(dp.scale());
              w.UInt64(dp.zero_count());
              w.Int32(dp.positive().offset());
              w.ArraySize(dp.positive().bucket_counts_size());
              for (uint64_t c : dp.positive().bucket_counts()) w.UInt64(c);
              w.Int32(dp.negative().offset());
              w.ArraySize(dp.negative().bucket_counts_size());
              for (uint64_t c : dp.negative().bucket_counts()) w.UInt64(c);
              w.UInt32(dp.flags());
              w.Float64(dp.min());
              w.Float64(dp.max());
              w.Int32(m.exponential_histogram().aggregation_temporality());
              Exemplars(dp.exemplars(), &rows.data);
            }
            break;
          case m1::Metric::kSummary:
            for (const auto& dp : m.summary().data_points()) {
              EncodedRows& rows = out->at(Table::kMetricsSummary);
              auto w = Begin(rows, prefix, dp);
              w.UInt64(dp.count());
              w.Float64(dp.sum());
              w.ArraySize(dp.quantile_values_size());
              for (const auto& q : dp.quantile_values()) w.Float64(q.quantile());
              w.ArraySize(dp.quantile_values_size());
              for (const auto& q : dp.quantile_values()) w.Float64(q.value());
              w.UInt32(dp.flags());
              Exemplars({}, &rows.data);  // summaries carry none
            }
            break;
          case m1::Metric::DATA_NOT_SET:
            Reject(out, fmt::format("metric '{}' has no data", m.name()));
            break;
        }
      }
    }
  }
}

}  // namespace kobs::otlp
