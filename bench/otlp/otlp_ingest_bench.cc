// bench/otlp_ingest: end-to-end OTLP/HTTP protobuf log ingest into `kobs serve` (embedded
// store, default options), from the first request until every record is queryable, against
// the raw streaming-insert rate of the very same rows measured in the same run (inserts of
// --raw-batch requests, by default 100 = 100k rows, the writer's max_batch_rows). Realistic
// Kubernetes pod-log records, 1000 per request (10 pods x 100 records), sent by --clients
// keep-alive connections. Prints medians of --runs runs, the ratio, the server's peak RSS,
// request latency under load, and the time from request to queryable at low load.
//
//   build/bench/otlp/otlp_ingest_bench [--records N] [--clients N] [--runs N] [--raw-batch N]
#include <curl/curl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "k8s_log_rows.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "otlp/logs.h"
#include "store/embedded_store.h"
#include "store/otel_rows.h"
#include "store/schema.h"
#include "support/kobs_child.h"
#include "support/stats.h"
#include "temp_dir.h"

namespace {

using kobs::bench::Client;
using kobs::bench::Escape;
using kobs::bench::Median;
using kobs::bench::PeakRssKb;
using kobs::bench::Percentile;
using kobs::bench::Server;
using kobs::bench::StartKobs;
using Clock = std::chrono::steady_clock;
namespace logs_v1 = ::opentelemetry::proto::collector::logs::v1;

struct Args {
  int records = 1'200'000;  // long enough for a sustained rate (merges included)
  int clients = 8;
  int runs = 3;
  int raw_batch = 100;  // requests per raw insert: 100k rows, the writer's max_batch_rows
};

void SetAttr(google::protobuf::RepeatedPtrField<opentelemetry::proto::common::v1::KeyValue>* kvs,
             const std::string& k, const std::string& v) {
  auto* kv = kvs->Add();
  kv->set_key(k);
  kv->mutable_value()->set_string_value(v);
}

// Requests of 10 resources x 100 records, from the shared realistic row generator.
std::vector<std::string> MakeRequests(int records) {
  const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  auto rows = kobs::testing::MakeK8sLogRows(records, now_ns);
  std::vector<std::string> out;
  for (int i = 0; i < records; i += 1000) {
    logs_v1::ExportLogsServiceRequest req;
    for (int p = i; p < std::min(records, i + 1000); p += 100) {
      auto* rl = req.add_resource_logs();
      for (const auto& [k, v] : rows[p].resource_attributes) {
        SetAttr(rl->mutable_resource()->mutable_attributes(), k, v);
      }
      SetAttr(rl->mutable_resource()->mutable_attributes(), "service.name", rows[p].service_name);
      auto* sl = rl->add_scope_logs();
      sl->mutable_scope()->set_name("kobs-agent");
      for (int k = p; k < std::min(records, p + 100); ++k) {
        auto* r = sl->add_log_records();
        r->set_time_unix_nano(rows[k].timestamp_ns);
        r->set_observed_time_unix_nano(rows[k].timestamp_ns + 1000);
        r->mutable_body()->set_string_value(rows[k].body);
        for (const auto& [ak, av] : rows[k].log_attributes) SetAttr(r->mutable_attributes(), ak, av);
      }
    }
    out.push_back(req.SerializeAsString());
  }
  return out;
}

// Raw ceiling: the same rows (decoded from the same requests, not timed) streamed into a
// fresh embedded store in 20-request batches on one connection.
double RawRate(const std::vector<std::string>& requests, int records, int per_insert) {
  std::vector<std::string> batches;
  std::string batch;
  for (size_t i = 0; i < requests.size(); ++i) {
    logs_v1::ExportLogsServiceRequest req;
    req.ParseFromString(requests[i]);
    kobs::otlp::Decoded d;
    kobs::otlp::DecodeLogs(req, &d);
    batch += d.at(kobs::otlp::Table::kLogs).data;
    if ((i + 1) % per_insert == 0 || i + 1 == requests.size()) batches.push_back(std::move(batch)), batch.clear();
  }
  kobs::testing::TempDir tmp;
  auto store = kobs::store::EmbeddedStore::Create({.path = tmp.Sub("data")});
  if (!store.ok()) std::exit(1);
  (void)kobs::store::EnsureSchema(**store, {.database = "default", .ttl = std::chrono::seconds(0)});
  auto start = Clock::now();
  for (const auto& b : batches) {
    if (!(*store)->Insert("otel_logs", kobs::store::LogColumns(), "RowBinary", b).ok()) std::exit(1);
  }
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  (*store)->Close();
  return records / secs;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--records") a.records = std::atoi(argv[i + 1]);
    else if (k == "--clients") a.clients = std::atoi(argv[i + 1]);
    else if (k == "--runs") a.runs = std::atoi(argv[i + 1]);
    else if (k == "--raw-batch") a.raw_batch = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  setvbuf(stdout, nullptr, _IOLBF, 0);
  curl_global_init(CURL_GLOBAL_ALL);
  auto requests = MakeRequests(a.records);
  size_t bytes = 0;
  for (const auto& r : requests) bytes += r.size();
  std::printf("otlp_ingest: %d records in %zu OTLP/HTTP protobuf requests (%.0f B/record), "
              "%d clients, %d runs (medians)\n",
              a.records, requests.size(), static_cast<double>(bytes) / a.records, a.clients, a.runs);

  std::vector<double> raw_rates, otlp_rates, acked_rates, insert_sizes, ratios, lat_all, visible;
  long peak_rss_kb = 0;
  for (int run = 0; run < a.runs; ++run) {
    double raw = RawRate(requests, a.records, a.raw_batch);
    kobs::testing::TempDir tmp;
    Server s = StartKobs(tmp.path().string());
    std::atomic<size_t> next{0};
    std::atomic<int> failures{0};
    std::vector<std::vector<double>> lat(a.clients);
    auto start = Clock::now();
    std::vector<std::thread> threads;
    for (int c = 0; c < a.clients; ++c) {
      threads.emplace_back([&, c] {
        Client client;
        const std::string url = s.otlp + "/v1/logs";
        for (size_t i; (i = next++) < requests.size();) {
          auto t0 = Clock::now();
          long status = client.Post(url, requests[i]);
          lat[c].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
          if (status != 200) ++failures;
        }
      });
    }
    for (auto& t : threads) t.join();
    const double acked_secs = std::chrono::duration<double>(Clock::now() - start).count();
    // The rate counts until every record is queryable, not only acknowledged.
    Client q;
    std::string count;
    for (auto deadline = Clock::now() + std::chrono::seconds(120); Clock::now() < deadline;) {
      count = q.Get(s.clickhouse + "/?query=" + Escape("SELECT count() FROM otel_logs"));
      if (std::atol(count.c_str()) == a.records) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    acked_rates.push_back(a.records / acked_secs);
    {
      // Inserts the writer made for these records (its batching), from the server's metrics.
      std::string m = q.Get(s.api + "/metrics");
      auto value = [&](const std::string& name) {
        size_t at = m.find("\n" + name + " ");
        return at == std::string::npos ? 0.0 : std::atof(m.c_str() + at + name.size() + 2);
      };
      const double inserts = value("kobs_writer_insert_rows_count");
      insert_sizes.push_back(inserts > 0 ? value("kobs_writer_insert_rows_sum") / inserts : 0);
    }
    if (failures > 0 || std::atol(count.c_str()) != a.records) {
      std::fprintf(stderr, "run %d: %d failed requests, %s rows stored (want %d)\n", run,
                   failures.load(), count.c_str(), a.records);
      return 1;
    }
    // Low load: one record at a time, from the request to the moment a query sees it.
    for (int i = 0; i < 50; ++i) {
      logs_v1::ExportLogsServiceRequest one;
      auto* r = one.add_resource_logs()->add_scope_logs()->add_log_records();
      std::string marker = fmt::format("probe-{}-{}", run, i);
      r->mutable_body()->set_string_value(marker);
      r->set_time_unix_nano(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::system_clock::now().time_since_epoch()).count());
      auto t0 = Clock::now();
      if (q.Post(s.otlp + "/v1/logs", one.SerializeAsString()) != 200) return 1;
      while (q.Get(s.clickhouse + "/?query=" +
                   Escape(fmt::format("SELECT count() FROM otel_logs WHERE Body = '{}'", marker))) !=
             "1\n") {
      }
      visible.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    peak_rss_kb = std::max(peak_rss_kb, PeakRssKb(s.pid));
    kill(s.pid, SIGTERM);
    waitpid(s.pid, nullptr, 0);
    double rate = a.records / secs;
    raw_rates.push_back(raw);
    otlp_rates.push_back(rate);
    ratios.push_back(rate / raw);
    for (auto& l : lat) lat_all.insert(lat_all.end(), l.begin(), l.end());
    std::printf("run %d: raw %.0f rows/s, otlp %.0f records/s, ratio %.2f\n", run, raw, rate,
                rate / raw);
  }
  double rate = Median(otlp_rates);
  std::printf("raw_insert_rows_per_s      %10.0f\n", Median(raw_rates));
  std::printf("otlp_http_records_per_s    %10.0f  (%.1f MB/s of protobuf; until queryable)\n",
              rate, rate * bytes / a.records / 1e6);
  std::printf("otlp_acknowledged_per_s    %10.0f\n", Median(acked_rates));
  std::printf("rows_per_insert            %10.0f  (writer batching under load)\n",
              Median(insert_sizes));
  std::printf("ratio_vs_raw               %10.2f  (target >= 0.70)\n", Median(ratios));
  std::printf("server_peak_rss_mb         %10.0f\n", peak_rss_kb / 1024.0);
  std::printf("request_latency_ms p50 %.1f p99 %.1f (1000 records, under full load)\n",
              Percentile(lat_all, 0.5), Percentile(lat_all, 0.99));
  std::printf("request_to_queryable_ms p50 %.1f p99 %.1f (single record, low load)\n",
              Percentile(visible, 0.5), Percentile(visible, 0.99));
  return 0;
}
