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
#include "temp_dir.h"

namespace kobs {
namespace {

using ::testing::HasSubstr;

std::string Bin() {
  const char* b = std::getenv("KOBS_BIN");
  return b != nullptr ? b : KOBS_BIN_PATH;
}

struct Proc {
  pid_t pid = -1;
  int err_fd = -1;   // the child's stderr
  int out_fd = -1;   // the child's stdout
};

Proc Spawn(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  int err[2], out[2];
  EXPECT_EQ(pipe(err), 0);
  EXPECT_EQ(pipe(out), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(err[1], STDERR_FILENO);
    dup2(out[1], STDOUT_FILENO);
    close(err[0]);
    close(out[0]);
    for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv;
    std::string bin = Bin();
    argv.push_back(bin.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  close(err[1]);
  close(out[1]);
  return {pid, err[0], out[0]};
}

std::string ReadAll(int fd) {
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, n);
  close(fd);
  return s;
}

int Wait(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Runs a command to completion: {exit code, stdout, stderr}.
struct Result {
  int code;
  std::string out, err;
};
Result RunKobs(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  Proc p = Spawn(args, env);
  std::string err;
  std::thread t([&] { err = ReadAll(p.err_fd); });
  std::string out = ReadAll(p.out_fd);
  t.join();
  return {Wait(p.pid), out, err};
}

class Server {
 public:
  explicit Server(const std::string& data) {
    proc_ = Spawn({"serve"}, {"KOBS_STORE_EMBEDDED_PATH=" + data, "KOBS_API_LISTEN=127.0.0.1:0",
                              "KOBS_CLICKHOUSE_HTTP_LISTEN=127.0.0.1:0"});
    close(proc_.out_fd);
    std::string buf;
    char c;
    // Read log lines until "ready" (or exit).
    while (read(proc_.err_fd, &c, 1) == 1) {
      if (c != '\n') {
        buf += c;
        continue;
      }
      log_ += buf + "\n";
      auto j = nlohmann::json::parse(buf, nullptr, false);
      buf.clear();
      if (!j.is_discarded() && j.value("msg", "") == "ready") {
        ready_ = j;
        break;
      }
    }
  }
  ~Server() {
    if (proc_.pid > 0) Stop(SIGKILL);
  }
  bool ready() const { return !ready_.is_null(); }
  std::string clickhouse_url() const { return ready_.value("clickhouse_http", ""); }
  double startup_ms() const { return std::stod(ready_.value("startup_ms", "0")); }
  const std::string& log() const { return log_; }
  int Stop(int sig) {
    kill(proc_.pid, sig);
    log_ += ReadAll(proc_.err_fd);
    int code = Wait(proc_.pid);
    proc_.pid = -1;
    return code;
  }

 private:
  Proc proc_;
  nlohmann::json ready_;
  std::string log_;
};

TEST(ServeE2ETest, ServesSqlDrainsOnSigtermAndSqlFallsBackToTheDataDirectory) {
  testing::TempDir dir;
  std::string data = dir.Sub("data");
  {
    Server s(data);
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

TEST(ServeE2ETest, RestartsAfterKill9WithDataIntact) {
  testing::TempDir dir;
  std::string data = dir.Sub("data");
  {
    Server s(data);
    ASSERT_TRUE(s.ready()) << s.log();
    ASSERT_EQ(RunKobs({"sql", "--url", s.clickhouse_url(),
                   "CREATE TABLE k9 (a UInt32) ENGINE = MergeTree ORDER BY a"}).code, 0);
    ASSERT_EQ(RunKobs({"sql", "--url", s.clickhouse_url(),
                   "INSERT INTO k9 SELECT number FROM numbers(1000)"}).code, 0);
    s.Stop(SIGKILL);
  }
  Server again(data);
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
  Server s(dir.Sub("data"));
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
