// Traces and metrics mapping, checked column by column after a real insert into the embedded
// store: the parts the SDK tests in tests/js cannot reach (trace state, summaries, exemplars,
// negative exponential buckets, integer points, flags).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "otlp/metrics.h"
#include "otlp/traces.h"
#include "store_fixture.h"

namespace kobs::otlp {
namespace {

namespace trace_v1 = ::opentelemetry::proto::collector::trace::v1;
namespace metrics_v1 = ::opentelemetry::proto::collector::metrics::v1;
namespace common_v1 = ::opentelemetry::proto::common::v1;
namespace m1 = ::opentelemetry::proto::metrics::v1;

const std::string kTrace("\x0a\xf7\x65\x19\x16\xcd\x43\xdd\x84\x48\xeb\x21\x1c\x80\x31\x9c", 16);
const std::string kSpan("\xb7\xad\x6b\x71\x69\x20\x33\x31", 8);
const std::string kParent("\x00\x00\x00\x00\x00\x00\x00\x01", 8);
constexpr uint64_t kT0 = 1764052272123456789;  // 2025-11-25 06:31:12.123456789 UTC

void Attr(google::protobuf::RepeatedPtrField<common_v1::KeyValue>* kvs, const std::string& k,
          const std::string& v) {
  auto* kv = kvs->Add();
  kv->set_key(k);
  kv->mutable_value()->set_string_value(v);
}

class SignalsTest : public StoreFixture {};

TEST_F(SignalsTest, SpansWithEventsLinksAndTraceState) {
  trace_v1::ExportTraceServiceRequest req;
  auto* rs = req.add_resource_spans();
  Attr(rs->mutable_resource()->mutable_attributes(), "service.name", "queue-worker");
  auto* ss = rs->add_scope_spans();
  ss->mutable_scope()->set_name("io.kobs.worker");
  ss->mutable_scope()->set_version("3");
  auto* s = ss->add_spans();
  s->set_trace_id(kTrace);
  s->set_span_id(kSpan);
  s->set_parent_span_id(kParent);
  s->set_trace_state("vendor=a:1");
  s->set_name("consume orders");
  s->set_kind(opentelemetry::proto::trace::v1::Span::SPAN_KIND_CONSUMER);
  s->set_start_time_unix_nano(kT0);
  s->set_end_time_unix_nano(kT0 + 1500);
  Attr(s->mutable_attributes(), "messaging.system", "kafka");
  s->mutable_status()->set_code(opentelemetry::proto::trace::v1::Status::STATUS_CODE_OK);
  s->mutable_status()->set_message("done");
  auto* e = s->add_events();
  e->set_time_unix_nano(kT0 + 10);
  e->set_name("exception");
  Attr(e->mutable_attributes(), "exception.type", "Timeout");
  auto* l = s->add_links();
  l->set_trace_id(kTrace);
  l->set_span_id(kParent);
  l->set_trace_state("vendor=b:2");
  Attr(l->mutable_attributes(), "link.kind", "batch");
  // A span whose end is before its start keeps Duration at 0 rather than wrapping around.
  auto* bad = ss->add_spans();
  bad->set_trace_id(kTrace);
  bad->set_span_id(std::string("\x00\x00\x00\x00\x00\x00\x00\x02", 8));
  bad->set_start_time_unix_nano(kT0 + 100);
  bad->set_end_time_unix_nano(kT0);
  Decoded d;
  DecodeTraces(req, &d);
  EXPECT_EQ(d.rejected, 0);
  Replace(d);
  EXPECT_EQ(Tsv("SELECT Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, "
                "ServiceName, ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, "
                "Duration, StatusCode, StatusMessage, Events.Timestamp, Events.Name, "
                "Events.Attributes, Links.TraceId, Links.SpanId, Links.TraceState, "
                "Links.Attributes FROM otlp.otel_traces ORDER BY Timestamp"),
            "2025-11-25 06:31:12.123456789\t0af7651916cd43dd8448eb211c80319c\tb7ad6b7169203331\t"
            "0000000000000001\tvendor=a:1\tconsume orders\tSPAN_KIND_CONSUMER\tqueue-worker\t"
            "{'service.name':'queue-worker'}\tio.kobs.worker\t3\t{'messaging.system':'kafka'}\t"
            "1500\tSTATUS_CODE_OK\tdone\t['2025-11-25 06:31:12.123456799']\t['exception']\t"
            "[{'exception.type':'Timeout'}]\t['0af7651916cd43dd8448eb211c80319c']\t"
            "['0000000000000001']\t['vendor=b:2']\t[{'link.kind':'batch'}]\n"
            "2025-11-25 06:31:12.123456889\t0af7651916cd43dd8448eb211c80319c\t0000000000000002\t"
            "\t\t\tSPAN_KIND_UNSPECIFIED\tqueue-worker\t{'service.name':'queue-worker'}\t"
            "io.kobs.worker\t3\t{}\t0\tSTATUS_CODE_UNSET\t\t[]\t[]\t[]\t[]\t[]\t[]\t[]\n");
  EXPECT_EQ(Tsv("SELECT TraceId, Start, End FROM otlp.otel_traces_trace_id_ts"),
            "0af7651916cd43dd8448eb211c80319c\t2025-11-25 06:31:12\t2025-11-25 06:31:12\n");
}

m1::Metric* AddMetric(metrics_v1::ExportMetricsServiceRequest* req, const std::string& name) {
  auto* rm = req->mutable_resource_metrics(0);
  auto* m = rm->mutable_scope_metrics(0)->add_metrics();
  m->set_name(name);
  m->set_description("about " + name);
  m->set_unit("1");
  return m;
}

void AddExemplar(google::protobuf::RepeatedPtrField<m1::Exemplar>* ex) {
  auto* e = ex->Add();
  e->set_time_unix_nano(kT0 + 5);
  e->set_as_int(12);
  e->set_trace_id(kTrace);
  e->set_span_id(kSpan);
  Attr(e->mutable_filtered_attributes(), "user", "u1");
}

TEST_F(SignalsTest, EveryMetricKindWithExemplarsAndFlags) {
  metrics_v1::ExportMetricsServiceRequest req;
  auto* rm = req.add_resource_metrics();
  Attr(rm->mutable_resource()->mutable_attributes(), "service.name", "api");
  auto* sm = rm->add_scope_metrics();
  sm->mutable_scope()->set_name("meter");
  sm->mutable_scope()->set_dropped_attributes_count(4);

  auto* g = AddMetric(&req, "queue.depth")->mutable_gauge()->add_data_points();
  g->set_time_unix_nano(kT0);
  g->set_as_int(-42);
  g->set_flags(1);  // no recorded value
  Attr(g->mutable_attributes(), "queue", "q1");
  AddExemplar(g->mutable_exemplars());

  auto* sum = AddMetric(&req, "bytes")->mutable_sum();
  sum->set_aggregation_temporality(m1::AGGREGATION_TEMPORALITY_DELTA);
  sum->set_is_monotonic(true);
  auto* sp = sum->add_data_points();
  sp->set_start_time_unix_nano(kT0 - 1000000000);
  sp->set_time_unix_nano(kT0);
  sp->set_as_double(2.5);

  auto* h = AddMetric(&req, "latency")->mutable_histogram();
  h->set_aggregation_temporality(m1::AGGREGATION_TEMPORALITY_CUMULATIVE);
  auto* hp = h->add_data_points();
  hp->set_time_unix_nano(kT0);
  hp->set_count(3);
  hp->set_sum(30);
  hp->add_bucket_counts(1);
  hp->add_bucket_counts(2);
  hp->add_explicit_bounds(10);
  hp->set_min(1);
  hp->set_max(20);
  AddExemplar(hp->mutable_exemplars());

  auto* x = AddMetric(&req, "skew")->mutable_exponential_histogram();
  x->set_aggregation_temporality(m1::AGGREGATION_TEMPORALITY_DELTA);
  auto* xp = x->add_data_points();
  xp->set_time_unix_nano(kT0);
  xp->set_count(4);
  xp->set_sum(-3);
  xp->set_scale(2);
  xp->set_zero_count(1);
  xp->mutable_positive()->set_offset(-1);
  xp->mutable_positive()->add_bucket_counts(1);
  xp->mutable_negative()->set_offset(3);
  xp->mutable_negative()->add_bucket_counts(0);
  xp->mutable_negative()->add_bucket_counts(2);

  auto* q = AddMetric(&req, "gc.pause")->mutable_summary()->add_data_points();
  q->set_time_unix_nano(kT0);
  q->set_count(10);
  q->set_sum(7.5);
  for (auto [quantile, value] : {std::pair{0.5, 0.4}, std::pair{0.99, 2.0}}) {
    auto* v = q->add_quantile_values();
    v->set_quantile(quantile);
    v->set_value(value);
  }

  Decoded d;
  DecodeMetrics(req, &d);
  EXPECT_EQ(d.rejected, 0);
  Replace(d);
  const std::string common =
      "ServiceName, MetricName, MetricDescription, MetricUnit, Attributes, ScopeName, "
      "ScopeDroppedAttrCount, StartTimeUnix, TimeUnix, ";
  const std::string exemplars =
      ", Exemplars.FilteredAttributes, Exemplars.TimeUnix, Exemplars.Value, Exemplars.SpanId, "
      "Exemplars.TraceId";
  EXPECT_EQ(Tsv("SELECT " + common + "Value, Flags" + exemplars + " FROM otlp.otel_metrics_gauge"),
            "api\tqueue.depth\tabout queue.depth\t1\t{'queue':'q1'}\tmeter\t4\t"
            "1970-01-01 00:00:00.000000000\t2025-11-25 06:31:12.123456789\t-42\t1\t"
            "[{'user':'u1'}]\t['2025-11-25 06:31:12.123456794']\t[12]\t['b7ad6b7169203331']\t"
            "['0af7651916cd43dd8448eb211c80319c']\n");
  EXPECT_EQ(Tsv("SELECT " + common + "Value, AggregationTemporality, IsMonotonic" + exemplars +
                " FROM otlp.otel_metrics_sum"),
            "api\tbytes\tabout bytes\t1\t{}\tmeter\t4\t2025-11-25 06:31:11.123456789\t"
            "2025-11-25 06:31:12.123456789\t2.5\t1\ttrue\t[]\t[]\t[]\t[]\t[]\n");
  EXPECT_EQ(Tsv("SELECT MetricName, Count, Sum, BucketCounts, ExplicitBounds, Min, Max, "
                "AggregationTemporality" + exemplars + " FROM otlp.otel_metrics_histogram"),
            "latency\t3\t30\t[1,2]\t[10]\t1\t20\t2\t[{'user':'u1'}]\t"
            "['2025-11-25 06:31:12.123456794']\t[12]\t['b7ad6b7169203331']\t"
            "['0af7651916cd43dd8448eb211c80319c']\n");
  EXPECT_EQ(Tsv("SELECT MetricName, Count, Sum, Scale, ZeroCount, PositiveOffset, "
                "PositiveBucketCounts, NegativeOffset, NegativeBucketCounts, Min, Max, "
                "AggregationTemporality FROM otlp.otel_metrics_exponential_histogram"),
            "skew\t4\t-3\t2\t1\t-1\t[1]\t3\t[0,2]\t0\t0\t1\n");
  EXPECT_EQ(Tsv("SELECT MetricName, Count, Sum, ValueAtQuantiles.Quantile, "
                "ValueAtQuantiles.Value, Flags FROM otlp.otel_metrics_summary"),
            "gc.pause\t10\t7.5\t[0.5,0.99]\t[0.4,2]\t0\n");
}

TEST_F(SignalsTest, RejectsPointsWithMalformedExemplarIds) {
  metrics_v1::ExportMetricsServiceRequest req;
  req.add_resource_metrics()->add_scope_metrics();
  auto* g = AddMetric(&req, "g")->mutable_gauge();
  auto* bad = g->add_data_points();
  bad->set_as_double(1);
  bad->add_exemplars()->set_trace_id("short");
  g->add_data_points()->set_as_double(2);
  Decoded d;
  DecodeMetrics(req, &d);
  EXPECT_EQ(d.rejected, 1);
  EXPECT_FALSE(d.rejected_reason.empty());
  EXPECT_EQ(d.at(Table::kMetricsGauge).rows, 1u);
}

}  // namespace
}  // namespace kobs::otlp
