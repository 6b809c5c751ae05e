// A Store decorator that records kobs_store_* metrics (operations, errors, latency, rows and
// bytes inserted) around another Store. Thread-safe if the wrapped Store is; borrows both.
#pragma once

#include <functional>

#include "store/store.h"

namespace kobs {
class MetricsRegistry;
class Counter;
class Histogram;
}  // namespace kobs

namespace kobs::store {

class InstrumentedStore : public Store {
 public:
  InstrumentedStore(Store& inner, MetricsRegistry& metrics);

  absl::StatusOr<QueryStats> QueryStream(std::string_view sql, const QueryOptions& options,
                                         const ChunkSink& sink) override;
  absl::StatusOr<QueryStats> Insert(std::string_view table, const std::vector<std::string>& columns,
                                    std::string_view format, std::string_view data,
                                    const InsertOptions& options) override;
  using Store::Insert;
  absl::StatusOr<std::string> ServerVersion() override { return inner_.ServerVersion(); }
  absl::StatusOr<StatementClass> Classify(std::string_view sql, int* statements) override {
    return inner_.Classify(sql, statements);
  }
  std::string_view backend() const override { return inner_.backend(); }

  // Runs `fn` after every successful insert with the table's name (as the caller gave it), on
  // the inserting thread, so it must be quick (the event feed wakes its poller). Set it before
  // the store is shared.
  void SetInsertObserver(std::function<void(std::string_view table)> fn) {
    on_insert_ = std::move(fn);
  }

 private:
  Store& inner_;
  Counter& queries_;
  Counter& query_errors_;
  Counter& inserts_;
  Counter& insert_errors_;
  Counter& inserted_rows_;
  Counter& inserted_bytes_;
  Histogram& query_seconds_;
  Histogram& insert_seconds_;
  std::function<void(std::string_view table)> on_insert_;
};

}  // namespace kobs::store
