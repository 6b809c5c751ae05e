#include "store/remote_store.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "status_matchers.h"
#include "store/errors.h"
#include "temp_dir.h"

extern char** environ;

namespace kobs::store {
namespace {

using ::kobs::testing::IsOk;
using ::kobs::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Optional;
using ::testing::StartsWith;

// Debian 12's clickhouse-server package (scripts/setup.sh installs it): the oldest server we
// support, which is what makes it a useful test peer: no X-ClickHouse-Exception-Code,
// X-ClickHouse-Summary or X-ClickHouse-Query-Id headers, "Code: N, e.displayText() = ..."
// errors, no {name:Type} query parameters. Parameter binding over HTTP against a modern server
// is covered by the serve e2e test (kobs's own ClickHouse-compatible endpoint in front of
// chDB); this binary tests the transport and error handling against a real old server.
constexpr char kServerBinary[] = "/usr/sbin/clickhouse-server";

// A port that was free a moment ago (bind to port 0, read it back, close).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) close(fd);
    return 0;
  }
  close(fd);
  return ntohs(addr.sin_port);
}

void WriteFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One private clickhouse-server for the whole suite, on free loopback ports, all its files in
// a temporary directory.
class ClickHouseServer {
 public:
  ~ClickHouseServer() { Stop(); }

  // Empty on success, else what went wrong (with the server's log).
  std::string Start() {
    if (!std::filesystem::exists(kServerBinary)) {
      return fmt::format("{} is missing: run scripts/setup.sh (package clickhouse-server)",
                         kServerBinary);
    }
    http_port_ = FreePort();
    int tcp_port = FreePort();
    const std::string d = dir_.path().string();
    WriteFile(dir_.Sub("config.xml"), fmt::format(R"(<?xml version="1.0"?>
<yandex>
  <logger><level>information</level><log>{0}/server.log</log><errorlog>{0}/error.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{1}</http_port>
  <tcp_port>{2}</tcp_port>
  <path>{0}/data/</path>
  <tmp_path>{0}/tmp/</tmp_path>
  <user_files_path>{0}/user_files/</user_files_path>
  <format_schema_path>{0}/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>5368709120</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
</yandex>
)",
                                                  d, http_port_, tcp_port));
    WriteFile(dir_.Sub("users.xml"), R"(<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users>
    <default><password></password><networks><ip>::/0</ip></networks>
      <profile>default</profile><quota>default</quota></default>
    <kobs><password>secret</password><networks><ip>::/0</ip></networks>
      <profile>default</profile><quota>default</quota></kobs>
  </users>
  <quotas><default></default></quotas>
</yandex>
)");
    std::string config_arg = "--config-file=" + dir_.Sub("config.xml");
    std::string out = dir_.Sub("stdout.log");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    char* argv[] = {const_cast<char*>(kServerBinary), config_arg.data(), nullptr};
    int rc = posix_spawn(&pid_, kServerBinary, &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      return fmt::format("posix_spawn {}: {}", kServerBinary, strerror(rc));
    }
    auto store = RemoteStore::Create({.url = url()});
    if (!store.ok()) return std::string(store.status().message());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
      if ((*store)->Ping().ok()) return "";
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return "clickhouse-server exited during startup:\n" + Logs();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return "clickhouse-server did not answer /ping within 15 s:\n" + Logs();
  }

  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  std::string url() const { return fmt::format("http://127.0.0.1:{}", http_port_); }
  std::string Logs() const {
    return ReadFile(dir_.Sub("stdout.log")) + ReadFile(dir_.Sub("error.log"));
  }

 private:
  testing::TempDir dir_;
  pid_t pid_ = -1;
  int http_port_ = 0;
};

class RemoteStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ClickHouseServer();
    start_error_ = server_->Start();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_EQ(start_error_, "") << "the test server did not start";
    store_ = Open({});
    ASSERT_NE(store_, nullptr);
    db_ = fmt::format("t_{}", ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_OK(Run(fmt::format("CREATE DATABASE IF NOT EXISTS {}", db_)));
  }

  // A store on the test server, with `options` applied over the defaults.
  static std::unique_ptr<RemoteStore> Open(RemoteStoreOptions options) {
    options.url = server_->url();
    auto s = RemoteStore::Create(options);
    EXPECT_THAT(s, IsOk());
    return s.ok() ? std::move(*s) : nullptr;
  }

  absl::Status Run(const std::string& sql) { return store_->Query(sql, {}).status(); }
  std::string Scalar(Store& store, const std::string& sql) {
    auto v = QueryScalar(store, sql);
    EXPECT_THAT(v, IsOk());
    return v.ok() ? *v : "";
  }

  static std::string Numbers(int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += fmt::format("{}\n", i);
    return s;
  }

  static ClickHouseServer* server_;
  static std::string start_error_;
  std::unique_ptr<RemoteStore> store_;
  std::string db_;
};

ClickHouseServer* RemoteStoreTest::server_ = nullptr;
std::string RemoteStoreTest::start_error_;

TEST_F(RemoteStoreTest, PingsAndNamesItsBackend) {
  EXPECT_OK(store_->Ping());
  EXPECT_EQ(store_->backend(), "remote");
  EXPECT_THAT(store_->Classify("SELECT 1", nullptr), StatusIs(absl::StatusCode::kUnimplemented));
}

TEST_F(RemoteStoreTest, RunsSelectInRequestedFormat) {
  ASSERT_OK_AND_ASSIGN(QueryResult r,
                       store_->Query("SELECT number FROM system.numbers LIMIT 3", {}));
  EXPECT_EQ(r.data, "0\n1\n2\n");
  EXPECT_FALSE(r.stats.query_id.empty());
  EXPECT_EQ(r.stats.result_bytes, 6u);
  QueryOptions o;
  o.format = "JSONEachRow";
  ASSERT_OK_AND_ASSIGN(r, store_->Query("SELECT 1 AS n, 'x' AS s", o));
  EXPECT_EQ(r.data, "{\"n\":1,\"s\":\"x\"}\n");
}

TEST_F(RemoteStoreTest, FormatClauseInSqlWins) {
  QueryOptions o;
  o.format = "JSONEachRow";
  ASSERT_OK_AND_ASSIGN(QueryResult r, store_->Query("SELECT 7 AS n FORMAT CSVWithNames", o));
  EXPECT_EQ(r.data, "\"n\"\n7\n");
}

TEST_F(RemoteStoreTest, ReportsServerVersion) {
  ASSERT_OK_AND_ASSIGN(std::string v, store_->ServerVersion());
  EXPECT_THAT(v, StartsWith("18.16"));
}

// The user a query runs as, read back from system.processes through the query id we send
// (18.16 has no currentUser()); this also shows the query id reaches the server.
std::string WhoAmI(Store& store) {
  QueryOptions o;
  o.query_id =
      fmt::format("whoami-{}", std::chrono::steady_clock::now().time_since_epoch().count());
  auto r = store.Query(
      fmt::format("SELECT user FROM system.processes WHERE query_id = '{}'", o.query_id), o);
  EXPECT_THAT(r, IsOk());
  if (!r.ok()) return "";
  // 18.16 sends no X-ClickHouse-Query-Id; the id reported is the one we sent.
  EXPECT_EQ(r->stats.query_id, o.query_id);
  return r->data;
}

TEST_F(RemoteStoreTest, AuthenticatesWithHeadersAndBasic) {
  EXPECT_EQ(WhoAmI(*store_), "default\n");
  for (std::string mode : {"headers", "basic"}) {
    SCOPED_TRACE(mode);
    auto store = Open({.user = "kobs", .password = "secret", .auth_mode = mode});
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(WhoAmI(*store), "kobs\n");
  }
}

