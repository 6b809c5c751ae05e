// The container logs that the `log` subresource of pods serves: lines per (namespace, pod,
// container, restart), kept in memory up to a bound per container. The simulated kubelet
// appends to it; `kubectl logs [-f] [--previous] [--tail] [--since] [--timestamps]` reads it.
// Thread-safe.
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

class PodLogs {
 public:
  explicit PodLogs(size_t max_lines_per_container = 10000) : max_lines_(max_lines_per_container) {}

  // Appends a line to the current (`restart`) instance of the container.
  void Append(const std::string& ns, const std::string& pod, const std::string& container,
              std::string text, int restart = 0);
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
  };
  const size_t max_lines_;
  mutable absl::Mutex mu_;
  std::map<Key, Container> containers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kobs::sim
