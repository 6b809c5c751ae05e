// SqlGuard against an injection corpus: every statement that could write, change limits,
// reach outside the databases or smuggle a second statement is refused with a reason, and
// ordinary read-only queries pass.
#include "mcp/sql_guard.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kobs::mcp {
namespace {

using ::testing::HasSubstr;

struct Refusal {
  const char* sql;
  const char* reason;  // part of the message
};

class SqlGuardRefuses : public ::testing::TestWithParam<Refusal> {};

TEST_P(SqlGuardRefuses, WithAReason) {
  absl::Status s = CheckReadOnlySql(GetParam().sql);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << GetParam().sql;
  EXPECT_THAT(std::string(s.message()), HasSubstr(GetParam().reason)) << GetParam().sql;
}

INSTANTIATE_TEST_SUITE_P(
    Corpus, SqlGuardRefuses,
    ::testing::Values(
        Refusal{"", "empty"}, Refusal{"  -- only a comment\n", "empty"},
        Refusal{"INSERT INTO otel_logs (Body) VALUES ('x')", "starts with `insert`"},
        Refusal{"DROP TABLE otel_logs", "starts with `drop`"},
        Refusal{"ALTER TABLE otel_logs DELETE WHERE 1", "starts with `alter`"},
        Refusal{"TRUNCATE otel_logs", "starts with `truncate`"},
        Refusal{"SYSTEM SHUTDOWN", "starts with `system`"},
        Refusal{"SET readonly = 0", "starts with `set`"},
        Refusal{"CREATE TABLE t (x UInt8) ENGINE = Memory", "starts with `create`"},
        Refusal{"GRANT ALL ON *.* TO default", "starts with `grant`"},
        Refusal{"KILL QUERY WHERE 1", "starts with `kill`"},
        Refusal{"OPTIMIZE TABLE otel_logs FINAL", "starts with `optimize`"},
        Refusal{"SELECT 1; DROP TABLE otel_logs", "only one statement"},
        Refusal{"SELECT 1;\n\nDROP TABLE otel_logs", "only one statement"},
        Refusal{"SELECT 1 /* ; */ ; SELECT 2", "only one statement"},
        Refusal{"SELECT ';' AS a; INSERT INTO t VALUES (1)", "only one statement"},
        Refusal{"SELECT 1 SETTINGS readonly = 0", "SETTINGS clause"},
        Refusal{"SELECT 1 SETTINGS max_execution_time=0", "SETTINGS clause"},
        Refusal{"SELECT 1 settings `max_result_rows` = 0", "SETTINGS clause"},
        Refusal{"SELECT * FROM numbers(10) SETTINGS max_threads = 1, readonly = 0",
                "SETTINGS clause"},
        Refusal{"SELECT 1 INTO OUTFILE '/tmp/x'", "INTO OUTFILE"},
        Refusal{"SELECT * FROM file('/etc/passwd')", "`file`"},
        Refusal{"SELECT * FROM FILE ('/etc/passwd', 'LineAsString')", "`file`"},
        Refusal{"SELECT * FROM url('http://169.254.169.254/', 'RawBLOB')", "`url`"},
        Refusal{"SELECT * FROM remote('10.0.0.1', system.one)", "`remote`"},
        Refusal{"SELECT * FROM remoteSecure('h', db, t)", "`remotesecure`"},
        Refusal{"SELECT * FROM s3('https://bucket/x.csv')", "`s3`"},
        Refusal{"SELECT * FROM mysql('h:3306', 'db', 't', 'u', 'p')", "`mysql`"},
        Refusal{"SELECT * FROM postgresql('h', 'db', 't', 'u', 'p')", "`postgresql`"},
        Refusal{"SELECT * FROM executable('sh', 'TSV', 'x String')", "`executable`"},
        Refusal{"SELECT * FROM cluster('default', system.one)", "`cluster`"},
        Refusal{"SELECT * FROM hdfs('hdfs://h/x')", "`hdfs`"},
        Refusal{"DESCRIBE url('http://x', CSV)", "`url`"},
        Refusal{"WITH x AS (SELECT * FROM url('http://x', CSV)) SELECT * FROM x", "`url`"},
        Refusal{"SELECT 1 UNION ALL SELECT * FROM file('x')", "`file`"},
        Refusal{"SELECT 'unterminated", "unterminated string"},
        Refusal{"SELECT `x", "unterminated identifier"},
        Refusal{"SELECT 1 /* open", "unterminated /*"},
        Refusal{"SELECT 1 FORMAT CSV", "FORMAT clause"},
        Refusal{"'; DROP TABLE otel_logs; --", "unterminated string"},
        Refusal{"pod') OR 1=1 --", "unterminated string"},
        Refusal{"pod OR 1=1", "starts with `pod`"}));

TEST(SqlGuardTest, ReadOnlyQueriesPass) {
  for (const char* sql : {
           "SELECT 1",
           "select count() from otel_logs where Body like '%; DROP TABLE x%'",
           "SELECT 'INTO OUTFILE', 'SETTINGS readonly=0', 'file(x)'",
           "SELECT * FROM system.settings WHERE name = 'readonly'",
           "SELECT name, value FROM system.settings LIMIT 3",
           "WITH t AS (SELECT 1 AS x) SELECT x FROM t",
           "(SELECT 1) UNION ALL (SELECT 2)",
           "SHOW TABLES", "SHOW CREATE TABLE otel_logs", "DESCRIBE TABLE otel_logs",
           "DESC otel_logs", "EXPLAIN SELECT 1", "EXISTS TABLE otel_logs",
           "SELECT 1;", "SELECT 1 ; -- done\n", "SELECT format('{}', 1)",
           "SELECT * FROM format(CSV, 'a\\n1')", "SELECT * FROM numbers(10)",
           "SELECT `file` FROM t", "SELECT \"url\" FROM t", "SELECT 1 -- ; DROP TABLE x",
           "SELECT 1 # comment; DROP\n", "SELECT ResourceAttributes['k8s.pod.name'] FROM otel_logs",
       }) {
    EXPECT_TRUE(CheckReadOnlySql(sql).ok()) << sql << ": " << CheckReadOnlySql(sql);
  }
}

TEST(SqlGuardTest, ReportsWhereTheStatementEnds) {
  size_t end = 0;
  ASSERT_TRUE(CheckReadOnlySql("SELECT 1 ; -- bye", &end).ok());
  EXPECT_EQ(end, 9u);
  ASSERT_TRUE(CheckReadOnlySql("SELECT ';'", &end).ok());
  EXPECT_EQ(end, 10u);
}

TEST(SqlGuardTest, EscapesLikeWildcards) {
  EXPECT_EQ(EscapeLike("api_%x\\"), "api\\_\\%x\\\\");
  EXPECT_EQ(EscapeLike("plain-pod"), "plain-pod");
}

}  // namespace
}  // namespace kobs::mcp
