#include "collect/metric_builder.h"

#include "otlp/attributes.h"

namespace kobs::collect {

namespace pb = opentelemetry::proto;


MetricBuilder::MetricBuilder(MetricsRequest* request, std::string scope, int64_t now_ns)
    : request_(request), scope_(std::move(scope)), now_ns_(now_ns) {}

void MetricBuilder::Resource(const Labels& attributes) {
  pb::metrics::v1::ResourceMetrics* rm = request_->add_resource_metrics();
  otlp::FromAttributes(attributes, rm->mutable_resource()->mutable_attributes());
  current_ = rm->add_scope_metrics();
  current_->mutable_scope()->set_name(scope_);
}

pb::metrics::v1::Metric* MetricBuilder::Add(std::string_view name, std::string_view unit) {
  if (current_ == nullptr) Resource({});
  pb::metrics::v1::Metric* m = current_->add_metrics();
  m->set_name(std::string(name));
  m->set_unit(std::string(unit));
  ++points_;
  return m;
}

void MetricBuilder::Gauge(std::string_view name, std::string_view unit, double value,
                          const Labels& attributes) {
  pb::metrics::v1::NumberDataPoint* p = Add(name, unit)->mutable_gauge()->add_data_points();
  p->set_time_unix_nano(static_cast<uint64_t>(now_ns_));
  p->set_as_double(value);
  otlp::FromAttributes(attributes, p->mutable_attributes());
}

void MetricBuilder::Sum(std::string_view name, std::string_view unit, double value,
                        int64_t start_ns, const Labels& attributes, bool monotonic) {
  pb::metrics::v1::Sum* sum = Add(name, unit)->mutable_sum();
  sum->set_is_monotonic(monotonic);
  sum->set_aggregation_temporality(pb::metrics::v1::AGGREGATION_TEMPORALITY_CUMULATIVE);
  pb::metrics::v1::NumberDataPoint* p = sum->add_data_points();
  p->set_start_time_unix_nano(static_cast<uint64_t>(start_ns > 0 ? start_ns : now_ns_));
  p->set_time_unix_nano(static_cast<uint64_t>(now_ns_));
  p->set_as_double(value);
  otlp::FromAttributes(attributes, p->mutable_attributes());
}

}  // namespace kobs::collect
