// An embedded store with the OTel schema, shared by the tests of one suite: decoded rows go in
// through the same RowBinary insert the writer uses, and come back as TSV for exact comparison.
#pragma once

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "otlp/tables.h"
#include "status_matchers.h"
#include "store/embedded_store.h"
#include "store/schema.h"
#include "temp_dir.h"

namespace kobs::otlp {

class StoreFixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    auto s = store::EmbeddedStore::Create({.path = dir_->Sub("data")});
    ASSERT_THAT(s, testing::IsOk());
    store_ = s->release();
    ASSERT_THAT(store::EnsureSchema(*store_, {.database = "otlp", .ttl = std::chrono::seconds(0)}),
                testing::IsOk());
  }
  static void TearDownTestSuite() {
    delete store_;
    delete dir_;
    store_ = nullptr;
    dir_ = nullptr;
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

  static inline testing::TempDir* dir_ = nullptr;
  static inline store::EmbeddedStore* store_ = nullptr;
};

}  // namespace kobs::otlp
