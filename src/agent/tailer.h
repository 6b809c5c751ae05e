// Tails the kubelet's container log files, `<root>/<namespace>_<pod>_<uid>/<container>/<n>.log`
// (root: /var/log/pods on a node), into log entries (log_line.h: CRI or Docker lines, partial
// lines joined, multi-line entries recombined, ANSI codes left for the caller to strip).
//
// Each Poll() finds new and deleted pods and containers, reads what each file gained, and hands
// complete entries to the sink. Rotation is followed both ways the kubelet and runtimes rotate:
// by rename (the renamed file is read to its end before the new one, found by inode among
// `<n>.log.*`) and by copytruncate (a file shorter than the offset starts over). Offsets are
// checkpointed (atomically, after the sink took the entries) at the start of the oldest line
// not yet handed over, so a restart re-reads only what was not delivered: nothing is lost and
// nothing is sent twice.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "agent/log_line.h"

namespace kobs::agent {

struct ContainerRef {
  std::string ns, pod, uid, container;
  int restart = 0;  // the file's <n>
};

struct TailedEntry {
  std::shared_ptr<const ContainerRef> ref;  // shared by every entry of the file
  Recombiner::Entry entry;
  bool truncated = false;  // a line of it was longer than the bound
};

struct TailerOptions {
  std::string root = "/var/log/pods";
  // Where offsets are kept ("" = nowhere: every start reads files from their beginning).
  std::string checkpoint_path;
  size_t max_line_bytes = 1 << 20;
  size_t max_entry_lines = 500;
  // A pending multi-line entry is handed over after this long without a next line.
  std::chrono::milliseconds flush_after{std::chrono::seconds(2)};
  // Bytes read per file per poll, at most. A file that is far behind (a restart, a burst) is
  // caught up in 1 MiB reads: each poll also checks every file for rotation and truncation,
  // and those system calls are fewer per MiB (bench/cri_tail: about +0.05 of wc -l's rate
  // over 256 KiB).
  size_t read_chunk = 1 << 20;
  // Entries are handed to the sink (and the checkpoint saved) in batches of about this size.
  size_t max_batch_bytes = 1 << 20;
  // The directory tree is walked for new files at most this often (known files are read, and
  // their rotation or removal noticed, at every poll).
  std::chrono::milliseconds rescan_interval{1000};
};

class Tailer {
 public:
  // Takes a batch of entries; an error leaves them (and the checkpoint) for the next Poll.
  using Sink = std::function<absl::Status(std::vector<TailedEntry>& entries)>;

  Tailer(TailerOptions options, Sink sink);
  ~Tailer();

  // Loads the checkpoint (a missing file is a first start).
  absl::Status Start();
  // One round over every file. Returns the entries delivered. With `flush_entries` (at
  // shutdown), multi-line entries still open are handed over too (a line that continues one
  // after the restart then starts a new entry; nothing is lost or repeated).
  absl::StatusOr<size_t> Poll(bool flush_entries = false);

  size_t files() const;
  uint64_t lines_read() const { return lines_read_; }
  uint64_t parse_errors() const { return parse_errors_; }

 private:
  struct File;
  absl::Status Discover();
  void Read(File& f, std::vector<TailedEntry>& out, bool flush_entries);
  void Emit(File& f, std::vector<Recombiner::Entry> entries, std::vector<TailedEntry>& out);
  absl::Status SaveCheckpoint();

  const TailerOptions options_;
  Sink sink_;
  std::map<std::string, std::unique_ptr<File>> files_;  // by path
  std::unique_ptr<char[]> chunk_;  // the read buffer, shared by every file
  std::string scratch_;            // a Docker line's decoded text
  size_t chunk_size_ = 0;
  std::map<std::string, std::pair<uint64_t, uint64_t>> restored_;  // path -> (inode, offset)
  std::vector<TailedEntry> undelivered_;  // refused by the sink; offered again first
  std::chrono::steady_clock::time_point last_scan_{};
  uint64_t lines_read_ = 0;
  uint64_t parse_errors_ = 0;
};

// <ns>_<pod>_<uid>/<container>/<n>.log relative to the root; false when the path is not one.
bool ParseLogPath(const std::string& relative, ContainerRef* ref);

}  // namespace kobs::agent
