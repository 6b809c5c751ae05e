// bench/store_query: what the queries of GET /events cost inside the embedded store, and what
// the layout of kobs_k8s_events does to them. On --rows synthetic event rows
// (support/event_rows.h) it times, interleaved and with a random composition each round:
//   one composition   its 50 newest events of the last 24h (the first query of
//                     /events/<composition>?limit=50)
//   cluster-wide      the 200 newest events of the last hour (the first query of /events)
// on kobs_k8s_events as migrated (1024-row granules, the IsFeedEvent column, FeedFields in
// LZ4, the time-ordered projection by_time), on the same table filtered on the expression
// IsFeedEvent stores, and on a copy in the layout before migrations 13 and 14 (8192-row
// granules, FeedFields in ZSTD, the expression, no projection). The
// ceiling is `SELECT 1`, the store's cost for a query that reads nothing. Prints p50/p99 of
// each and its p50 as a ratio to the ceiling's.
//
//   build/bench/store/store_query_bench [--rows 10000000] [--runs 300]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "store/embedded_store.h"
#include "store/schema.h"
#include "support/event_rows.h"
#include "support/stats.h"
#include "temp_dir.h"

namespace {

using kobs::bench::Percentile;

using Clock = std::chrono::steady_clock;

void Check(const absl::Status& s, const std::string& what) {
  if (s.ok()) return;
  std::fprintf(stderr, "%s: %s\n", what.c_str(), std::string(s.message()).c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = 10'000'000;
  int runs = 300;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--rows") rows = std::atoll(argv[i + 1]);
    else if (k == "--runs") runs = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (rows < 1000 || runs < 1) {
    std::fprintf(stderr, "--rows must be at least 1000 and --runs positive\n");
    return 2;
  }
  kobs::testing::TempDir tmp;
  auto store = kobs::store::EmbeddedStore::Create({.path = tmp.Sub("data")});
  Check(store.status(), "open store");
  Check(kobs::store::EnsureSchema(**store, {}).status(), "schema");
  auto run = [&](const std::string& sql) { return (*store)->Query(sql, {}); };

  std::fprintf(stderr, "storing %lld event rows...\n", static_cast<long long>(rows));
  const auto fill = Clock::now();
  for (int64_t done = 0; done < rows; done += 1'000'000) {
    const int64_t n = std::min<int64_t>(1'000'000, rows - done);
    Check(run(kobs::bench::EventRowsInsertSql("kobs_k8s_events", done, n, rows)).status(),
          "insert");
  }
  // The layout before: the same columns and rows, 8192-row granules, FeedFields in ZSTD, no
  // projection.
  Check(run("CREATE TABLE events_before AS kobs_k8s_events ENGINE = MergeTree PARTITION BY "
            "toDate(Timestamp) ORDER BY (CompositionId, Timestamp) SETTINGS "
            "index_granularity = 8192")
            .status(),
        "create events_before");
  Check(run("ALTER TABLE events_before MODIFY COLUMN FeedFields CODEC(ZSTD(1))").status(),
        "alter events_before");
  Check(run("ALTER TABLE events_before DROP PROJECTION IF EXISTS by_time").status(),
        "drop the projection of events_before");
  Check(run("INSERT INTO events_before SELECT * FROM kobs_k8s_events").status(), "copy");
  // Each table merged to one part per day, so that both have the same parts.
  Check(run("OPTIMIZE TABLE kobs_k8s_events FINAL").status(), "optimize");
  Check(run("OPTIMIZE TABLE events_before FINAL").status(), "optimize");
  std::fprintf(stderr, "  stored, copied and merged in %.0f s\n",
               std::chrono::duration<double>(Clock::now() - fill).count());

  struct Variant {
    const char* name;
    std::string table, filter;
    bool cluster_wide;
    std::vector<double> ms;
  };
  const std::string expr(kobs::store::kIsFeedEventExpression);
  std::vector<Variant> v = {
      {"ceiling: SELECT 1", "", "", false, {}},
      {"one composition: as migrated", "kobs_k8s_events", "IsFeedEvent", false, {}},
      {"one composition: expression", "kobs_k8s_events", expr, false, {}},
      {"one composition: layout before", "events_before", expr, false, {}},
      {"cluster-wide: as migrated", "kobs_k8s_events", "IsFeedEvent", true, {}},
      {"cluster-wide: layout before", "events_before", expr, true, {}},
  };
  std::mt19937 rng(5);
  for (int i = 0; i < runs; ++i) {
    const std::string comp = kobs::bench::BenchComposition(static_cast<int>(rng() % 1000));
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    auto ns_before = [&now](std::chrono::hours h) {
      return std::chrono::duration_cast<std::chrono::nanoseconds>(now - h).count();
    };
    for (size_t k = 0; k < v.size(); ++k) {
      Variant& x = v[(k + static_cast<size_t>(i)) % v.size()];
      std::string sql = "SELECT 1";
      if (x.cluster_wide) {
        sql = fmt::format("SELECT FeedFields FROM {} WHERE {} AND Timestamp >= "
                          "fromUnixTimestamp64Nano({}) ORDER BY Timestamp DESC LIMIT 200",
                          x.table, x.filter, ns_before(std::chrono::hours(1)));
      } else if (!x.table.empty()) {
        sql = fmt::format("SELECT FeedFields FROM {} WHERE {} AND CompositionId = '{}' AND "
                          "Timestamp >= fromUnixTimestamp64Nano({}) ORDER BY Timestamp DESC "
                          "LIMIT 50",
                          x.table, x.filter, comp, ns_before(std::chrono::hours(24)));
      }
      const auto t = Clock::now();
      Check(run(sql).status(), x.name);
      x.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
    }
  }
  const double ceiling = Percentile(v[0].ms, 0.5);
  std::printf("store_query: GET /events queries on %lld event rows, %d runs\n",
              static_cast<long long>(rows), runs);
  for (const Variant& x : v) {
    std::printf("%-42s p50 %6.2f ms  p99 %6.2f ms  p50/ceiling %5.1f\n", x.name,
                Percentile(x.ms, 0.5), Percentile(x.ms, 0.99), Percentile(x.ms, 0.5) / ceiling);
  }
  return 0;
}
