// End-to-end tests of the kobs binary (path in $KOBS_BIN): `kobs serve` lifecycle and
// `kobs sql`, as a user runs them.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "k8s_log_rows.h"
#include "status_matchers.h"
#include "store/errors.h"
#include "store/otel_rows.h"
#include "store/remote_store.h"
#include "kobs_process.h"
#include "temp_dir.h"

namespace kobs {
namespace {

using testing::KobsServer;
using testing::RunKobs;

using ::testing::HasSubstr;

TEST(ServeE2ETest, ServesSqlDrainsOnSigtermAndSqlFallsBackToTheDataDirectory) {
  testing::TempDir dir;
  std::string data = dir.Sub("data");
  {
    KobsServer s(data);
    ASSERT_TRUE(s.ready()) << s.log();
    EXPECT_LT(s.startup_ms(), 2000) << "start to ready";
    auto r = RunKobs({"sql", "--url", s.clickhouse_url(),
                  "SELECT count() FROM system.tables WHERE database = 'default' AND name LIKE 'otel_%'"});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.out, "9\n");
    // A bound value with a quote, a tab and a backslash comes back intact (TSV escapes them).
    r = RunKobs({"sql", "--url", s.clickhouse_url(), "-p", "v=it's\\t\\\\", "SELECT {v:String}"});
    EXPECT_EQ(r.out, "it\\'s\\t\\\\\n");
    r = RunKobs({"sql", "--url", s.clickhouse_url(), "-f", "TabSeparatedRaw", "-p", "v=it's",
                 "SELECT {v:String}"});
    EXPECT_EQ(r.out, "it's\n");
    r = RunKobs({"sql", "--url", s.clickhouse_url(), "SELECT * FROM nope"});
    EXPECT_EQ(r.code, 1);
    EXPECT_THAT(r.err, HasSubstr("UNKNOWN_TABLE"));
    EXPECT_EQ(RunKobs({"sql", "--url", s.clickhouse_url(),
                   "CREATE TABLE kept (a UInt8) ENGINE = MergeTree ORDER BY a"}).code, 0);
    EXPECT_EQ(RunKobs({"sql", "--url", s.clickhouse_url(), "INSERT INTO kept VALUES (7)"}).code, 0);
    // A second server on the same data directory is refused with a clear message.
    auto second = RunKobs({"serve"}, {"KOBS_STORE_EMBEDDED_PATH=" + data, "KOBS_API_LISTEN=127.0.0.1:0",
                                  "KOBS_CLICKHOUSE_HTTP_LISTEN=127.0.0.1:0"});
    EXPECT_EQ(second.code, 1);
    EXPECT_THAT(second.err, HasSubstr("in use by another process"));
    EXPECT_EQ(s.Stop(SIGTERM), 0) << s.log();
    EXPECT_THAT(s.log(), HasSubstr("\"msg\":\"stopped\""));
  }
  // No server: `kobs sql` opens the data directory itself.
  auto r = RunKobs({"sql", "--url", "http://127.0.0.1:1", "SELECT sum(a) FROM kept"},
               {"KOBS_STORE_EMBEDDED_PATH=" + data});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "7\n");
}

