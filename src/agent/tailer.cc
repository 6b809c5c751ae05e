#include "agent/tailer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace kobs::agent {

namespace fs = std::filesystem;
using nlohmann::json;
using Steady = std::chrono::steady_clock;

constexpr uint64_t kHeadBytes = 256;

bool ParseLogPath(const std::string& relative, ContainerRef* ref) {
  // <ns>_<pod>_<uid>/<container>/<n>.log; namespaces and pod names have no '_', uids neither.
  std::vector<std::string> parts;
  std::stringstream in(relative);
  for (std::string p; std::getline(in, p, '/');) parts.push_back(p);
  if (parts.size() != 3) return false;
  size_t a = parts[0].find('_'), b = parts[0].rfind('_');
  if (a == std::string::npos || a == b) return false;
  const std::string& file = parts[2];
  if (file.size() < 5 || file.substr(file.size() - 4) != ".log") return false;
  std::string number = file.substr(0, file.size() - 4);
  if (number.empty() || number.size() > 6 ||
      number.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  ref->ns = parts[0].substr(0, a);
  ref->pod = parts[0].substr(a + 1, b - a - 1);
  ref->uid = parts[0].substr(b + 1);
  ref->container = parts[1];
  ref->restart = std::stoi(number);
  return !ref->ns.empty() && !ref->pod.empty() && !ref->uid.empty() && !ref->container.empty();
}

struct Tailer::File {
  std::string path;
  std::shared_ptr<const ContainerRef> ref;
  int fd = -1;
  uint64_t ino = 0;
  uint64_t offset = 0;  // bytes of the open file consumed into `buffer` or lines
  std::string buffer;   // bytes after the last newline (a partial line)
  std::string head;     // the file's first bytes, to tell a copytruncate that kept the size
  LineAssembler assembler;
  Recombiner recombiner;
  // Where each stream's held-back content starts (in the assembler, then the recombiner), by
  // Stream.
  std::array<std::optional<uint64_t>, 2> assembling_from, entry_from;
  std::vector<Recombiner::Entry> done;  // reused for every line
  Steady::time_point last_line = Steady::now();
  bool gone = false;  // the path vanished: drain, then forget

  File(size_t max_line, size_t max_lines) : assembler(max_line), recombiner(max_lines) {}
  ~File() {
    if (fd >= 0) ::close(fd);
  }
  // The checkpoint: the start of the oldest held-back line, else what was consumed.
  uint64_t Committed() const {
    uint64_t c = offset - buffer.size();
    for (const auto& o : assembling_from) c = o ? std::min(c, *o) : c;
    for (const auto& o : entry_from) c = o ? std::min(c, *o) : c;
    return c;
  }
  void Reset() {
    buffer.clear();
    head.clear();
    assembling_from = {};
    entry_from = {};
  }
};

Tailer::Tailer(TailerOptions options, Sink sink)
    : options_(std::move(options)), sink_(std::move(sink)) {}

Tailer::~Tailer() = default;

size_t Tailer::files() const { return files_.size(); }

absl::Status Tailer::Start() {
  if (options_.checkpoint_path.empty()) return absl::OkStatus();
  std::ifstream in(options_.checkpoint_path);
  if (!in) return absl::OkStatus();
  std::stringstream text;
  text << in.rdbuf();
  json j = json::parse(text.str(), nullptr, false);
  if (!j.is_object() || !j.contains("files") || !j["files"].is_object()) {
    return absl::DataLossError(
        fmt::format("checkpoint {} is corrupt; move it away to start over", options_.checkpoint_path));
  }
  for (const auto& [path, v] : j["files"].items()) {
    if (v.is_object() && v.contains("ino") && v["ino"].is_number_unsigned() &&
        v.contains("offset") && v["offset"].is_number_unsigned()) {
      restored_[path] = {v["ino"].get<uint64_t>(), v["offset"].get<uint64_t>()};
    }
  }
  return absl::OkStatus();
}

absl::Status Tailer::Discover() {
  std::error_code ec;
  fs::path root(options_.root);
  std::map<std::string, bool> seen;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (it.depth() > 2) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec)) continue;
    ContainerRef ref;
    // The path below the root, by prefix (fs::relative resolves symlinks: a syscall per part).
    std::string rel = it->path().lexically_relative(root).string();
    if (!ParseLogPath(rel, &ref)) continue;
    std::string path = it->path().string();
    seen[path] = true;
    if (files_.count(path) != 0) continue;
    auto f = std::make_unique<File>(options_.max_line_bytes, options_.max_entry_lines);
    f->path = path;
    f->ref = std::make_shared<const ContainerRef>(std::move(ref));
    std::string open_path = path;
    uint64_t start = 0;
    auto saved = restored_.find(path);
    struct stat st {};
    if (saved != restored_.end() && ::stat(path.c_str(), &st) == 0) {
      if (saved->second.first == st.st_ino) {
        start = saved->second.second;
      } else {
        // Rotated while we were away: finish the renamed file first (same inode).
        for (const auto& e : fs::directory_iterator(it->path().parent_path(), ec)) {
          struct stat rs {};
          std::string name = e.path().filename().string();
          if (name.rfind(it->path().filename().string() + ".", 0) == 0 &&
              ::stat(e.path().c_str(), &rs) == 0 && rs.st_ino == saved->second.first) {
            open_path = e.path().string();
            start = saved->second.second;
          }
        }
      }
      restored_.erase(saved);
    }
    f->fd = ::open(open_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) continue;
    struct stat fst {};
    ::fstat(f->fd, &fst);
    f->ino = fst.st_ino;
    if (start > static_cast<uint64_t>(fst.st_size)) start = 0;  // truncated meanwhile
    f->offset = start;
    if (start > 0) ::lseek(f->fd, static_cast<off_t>(start), SEEK_SET);
    files_[path] = std::move(f);
  }
  for (auto& [path, f] : files_) {
    if (seen.count(path) == 0) f->gone = true;
  }
  return absl::OkStatus();
}

