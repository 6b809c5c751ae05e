// Writer and Spool on the real embedded store. Store failures are injected by a thin decorator
// around the real store (Insert fails while `down` is set), the way an unreachable ClickHouse
// fails.
#include "store/writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/metrics.h"
#include "k8s_log_rows.h"
#include "embedded_store_suite.h"
#include "status_matchers.h"
#include "store/embedded_store.h"
#include "store/otel_rows.h"
#include "store/schema.h"
#include "store/spool.h"
#include "temp_dir.h"

namespace kobs::store {
namespace {

using ::kobs::testing::IsOk;
using ::kobs::testing::StatusIs;

class FlakyStore : public Store {
 public:
  explicit FlakyStore(Store& inner) : inner_(inner) {}
  absl::StatusOr<QueryStats> QueryStream(std::string_view sql, const QueryOptions& o,
                                         const ChunkSink& sink) override {
    return inner_.QueryStream(sql, o, sink);
  }
  absl::StatusOr<QueryStats> Insert(std::string_view table, const std::vector<std::string>& cols,
                                    std::string_view format, std::string_view data,
                                    const InsertOptions& options) override {
    ++attempts;
    if (down) return absl::UnavailableError("ClickHouse at http://ch:8123 does not answer");
    auto r = inner_.Insert(table, cols, format, data, options);
    if (r.ok() && fail_after_insert) return absl::UnavailableError("connection lost after insert");
    return r;
  }
  using Store::Insert;
  absl::StatusOr<std::string> ServerVersion() override { return inner_.ServerVersion(); }
  std::string_view backend() const override { return "flaky"; }

  std::atomic<bool> down{false};
  std::atomic<bool> fail_after_insert{false};
  std::atomic<int> attempts{0};

 private:
  Store& inner_;
};

class WriterTest : public testing::EmbeddedStoreSuite {
 protected:
  static void SetUpTestSuite() { OpenStore(); }
  void SetUp() override {
    db_ = fmt::format("w{}", counter_++);
    ASSERT_THAT(EnsureSchema(*store_, {.database = db_, .ttl = std::chrono::seconds(0)}), IsOk());
    flaky_ = std::make_unique<FlakyStore>(*store_);
  }

  WriterOptions Options(const std::string& spool = "") {
    WriterOptions o;
    o.spool_dir = spool;
    o.flush_interval = std::chrono::milliseconds(20);
    o.retry_backoff_max = std::chrono::milliseconds(50);
    return o;
  }

  // Rows with bodies "<tag>-<i>".
  TableRows Rows(const std::string& tag, int n) {
    auto rows = testing::MakeK8sLogRows(n, 1'764'000'000'000'000'000);
    TableRows t{.table = db_ + ".otel_logs", .columns = &LogColumns(), .rows = static_cast<uint64_t>(n)};
    for (int i = 0; i < n; ++i) {
      rows[i].body = fmt::format("{}-{}", tag, i);
      EncodeLogRow(rows[i], &t.data);
    }
    return t;
  }

  std::string Scalar(const std::string& sql) {
    auto v = QueryScalar(*store_, fmt::format(fmt::runtime(sql), db_));
    EXPECT_THAT(v, IsOk());
    return v.ok() ? *v : "";
  }

