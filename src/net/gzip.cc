#include "net/gzip.h"

#include <zlib.h>

#include <fmt/format.h>

namespace kobs::net {

struct GzipWriter::State {
  z_stream z{};
  bool done = false;
};

GzipWriter::GzipWriter(int level) : state_(std::make_unique<State>()) {
  // 15 + 16: a gzip wrapper rather than zlib's.
  deflateInit2(&state_->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
}

GzipWriter::~GzipWriter() { deflateEnd(&state_->z); }

std::string GzipWriter::Compress(std::string_view data, bool finish) {
  std::string out;
  if (state_->done) return out;
  z_stream& z = state_->z;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  const int flush = finish ? Z_FINISH : Z_SYNC_FLUSH;
  char buf[16384];
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = deflate(&z, flush);
    out.append(buf, sizeof buf - z.avail_out);
  } while (z.avail_out == 0 || (finish && rc != Z_STREAM_END && rc != Z_STREAM_ERROR));
  if (finish) state_->done = true;
  return out;
}

absl::StatusOr<std::string> Inflate(std::string_view data, uint64_t limit) {
  z_stream z{};
  // 15 + 32: detect a gzip or zlib header.
  if (inflateInit2(&z, 15 + 32) != Z_OK) return absl::InternalError("inflateInit2 failed");
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  char buf[65536];
  absl::Status status;
  while (true) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    int rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
    if (out.size() > limit) {
      status = absl::ResourceExhaustedError(
          fmt::format("decompressed body exceeds the limit of {} bytes", limit));
      break;
    }
    if (rc == Z_STREAM_END) {
      if (z.avail_in == 0) break;
      inflateReset(&z);  // another gzip member follows
      continue;
    }
    if (rc == Z_BUF_ERROR && z.avail_in == 0) {
      status = absl::InvalidArgumentError("compressed body is truncated");
      break;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      status = absl::InvalidArgumentError(
          fmt::format("compressed body is corrupt: {}", z.msg != nullptr ? z.msg : "inflate error"));
      break;
    }
  }
  inflateEnd(&z);
  if (!status.ok()) return status;
  return out;
}

std::string Gzip(std::string_view data, int level) {
  GzipWriter w(level);
  return w.Compress(data, true);
}

}  // namespace kobs::net
