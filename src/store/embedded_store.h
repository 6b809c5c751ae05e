// EmbeddedStore: store::Store on chDB (ClickHouse in-process). Owns its data directory (one
// process at a time: chDB flocks `<path>/status`). A small pool of connections: inserts use
// their own so ingest never waits behind a slow query. Thread-safe. Close() (or destruction)
// must happen before the process exits: libchdb crashes in static destructors otherwise.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "store/store.h"

namespace kobs::store {

namespace chdb {
struct Api;
}

struct EmbeddedStoreOptions {
  // Data directory (created if missing).
  std::string path = "./data";
  // libchdb.so to load; empty means DefaultChdbLibrary().
  std::string library;
  // Connections serving queries (concurrent queries beyond this wait).
  int query_connections = 2;
  // Connections serving inserts.
  int insert_connections = 1;
  // Nice value of chDB's merge and mutation threads, -20 to 19 (0: the same priority as every
  // other thread). Merges are background work: above 0, inserts, queries and kobs's own
  // threads (the event feed's push) run first when the CPUs are busy, and merges take what is
  // left. chDB applies it only when the process has CAP_SYS_NICE; without it, the store raises
  // the merge threads' nice value itself after its first insert (no privilege needed to
  // lower a priority), and logs that a negative value cannot be applied.
  int merge_nice = 10;
};

// Whether this process may change thread priorities (CAP_SYS_NICE in its effective set).
bool CanSetThreadNice();

// The ids of this process's threads named `name` (/proc/self/task/<tid>/comm).
std::vector<int> ThreadsNamed(std::string_view name);

// Sets the nice value of each of this process's threads named `name` (raising it needs no
// privilege); returns how many it set.
int ReniceThreads(std::string_view name, int nice);

// The libchdb.so that scripts/setup.sh installs (.deps/chdb/libchdb.so of the source tree).
std::string DefaultChdbLibrary();

class EmbeddedStore : public Store {
 public:
  static absl::StatusOr<std::unique_ptr<EmbeddedStore>> Create(EmbeddedStoreOptions options);
  ~EmbeddedStore() override;

  absl::StatusOr<QueryStats> QueryStream(std::string_view sql, const QueryOptions& options,
                                         const ChunkSink& sink) override;
  absl::StatusOr<QueryStats> Insert(std::string_view table, const std::vector<std::string>& columns,
                                    std::string_view format, std::string_view data,
                                    const InsertOptions& options) override;
  using Store::Insert;
  absl::StatusOr<std::string> ServerVersion() override;
  std::string_view backend() const override { return "embedded"; }

  // Uses chdb_classify_query_n (the engine's parser; nothing runs).
  absl::StatusOr<StatementClass> Classify(std::string_view sql, int* statements) override;

  // Closes every connection (the engine shuts down with the last). Idempotent; queries after
  // it fail with FailedPrecondition.
  void Close();

  const std::string& path() const { return options_.path; }

 private:
  struct Connection;
  class Lease;

  EmbeddedStore(EmbeddedStoreOptions options, const chdb::Api* api);
  absl::Status Open();
  absl::StatusOr<Lease> Acquire(bool for_insert);
  void Release(Connection* conn, bool for_insert);
  absl::Status Exec(Connection& conn, std::string_view sql);
  // Gives `conn` the database and settings `options` ask for.
  absl::Status Prepare(Connection& conn, const QueryOptions& options);
  absl::StatusOr<QueryStats> RunBuffered(Connection& conn, std::string_view sql,
                                         const std::string& format,
                                         const std::vector<Param>& params, const ChunkSink& sink);
  // Gives chDB's merge threads options_.merge_nice when chDB cannot (see the .cc).
  void ReniceMerges();

  static constexpr int kReniceAttempts = 100;

  const EmbeddedStoreOptions options_;
  const chdb::Api* const api_;

  absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::unique_ptr<Connection>> connections_ ABSL_GUARDED_BY(mu_);
  std::vector<Connection*> free_queries_ ABSL_GUARDED_BY(mu_);
  std::vector<Connection*> free_inserts_ ABSL_GUARDED_BY(mu_);
  int in_use_ ABSL_GUARDED_BY(mu_) = 0;
  // Inserts left that may still look for the merge threads to renice (0: done, or not needed).
  std::atomic<int> renice_attempts_left_{0};
};

}  // namespace kobs::store
