#include "sim/object_store.h"

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "status_matchers.h"
#include "temp_dir.h"

namespace kobs::sim {
namespace {

using ::kobs::testing::IsOk;
using ::kobs::testing::StatusIs;

using nlohmann::json;

json Obj(const std::string& name, int v = 0) {
  return {{"metadata", {{"name", name}}}, {"data", {{"v", v}}}};
}

absl::StatusOr<ChangePtr> Put(ObjectStore& s, const std::string& ns, const std::string& name,
                              int v) {
  return s.Mutate("/configmaps", ns, name, [&](const json*) -> absl::StatusOr<std::optional<json>> {
    return std::optional<json>(Obj(name, v));
  });
}

absl::StatusOr<ChangePtr> Remove(ObjectStore& s, const std::string& ns, const std::string& name) {
  return s.Mutate("/configmaps", ns, name,
                  [](const json*) -> absl::StatusOr<std::optional<json>> { return std::nullopt; });
}

TEST(ObjectStoreTest, EveryWriteAdvancesTheClusterResourceVersion) {
  ASSERT_OK_AND_ASSIGN(auto store, ObjectStore::Open({}));
  ASSERT_OK_AND_ASSIGN(ChangePtr a, Put(*store, "ns", "a", 1));
  ASSERT_OK_AND_ASSIGN(ChangePtr b, Put(*store, "ns", "b", 1));
  ASSERT_OK_AND_ASSIGN(ChangePtr a2, Put(*store, "ns", "a", 2));
  EXPECT_EQ(a->rv, 1u);
  EXPECT_EQ(b->rv, 2u);
  EXPECT_EQ(a2->rv, 3u);
  EXPECT_EQ(a2->type, Change::Type::kModified);
  EXPECT_EQ(a2->previous["data"]["v"], 1);
  EXPECT_EQ(a2->object["metadata"]["resourceVersion"], "3");
  ASSERT_OK_AND_ASSIGN(json got, store->Get("/configmaps", "ns", "a"));
  EXPECT_EQ(got["data"]["v"], 2);
  // An aborted write changes nothing.
  auto aborted = store->Mutate("/configmaps", "ns", "a", [](const json*) -> absl::StatusOr<std::optional<json>> {
    return absl::AbortedError("no");
  });
  EXPECT_THAT(aborted, StatusIs(absl::StatusCode::kAborted));
  EXPECT_EQ(store->resource_version(), 3u);
  // Deleting what is absent is no change.
  ASSERT_OK_AND_ASSIGN(ChangePtr none, Remove(*store, "ns", "zzz"));
  EXPECT_EQ(none, nullptr);
}

TEST(ObjectStoreTest, ListsAtAnOlderResourceVersionUndoLaterChanges) {
  ASSERT_OK_AND_ASSIGN(auto store, ObjectStore::Open({.history = 100}));
  ASSERT_THAT(Put(*store, "ns", "a", 1), IsOk());
  ASSERT_THAT(Put(*store, "ns", "b", 1), IsOk());  // rv 2
  ASSERT_THAT(Put(*store, "ns", "a", 2), IsOk());
  ASSERT_THAT(Remove(*store, "ns", "b"), IsOk());
  ASSERT_THAT(Put(*store, "ns", "c", 1), IsOk());
  ASSERT_OK_AND_ASSIGN(auto at2, store->List("/configmaps", "ns", 2));
  ASSERT_EQ(at2.items.size(), 2u);
  EXPECT_EQ(at2.items[0]["data"]["v"], 1);
  EXPECT_EQ(at2.items[1]["metadata"]["name"], "b");
  ASSERT_OK_AND_ASSIGN(auto now, store->List("/configmaps", "ns"));
  ASSERT_EQ(now.items.size(), 2u);
  EXPECT_EQ(now.rv, 5u);
  // Paging: names after a key.
  ASSERT_OK_AND_ASSIGN(auto after_a, store->List("/configmaps", "ns", 0, std::string("ns\0a", 4)));
  ASSERT_EQ(after_a.items.size(), 1u);
  EXPECT_EQ(after_a.items[0]["metadata"]["name"], "c");
}

TEST(ObjectStoreTest, HistoryIsBoundedAndOlderVersionsAreGone) {
  ASSERT_OK_AND_ASSIGN(auto store, ObjectStore::Open({.history = 3}));
  for (int i = 0; i < 6; ++i) ASSERT_THAT(Put(*store, "ns", "a", i), IsOk());
  EXPECT_THAT(store->ChangesAfter(1, "", std::chrono::milliseconds(0)),
              StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(store->List("/configmaps", "ns", 1), StatusIs(absl::StatusCode::kOutOfRange));
  ASSERT_OK_AND_ASSIGN(auto batch, store->ChangesAfter(3, "", std::chrono::milliseconds(0)));
  ASSERT_EQ(batch.changes.size(), 3u);
  EXPECT_EQ(batch.changes[0]->rv, 4u);
  EXPECT_EQ(batch.rv, 6u);
  // A filtered batch still says how far it looked.
  ASSERT_OK_AND_ASSIGN(auto other, store->ChangesAfter(3, "/pods", std::chrono::milliseconds(0)));
  EXPECT_TRUE(other.changes.empty());
  EXPECT_EQ(other.rv, 6u);
}

TEST(ObjectStoreTest, WaitsForTheNextChange) {
  ASSERT_OK_AND_ASSIGN(auto store, ObjectStore::Open({}));
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_THAT(Put(*store, "ns", "a", 1), IsOk());
  });
  ASSERT_OK_AND_ASSIGN(auto batch, store->ChangesAfter(0, "", std::chrono::seconds(10)));
  writer.join();
  ASSERT_EQ(batch.changes.size(), 1u);
}

TEST(ObjectStoreTest, PersistsStateAndHistoryAcrossRestarts) {
  kobs::testing::TempDir dir;
  {
    ASSERT_OK_AND_ASSIGN(auto store, ObjectStore::Open({.history = 100, .dir = dir.Sub("s")}));
    for (int i = 0; i < 10; ++i) ASSERT_THAT(Put(*store, "ns", "o" + std::to_string(i), i), IsOk());
    ASSERT_THAT(Remove(*store, "ns", "o3"), IsOk());
    // A copy taken while the store runs is what a kill -9 leaves: only the journal.
    std::filesystem::copy(dir.Sub("s"), dir.Sub("crash"), std::filesystem::copy_options::recursive);
  }
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("crash") + "/snapshot.json"));
  {
    ASSERT_OK_AND_ASSIGN(auto store, ObjectStore::Open({.history = 100, .dir = dir.Sub("crash")}));
    EXPECT_EQ(store->resource_version(), 11u);
    ASSERT_OK_AND_ASSIGN(auto list, store->List("/configmaps", "ns"));
    EXPECT_EQ(list.items.size(), 9u);
    // Watches resume from before the restart.
    ASSERT_OK_AND_ASSIGN(auto batch, store->ChangesAfter(8, "", std::chrono::milliseconds(0)));
    ASSERT_EQ(batch.changes.size(), 3u);
    EXPECT_EQ(batch.changes[2]->type, Change::Type::kDeleted);
    ASSERT_THAT(Put(*store, "ns", "x", 1), IsOk());
    store->Close();
  }
  // A torn last line (a crash mid-write) is dropped; the rest loads.
  {
    std::ofstream(dir.Sub("crash") + "/journal.jsonl", std::ios::app) << "{\"rv\":99,\"ty";
    ASSERT_OK_AND_ASSIGN(auto store, ObjectStore::Open({.history = 100, .dir = dir.Sub("crash")}));
    EXPECT_EQ(store->resource_version(), 12u);
    ASSERT_OK_AND_ASSIGN(json x, store->Get("/configmaps", "ns", "x"));
    EXPECT_EQ(x["metadata"]["resourceVersion"], "12");
  }
}

TEST(ObjectStoreTest, CompactsTheJournalIntoASnapshot) {
  kobs::testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto store,
                       ObjectStore::Open({.history = 5, .dir = dir.Sub("s"), .compact_after = 10}));
  for (int i = 0; i < 40; ++i) ASSERT_THAT(Put(*store, "ns", "o" + std::to_string(i % 7), i), IsOk());
  EXPECT_TRUE(std::filesystem::exists(dir.Sub("s") + "/snapshot.json"));
  store.reset();
  ASSERT_OK_AND_ASSIGN(auto again, ObjectStore::Open({.history = 5, .dir = dir.Sub("s")}));
  EXPECT_EQ(again->resource_version(), 40u);
  ASSERT_OK_AND_ASSIGN(auto list, again->List("/configmaps", "ns"));
  EXPECT_EQ(list.items.size(), 7u);
  EXPECT_THAT(again->ChangesAfter(36, "", std::chrono::milliseconds(0)), IsOk());
  EXPECT_THAT(again->ChangesAfter(20, "", std::chrono::milliseconds(0)),
              StatusIs(absl::StatusCode::kOutOfRange));
}

}  // namespace
}  // namespace kobs::sim