TEST_F(RemoteStoreTest, RejectsWrongPasswordAndUnknownUser) {
  for (std::string mode : {"headers", "basic"}) {
    SCOPED_TRACE(mode);
    auto store = Open({.user = "kobs", .password = "wrong", .auth_mode = mode});
    auto r = store->Query("SELECT 1", {});
    // 18.16 answers 401 with "Code: 193 ... Wrong password for user kobs"; modern servers
    // answer 516 (AUTHENTICATION_FAILED). Both are Unauthenticated.
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnauthenticated));
    EXPECT_EQ(ClickHouseErrorCode(r.status()), 193);
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("Wrong password"));

    store = Open({.user = "nobody", .password = "x", .auth_mode = mode});
    r = store->Query("SELECT 1", {});
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnauthenticated));
    EXPECT_EQ(ClickHouseErrorCode(r.status()), kUnknownUser);
  }
}

TEST_F(RemoteStoreTest, ParsesOldServerErrorsFromTheBody) {
  auto r = store_->Query("SELEC 1", {});
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(ClickHouseErrorCode(r.status()), kSyntaxError);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("Syntax error"));

  r = store_->Query("SELECT * FROM no_such_table", {});
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(ClickHouseErrorCode(r.status()), kUnknownTable);

  QueryOptions o;
  o.database = "no_such_db";
  r = store_->Query("SELECT 1", o);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(ClickHouseErrorCode(r.status()), kUnknownDatabase);
}

TEST_F(RemoteStoreTest, PassesSettings) {
  QueryOptions o;
  o.settings = {{"max_result_rows", "5"}, {"result_overflow_mode", "throw"}};
  auto r = store_->Query("SELECT number FROM system.numbers LIMIT 10", o);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(ClickHouseErrorCode(r.status()), 396);  // TOO_MANY_ROWS_OR_BYTES

  o.settings = {{"no_such_setting", "1"}};
  EXPECT_EQ(ClickHouseErrorCode(store_->Query("SELECT 1", o).status()), kUnknownSetting);
  // Names that would collide with the request's own parameters never reach the server.
  for (const char* name : {"query", "database", "param_x", "user", "a&b"}) {
    o.settings = {{name, "1"}};
    EXPECT_THAT(store_->Query("SELECT 1", o), StatusIs(absl::StatusCode::kInvalidArgument)) << name;
  }
}

TEST_F(RemoteStoreTest, UsesDatabaseOfQueryOrStore) {
  ASSERT_OK(Run(fmt::format("CREATE TABLE {}.t (a UInt8) ENGINE = Memory", db_)));
  ASSERT_OK(Run(fmt::format("INSERT INTO {}.t VALUES (42)", db_)));
  QueryOptions o;
  o.database = db_;
  ASSERT_OK_AND_ASSIGN(QueryResult r, store_->Query("SELECT a FROM t", o));
  EXPECT_EQ(r.data, "42\n");
  auto store = Open({.database = db_});
  EXPECT_EQ(Scalar(*store, "SELECT a FROM t"), "42");
  EXPECT_EQ(Scalar(*store, "SELECT currentDatabase()"), db_);
}

TEST_F(RemoteStoreTest, DecompressesLargeResponses) {
  const std::string expected = Numbers(200000);
  for (bool compress : {true, false}) {
    SCOPED_TRACE(compress);
    auto store = Open({.compress_responses = compress});
    ASSERT_OK_AND_ASSIGN(QueryResult r,
                         store->Query("SELECT number FROM system.numbers LIMIT 200000", {}));
    EXPECT_EQ(r.data.size(), expected.size());
    EXPECT_TRUE(r.data == expected);
  }
}

