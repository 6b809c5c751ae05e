// Spool: an on-disk FIFO of insert batches that were acknowledged to senders but are not in
// the store yet. Append-only segment files of CRC-checked entries plus a persisted read
// position; a torn tail (crash mid-append) is detected and cut off when the spool opens.
// Each entry has a stable id ("<segment>-<offset>") used as the insert deduplication token,
// so replaying an entry whose insert succeeded just before a crash stores it only once.
// Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace kobs::store {

struct SpoolEntry {
  std::string id;  // stable: "<segment>-<offset>"
  std::string table;
  std::vector<std::string> columns;
  std::string format;
  uint64_t rows = 0;
  std::string data;
  int64_t appended_unix_ms = 0;
};

struct SpoolOptions {
  std::string dir;
  uint64_t max_bytes = 1ull << 30;
  // fdatasync appends and position updates (survive power loss, not only a process crash).
  bool fsync = false;
  uint64_t segment_bytes = 64ull << 20;
};

class Spool {
 public:
  // Opens (creating) the spool directory and recovers it: counts the pending entries and cuts
  // a torn or corrupt tail.
  static absl::StatusOr<std::unique_ptr<Spool>> Open(SpoolOptions options);
  ~Spool();

  // Appends an entry (its id is assigned here). ResourceExhausted when it would exceed
  // max_bytes.
  absl::Status Append(const SpoolEntry& entry);
  // The oldest pending entry, read from disk; nullopt when the spool is empty.
  absl::StatusOr<std::optional<SpoolEntry>> Front();
  // Marks the entry Front() returned as done (persists the read position; deletes segments
  // that are fully read).
  absl::Status PopFront();

  bool empty() const;
  uint64_t bytes() const;    // bytes of pending entries
  uint64_t entries() const;  // pending entries
  // Age of the oldest pending entry in seconds (0 when empty).
  double oldest_age_seconds() const;

 private:
  struct Segment {
    uint64_t seq;
    uint64_t size;
  };
  explicit Spool(SpoolOptions options) : options_(std::move(options)) {}
  absl::Status Recover();
  absl::Status OpenWriter(uint64_t seq) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SavePosition() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string SegmentPath(uint64_t seq) const;

  const SpoolOptions options_;
  mutable absl::Mutex mu_;
  std::deque<Segment> segments_ ABSL_GUARDED_BY(mu_);  // oldest first; the last is written
  uint64_t read_offset_ ABSL_GUARDED_BY(mu_) = 0;      // in segments_.front()
  int write_fd_ ABSL_GUARDED_BY(mu_) = -1;
  // Per pending entry: its size on disk and append time, oldest first.
  std::deque<std::pair<uint64_t, int64_t>> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<uint64_t> front_size_ ABSL_GUARDED_BY(mu_);  // size of the entry Front() read
};

}  // namespace kobs::store
