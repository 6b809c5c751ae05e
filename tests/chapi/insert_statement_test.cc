#include "chapi/insert_statement.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kobs::chapi {
namespace {

using ::testing::ElementsAre;

TEST(InsertStatementTest, ParsesFormatInserts) {
  struct Case {
    std::string sql, table, format, data;
    std::vector<std::string> columns;
  } cases[] = {
      {"INSERT INTO t FORMAT JSONEachRow\n{\"a\":1}\n", "t", "JSONEachRow", "{\"a\":1}\n", {}},
      {"insert into db.t (a, `b c`) format TSV\n1\t2\n", "db.t", "TSV", "1\t2\n", {"a", "b c"}},
      {"INSERT INTO TABLE `my``db`.\"tbl\" FORMAT CSV", "my`db.tbl", "CSV", "", {}},
      {"INSERT INTO t SETTINGS async_insert=1, myformat='FORMAT' FORMAT RowBinary\r\n\x01", "t",
       "RowBinary", "\x01", {}},
      {"  -- comment\nINSERT /* c */ INTO t(a) FORMAT Values (1)", "t", "Values", "(1)", {"a"}},
      {"INSERT INTO t VALUES (1, 'a\n\nDROP TABLE t')", "t", "Values", "(1, 'a\n\nDROP TABLE t')", {}},
  };
  for (const auto& c : cases) {
    auto st = ParseInsert(c.sql);
    ASSERT_TRUE(st.has_value()) << "case " << c.sql;
    EXPECT_EQ(st->table, c.table) << "case " << c.sql;
    EXPECT_EQ(st->format, c.format) << "case " << c.sql;
    EXPECT_EQ(st->columns, c.columns) << "case " << c.sql;
    EXPECT_EQ(c.sql.substr(st->data_offset), c.data) << "case " << c.sql;
  }
}

TEST(InsertStatementTest, LeavesOtherStatementsAlone) {
  for (const char* sql : {"SELECT 1", "INSERT INTO t SELECT * FROM u",
                          "INSERT INTO FUNCTION file('x') FORMAT CSV", "INSERT INTO",
                          "INSERT INTO t (a FORMAT CSV", "INSERTINTO t FORMAT CSV", ""}) {
    EXPECT_FALSE(ParseInsert(sql).has_value()) << "case " << sql;
  }
}

}  // namespace
}  // namespace kobs::chapi
