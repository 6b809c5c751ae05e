#include "sim/pod_logs.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace kobs::sim {

void PodLogs::Append(const std::string& ns, const std::string& pod, const std::string& container,
                     std::string text, int restart) {
  auto now = std::chrono::system_clock::now();
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch());
  auto secs = std::chrono::floor<std::chrono::seconds>(now);
  LogLine line;
  line.unix_nanos = nanos.count();
  line.time = fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:09d}Z", secs, nanos.count() % 1000000000);
  line.text = std::move(text);
  absl::MutexLock lock(&mu_);
  Container& c = containers_[{ns, pod, container}];
  line.seq = ++c.seq;
  std::deque<LogLine>& lines = c.instances[restart];
  lines.push_back(std::move(line));
  while (lines.size() > max_lines_) lines.pop_front();
  while (c.instances.size() > 2) c.instances.erase(c.instances.begin());
}

std::vector<LogLine> PodLogs::Read(const std::string& ns, const std::string& pod,
                                   const std::string& container, int restart,
                                   uint64_t after_seq) const {
  absl::MutexLock lock(&mu_);
  std::vector<LogLine> out;
  auto it = containers_.find({ns, pod, container});
  if (it == containers_.end() || it->second.instances.empty()) return out;
  auto inst = restart < 0 ? std::prev(it->second.instances.end())
                          : it->second.instances.find(restart);
  if (inst == it->second.instances.end()) return out;
  for (const LogLine& l : inst->second) {
    if (l.seq > after_seq) out.push_back(l);
  }
  return out;
}

std::pair<int, int> PodLogs::Instances(const std::string& ns, const std::string& pod,
                                       const std::string& container) const {
  absl::MutexLock lock(&mu_);
  auto it = containers_.find({ns, pod, container});
  if (it == containers_.end() || it->second.instances.empty()) return {-1, -1};
  auto last = std::prev(it->second.instances.end());
  int prev = last == it->second.instances.begin() ? -1 : std::prev(last)->first;
  return {last->first, prev};
}

void PodLogs::Wait(const std::string& ns, const std::string& pod, const std::string& container,
                   uint64_t after_seq, std::chrono::milliseconds timeout) const {
  absl::MutexLock lock(&mu_);
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = containers_.find({ns, pod, container});
    return it != containers_.end() && it->second.seq > after_seq;
  };
  mu_.AwaitWithTimeout(absl::Condition(&ready), absl::FromChrono(timeout));
}

void PodLogs::Remove(const std::string& ns, const std::string& pod) {
  absl::MutexLock lock(&mu_);
  for (auto it = containers_.begin(); it != containers_.end();) {
    if (std::get<0>(it->first) == ns && std::get<1>(it->first) == pod) {
      it = containers_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace kobs::sim