  static int counter_;
  std::string db_;
  std::unique_ptr<FlakyStore> flaky_;
  MetricsRegistry metrics_;
};

int WriterTest::counter_ = 0;

TEST_F(WriterTest, GroupsConcurrentWritersAndStoresEveryRowOnce) {
  auto w = Writer::Create(*flaky_, Options(), metrics_);
  ASSERT_THAT(w, IsOk());
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        std::vector<TableRows> parts;
        parts.push_back(Rows(fmt::format("t{}b{}", t, i), 50));
        if (!(*w)->Write(std::move(parts)).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(Scalar("SELECT count(), uniqExact(Body) FROM {}.otel_logs"), "4000\t4000");
  EXPECT_LT(flaky_->attempts.load(), 80) << "80 writes should share inserts";
}

TEST_F(WriterTest, RefusesWritesBeyondTheMemoryBound) {
  WriterOptions o = Options();
  o.max_batch_bytes = 1000;
  o.max_pending_bytes = 1000;
  auto w = Writer::Create(*flaky_, o, metrics_);
  ASSERT_THAT(w, IsOk());
  std::vector<TableRows> parts;
  parts.push_back(Rows("big", 100));
  EXPECT_THAT((*w)->Write(std::move(parts)), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(metrics_.Render(), ::testing::HasSubstr(
      R"(kobs_writer_rejected_writes_total{reason="memory_full"} 1)"));
}

TEST_F(WriterTest, WithoutASpoolStoreFailuresGoBackToTheCaller) {
  auto w = Writer::Create(*flaky_, Options(), metrics_);
  ASSERT_THAT(w, IsOk());
  flaky_->down = true;
  std::vector<TableRows> parts;
  parts.push_back(Rows("x", 5));
  EXPECT_THAT((*w)->Write(std::move(parts)), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(WriterTest, SpoolsWhileTheStoreIsDownAndDrainsInOrderExactlyOnce) {
  const std::string spool = dir_->Sub("spool-" + db_);
  auto w = Writer::Create(*flaky_, Options(spool), metrics_);
  ASSERT_THAT(w, IsOk());
  flaky_->down = true;
  for (int i = 0; i < 5; ++i) {
    std::vector<TableRows> parts;
    parts.push_back(Rows(fmt::format("down{}", i), 20));
    ASSERT_THAT((*w)->Write(std::move(parts)), IsOk()) << "acknowledged into the spool";
  }
  EXPECT_GT((*w)->spool_bytes(), 0u);
  EXPECT_EQ(Scalar("SELECT count() FROM {}.otel_logs"), "0");
  EXPECT_THAT(metrics_.Render(), ::testing::HasSubstr("kobs_writer_spool_entries 5"));
  flaky_->down = false;
  // A write while the spool drains queues behind it.
  std::vector<TableRows> parts;
  parts.push_back(Rows("after", 20));
  ASSERT_THAT((*w)->Write(std::move(parts)), IsOk());
  for (int i = 0; i < 200 && (*w)->spool_bytes() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ((*w)->spool_bytes(), 0u);
  EXPECT_EQ(Scalar("SELECT count(), uniqExact(Body) FROM {}.otel_logs"), "120\t120");
}

TEST_F(WriterTest, SpoolFullMeansUnavailable) {
  WriterOptions o = Options(dir_->Sub("spool-" + db_));
  o.spool_max_bytes = 4000;
  auto w = Writer::Create(*flaky_, o, metrics_);
  ASSERT_THAT(w, IsOk());
  flaky_->down = true;
  absl::Status last;
  for (int i = 0; i < 20 && last.ok(); ++i) {
    std::vector<TableRows> parts;
    parts.push_back(Rows(fmt::format("f{}", i), 5));
    last = (*w)->Write(std::move(parts));
  }
  EXPECT_THAT(last, StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(WriterTest, ASpoolLeftByACrashIsReplayedOnceEvenIfItsInsertHadGoneThrough) {
  const std::string spool = dir_->Sub("spool-" + db_);
  {
    auto w = Writer::Create(*flaky_, Options(spool), metrics_);
    ASSERT_THAT(w, IsOk());
    flaky_->down = true;
    for (int i = 0; i < 3; ++i) {
      std::vector<TableRows> parts;
      parts.push_back(Rows(fmt::format("crash{}", i), 10));
      ASSERT_THAT((*w)->Write(std::move(parts)), IsOk());
    }
    // The replayer's first insert lands but its answer is lost: the entry stays spooled.
    flaky_->down = false;
    flaky_->fail_after_insert = true;
    for (int i = 0; i < 100 && Scalar("SELECT count() FROM {}.otel_logs") == "0"; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    flaky_->down = true;  // "crash": nothing more gets through
    flaky_->fail_after_insert = false;
  }
  EXPECT_NE(Scalar("SELECT count() FROM {}.otel_logs"), "0");
  // Restart on the same spool with a healthy store.
  flaky_->down = false;
  auto again = Writer::Create(*flaky_, Options(spool), metrics_);
  ASSERT_THAT(again, IsOk());
  for (int i = 0; i < 200 && (*again)->spool_bytes() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(Scalar("SELECT count(), uniqExact(Body) FROM {}.otel_logs"), "30\t30");
}

TEST_F(WriterTest, WriteAheadAcknowledgesFromTheSpoolAndInsertsLargeBatches) {
  const std::string spool = dir_->Sub("spool-" + db_);
  auto w = Writer::Create(*flaky_, Options(spool), metrics_);
  ASSERT_THAT(w, IsOk());
  flaky_->down = true;  // acknowledged all the same: the spool is durable
  for (int i = 0; i < 10; ++i) {
    std::vector<TableRows> parts;
    parts.push_back(Rows(fmt::format("wa{}", i), 30));
    ASSERT_THAT((*w)->Write(std::move(parts)), IsOk());
  }
  const int attempts_while_down = flaky_->attempts.load();
  flaky_->down = false;
  for (int i = 0; i < 200 && (*w)->spool_bytes() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(Scalar("SELECT count(), uniqExact(Body) FROM {}.otel_logs"), "300\t300");
  // Ten acknowledged writes, at most two inserts once the store is back (the claim that was
  // out while it was down, then the rest merged).
  EXPECT_LE(flaky_->attempts.load() - attempts_while_down, 2);
  EXPECT_EQ(Scalar("SELECT min(Body) FROM {}.otel_logs WHERE Body LIKE 'wa0-%'"), "wa0-0");
}

TEST_F(WriterTest, WithoutWriteAheadRowsAreQueryableWhenWriteReturns) {
  WriterOptions o = Options(dir_->Sub("spool-" + db_));
  o.write_ahead = false;
  auto w = Writer::Create(*flaky_, o, metrics_);
  ASSERT_THAT(w, IsOk());
  std::vector<TableRows> parts;
  parts.push_back(Rows("direct", 7));
  ASSERT_THAT((*w)->Write(std::move(parts)), IsOk());
  EXPECT_EQ(Scalar("SELECT count() FROM {}.otel_logs"), "7");
  EXPECT_EQ((*w)->spool_bytes(), 0u);
}

TEST_F(WriterTest, StopDrainsTheSpoolIntoAHealthyStore) {
  const std::string spool = dir_->Sub("spool-" + db_);
  auto w = Writer::Create(*flaky_, Options(spool), metrics_);
  ASSERT_THAT(w, IsOk());
  for (int i = 0; i < 5; ++i) {
    std::vector<TableRows> parts;
    parts.push_back(Rows(fmt::format("s{}", i), 10));
    ASSERT_THAT((*w)->Write(std::move(parts)), IsOk());
  }
  (*w)->Stop();
  EXPECT_EQ((*w)->spool_bytes(), 0u);
  EXPECT_EQ(Scalar("SELECT count() FROM {}.otel_logs"), "50");
}

TEST(SpoolTest, ClaimsMergeRunsOfOneTableAndSurviveACrashIdentically) {
  testing::TempDir dir;
  auto entry = [](const std::string& table, const std::string& data) {
    return SpoolEntry{.table = table, .columns = {"a"}, .format = "RowBinary", .rows = 1,
                      .data = data};
  };
  {
    auto s = Spool::Open({.dir = dir.path().string()});
    ASSERT_THAT(s, IsOk());
    for (const char* d : {"1", "2", "3"}) ASSERT_THAT((*s)->Append(entry("t", d)), IsOk());
    ASSERT_THAT((*s)->Append(entry("u", "4")), IsOk());
    auto c = (*s)->Claim(/*max_rows=*/2);
    ASSERT_THAT(c, IsOk());
    EXPECT_EQ((**c).data, "12") << "at most two rows";
    ASSERT_THAT((*s)->Release(), IsOk());
    c = (*s)->Claim(100);
    EXPECT_EQ((**c).data, "3") << "stops before another table";
    EXPECT_EQ((**c).rows, 1u);
    const std::string id = (**c).id;
    // "Crash" with the claim out, after more rows of the same table arrived.
    ASSERT_THAT((*s)->Append(entry("t", "5")), IsOk());
    s->reset();
    auto again = Spool::Open({.dir = dir.path().string()});
    ASSERT_THAT(again, IsOk());
    ASSERT_THAT((*again)->Append(entry("t", "6")), IsOk());
    c = (*again)->Claim(100);
    ASSERT_THAT(c, IsOk());
    EXPECT_EQ((**c).id, id) << "the same claim, so the same deduplication token";
    EXPECT_EQ((**c).data, "3");
    ASSERT_THAT((*again)->Release(), IsOk());
    c = (*again)->Claim(100);
    EXPECT_EQ((**c).data, "4");
    ASSERT_THAT((*again)->Release(), IsOk());
    c = (*again)->Claim(100);
    EXPECT_EQ((**c).data, "56");
    EXPECT_EQ((**c).rows, 2u);
    ASSERT_THAT((*again)->Release(), IsOk());
    EXPECT_TRUE((*again)->empty());
    EXPECT_THAT((*again)->Release(), StatusIs(absl::StatusCode::kFailedPrecondition));
  }
}

TEST(SpoolTest, CutsATornTailAndKeepsWhatCameBefore) {
  testing::TempDir dir;
  {
    auto s = Spool::Open({.dir = dir.path().string()});
    ASSERT_THAT(s, IsOk());
    for (int i = 0; i < 3; ++i) {
      ASSERT_THAT((*s)->Append({.table = "t", .columns = {"a"}, .format = "RowBinary", .rows = 1,
                                .data = std::string(100, static_cast<char>('a' + i))}),
                  IsOk());
    }
  }
  // A crash in the middle of a fourth append.
  std::string seg = dir.Sub("seg-00000000000000000001.log");
  int fd = open(seg.c_str(), O_WRONLY | O_APPEND);
  ASSERT_EQ(write(fd, "KSP1\x40\x00\x00\x00garbage", 15), 15);
  close(fd);
  auto s = Spool::Open({.dir = dir.path().string()});
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ((*s)->entries(), 3u);
  for (int i = 0; i < 3; ++i) {
    auto e = (*s)->Claim();
    ASSERT_THAT(e, IsOk());
    ASSERT_TRUE(e->has_value());
    EXPECT_EQ((**e).data, std::string(100, static_cast<char>('a' + i)));
    EXPECT_EQ((**e).columns, std::vector<std::string>{"a"});
    ASSERT_THAT((*s)->Release(), IsOk());
  }
  EXPECT_TRUE((*s)->empty());
  ASSERT_THAT((*s)->Append({.table = "t", .columns = {"a"}, .format = "RowBinary", .rows = 1,
                            .data = "new"}),
              IsOk());
  auto e = (*s)->Claim();
  ASSERT_THAT(e, IsOk());
  EXPECT_EQ((**e).data, "new");
}

TEST(SpoolTest, PositionSurvivesReopenAndIdsNeverRepeat) {
  testing::TempDir dir;
  std::string first_id;
  {
    auto s = Spool::Open({.dir = dir.path().string(), .segment_bytes = 200});
    ASSERT_THAT(s, IsOk());
    for (int i = 0; i < 4; ++i) {
      ASSERT_THAT((*s)->Append({.table = "t", .rows = 1, .data = std::string(150, 'x')}), IsOk());
    }
    auto e = (*s)->Claim();
    first_id = (**e).id;
    ASSERT_THAT((*s)->Release(), IsOk());
    ASSERT_THAT((*s)->Claim(), IsOk());
    ASSERT_THAT((*s)->Release(), IsOk());
  }
  auto s = Spool::Open({.dir = dir.path().string(), .segment_bytes = 200});
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ((*s)->entries(), 2u);
  auto e = (*s)->Claim();
  ASSERT_THAT(e, IsOk());
  EXPECT_NE((**e).id, first_id);
  EXPECT_EQ((**e).id, "3-0-1") << "segments of 200 bytes hold one entry each";
}

}  // namespace
}  // namespace kobs::store
