// Writer: the durable front of the store for ingest. Callers (OTLP receivers, collectors) hand
// it rows; it groups concurrent callers' rows per table (group commit) and returns to each
// caller only once its rows are durable. With write_ahead (the default), durable means
// appended to the on-disk spool, from which a replayer inserts runs of entries as large
// batches: insert size no longer depends on how many callers wait at once. Without it, rows
// are inserted directly and spooled only when the store cannot take them (unreachable,
// failing). The spool is replayed in order and exactly once (persisted claims with insert
// deduplication tokens). Memory and spool are bounded: callers beyond them get
// ResourceExhausted (HTTP 429) or Unavailable (503) at once. Thread-safe; borrows the Store
// and the MetricsRegistry.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "store/store.h"

namespace YAML {
class Node;
}

namespace kobs {
class MetricsRegistry;
}

namespace kobs::store {

struct WriterOptions {
  // A table's batch is inserted when it holds this many rows...
  uint64_t max_batch_rows = 100'000;
  // ... or this many bytes...
  uint64_t max_batch_bytes = 64ull << 20;
  // ... or when its oldest row has waited this long. Under load, rows that arrive while a batch
  // is being inserted form the next batch, so batches grow with the load (group commit) and this
  // bounds only the latency at low load, and the part rate (one part per table per interval).
  std::chrono::milliseconds flush_interval{50};
  // Bytes held in memory across tables; Write() beyond it fails with ResourceExhausted.
  uint64_t max_pending_bytes = 256ull << 20;
  // Spool directory; empty disables the spool (store failures then go back to the callers).
  std::string spool_dir = "./spool";
  // Spool size limit; beyond it Write() fails with Unavailable while the store is down.
  uint64_t spool_max_bytes = 1ull << 30;
  // Longest wait between replay attempts against a failing store.
  std::chrono::milliseconds retry_backoff_max{10'000};
  // fdatasync spool writes.
  bool fsync = false;
  // With a spool: acknowledge rows once they are in the spool, and insert them from there in
  // batches of up to max_batch_rows, whatever the number of concurrent writers (rows become
  // queryable shortly after the acknowledgement). Off: acknowledge after the insert (rows are
  // queryable when Write returns), spooling only when the store fails.
  bool write_ahead = true;
  // With write_ahead: spooled rows are inserted once they fill a batch, or when the oldest has
  // waited this long (the time from acknowledgement to queryable at low load).
  std::chrono::milliseconds insert_interval{250};
};

absl::StatusOr<WriterOptions> ParseWriterOptions(const YAML::Node& node);

// Rows for one table: RowBinary of `columns` (which must outlive the Write call).
struct TableRows {
  std::string table;
  const std::vector<std::string>* columns = nullptr;
  std::string data;
  uint64_t rows = 0;
};

class Writer {
 public:
  // Opens (and starts replaying) the spool, and starts the flusher.
  static absl::StatusOr<std::unique_ptr<Writer>> Create(Store& store, WriterOptions options,
                                                        MetricsRegistry& metrics);
  virtual ~Writer() = default;

  // Blocks until every part is durable, then returns OK. Fails at once with ResourceExhausted
  // (memory full) or Unavailable (store down and spool full or off); returns the store's error
  // for rows it refuses as invalid (never spooled: replaying them could not succeed).
  virtual absl::Status Write(std::vector<TableRows> parts) = 0;

  // Flushes what is pending (inserted or spooled) and stops the threads. Idempotent.
  virtual void Stop() = 0;

  // Bytes waiting in the spool.
  virtual uint64_t spool_bytes() const = 0;
};

// Whether a failed insert may succeed later (store unreachable, overloaded, timing out), so
// its rows belong in the spool rather than back with the caller.
bool IsRetryable(const absl::Status& status);

}  // namespace kobs::store
