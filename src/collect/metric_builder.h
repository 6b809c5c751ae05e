// Builds OTLP metric requests point by point, for the collectors that read metrics from
// somewhere other than OTLP (the kubelet's /stats/summary, /proc, the API's nodes and
// deployments). Points are added to the resource started last; each point becomes one Metric
// (the exporter tables keep one row per point either way). Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"

namespace kobs::collect {

using MetricsRequest = opentelemetry::proto::collector::metrics::v1::ExportMetricsServiceRequest;
using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricBuilder {
 public:
  // Points are stamped `now_ns`; sums that carry no start of their own start at `start_ns`.
  MetricBuilder(MetricsRequest* request, std::string scope, int64_t now_ns);

  // Starts a resource with these attributes; the points that follow belong to it.
  void Resource(const Labels& attributes);

  void Gauge(std::string_view name, std::string_view unit, double value,
             const Labels& attributes = {});
  // A cumulative sum, monotonic unless told otherwise.
  void Sum(std::string_view name, std::string_view unit, double value, int64_t start_ns,
           const Labels& attributes = {}, bool monotonic = true);

  int64_t now_ns() const { return now_ns_; }
  size_t points() const { return points_; }

 private:
  opentelemetry::proto::metrics::v1::Metric* Add(std::string_view name, std::string_view unit);

  MetricsRequest* request_;
  const std::string scope_;
  const int64_t now_ns_;
  opentelemetry::proto::metrics::v1::ScopeMetrics* current_ = nullptr;
  size_t points_ = 0;
};

}  // namespace kobs::collect