TEST_F(RemoteStoreTest, StreamsChunksAndStopsWhenTheSinkFails) {
  int chunks = 0;
  std::string data;
  ASSERT_OK_AND_ASSIGN(QueryStats stats,
                       store_->QueryStream("SELECT number FROM system.numbers LIMIT 200000", {},
                                           [&](std::string_view chunk) {
                                             ++chunks;
                                             data.append(chunk);
                                             return absl::OkStatus();
                                           }));
  EXPECT_GT(chunks, 1);
  EXPECT_TRUE(data == Numbers(200000));
  EXPECT_EQ(stats.result_bytes, data.size());

  // An endless query: only the sink's error ends it.
  chunks = 0;
  auto r = store_->QueryStream("SELECT number FROM system.numbers", {}, [&](std::string_view) {
    return ++chunks < 3 ? absl::OkStatus() : absl::CancelledError("enough rows");
  });
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(r.status().message(), "enough rows");
  EXPECT_EQ(chunks, 3);
  // The pooled handle still works after the aborted transfer.
  EXPECT_EQ(Scalar(*store_, "SELECT 1"), "1");
}

TEST_F(RemoteStoreTest, DetectsErrorsAfterRowsStreamed) {
  // 18.16 sends 200 and over 1 MiB of rows, then appends the exception text to the body.
  const std::string sql = "SELECT throwIf(number = 700000) AS x FROM system.numbers LIMIT 800000";
  for (const char* format : {"TabSeparated", "JSONEachRow", "JSON"}) {
    for (bool compress : {true, false}) {
      SCOPED_TRACE(fmt::format("{} compress={}", format, compress));
      auto store = Open({.compress_responses = compress});
      QueryOptions o;
      o.format = format;
      o.settings = {{"max_block_size", "10000"}};
      uint64_t bytes = 0;
      auto r = store->QueryStream(sql, o, [&](std::string_view chunk) {
        bytes += chunk.size();
        return absl::OkStatus();
      });
      EXPECT_GT(bytes, 1000000u);                       // rows did stream before the error
      EXPECT_EQ(ClickHouseErrorCode(r.status()), 395);  // FUNCTION_THROW_IF_VALUE_IS_NON_ZERO
      EXPECT_THAT(std::string(r.status().message()), HasSubstr("throwIf"));
    }
  }
}

TEST_F(RemoteStoreTest, InsertsRowsPlainAndGzipped) {
  ASSERT_OK(Run(fmt::format("CREATE TABLE {}.t (a UInt32, s String) ENGINE = Memory", db_)));
  const std::string table = db_ + ".t";
  for (bool gzip : {false, true}) {
    SCOPED_TRACE(gzip);
    auto store = Open({.compress_requests = gzip});
    uint32_t base = gzip ? 100 : 0;
    // TabSeparated escapes: a tab, a newline and a backslash inside the string.
    std::string tsv = fmt::format("{}\ttab\\there\n{}\tline\\nbreak\\\\\n", base + 1, base + 2);
    EXPECT_OK(store->Insert(table, {"a", "s"}, "TabSeparated", tsv));
    std::string json = fmt::format("{{\"s\":\"quote\\\" ` ok\",\"a\":{}}}\n", base + 3);
    EXPECT_OK(store->Insert(table, {}, "JSONEachRow", json));
    // A large body, where gzip matters and curl would otherwise wait for 100-continue.
    std::string many;
    for (uint32_t i = 0; i < 50000; ++i)
      many += fmt::format("{}\tbulk\n", 1000000 + base * 100000 + i);
    EXPECT_OK(store->Insert(table, {"a", "s"}, "TabSeparated", many));
  }
  QueryOptions o;
  o.format = "JSONEachRow";
  ASSERT_OK_AND_ASSIGN(
      QueryResult r,
      store_->Query(fmt::format("SELECT a, s FROM {} WHERE s != 'bulk' ORDER BY a", table), o));
  EXPECT_EQ(r.data,
            "{\"a\":1,\"s\":\"tab\\there\"}\n{\"a\":2,\"s\":\"line\\nbreak\\\\\"}\n"
            "{\"a\":3,\"s\":\"quote\\\" ` ok\"}\n"
            "{\"a\":101,\"s\":\"tab\\there\"}\n{\"a\":102,\"s\":\"line\\nbreak\\\\\"}\n"
            "{\"a\":103,\"s\":\"quote\\\" ` ok\"}\n");
  EXPECT_EQ(Scalar(*store_, fmt::format("SELECT count() FROM {} WHERE s = 'bulk'", table)),
            "100000");
}

