#include "chapi/clickhouse_endpoint.h"

#include <chrono>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/metrics.h"
#include "embedded_store_suite.h"
#include "fake_response.h"
#include "status_matchers.h"
#include "store/embedded_store.h"
#include "store/otel_rows.h"
#include "store/schema.h"
#include "temp_dir.h"

namespace kobs::chapi {
namespace {

using ::kobs::testing::FakeResponse;
using ::kobs::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class ClickHouseEndpointTest : public testing::EmbeddedStoreSuite {
 protected:
  static void SetUpTestSuite() {
    OpenStore();
    ASSERT_THAT(store::EnsureSchema(*store_, {}), IsOk());
  }

  net::Request Get(const std::string& path,
                   std::vector<std::pair<std::string, std::string>> query = {}) {
    net::Request r;
    r.method = "GET";
    r.path = path;
    r.query = std::move(query);
    r.remote_address = "127.0.0.1";
    r.remote_is_loopback = true;
    return r;
  }
  net::Request Post(const std::string& body,
                    std::vector<std::pair<std::string, std::string>> query = {}) {
    net::Request r = Get("/", std::move(query));
    r.method = "POST";
    r.body = body;
    return r;
  }
  FakeResponse Run(ClickHouseEndpoint& e, const net::Request& r) {
    FakeResponse w;
    if (r.path == "/events") e.HandleEvents(r, w);
    else e.HandleQuery(r, w);
    return w;
  }

  MetricsRegistry metrics_;
  ClickHouseEndpoint endpoint_{*store_, {}, metrics_};
};

TEST_F(ClickHouseEndpointTest, GetQueryWithFormatAndParams) {
  auto w = Run(endpoint_, Get("/", {{"query", "SELECT {a:UInt8} + 1 AS x, {s:String} AS s"},
                                    {"param_a", "41"},
                                    {"param_s", "it's\\tok"},
                                    {"default_format", "JSONEachRow"}}));
  EXPECT_EQ(w.status(), 200);
  EXPECT_EQ(w.body(), "{\"x\":42,\"s\":\"it's\\tok\"}\n");
  EXPECT_EQ(w.header("content-type"), "application/json; charset=UTF-8");
  EXPECT_EQ(w.header("x-clickhouse-format"), "JSONEachRow");
  EXPECT_FALSE(w.header("x-clickhouse-query-id").empty());
  EXPECT_THAT(w.header("x-clickhouse-summary"), HasSubstr("\"result_rows\":\"1\""));
  EXPECT_EQ(w.header("content-length"), std::to_string(w.body().size()));
}

TEST_F(ClickHouseEndpointTest, EmptyGetAnswersOk) {
  EXPECT_EQ(Run(endpoint_, Get("/")).body(), "Ok.\n");
}

TEST_F(ClickHouseEndpointTest, GetIsReadOnly) {
  auto w = Run(endpoint_, Get("/", {{"query", "CREATE TABLE ro (a UInt8) ENGINE = Memory"}}));
  EXPECT_EQ(w.status(), 403);
  EXPECT_EQ(w.header("x-clickhouse-exception-code"), "164");
  EXPECT_THAT(w.body(), StartsWith("Code: 164."));
  auto r = Run(endpoint_, Post("SELECT count() FROM system.tables WHERE name = 'ro'"));
  EXPECT_EQ(r.body(), "0\n");
  auto ins = Run(endpoint_, Get("/", {{"query", "INSERT INTO t FORMAT CSV"}}));
  EXPECT_EQ(ins.header("x-clickhouse-exception-code"), "164");
}

TEST_F(ClickHouseEndpointTest, PostRunsDdlAndInsertsWithDataInBody) {
  ASSERT_EQ(Run(endpoint_, Post("CREATE TABLE IF NOT EXISTS ep (a UInt32, s String) "
                                "ENGINE = MergeTree ORDER BY a"))
                .status(),
            200);
  // Query in the URL, rows in the body: the @clickhouse/client way.
  auto w = Run(endpoint_, Post("{\"a\":1,\"s\":\"x\\n\\nDROP TABLE ep\"}\n{\"a\":2,\"s\":\"y\"}\n",
                               {{"query", "INSERT INTO ep FORMAT JSONEachRow"}}));
  EXPECT_EQ(w.status(), 200) << w.body();
  EXPECT_THAT(w.header("x-clickhouse-summary"), HasSubstr("\"written_rows\":\"2\""));
  // Query and data both in the body, with a blank line inside the data.
  w = Run(endpoint_, Post("INSERT INTO ep FORMAT CSV\n3,\"z\n\nDROP TABLE ep\"\n"));
  EXPECT_EQ(w.status(), 200) << w.body();
  w = Run(endpoint_, Post("INSERT INTO ep VALUES (4, 'v\n\nDROP TABLE ep')"));
  EXPECT_EQ(w.status(), 200) << w.body();
  EXPECT_EQ(Run(endpoint_, Post("SELECT count(), sum(a) FROM ep")).body(), "4\t10\n");
}

TEST_F(ClickHouseEndpointTest, ErrorsHaveClickHouseStatusAndHeader) {
  auto w = Run(endpoint_, Post("SELECT * FROM no_such_table"));
  EXPECT_EQ(w.status(), 404);
  EXPECT_EQ(w.header("x-clickhouse-exception-code"), "60");
  EXPECT_THAT(w.body(), StartsWith("Code: 60. DB::Exception:"));
  w = Run(endpoint_, Post("SELEC 1"));
  EXPECT_EQ(w.status(), 400);
  EXPECT_EQ(w.header("x-clickhouse-exception-code"), "62");
  w = Run(endpoint_, Post("SELECT 1; SELECT 2"));
  EXPECT_EQ(w.header("x-clickhouse-exception-code"), "62");
  w = Run(endpoint_, Post("SYSTEM SHUTDOWN"));
  EXPECT_EQ(w.header("x-clickhouse-exception-code"), "497");
  w = Run(endpoint_, Post("SELECT 1 INTO OUTFILE '/tmp/kobs-should-not-exist'"));
  EXPECT_EQ(w.header("x-clickhouse-exception-code"), "497");
  w = Run(endpoint_, Post("SELECT 1", {{"compress", "1"}}));
  EXPECT_EQ(w.header("x-clickhouse-exception-code"), "48");
}

TEST_F(ClickHouseEndpointTest, SetAndUseAreSessionlessNoOps) {
  EXPECT_EQ(Run(endpoint_, Post("SET max_threads = 1")).status(), 200);
  EXPECT_EQ(Run(endpoint_, Post("SELECT getSetting('max_threads') = 1")).body(), "0\n");
}

TEST_F(ClickHouseEndpointTest, SettingsAndDatabaseFromUrl) {
  Run(endpoint_, Post("CREATE DATABASE IF NOT EXISTS other"));
  auto w = Run(endpoint_, Post("SELECT currentDatabase(), getSetting('max_threads')",
                               {{"database", "other"}, {"max_threads", "3"}}));
  EXPECT_EQ(w.body(), "other\t3\n");
  w = Run(endpoint_, Post("SELECT 1", {{"no_such_setting", "1"}}));
  EXPECT_EQ(w.header("x-clickhouse-exception-code"), "115");
}

TEST_F(ClickHouseEndpointTest, LargeResultsStreamAfterTheBuffer) {
  ClickHouseEndpoint small(*store_, {.response_buffer_bytes = 1024}, metrics_);
  auto w = Run(small, Post("SELECT number FROM numbers(300000)"));
  EXPECT_EQ(w.status(), 200);
  EXPECT_GT(w.chunks().size(), 1u);
  EXPECT_EQ(w.header("content-length"), "");
  EXPECT_EQ(std::count(w.body().begin(), w.body().end(), '\n'), 300000);
}

TEST_F(ClickHouseEndpointTest, ClientDisconnectStopsTheQuery) {
  ClickHouseEndpoint small(*store_, {.response_buffer_bytes = 16}, metrics_);
  FakeResponse w;
  w.set_fail_writes(true);
  small.HandleQuery(Post("SELECT number FROM numbers(100000000)"), w);
  EXPECT_LE(w.chunks().size(), 3u);
  EXPECT_EQ(Run(endpoint_, Post("SELECT 5")).body(), "5\n");
}

TEST_F(ClickHouseEndpointTest, Authentication) {
  ClickHouseEndpoint secured(*store_, {.user = "kobs", .password = "s3cret"}, metrics_);
  auto r = Post("SELECT 1");
  EXPECT_EQ(Run(secured, r).header("x-clickhouse-exception-code"), "516");
  r.headers.Add("X-ClickHouse-User", "kobs");
  r.headers.Add("X-ClickHouse-Key", "s3cret");
  EXPECT_EQ(Run(secured, r).body(), "1\n");
  auto basic = Post("SELECT 2");
  basic.headers.Add("Authorization", "Basic a29iczpzM2NyZXQ=");  // kobs:s3cret
  EXPECT_EQ(Run(secured, basic).body(), "2\n");
  auto params = Post("SELECT 3", {{"user", "kobs"}, {"password", "wrong"}});
  EXPECT_EQ(Run(secured, params).status(), 403);
  // No password configured: loopback only.
  auto remote = Post("SELECT 4");
  remote.remote_is_loopback = false;
  remote.remote_address = "10.1.2.3";
  auto w = Run(endpoint_, remote);
  EXPECT_EQ(w.status(), 401);
  EXPECT_EQ(w.header("x-clickhouse-exception-code"), "194");
}

TEST_F(ClickHouseEndpointTest, PredefinedEventsHandler) {
  auto event = [](const std::string& comp, const std::string& reason, int64_t ts) {
    store::LogRow r;
    r.timestamp_ns = ts;
    r.body = fmt::format(
        R"({{"type":"ADDED","object":{{"kind":"Event","reason":"{}","message":"m {}","type":"Warning",)"
        R"("involvedObject":{{"kind":"Pod","name":"p1","namespace":"ns","uid":"u1"}},)"
        R"("source":{{"component":"kubelet"}},"lastTimestamp":"2026-11-25T10:00:00Z"}}}})",
        reason, reason);
    r.resource_attributes = {{"k8s.namespace.name", "ns"}, {"telemetry.source", "k8s-events"}};
    r.log_attributes = {{"event.name", "p1.1"}, {"k8s.resource.name", "events"},
                        {"krateo.io/composition-id", comp}};
    return r;
  };
  // Recent timestamps: the schema's 7-day TTL drops older rows in a background merge.
  const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  std::string data;
  store::EncodeLogRow(event("comp-a", "BackOff", now_ns - 3'000'000'000), &data);
  store::EncodeLogRow(event("comp-a", "Pulled", now_ns - 2'000'000'000), &data);
  store::EncodeLogRow(event("comp-b", "Killing", now_ns - 1'000'000'000), &data);
  ASSERT_THAT(store_->Insert("otel_logs", store::LogColumns(), "RowBinary", data), IsOk());

  auto w = Run(endpoint_, Get("/events", {{"composition_id", "comp-a"}}));
  EXPECT_EQ(w.status(), 200) << w.body();
  EXPECT_THAT(w.body(), HasSubstr("\"rows\": 2"));
  EXPECT_THAT(w.body(), HasSubstr("\"obj_name\": \"p1\""));
  EXPECT_THAT(w.body(), HasSubstr("\"source_component\": \"kubelet\""));
  EXPECT_THAT(w.body(), HasSubstr("\"eventTime\": \"2026-11-25T10:00:00Z\""));
  EXPECT_LT(w.body().find("Pulled"), w.body().find("BackOff"));  // newest first
  EXPECT_THAT(w.body(), ::testing::Not(HasSubstr("Killing")));
  auto limited = Run(endpoint_, Get("/events", {{"composition_id", "comp-a"}, {"limit", "1"}}));
  EXPECT_THAT(limited.body(), HasSubstr("\"rows\": 1")) << limited.body();
  auto injected = Run(endpoint_, Get("/events", {{"composition_id", "' OR 1=1 --"}}));
  EXPECT_THAT(injected.body(), HasSubstr("\"rows\": 0"));
  auto missing = Run(endpoint_, Get("/events"));
  EXPECT_EQ(missing.status(), 400);
  EXPECT_EQ(missing.header("x-clickhouse-exception-code"), "456");
}

TEST_F(ClickHouseEndpointTest, CountsQueriesInMetrics) {
  Run(endpoint_, Post("SELECT 1"));
  Run(endpoint_, Post("SELEC"));
  std::string text = metrics_.Render();
  EXPECT_THAT(text, HasSubstr("kobs_clickhouse_queries_total{result=\"ok\"} 1"));
  EXPECT_THAT(text, HasSubstr("kobs_clickhouse_queries_total{result=\"error\"} 1"));
}

}  // namespace
}  // namespace kobs::chapi
