// OtlpExporter against the real OTLP/HTTP receiver: batches wait in the disk buffer while the
// server is away (across an exporter restart), arrive exactly once when it is back, are
// retried when the server pushes back, and a batch the server refuses as malformed does not
// block the ones behind it.
#include "collect/exporter.h"

#include <atomic>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "net/http_server.h"
#include "otlp/http_receiver.h"
#include "otlp/ingest.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "status_matchers.h"
#include "store/spool.h"
#include "temp_dir.h"

namespace kobs::collect {
namespace {

using ::kobs::testing::IsOk;

store::LogRow Row(const std::string& pod, int i) {
  store::LogRow r;
  r.timestamp_ns = 1'700'000'000'000'000'000 + i;
  r.body = "line " + std::to_string(i);
  r.severity_text = "INFO";
  r.severity_number = 9;
  r.service_name = "web";
  r.scope_name = "kobs/pod-logs";
  r.resource_attributes = {{"k8s.namespace.name", "shop"}, {"k8s.pod.name", pod}};
  r.log_attributes = {{"log.iostream", "stdout"}};
  r.trace_id = "0102030405060708090a0b0c0d0e0f10";
  return r;
}

TEST(LogRowsToRequestTest, GroupsConsecutiveRowsOfOneResource) {
  std::vector<store::LogRow> rows = {Row("a", 1), Row("a", 2), Row("b", 3), Row("a", 4)};
  opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest request;
  LogRowsToRequest(rows, &request);
  ASSERT_EQ(request.resource_logs_size(), 3);
  EXPECT_EQ(request.resource_logs(0).scope_logs(0).log_records_size(), 2);
  const auto& resource = request.resource_logs(0).resource();
  bool service = false;
  for (const auto& kv : resource.attributes()) {
    service = service || (kv.key() == "service.name" && kv.value().string_value() == "web");
  }
  EXPECT_TRUE(service);
  const auto& record = request.resource_logs(0).scope_logs(0).log_records(1);
  EXPECT_EQ(record.body().string_value(), "line 2");
  EXPECT_EQ(record.time_unix_nano(), 1'700'000'000'000'000'002u);
  EXPECT_EQ(record.severity_number(), 9);
  EXPECT_EQ(record.trace_id().size(), 16u);
  EXPECT_EQ(request.resource_logs(0).scope_logs(0).scope().name(), "kobs/pod-logs");
}

// A real OTLP/HTTP receiver whose store can be told to push back.
class Server {
 public:
  explicit Server(MetricsRegistry& metrics, uint16_t port = 0)
      : ingest_(
            [this](otlp::Decoded& rows) -> absl::Status {
              if (refuse_ > 0) {
                --refuse_;
                return absl::UnavailableError("store down");
              }
              absl::MutexLock lock(&mu_);
              for (const auto& t : rows.tables) stored_ += t.rows;
              return absl::OkStatus();
            },
            metrics),
        receiver_(ingest_, {}) {
    auto server = net::HttpServer::Create(
        {.host = "127.0.0.1", .port = port, .name = "otlp", .error_body = otlp::OtlpErrorBody},
        metrics);
    EXPECT_THAT(server, IsOk());
    server_ = std::move(*server);
    receiver_.Register(*server_);
    EXPECT_THAT(server_->Start(), IsOk());
  }
  ~Server() { server_->Stop(std::chrono::seconds(1)); }
  uint16_t port() const { return server_->port(); }
  uint64_t stored() {
    absl::MutexLock lock(&mu_);
    return stored_;
  }
  std::atomic<int> refuse_{0};

