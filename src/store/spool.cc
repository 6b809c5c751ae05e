#include "store/spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "common/log.h"

namespace kobs::store {
namespace {

constexpr uint32_t kMagic = 0x3150534b;  // "KSP1"
constexpr size_t kHeader = 12;           // magic, payload length, crc32

namespace fs = std::filesystem;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

template <typename T>
void Put(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof v);
}
void PutString(std::string* out, std::string_view s) {
  Put<uint64_t>(out, s.size());
  out->append(s);
}

// Reads a little-endian value or a string from `in` at `*pos`; false past the end.
template <typename T>
bool Get(std::string_view in, size_t* pos, T* v) {
  if (in.size() - *pos < sizeof(T)) return false;
  std::memcpy(v, in.data() + *pos, sizeof(T));
  *pos += sizeof(T);
  return true;
}
bool GetString(std::string_view in, size_t* pos, std::string* s) {
  uint64_t n;
  if (!Get(in, pos, &n) || in.size() - *pos < n) return false;
  s->assign(in.data() + *pos, n);
  *pos += n;
  return true;
}

std::string Encode(const SpoolEntry& e) {
  std::string payload;
  Put<int64_t>(&payload, e.appended_unix_ms);
  Put<uint64_t>(&payload, e.rows);
  PutString(&payload, e.table);
  PutString(&payload, e.format);
  Put<uint32_t>(&payload, static_cast<uint32_t>(e.columns.size()));
  for (const auto& c : e.columns) PutString(&payload, c);
  PutString(&payload, e.data);
  std::string out;
  out.reserve(kHeader + payload.size());
  Put<uint32_t>(&out, kMagic);
  Put<uint32_t>(&out, static_cast<uint32_t>(payload.size()));
  Put<uint32_t>(&out, static_cast<uint32_t>(
                          crc32(0, reinterpret_cast<const Bytef*>(payload.data()), payload.size())));
  out += payload;
  return out;
}

bool DecodePayload(std::string_view payload, SpoolEntry* e) {
  size_t pos = 0;
  uint32_t ncols;
  if (!Get(payload, &pos, &e->appended_unix_ms) || !Get(payload, &pos, &e->rows) ||
      !GetString(payload, &pos, &e->table) || !GetString(payload, &pos, &e->format) ||
      !Get(payload, &pos, &ncols)) {
    return false;
  }
  e->columns.resize(ncols);
  for (auto& c : e->columns) {
    if (!GetString(payload, &pos, &c)) return false;
  }
  return GetString(payload, &pos, &e->data) && pos == payload.size();
}

// Reads the entry at `offset` of `fd`: its total size, or 0 when it is torn or corrupt.
uint64_t ReadEntry(int fd, uint64_t offset, uint64_t file_size, SpoolEntry* e) {
  if (file_size - offset < kHeader) return 0;
  char header[kHeader];
  if (pread(fd, header, kHeader, static_cast<off_t>(offset)) != kHeader) return 0;
  uint32_t magic, len, crc;
  std::memcpy(&magic, header, 4);
  std::memcpy(&len, header + 4, 4);
  std::memcpy(&crc, header + 8, 4);
  if (magic != kMagic || file_size - offset - kHeader < len) return 0;
  std::string payload(len, '\0');
  if (pread(fd, payload.data(), len, static_cast<off_t>(offset + kHeader)) != len) return 0;
  if (crc32(0, reinterpret_cast<const Bytef*>(payload.data()), len) != crc) return 0;
  if (!DecodePayload(payload, e)) return 0;
  return kHeader + len;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Spool>> Spool::Open(SpoolOptions options) {
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) {
    return absl::UnavailableError(
        fmt::format("cannot create spool directory {}: {}", options.dir, ec.message()));
  }
  auto spool = std::unique_ptr<Spool>(new Spool(std::move(options)));
  if (absl::Status s = spool->Recover(); !s.ok()) return s;
  return spool;
}

Spool::~Spool() {
  absl::MutexLock lock(&mu_);
  if (write_fd_ >= 0) close(write_fd_);
}

std::string Spool::SegmentPath(uint64_t seq) const {
  return fmt::format("{}/seg-{:020}.log", options_.dir, seq);
}

absl::Status Spool::Recover() {
  absl::MutexLock lock(&mu_);
  uint64_t pos_seq = 0, pos_offset = 0, claim = 0;
  {
    std::ifstream in(options_.dir + "/position");
    in >> pos_seq >> pos_offset >> claim;  // the claim is absent from older position files
  }
  std::vector<uint64_t> seqs;
  for (const auto& f : fs::directory_iterator(options_.dir)) {
    std::string name = f.path().filename().string();
    if (name.rfind("seg-", 0) == 0 && name.size() == 28) {
      seqs.push_back(std::stoull(name.substr(4, 20)));
    }
  }
  std::sort(seqs.begin(), seqs.end());
  uint64_t last_seq = pos_seq;
  for (uint64_t seq : seqs) {
    last_seq = std::max(last_seq, seq);
    const std::string path = SegmentPath(seq);
    if (seq < pos_seq) {  // fully replayed before the crash
      fs::remove(path);
      continue;
    }
    int fd = open(path.c_str(), O_RDWR);
    if (fd < 0) return absl::UnavailableError(fmt::format("cannot open spool segment {}", path));
    struct stat st;
    fstat(fd, &st);
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    uint64_t offset = seq == pos_seq ? std::min(pos_offset, size) : 0;
    if (segments_.empty()) read_offset_ = offset;
    while (offset < size) {
      SpoolEntry e;
      uint64_t n = ReadEntry(fd, offset, size, &e);
      if (n == 0) {
        // A crash mid-append leaves a torn entry at the end: cut it off.
        Log(Logger("store"), spdlog::level::warn, "spool: cutting a torn or corrupt tail",
            {{"segment", path}, {"offset", std::to_string(offset)},
             {"dropped_bytes", std::to_string(size - offset)}});
        if (ftruncate(fd, static_cast<off_t>(offset)) != 0) {
          close(fd);
          return absl::UnavailableError(fmt::format("cannot truncate spool segment {}", path));
        }
        break;
      }
      pending_.emplace_back(n, e.appended_unix_ms);
      pending_bytes_ += n;
      offset += n;
    }
    close(fd);
    segments_.push_back({seq, offset});
  }
  if (!segments_.empty()) {
    claim_entries_ = std::min<uint64_t>(claim, pending_.size());
    Log(Logger("store"), spdlog::level::info, "spool recovered",
        {{"dir", options_.dir}, {"entries", std::to_string(pending_.size())},
         {"bytes", std::to_string(pending_bytes_)}});
    return OpenWriter(segments_.back().seq);
  }
  // Empty: the next segment continues the numbering, so entry ids never repeat.
  segments_.push_back({last_seq + 1, 0});
  read_offset_ = 0;
  return OpenWriter(last_seq + 1);
}

absl::Status Spool::OpenWriter(uint64_t seq) {
  if (write_fd_ >= 0) close(write_fd_);
  write_fd_ = open(SegmentPath(seq).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (write_fd_ < 0) {
    return absl::UnavailableError(
        fmt::format("cannot open spool segment {}: {}", SegmentPath(seq), std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status Spool::Append(const SpoolEntry& entry) {
  SpoolEntry e = entry;
  if (e.appended_unix_ms == 0) e.appended_unix_ms = NowMs();
  const std::string bytes = Encode(e);
  absl::MutexLock lock(&mu_);
  if (pending_bytes_ + bytes.size() > options_.max_bytes) {
    return absl::ResourceExhaustedError(fmt::format(
        "spool full: {} of {} bytes used in {}", pending_bytes_, options_.max_bytes, options_.dir));
  }
  if (segments_.back().size >= options_.segment_bytes) {
    segments_.push_back({segments_.back().seq + 1, 0});
    if (absl::Status s = OpenWriter(segments_.back().seq); !s.ok()) return s;
  }
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = write(write_fd_, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      // Roll back a partial append so the segment stays well formed.
      (void)ftruncate(write_fd_, static_cast<off_t>(segments_.back().size));
      return absl::UnavailableError(
          fmt::format("spool write to {} failed: {}", options_.dir, std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  if (options_.fsync) fdatasync(write_fd_);
  segments_.back().size += bytes.size();
  pending_.emplace_back(bytes.size(), e.appended_unix_ms);
  pending_bytes_ += bytes.size();
  return absl::OkStatus();
}

void Spool::DropReadSegments() {
  // Fully read segments go (their deletion may have been interrupted by a crash).
  while (read_offset_ >= segments_.front().size && segments_.size() > 1) {
    fs::remove(SegmentPath(segments_.front().seq));
    segments_.pop_front();
    read_offset_ = 0;
  }
}

absl::StatusOr<std::optional<SpoolEntry>> Spool::Claim(uint64_t max_rows, uint64_t max_bytes) {
  uint64_t seq, start, fixed;
  std::vector<uint64_t> sizes;  // of the candidate entries, all in the front segment
  {
    absl::MutexLock lock(&mu_);
    if (pending_.empty()) return std::optional<SpoolEntry>();
    DropReadSegments();
    seq = segments_.front().seq;
    start = read_offset_;
    fixed = claim_entries_;
    uint64_t end = start;
    for (const auto& [size, appended] : pending_) {
      if (end + size > segments_.front().size || (fixed > 0 && sizes.size() == fixed)) break;
      sizes.push_back(size);
      end += size;
    }
  }
  // Appends only ever go past what is read here, so the reading needs no lock.
  const std::string path = SegmentPath(seq);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::UnavailableError(fmt::format("cannot read spool segment {}", path));
  SpoolEntry merged;
  uint64_t offset = start, count = 0;
  for (uint64_t size : sizes) {
    SpoolEntry e;
    if (ReadEntry(fd, offset, offset + size, &e) != size) {
      close(fd);
      return absl::DataLossError(fmt::format("spool entry {}-{} is unreadable", seq, offset));
    }
    if (count > 0 && fixed == 0 &&
        (e.table != merged.table || e.format != merged.format || e.columns != merged.columns ||
         merged.rows + e.rows > max_rows || merged.data.size() + e.data.size() > max_bytes)) {
      break;
    }
    if (count == 0) {
      merged = std::move(e);
    } else {
      merged.data += e.data;
      merged.rows += e.rows;
    }
    offset += size;
    ++count;
  }
  close(fd);
  merged.id = fmt::format("{}-{}-{}", seq, start, count);
  absl::MutexLock lock(&mu_);
  claim_out_ = true;
  if (claim_entries_ != count) {
    // Persisted before the insert, so that a crash re-forms exactly this claim.
    claim_entries_ = count;
    if (absl::Status s = SavePosition(); !s.ok()) return s;
  }
  return std::optional<SpoolEntry>(std::move(merged));
}

absl::Status Spool::Release() {
  absl::MutexLock lock(&mu_);
  if (!claim_out_ || claim_entries_ == 0 || pending_.size() < claim_entries_) {
    return absl::FailedPreconditionError("spool: Release without Claim");
  }
  for (uint64_t i = 0; i < claim_entries_; ++i) {
    read_offset_ += pending_.front().first;
    pending_bytes_ -= pending_.front().first;
    pending_.pop_front();
  }
  claim_entries_ = 0;
  claim_out_ = false;
  DropReadSegments();
  return SavePosition();
}

absl::Status Spool::SavePosition() {
  const std::string tmp = options_.dir + "/position.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << segments_.front().seq << " " << read_offset_ << " " << claim_entries_ << "\n";
    if (!out) return absl::UnavailableError(fmt::format("cannot write {}", tmp));
  }
  if (options_.fsync) {
    int fd = open(tmp.c_str(), O_RDONLY);
    if (fd >= 0) {
      fdatasync(fd);
      close(fd);
    }
  }
  std::error_code ec;
  fs::rename(tmp, options_.dir + "/position", ec);
  if (ec) return absl::UnavailableError(fmt::format("cannot update the spool position: {}", ec.message()));
  return absl::OkStatus();
}

bool Spool::empty() const {
  absl::MutexLock lock(&mu_);
  return pending_.empty();
}

uint64_t Spool::bytes() const {
  absl::MutexLock lock(&mu_);
  return pending_bytes_;
}

uint64_t Spool::entries() const {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}

double Spool::oldest_age_seconds() const {
  absl::MutexLock lock(&mu_);
  if (pending_.empty()) return 0;
  return std::max<double>(0, (NowMs() - pending_.front().second) / 1000.0);
}

}  // namespace kobs::store
