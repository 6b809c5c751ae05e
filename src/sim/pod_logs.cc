#include "sim/pod_logs.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "common/log.h"

namespace kobs::sim {
namespace fs = std::filesystem;

std::string PodLogs::FilePath(const std::string& ns, const std::string& pod,
                              const std::string& uid, const std::string& container,
                              int restart) const {
  if (options_.dir.empty()) return "";
  return (fs::path(options_.dir) / fmt::format("{}_{}_{}", ns, pod, uid) / container /
          fmt::format("{}.log", restart))
      .string();
}

void PodLogs::WriteFile(Container& c, const std::string& path, int restart, const LogLine& line) {
  std::error_code ec;
  if (c.file_bytes.count(restart) == 0) {
    fs::create_directories(fs::path(path).parent_path(), ec);
    auto size = fs::file_size(path, ec);
    c.file_bytes[restart] = ec ? 0 : static_cast<int64_t>(size);
    // The kubelet keeps the current and the previous instance's logs only.
    for (auto it = c.file_bytes.begin(); it != c.file_bytes.end();) {
      if (it->first < restart - 1) {
        for (const auto& e : fs::directory_iterator(fs::path(path).parent_path(), ec)) {
          if (e.path().filename().string().rfind(fmt::format("{}.log", it->first), 0) == 0) {
            fs::remove(e.path(), ec);
          }
        }
        it = c.file_bytes.erase(it);
      } else {
        ++it;
      }
    }
  }
  // CRI lines: long lines in P parts, the last one F.
  std::string out;
  const std::string& text = line.text;
  size_t max = std::max<size_t>(options_.max_line_bytes, 1);
  size_t pos = 0;
  do {
    size_t n = std::min(max, text.size() - pos);
    bool last = pos + n >= text.size();
    out += fmt::format("{} stdout {} ", line.time, last ? 'F' : 'P');
    out.append(text, pos, n);
    out.push_back('\n');
    pos += n;
  } while (pos < text.size());
  int64_t& bytes = c.file_bytes[restart];
  if (bytes > 0 && bytes + static_cast<int64_t>(out.size()) > options_.max_file_bytes) {
    // Rotate as the kubelet does: <n>.log -> <n>.log.<timestamp>, oldest removed.
    auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    std::string rotated = fmt::format("{}.{:%Y%m%d-%H%M%S}", path, now);
    for (int i = 1; fs::exists(rotated, ec); ++i) {
      rotated = fmt::format("{}.{:%Y%m%d-%H%M%S}.{}", path, now, i);
    }
    fs::rename(path, rotated, ec);
    std::vector<fs::path> old;
    std::string prefix = fs::path(path).filename().string() + ".";
    for (const auto& e : fs::directory_iterator(fs::path(path).parent_path(), ec)) {
      if (e.path().filename().string().rfind(prefix, 0) == 0) old.push_back(e.path());
    }
    std::sort(old.begin(), old.end());
    while (static_cast<int>(old.size()) > std::max(options_.max_files - 1, 0)) {
      fs::remove(old.front(), ec);
      old.erase(old.begin());
    }
    bytes = 0;
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    Log(Logger("sim"), spdlog::level::warn, "cannot write a container log file",
        {{"path", path}, {"error", std::strerror(errno)}});
    return;
  }
  ssize_t written = ::write(fd, out.data(), out.size());
  ::close(fd);
  if (written > 0) bytes += written;
}

void PodLogs::Append(const std::string& ns, const std::string& pod, const std::string& container,
                     std::string text, int restart, const std::string& uid) {
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
  if (!uid.empty() && !options_.dir.empty()) {
    WriteFile(c, FilePath(ns, pod, uid, container, restart), restart, line);
  }
  std::deque<LogLine>& lines = c.instances[restart];
  lines.push_back(std::move(line));
  while (lines.size() > options_.max_lines_per_container) lines.pop_front();
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
  if (!options_.dir.empty()) {
    std::error_code ec;
    std::string prefix = fmt::format("{}_{}_", ns, pod);
    for (const auto& e : fs::directory_iterator(options_.dir, ec)) {
      std::string name = e.path().filename().string();
      // <ns>_<pod>_<uid>: the uid has no '_', so the pod's name is exactly what precedes it.
      if (name.rfind(prefix, 0) == 0 && name.find('_', prefix.size()) == std::string::npos) {
        fs::remove_all(e.path(), ec);
      }
    }
  }
  for (auto it = containers_.begin(); it != containers_.end();) {
    if (std::get<0>(it->first) == ns && std::get<1>(it->first) == pod) {
      it = containers_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace kobs::sim
