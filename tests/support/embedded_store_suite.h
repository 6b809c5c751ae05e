// A gtest fixture base with one embedded store per test suite (opening chDB is the slow part
// of these tests), in a temporary directory that goes with the suite. A suite's
// SetUpTestSuite() calls OpenStore(), then creates what it needs (schema, tables).
#pragma once

#include <gtest/gtest.h>

#include "status_matchers.h"
#include "store/embedded_store.h"
#include "temp_dir.h"

namespace kobs::testing {

class EmbeddedStoreSuite : public ::testing::Test {
 protected:
  static void OpenStore() {
    dir_ = new TempDir();
    auto s = store::EmbeddedStore::Create({.path = dir_->Sub("data")});
    ASSERT_THAT(s, IsOk());
    store_ = s->release();
  }
  static void TearDownTestSuite() {
    delete store_;
    delete dir_;
    store_ = nullptr;
    dir_ = nullptr;
  }

  static inline TempDir* dir_ = nullptr;
  static inline store::EmbeddedStore* store_ = nullptr;
};

}  // namespace kobs::testing