// The newcomer's run: `kobs serve --sim` collects the in-process simulated cluster and prints
// where to look; the three queries it prints answer with rows.
TEST(ServeE2ETest, SimModeCollectsTheSimulatedClusterAndItsQueriesAnswer) {
  testing::TempDir dir;
  KobsServer s(dir.Sub("data"),
               {"KOBS_K8S_STATE_FILE=" + dir.Sub("events.json"),
                "KOBS_K8S_POD_LOGS_CHECKPOINT=" + dir.Sub("offsets.json"),
                "KOBS_K8S_METRICS_INTERVAL=1s"},
               {"--sim", "--sim-dir", dir.Sub("sim"), "--sim-listen",
                fmt::format("127.0.0.1:{}", testing::FreePort()), "--sim-scenario",
                "crashloop-pod", "--sim-scenario", "composition-crashloop", "--sim-scenario",
                "background"});
  ASSERT_TRUE(s.ready()) << s.log();
  std::vector<std::string> queries;
  for (int i = 0; i < 100 && queries.size() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    queries.clear();
    const std::string out = s.out();
    for (size_t at = 0; (at = out.find(" sql \"SELECT", at)) != std::string::npos;) {
      size_t begin = at + 6, end = out.find("\"\n", begin);
      queries.push_back(out.substr(begin, end - begin));
      at = end;
    }
  }
  ASSERT_EQ(queries.size(), 3u) << s.out();
  EXPECT_THAT(s.out(), HasSubstr("kubectl --kubeconfig " + dir.Sub("sim")));
  // Each query answers within a minute (events, crash-loop errors, memory against limits).
  for (const std::string& q : queries) {
    std::string rows;
    for (int i = 0; i < 120 && rows.empty(); ++i) {
      auto r = RunKobs({"sql", "--url", s.clickhouse_url(), q});
      ASSERT_EQ(r.code, 0) << q << "\n" << r.err;
      rows = r.out;
      if (rows.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    EXPECT_FALSE(rows.empty()) << q;
  }
  EXPECT_EQ(s.Stop(SIGTERM), 0) << s.log();
}

TEST(ServeE2ETest, RestartsAfterKill9WithDataIntact) {
  testing::TempDir dir;
  std::string data = dir.Sub("data");
  {
    KobsServer s(data);
    ASSERT_TRUE(s.ready()) << s.log();
    ASSERT_EQ(RunKobs({"sql", "--url", s.clickhouse_url(),
                   "CREATE TABLE k9 (a UInt32) ENGINE = MergeTree ORDER BY a"}).code, 0);
    ASSERT_EQ(RunKobs({"sql", "--url", s.clickhouse_url(),
                   "INSERT INTO k9 SELECT number FROM numbers(1000)"}).code, 0);
    s.Stop(SIGKILL);
  }
  KobsServer again(data);
  ASSERT_TRUE(again.ready()) << again.log();
  auto r = RunKobs({"sql", "--url", again.clickhouse_url(), "SELECT count() FROM k9"});
  EXPECT_EQ(r.out, "1000\n");
  EXPECT_EQ(again.Stop(SIGINT), 0);
}

// The remote backend against a modern peer: another kobs process's ClickHouse endpoint
// (Map, DateTime64, {name:Type} parameters, RowBinary inserts, streamed errors).
TEST(ServeE2ETest, RemoteStoreWorksAgainstAKobsEndpoint) {
  using ::kobs::testing::IsOk;
  testing::TempDir dir;
  KobsServer s(dir.Sub("data"));
  ASSERT_TRUE(s.ready()) << s.log();
  store::RemoteStoreOptions o;
  o.url = s.clickhouse_url();
  auto remote = store::RemoteStore::Create(o);
  ASSERT_THAT(remote, IsOk());
  store::Store& st = **remote;
  auto version = st.ServerVersion();
  ASSERT_THAT(version, IsOk());
  EXPECT_THAT(*version, ::testing::StartsWith("26."));

  // RowBinary rows of the exporter schema, written through the endpoint and read back.
  auto rows = testing::MakeK8sLogRows(500, 1'764'000'000'000'000'000);
  std::string data;
  for (const auto& r : rows) store::EncodeLogRow(r, &data);
  ASSERT_THAT(st.Insert("default.otel_logs", store::LogColumns(), "RowBinary", data), IsOk());
  auto r = st.Query(
      "SELECT count(), countIf(ResourceAttributes['k8s.namespace.name'] = {ns:String}), "
      "toTypeName(Timestamp), min(Timestamp) FROM otel_logs WHERE Timestamp >= {t:DateTime64(9)}",
      {.params = {store::Param::Str("ns", rows[0].resource_attributes[0].second),
                  store::Param::Raw("t", "2025-01-01 00:00:00.000000000")}});
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(r->data, ::testing::StartsWith("500\t"));
  EXPECT_THAT(r->data, HasSubstr("\tDateTime64(9)\t2025-11-24 16:00:00.000000000\n"));

  // A value that tries to break out of its literal is data, never SQL.
  std::string evil = "x'); DROP TABLE otel_logs; --\n\nSELECT '";
  r = st.Query("SELECT {v:String} = {w:String}, length({v:String})",
               {.params = {store::Param::Str("v", evil), store::Param::Str("w", evil)}});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->data, fmt::format("1\t{}\n", evil.size()));
  auto m = store::QueryScalar(st, "SELECT map('a', 1)['a'] + {n:UInt8}", {store::Param::Raw("n", "2")});
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(*m, "3");
  auto err = st.Query("SELECT * FROM no_such_table", {});
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(store::ClickHouseErrorCode(err.status()), store::kUnknownTable);
  EXPECT_EQ(s.Stop(SIGTERM), 0);
}

TEST(ServeE2ETest, RejectsUnknownConfigKeysAndPrintsOptions) {
  testing::TempDir dir;
  std::string cfg = dir.Sub("kobs.yaml");
  FILE* f = fopen(cfg.c_str(), "w");
  std::fputs("store:\n  embedded:\n    pathh: /tmp/x\n", f);
  fclose(f);
  auto r = RunKobs({"--config", cfg, "serve"});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("unknown key 'pathh'"));
  auto ref = RunKobs({"config-reference"});
  EXPECT_EQ(ref.code, 0);
  EXPECT_THAT(ref.out, HasSubstr("| `store.embedded.path` | `KOBS_STORE_EMBEDDED_PATH` |"));
  EXPECT_THAT(ref.out, HasSubstr("`CLICKHOUSE_URL`"));
  auto v = RunKobs({"version"});
  EXPECT_EQ(v.code, 0);
  EXPECT_THAT(v.out, HasSubstr("chDB 26.7"));
}

}  // namespace
}  // namespace kobs
