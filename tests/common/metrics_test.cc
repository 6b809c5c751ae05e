#include "common/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kobs {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, RendersCountersGaugesAndHistogramsInTextFormat) {
  MetricsRegistry r;
  r.GetCounter("kobs_rows_total", "Rows.", {{"table", "otel_logs"}}).Inc(3);
  r.GetCounter("kobs_rows_total", "Rows.", {{"table", "otel_logs"}}).Inc();
  r.GetGauge("kobs_queue", "Queue depth.").Set(7);
  auto& h = r.GetHistogram("kobs_latency_seconds", "Latency.", {}, {0.1, 1});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(5);
  r.AddCallbackGauge("kobs_answer", "Computed.", [] { return 42.5; });
  std::string text = r.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE kobs_rows_total counter\nkobs_rows_total{table=\"otel_logs\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("kobs_queue 7\n"));
  EXPECT_THAT(text, HasSubstr("kobs_latency_seconds_bucket{le=\"0.1\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("kobs_latency_seconds_bucket{le=\"1\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("kobs_latency_seconds_bucket{le=\"+Inf\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("kobs_latency_seconds_count 3\n"));
  EXPECT_THAT(text, HasSubstr("kobs_answer 42.5\n"));
}

TEST(MetricsTest, EscapesLabelValues) {
  MetricsRegistry r;
  r.GetCounter("c", "h", {{"path", "a\"b\\c\nd"}}).Inc();
  EXPECT_THAT(r.Render(), HasSubstr("c{path=\"a\\\"b\\\\c\\nd\"} 1"));
}

TEST(MetricsTest, ProcessMetricsAreComputed) {
  MetricsRegistry r;
  RegisterProcessMetrics(r);
  std::string text = r.Render();
  EXPECT_THAT(text, HasSubstr("process_resident_memory_bytes "));
  EXPECT_THAT(text, HasSubstr("process_open_fds "));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("process_resident_memory_bytes 0\n")));
}

}  // namespace
}  // namespace kobs
