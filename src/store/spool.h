// Spool: an on-disk FIFO of insert batches that were acknowledged to senders but are not in
// the store yet. Append-only segment files of CRC-checked entries plus a persisted read
// position; a torn tail (crash mid-append) is detected and cut off when the spool opens.
// Entries are read back in claims: runs of consecutive entries for the same table, merged
// into one insert. A claim is persisted before it is handed out and has a stable id
// ("<segment>-<offset>-<entries>") used as the insert deduplication token, so a claim whose
// insert succeeded just before a crash is re-formed identically and stored only once.
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
  std::string id;  // of a claim: "<segment>-<offset>-<entries>", stable across restarts
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
  // The oldest pending entries, read from disk and merged: the oldest entry, plus the entries
  // after it for the same table, columns and format while the total stays within `max_rows`
  // and `max_bytes`. A claim left unreleased by a crash is handed out again, identically.
  // nullopt when the spool is empty.
  absl::StatusOr<std::optional<SpoolEntry>> Claim(uint64_t max_rows = 1,
                                                  uint64_t max_bytes = UINT64_MAX);
  // Marks the last claim as done (persists the read position; deletes segments that are fully
  // read).
  absl::Status Release();

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
  void DropReadSegments() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string SegmentPath(uint64_t seq) const;

  const SpoolOptions options_;
  mutable absl::Mutex mu_;
  std::deque<Segment> segments_ ABSL_GUARDED_BY(mu_);  // oldest first; the last is written
  uint64_t read_offset_ ABSL_GUARDED_BY(mu_) = 0;      // in segments_.front()
  int write_fd_ ABSL_GUARDED_BY(mu_) = -1;
  // Per pending entry: its size on disk and append time, oldest first.
  std::deque<std::pair<uint64_t, int64_t>> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Entries of the current claim (persisted in the position file); 0 when none is out.
  uint64_t claim_entries_ ABSL_GUARDED_BY(mu_) = 0;
  // Whether claim_entries_ was handed out (by Claim) since it was set.
  bool claim_out_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace kobs::store
