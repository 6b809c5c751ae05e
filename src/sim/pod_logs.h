// The container logs that the `log` subresource of pods serves: lines per (namespace, pod,
// container, restart), kept in memory up to a bound per container. The simulated kubelet
// appends to it; `kubectl logs [-f] [--previous] [--tail] [--since] [--timestamps]` reads it.
//
// With a directory, every line is also written as the kubelet and containerd write them, for
// log collectors to tail: `<dir>/<namespace>_<pod>_<uid>/<container>/<restart>.log`, one CRI
// line per log line (`<RFC 3339 nanos> stdout F <text>`; a line longer than
// max_line_bytes is split into `P` parts and a final `F`), rotated past max_file_bytes to
// `<restart>.log.<YYYYMMDD-HHMMSS>` keeping max_files files, the previous instance's file kept
// beside the current one, and the pod's directory removed with the pod. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace kobs::sim {

struct LogLine {
  uint64_t seq = 0;       // per container, increasing
  std::string time;       // RFC 3339 with nanoseconds, as the kubelet's --timestamps shows
  int64_t unix_nanos = 0;
  std::string text;       // without the trailing newline
};

struct PodLogsOptions {
  size_t max_lines_per_container = 2000;  // in memory, per instance
  std::string dir;                        // "" = no files
  int64_t max_file_bytes = 10 << 20;      // the kubelet's containerLogMaxSize
  int max_files = 5;                      // containerLogMaxFiles
  size_t max_line_bytes = 16 << 10;       // containerd's max_container_log_line_size
};

class PodLogs {
 public:
  explicit PodLogs(PodLogsOptions options = {}) : options_(std::move(options)) {}

  // Appends a line to the current (`restart`) instance of the container; `uid` (the pod's)
  // places its file.
  void Append(const std::string& ns, const std::string& pod, const std::string& container,
              std::string text, int restart = 0, const std::string& uid = "");
  // The file of a container instance ("" without a directory).
  std::string FilePath(const std::string& ns, const std::string& pod, const std::string& uid,
                       const std::string& container, int restart) const;
  // A previous instance's lines are kept when the container restarts.
  // Lines of instance `restart` (-1: the newest) with seq > `after_seq`.
  std::vector<LogLine> Read(const std::string& ns, const std::string& pod,
                            const std::string& container, int restart = -1,
                            uint64_t after_seq = 0) const;
  // The newest and the one before it (for --previous); -1 when none.
  std::pair<int, int> Instances(const std::string& ns, const std::string& pod,
                                const std::string& container) const;
  // Waits until a line after `after_seq` exists or `timeout` passes.
  void Wait(const std::string& ns, const std::string& pod, const std::string& container,
            uint64_t after_seq, std::chrono::milliseconds timeout) const;
  // Forgets a pod (when it is deleted).
  void Remove(const std::string& ns, const std::string& pod);

 private:
  using Key = std::tuple<std::string, std::string, std::string>;
  struct Container {
    std::map<int, std::deque<LogLine>> instances;
    uint64_t seq = 0;
    std::map<int, int64_t> file_bytes;  // of each instance's current file
  };
  void WriteFile(Container& c, const std::string& path, int restart, const LogLine& line)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const PodLogsOptions options_;
  mutable absl::Mutex mu_;
  std::map<Key, Container> containers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kobs::sim
