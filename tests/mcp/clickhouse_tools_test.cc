// The raw-SQL tools on a real embedded store: paging, limits with the truncation marker, the
// read-only settings, and the injection corpus end to end (nothing is written).
#include "mcp/clickhouse_tools.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "embedded_store_suite.h"
#include "run_tool.h"

namespace kobs::mcp {
namespace {

using json = nlohmann::json;
using ::kobs::testing::IsOk;

class ClickHouseToolsTest : public testing::EmbeddedStoreSuite {
 protected:
  static void SetUpTestSuite() {
    OpenStore();
    for (int i = 0; i < 7; ++i) {
      ASSERT_THAT(store_->Query(fmt::format("CREATE TABLE default.t{} (x UInt64 COMMENT 'the x') "
                                            "ENGINE = MergeTree ORDER BY x COMMENT 'table {}'",
                                            i, i),
                                {}),
                  IsOk());
    }
  }
  json Run(const std::string& tool, json args, McpOptions o = {}) {
    return RunTool(ClickHouseTools(*store_, o), tool, args);
  }
};

TEST_F(ClickHouseToolsTest, ListsTablesAPageAtATime) {
  json p1 = Run("list_tables", {{"like", "t%"}, {"not_like", "t6"}, {"page_size", 4}});
  ASSERT_EQ(p1["tables"].size(), 4u) << p1;
  EXPECT_EQ(p1["total_tables"], 6);
  EXPECT_EQ(p1["tables"][0]["name"], "t0");
  EXPECT_EQ(p1["tables"][0]["comment"], "table 0");
  EXPECT_EQ(p1["tables"][0]["columns"][0],
            json({{"name", "x"}, {"type", "UInt64"}, {"comment", "the x"}}));
  json p2 = Run("list_tables", {{"like", "t%"}, {"not_like", "t6"}, {"page_size", 4},
                                {"page_token", p1["next_page_token"]}});
  ASSERT_EQ(p2["tables"].size(), 2u);
  EXPECT_EQ(p2["tables"][1]["name"], "t5");
  EXPECT_TRUE(p2["next_page_token"].is_null());
  EXPECT_THAT(Run("list_tables", {{"page_token", "x'"}})["error"].get<std::string>(),
              ::testing::HasSubstr("page_token"));
  EXPECT_THAT(Run("describe_table", {{"table", "nope"}})["error"].get<std::string>(),
              ::testing::HasSubstr("does not exist"));
  EXPECT_EQ(Run("describe_table", {{"table", "t1"}})["sorting_key"], "x");
  bool found = false;
  json dbs = Run("list_databases", json::object());
  for (const auto& d : dbs["databases"]) found = found || d["name"] == "system";
  EXPECT_TRUE(found) << dbs;
}

TEST_F(ClickHouseToolsTest, CapsRowsAndBytesAndSaysHowManyWereLeftOut) {
  McpOptions o;
  o.max_result_rows = 10;
  json r = Run("run_select_query", {{"query", "SELECT number FROM numbers(25)"}}, o);
  EXPECT_EQ(r["row_count"], 10);
  EXPECT_EQ(r["truncated"], true);
  EXPECT_EQ(r["more_rows"], 15);
  EXPECT_THAT(r["message"].get<std::string>(), ::testing::HasSubstr("truncated: 15 more rows"));
  o.max_result_rows = 1000;
  o.max_result_bytes = 100;
  r = Run("run_select_query", {{"query", "SELECT repeat('x', 30) AS s FROM numbers(10)"}}, o);
  EXPECT_EQ(r["row_count"], 2) << r;
  EXPECT_EQ(r["more_rows"], 8);
  r = Run("run_select_query", {{"query", "SELECT number FROM numbers(3);"}});
  EXPECT_EQ(r["truncated"], false);
  EXPECT_EQ(r["rows"], json::parse(R"([{"number":0},{"number":1},{"number":2}])"));
}

TEST_F(ClickHouseToolsTest, RunsReadOnlyWithATimeLimit) {
  json r = Run("run_select_query",
               {{"query", "SELECT getSetting('readonly') AS r, getSetting('max_execution_time') AS t"}});
  EXPECT_EQ(r["rows"][0]["r"], 2);
  EXPECT_EQ(r["rows"][0]["t"], 30);
  McpOptions o;
  o.max_execution_time = std::chrono::seconds(1);
  r = Run("run_select_query", {{"query", "SELECT sum(number) FROM numbers(100000000000)"}}, o);
  EXPECT_THAT(r["error"].get<std::string>(), ::testing::HasSubstr("TIMEOUT_EXCEEDED")) << r;
  // The pooled connections are not left read-only or limited.
  ASSERT_THAT(store_->Query("CREATE TABLE default.after (x UInt8) ENGINE = Memory", {}), IsOk());
  ASSERT_THAT(store_->Query("INSERT INTO default.after VALUES (1)", {}), IsOk());
}

TEST_F(ClickHouseToolsTest, InjectionCorpusWritesNothing) {
  auto tables = [&] {
    return store::QueryScalar(*store_, "SELECT count() FROM system.tables WHERE database = 'default'");
  };
  auto before = tables();
  ASSERT_THAT(before, IsOk());
  for (const char* sql : {"DROP TABLE t0", "SELECT 1; DROP TABLE t0", "SELECT 1 SETTINGS readonly=0",
                          "INSERT INTO t0 VALUES (1)", "ALTER TABLE t0 DELETE WHERE 1",
                          "SYSTEM DROP DNS CACHE", "SELECT * FROM file('/etc/passwd')",
                          "SELECT 1 INTO OUTFILE 'x'", "CREATE TABLE z (x UInt8) ENGINE=Memory"}) {
    json r = Run("run_select_query", {{"query", sql}});
    EXPECT_TRUE(r.contains("error")) << sql << " -> " << r;
  }
  // Every string argument of every tool, with quotes, comments and statements.
  for (const char* evil : {"'; DROP TABLE t0; --", "t0' OR '1'='1", "%", "\\' UNION SELECT 1 --"}) {
    Run("list_tables", {{"database", evil}, {"like", evil}, {"not_like", evil}});
    Run("describe_table", {{"database", evil}, {"table", evil}});
  }
  EXPECT_EQ(*tables(), *before);
  EXPECT_THAT(store::QueryScalar(*store_, "SELECT count() FROM default.t0"), IsOk());
}

}  // namespace
}  // namespace kobs::mcp
