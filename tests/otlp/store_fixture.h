// An embedded store with the OTel schema, shared by the tests of one suite: decoded rows go in
// through the same RowBinary insert the writer uses, and come back as TSV for exact comparison.
#pragma once

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "otlp/tables.h"
#include "embedded_store_suite.h"
#include "store/schema.h"

namespace kobs::otlp {

class StoreFixture : public testing::EmbeddedStoreSuite {
 protected:
  static void SetUpTestSuite() {
    OpenStore();
    ASSERT_THAT(store::EnsureSchema(*store_, {.database = "otlp", .ttl = std::chrono::seconds(0)}),
                testing::IsOk());
  }

  // Empties every table, then inserts every non-empty table of `d`.
  static void Replace(const Decoded& d) {
    for (int i = 0; i < kTableCount; ++i) {
      const auto t = static_cast<Table>(i);
      const std::string table = "otlp." + std::string(TableName(t));
      EXPECT_THAT(store_->Query("TRUNCATE TABLE " + table, {}), testing::IsOk());
      if (d.at(t).rows == 0) continue;
      EXPECT_THAT(store_->Insert(table, TableColumns(t), "RowBinary", d.at(t).data),
                  testing::IsOk());
    }
  }

  static std::string Tsv(const std::string& sql) {
    auto r = store_->Query(sql, {.format = "TabSeparated"});
    EXPECT_THAT(r, testing::IsOk());
    return r.ok() ? r->data : "";
  }

};

}  // namespace kobs::otlp