 private:
  otlp::Ingest ingest_;
  otlp::HttpReceiver receiver_;
  std::unique_ptr<net::HttpServer> server_;
  absl::Mutex mu_;
  uint64_t stored_ = 0;
};

bool WaitFor(const std::function<bool()>& done) {
  for (int i = 0; i < 400; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return done();
}

uint16_t FreePort(MetricsRegistry& metrics) {
  auto s = net::HttpServer::Create({.host = "127.0.0.1", .port = 0}, metrics);
  return s.ok() ? (*s)->port() : 0;
}

TEST(OtlpExporterTest, BuffersWhileTheServerIsAwayAndDeliversExactlyOnce) {
  kobs::testing::TempDir dir;
  MetricsRegistry metrics;
  const uint16_t port = FreePort(metrics);
  OtlpExporterOptions o{.endpoint = "http://127.0.0.1:" + std::to_string(port),
                        .buffer_dir = dir.Sub("buffer"),
                        .timeout = std::chrono::milliseconds(2000),
                        .min_backoff = std::chrono::milliseconds(20),
                        .max_backoff = std::chrono::milliseconds(100)};
  {
    auto exporter = OtlpExporter::Create(o, metrics);
    ASSERT_THAT(exporter, IsOk());
    (*exporter)->Start();
    for (int b = 0; b < 5; ++b) {
      std::vector<store::LogRow> rows;
      for (int i = 0; i < 100; ++i) rows.push_back(Row("p" + std::to_string(b), b * 100 + i));
      ASSERT_THAT((*exporter)->ExportLogs(rows), IsOk());
    }
    ASSERT_TRUE(WaitFor([&] {
      return metrics.GetCounter("kobs_agent_send_failures_total", "").value() >= 2;
    }));
    EXPECT_FALSE((*exporter)->connected());
    EXPECT_GT((*exporter)->buffered_bytes(), 0u);
    (*exporter)->Stop();
  }
  // The exporter restarts, then the server comes up and pushes back twice.
  auto exporter = OtlpExporter::Create(o, metrics);
  ASSERT_THAT(exporter, IsOk());
  EXPECT_GT((*exporter)->buffered_bytes(), 0u);
  Server server(metrics, port);
  server.refuse_ = 2;
  (*exporter)->Start();
  std::vector<store::LogRow> more = {Row("late", 1000)};
  ASSERT_THAT((*exporter)->ExportLogs(more), IsOk());
  ASSERT_TRUE(WaitFor([&] { return server.stored() >= 501; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(server.stored(), 501u);
  EXPECT_EQ(server.refuse_.load(), 0);
  EXPECT_EQ((*exporter)->buffered_bytes(), 0u);
  EXPECT_TRUE((*exporter)->connected());
}

TEST(OtlpExporterTest, AMalformedBatchIsSetAsideAndTheRestGoesOn) {
  kobs::testing::TempDir dir;
  MetricsRegistry metrics;
  Server server(metrics);
  {
    auto spool = store::Spool::Open({.dir = dir.Sub("buffer")});
    ASSERT_THAT(spool, IsOk());
    ASSERT_THAT((*spool)->Append({.table = "logs", .format = "application/x-protobuf",
                                  .rows = 1, .data = "\xff\xff not protobuf"}),
                IsOk());
  }
  auto exporter = OtlpExporter::Create(
      {.endpoint = "http://127.0.0.1:" + std::to_string(server.port()) + "/",
       .buffer_dir = dir.Sub("buffer")},
      metrics);
  ASSERT_THAT(exporter, IsOk());
  // Each Append is its own spool entry; a bad one merges with nothing of another type.
  (*exporter)->Start();
  ASSERT_TRUE(WaitFor([&] {
    return metrics.GetCounter("kobs_agent_rejected_batches_total", "").value() == 1;
  }));
  std::vector<store::LogRow> rows = {Row("a", 1), Row("a", 2)};
  ASSERT_THAT((*exporter)->ExportLogs(rows), IsOk());
  EXPECT_TRUE(WaitFor([&] { return server.stored() == 2; }));
  // The refused batch is kept for a person to look at.
  int kept = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir.Sub("buffer/rejected"))) {
    EXPECT_NE(f.path().string().find(".logs.pb"), std::string::npos);
    ++kept;
  }
  EXPECT_EQ(kept, 1);
}

TEST(OtlpExporterTest, RefusesAnEndpointThatIsNotAUrl) {
  kobs::testing::TempDir dir;
  MetricsRegistry metrics;
  auto e = OtlpExporter::Create({.endpoint = "kobs:4318", .buffer_dir = dir.Sub("b")}, metrics);
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kobs::collect