void Tailer::Emit(File& f, std::vector<Recombiner::Entry> entries, std::vector<TailedEntry>& out) {
  for (Recombiner::Entry& e : entries) out.push_back(TailedEntry{f.ref, std::move(e)});
}

void Tailer::Read(File& f, std::vector<TailedEntry>& out, bool flush_entries) {
  auto drain = [&](bool to_eof) {
    size_t budget = to_eof ? SIZE_MAX : options_.read_chunk;
    while (budget > 0) {
      // One read buffer serves every file: the file's held-back partial line, then what it
      // gained.
      const size_t held = f.buffer.size();
      const size_t want = std::min<size_t>(options_.read_chunk, budget);
      if (chunk_size_ < held + want) {
        chunk_size_ = held + want;
        chunk_ = std::make_unique<char[]>(chunk_size_);
      }
      std::memcpy(chunk_.get(), f.buffer.data(), held);
      ssize_t n = ::read(f.fd, chunk_.get() + held, want);
      if (n <= 0) break;
      budget -= static_cast<size_t>(n);
      const uint64_t base = f.offset - held;  // file offset of chunk_[0]
      f.offset += static_cast<uint64_t>(n);
      const size_t size = held + static_cast<size_t>(n);
      size_t pos = 0;
      const char* data = chunk_.get();
      for (const char* nl; (nl = static_cast<const char*>(
                                std::memchr(data + pos, '\n', size - pos))) != nullptr;
           pos = static_cast<size_t>(nl - data) + 1) {
        const uint64_t line_start = base + pos;
        std::string_view line(data + pos, static_cast<size_t>(nl - data) - pos);
        ++lines_read_;
        LogLine part;
        if (!ParseLogLine(line, &part, &scratch_).ok()) {
          ++parse_errors_;
          continue;
        }
        const int slot = static_cast<int>(part.stream);
        if (!f.assembling_from[slot]) f.assembling_from[slot] = line_start;
        std::optional<LineAssembler::Line> whole = f.assembler.Add(part);
        if (!whole) continue;
        const uint64_t whole_start = *f.assembling_from[slot];
        f.assembling_from[slot].reset();
        f.done.clear();
        f.recombiner.Add(*whole, &f.done);
        // The entry now open for this stream starts at this line, unless this line continued
        // the one that was open.
        if (!f.recombiner.pending(part.stream)) {
          f.entry_from[slot].reset();
        } else if (!f.done.empty() || !f.entry_from[slot]) {
          f.entry_from[slot] = whole_start;
        }
        const size_t before = out.size();
        for (Recombiner::Entry& e : f.done) out.push_back(TailedEntry{f.ref, std::move(e)});
        if (whole->truncated && out.size() > before) out.back().truncated = true;
      }
      if (pos > 0) f.last_line = Steady::now();  // once per read: clocks can be slow in VMs
      f.buffer.assign(data + pos, size - pos);
      if (f.buffer.capacity() > 4096 && f.buffer.size() < 1024) f.buffer.shrink_to_fit();
      if (f.buffer.size() > options_.max_line_bytes + 64) {
        // A "line" without a newline past the bound: not a log file we understand.
        ++parse_errors_;
        f.buffer.clear();
      }
    }
  };
  auto flush_all = [&] {
    f.done.clear();
    for (const LineAssembler::Line& l : f.assembler.Flush()) f.recombiner.Add(l, &f.done);
    Emit(f, std::move(f.done), out);
    f.done.clear();
    Emit(f, f.recombiner.Flush(), out);
    f.Reset();
  };

  // The path is checked at every poll, so that a rename is followed at once (the checkpoint
  // then names the new file: a second rotation while stopped loses nothing).
  struct stat st {};
  const bool exists = ::stat(f.path.c_str(), &st) == 0;
  struct stat fst {};
  if (exists && st.st_ino != f.ino) {
    // Renamed away: read the old file to its end, then follow the new one from its start.
    drain(true);
    flush_all();
    ::close(f.fd);
    f.fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (f.fd < 0 || ::fstat(f.fd, &fst) != 0) return;
    f.ino = fst.st_ino;
    f.offset = 0;
  } else if (!exists || f.gone) {
    drain(true);
    flush_all();
    f.gone = true;
    return;
  }
  bool truncated = ::fstat(f.fd, &fst) == 0 && static_cast<uint64_t>(fst.st_size) < f.offset;
  if (!truncated && !f.head.empty()) {
    // Truncated and written again up to the same size or more: the first bytes changed.
    std::string now(f.head.size(), '\0');
    truncated = ::pread(f.fd, now.data(), now.size(), 0) != static_cast<ssize_t>(now.size()) ||
                now != f.head;
  }
  if (truncated) {
    // Copy-truncated: what was held back is complete; start over.
    flush_all();
    f.offset = 0;
    ::lseek(f.fd, 0, SEEK_SET);
  }
  drain(false);
  if (f.head.size() < std::min<uint64_t>(kHeadBytes, f.offset)) {
    f.head.assign(std::min<uint64_t>(kHeadBytes, f.offset), '\0');
    if (::pread(f.fd, f.head.data(), f.head.size(), 0) != static_cast<ssize_t>(f.head.size())) {
      f.head.clear();
    }
  }
  if (f.recombiner.pending() &&
      (flush_entries || Steady::now() - f.last_line >= options_.flush_after)) {
    Emit(f, f.recombiner.Flush(), out);
    f.entry_from = {};
  }
}