TEST_F(RemoteStoreTest, InsertQuotesNamesAndValidatesFormat) {
  ASSERT_OK(Run(fmt::format("CREATE TABLE {}.`odd name` (`a b` UInt8) ENGINE = Memory", db_)));
  EXPECT_OK(store_->Insert(db_ + ".odd name", {"a b"}, "TabSeparated", "7\n"));
  EXPECT_EQ(Scalar(*store_, fmt::format("SELECT `a b` FROM {}.`odd name`", db_)), "7");
  EXPECT_THAT(store_->Insert(db_ + ".odd name", {}, "TSV; DROP TABLE x", "7\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  auto r = store_->Insert(db_ + ".missing", {}, "TabSeparated", "7\n");
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(ClickHouseErrorCode(r.status()), kUnknownTable);
  r = store_->Insert(db_ + ".odd name", {}, "TabSeparated", "not a number\n");
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(RemoteStoreTest, SharesFewConnectionsAmongManyThreads) {
  auto store = Open({.max_connections = 2});
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        int n = t * 100 + i;
        auto v = QueryScalar(*store, fmt::format("SELECT {} + 0", n));
        if (!v.ok() || *v != std::to_string(n)) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(RemoteStoreTest, ReportsTransportFailures) {
  auto refused = RemoteStore::Create({.url = fmt::format("http://127.0.0.1:{}", FreePort())});
  ASSERT_THAT(refused, IsOk());
  absl::Status ping = (*refused)->Ping();
  EXPECT_THAT(ping, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(ping.message()), HasSubstr("127.0.0.1"));
  auto r = (*refused)->Query("SELECT 1", {});
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(ClickHouseErrorCode(r.status()), kNetworkError);

  // read_timeout is an inactivity limit: sleep(3) sends nothing for 3 s.
  auto slow = Open({.read_timeout = std::chrono::milliseconds(1000)});
  r = slow->Query("SELECT sleep(3)", {});
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(ClickHouseErrorCode(r.status()), kSocketTimeout);
  EXPECT_EQ(Scalar(*slow, "SELECT 2"), "2");
}

TEST(RemoteStoreOptionsTest, ParsesYaml) {
  YAML::Node node = YAML::Load(R"(
url: https://ch.example.com:8443/proxy/
user: kobs
password: secret
auth_mode: basic
database: otel
tls_insecure_skip_verify: true
connect_timeout: 250ms
read_timeout: 2m
max_connections: 3
compress_responses: false
compress_requests: yes
)");
  ASSERT_OK_AND_ASSIGN(RemoteStoreOptions o, ParseRemoteStoreOptions(node));
  EXPECT_EQ(o.url, "https://ch.example.com:8443/proxy/");
  EXPECT_EQ(o.user, "kobs");
  EXPECT_EQ(o.password, "secret");
  EXPECT_EQ(o.auth_mode, "basic");
  EXPECT_EQ(o.database, "otel");
  EXPECT_TRUE(o.tls_insecure_skip_verify);
  EXPECT_EQ(o.connect_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(o.read_timeout, std::chrono::minutes(2));
  EXPECT_EQ(o.max_connections, 3);
  EXPECT_FALSE(o.compress_responses);
  EXPECT_TRUE(o.compress_requests);

  ASSERT_OK_AND_ASSIGN(o, ParseRemoteStoreOptions(YAML::Node()));
  EXPECT_EQ(o.url, "http://127.0.0.1:8123");
}

TEST(RemoteStoreOptionsTest, RejectsBadValues) {
  for (const char* yaml :
       {"urll: http://x", "url: ftp://x", "url: x:8123", "url: http://", "url: http://a:b@x",
        "url: http://x/?q=1", "auth_mode: digest", "max_connections: 0", "connect_timeout: soon",
        "compress_requests: maybe", "ca_file: /no/such/ca.pem", "password: \"a\\r\\nX-Evil: 1\""}) {
    auto o = ParseRemoteStoreOptions(YAML::Load(yaml));
    EXPECT_THAT(o, StatusIs(absl::StatusCode::kInvalidArgument)) << yaml;
    EXPECT_THAT(std::string(o.status().message()), StartsWith("store.remote")) << yaml;
  }
  EXPECT_THAT(RemoteStore::Create({.url = "http://x", .max_connections = 0}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// Bodies as servers of each generation end them when a query fails after the 200 status.
TEST(StreamedErrorTest, RecognisesEachServerGeneration) {
  // 25.11+: tagged block.
  auto s = ParseStreamedClickHouseError(
      "1\n2\n__exception__PU1FNUFH98\r\nCode: 395. DB::Exception: boom. "
      "(FUNCTION_THROW_IF_VALUE_IS_NON_ZERO) (version 25.11.1.1)\r\n92 PU1FNUFH98__exception__\r\n",
      "PU1FNUFH98");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(ClickHouseErrorCode(*s), 395);
  EXPECT_THAT(std::string(s->message()), StartsWith("Code: 395. DB::Exception: boom."));
  EXPECT_THAT(std::string(s->message()), ::testing::EndsWith("(version 25.11.1.1)"));
  // A tag other than the header's is data.
  EXPECT_FALSE(
      ParseStreamedClickHouseError("__exception__AAA\nCode: 1. x\n4 AAA__exception__", "BBB"));
  // JSON formats of 23.x-25.10.
  s = ParseStreamedClickHouseError(
      "{\"data\": [{\"x\": 0}],\n\t\"exception\": \"Code: 60. DB::Exception: Table \\\"t\\\" "
      "doesn't exist. (UNKNOWN_TABLE) (version 24.3.1.1)\"\n}\n");
  ASSERT_TRUE(s.has_value());
  EXPECT_THAT(*s, StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(std::string(s->message()), HasSubstr("Table \"t\" doesn't exist"));
  // Plain text, modern and 18.x.
  s = ParseStreamedClickHouseError(
      "0\n0\nCode: 395. DB::Exception: Value passed to 'throwIf' function is non-zero. "
      "(FUNCTION_THROW_IF_VALUE_IS_NON_ZERO) (version 23.8.1.1)\n");
  EXPECT_THAT(s, Optional(StatusIs(absl::StatusCode::kInternal)));
  EXPECT_EQ(ClickHouseErrorCode(*s), 395);
  s = ParseStreamedClickHouseError(
      "\t\t}Code: 62, e.displayText() = DB::Exception: Syntax error, e.what() = DB::Exception\n");
  EXPECT_EQ(ClickHouseErrorCode(s.value_or(absl::OkStatus())), kSyntaxError);
  // The outer error of a nested one.
  s = ParseStreamedClickHouseError(
      "0\nCode: 86. DB::Exception: Received from h:9000. DB::Exception: Code: 60. "
      "DB::Exception: no table. (version 23.8.1.1)\n");
  EXPECT_EQ(ClickHouseErrorCode(s.value_or(absl::OkStatus())), 86);
}

TEST(StreamedErrorTest, LeavesOrdinaryDataAlone) {
  for (const char* body :
       {"", "0\n1\n2\n", "{\"exception\":\"none\"}\n",
        "{\"exception\":\"Code: 60. DB::Exception: x\",\"more\":1}\n",
        "Code: 60. DB::Exception: quoted in a row\t2024-01-01\n",
        "x\tCode: 60. DB::Exception: no table (version 23.8.1.1)\n", "__exception__ in a row\n"}) {
    EXPECT_FALSE(ParseStreamedClickHouseError(body).has_value()) << body;
  }
}

}  // namespace
}  // namespace kobs::store
