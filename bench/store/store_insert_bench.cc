// bench/store_insert: rows/s of the embedded store's streaming insert (RowBinary) for
// realistic otel_logs rows, on 1 and 2 connections, and of an inline JSONEachRow insert for
// comparison. The 1-connection RowBinary figure is the machine's raw ceiling that later
// benchmarks (OTLP ingest) quote their ratio against. Prints medians of --runs runs.
//
//   build/bench/store/store_insert_bench [--rows N] [--batch N] [--runs N] [--dir D]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "k8s_log_rows.h"
#include "store/embedded_store.h"
#include "store/otel_rows.h"
#include "store/schema.h"
#include "support/stats.h"
#include "temp_dir.h"

namespace {

using kobs::bench::Median;

using Clock = std::chrono::steady_clock;

struct Args {
  int rows = 200'000;
  int batch = 20'000;
  int runs = 5;
  std::string dir;
};

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--rows") a.rows = std::atoi(argv[i + 1]);
    else if (k == "--batch") a.batch = std::atoi(argv[i + 1]);
    else if (k == "--runs") a.runs = std::atoi(argv[i + 1]);
    else if (k == "--dir") a.dir = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      std::exit(2);
    }
  }
  return a;
}

// One JSONEachRow line per row, as a client without a binary encoder would send.
std::string ToJsonEachRow(const kobs::store::LogRow& r) {
  auto esc = [](const std::string& s) {
    std::string o;
    for (char c : s) {
      if (c == '"' || c == '\\') o += '\\';
      o += c;
    }
    return o;
  };
  auto map = [&](const kobs::store::Attributes& m) {
    std::string o = "{";
    for (size_t i = 0; i < m.size(); ++i) {
      o += fmt::format("{}\"{}\":\"{}\"", i ? "," : "", esc(m[i].first), esc(m[i].second));
    }
    return o + "}";
  };
  return fmt::format(
      R"({{"Timestamp":{},"SeverityText":"{}","SeverityNumber":{},"ServiceName":"{}","Body":"{}",)"
      R"("ResourceAttributes":{},"LogAttributes":{}}})"
      "\n",
      r.timestamp_ns, r.severity_text, r.severity_number, r.service_name, esc(r.body),
      map(r.resource_attributes), map(r.log_attributes));
}

}  // namespace

int main(int argc, char** argv) {
  Args args = ParseArgs(argc, argv);
  kobs::testing::TempDir tmp;
  std::string dir = args.dir.empty() ? tmp.Sub("data") : args.dir;
  auto store = kobs::store::EmbeddedStore::Create(
      {.path = dir, .query_connections = 1, .insert_connections = 2});
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  kobs::store::SchemaOptions schema{.database = "bench", .ttl = std::chrono::seconds(0)};
  if (auto s = kobs::store::EnsureSchema(**store, schema); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.status().message()).c_str());
    return 1;
  }
  const int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count();
  auto rows = kobs::testing::MakeK8sLogRows(args.rows, now_ns);
  // Pre-encode the batches: the benchmark measures the store, not the encoder.
  std::vector<std::string> batches, json_batches;
  for (int i = 0; i < args.rows; i += args.batch) {
    std::string b, j;
    for (int k = i; k < std::min(args.rows, i + args.batch); ++k) {
      kobs::store::EncodeLogRow(rows[k], &b);
      j += ToJsonEachRow(rows[k]);
    }
    batches.push_back(std::move(b));
    json_batches.push_back(std::move(j));
  }
  size_t bytes = 0;
  for (const auto& b : batches) bytes += b.size();
  const auto& columns = kobs::store::LogColumns();

  auto run = [&](int connections, bool json) {
    auto start = Clock::now();
    std::vector<std::thread> threads;
    std::atomic<bool> failed{false};
    for (int c = 0; c < connections; ++c) {
      threads.emplace_back([&, c] {
        for (size_t i = c; i < batches.size(); i += connections) {
          auto r = json ? (*store)->Insert("bench.otel_logs", {}, "JSONEachRow", json_batches[i])
                        : (*store)->Insert("bench.otel_logs", columns, "RowBinary", batches[i]);
          if (!r.ok()) {
            std::fprintf(stderr, "insert failed: %s\n", std::string(r.status().message()).c_str());
            failed = true;
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    if (failed) std::exit(1);
    return std::chrono::duration<double>(Clock::now() - start).count();
  };

  std::printf("store_insert: %d realistic otel_logs rows per run, batches of %d, %.0f B/row "
              "RowBinary, %d runs (medians)\n",
              args.rows, args.batch, static_cast<double>(bytes) / args.rows, args.runs);
  run(1, false);  // warm-up
  struct Mode {
    const char* name;
    int connections;
    bool json;
  } modes[] = {{"rowbinary_stream_1conn", 1, false},
               {"rowbinary_stream_2conn", 2, false},
               {"jsoneachrow_stream_1conn", 1, true}};
  double raw = 0;
  for (const Mode& m : modes) {
    std::vector<double> rates;
    for (int i = 0; i < args.runs; ++i) rates.push_back(args.rows / run(m.connections, m.json));
    double med = Median(rates);
    if (raw == 0) raw = med;
    std::printf("%-26s %10.0f rows/s  %7.1f MB/s  ratio_vs_raw %.2f  (min %.0f, max %.0f)\n",
                m.name, med, med * bytes / args.rows / 1e6, med / raw,
                *std::min_element(rates.begin(), rates.end()),
                *std::max_element(rates.begin(), rates.end()));
  }
  std::printf("raw_insert_rows_per_s %.0f\n", raw);
  (*store)->Close();
  return 0;
}