absl::Status Tailer::SaveCheckpoint() {
  if (options_.checkpoint_path.empty()) return absl::OkStatus();
  json files = json::object();
  for (const auto& [path, f] : files_) {
    files[path] = {{"ino", f->ino}, {"offset", f->Committed()}};
  }
  for (const auto& [path, v] : restored_) files[path] = {{"ino", v.first}, {"offset", v.second}};
  std::string tmp = options_.checkpoint_path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << json{{"files", files}}.dump();
    out.flush();
    if (!out) return absl::InternalError(fmt::format("cannot write {}", tmp));
  }
  std::error_code ec;
  fs::rename(tmp, options_.checkpoint_path, ec);
  if (ec) return absl::InternalError(fmt::format("cannot replace {}: {}", options_.checkpoint_path, ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<size_t> Tailer::Poll(bool flush_entries) {
  // What the sink refused last time goes first; nothing new is read until it is taken.
  size_t n = 0;
  if (!undelivered_.empty()) {
    if (absl::Status s = sink_(undelivered_); !s.ok()) return s;
    n += undelivered_.size();
    undelivered_.clear();
  }
  if (Steady::now() - last_scan_ >= options_.rescan_interval) {
    if (absl::Status s = Discover(); !s.ok()) return s;
    last_scan_ = Steady::now();
  }
  // Entries go to the sink in batches of about max_batch_bytes, each followed by a
  // checkpoint, so that memory stays bounded however much the files gained. The files not yet
  // read when a batch is refused keep their offsets; the refused batch goes first next time.
  std::vector<TailedEntry> out;
  out.reserve(4096);
  size_t out_bytes = 0;
  auto deliver = [&]() -> absl::Status {
    if (out.empty()) return absl::OkStatus();
    if (absl::Status s = sink_(out); !s.ok()) {
      undelivered_ = std::move(out);
      return s;
    }
    n += out.size();
    out.clear();
    out_bytes = 0;
    return SaveCheckpoint();
  };
  for (auto& [path, f] : files_) {
    const size_t before = out.size();
    Read(*f, out, flush_entries);
    for (size_t i = before; i < out.size(); ++i) out_bytes += out[i].entry.text.size() + 64;
    if (out_bytes >= options_.max_batch_bytes) {
      if (absl::Status s = deliver(); !s.ok()) return s;
    }
  }
  if (absl::Status s = deliver(); !s.ok()) return s;
  for (auto it = files_.begin(); it != files_.end();) {
    it = it->second->gone ? files_.erase(it) : std::next(it);
  }
  if (absl::Status s = SaveCheckpoint(); !s.ok()) return s;
  return n;
}

}  // namespace kobs::agent
