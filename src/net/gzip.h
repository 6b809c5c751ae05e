// gzip compression and gzip/zlib decompression (zlib), for HTTP bodies. A GzipWriter
// compresses a stream chunk by chunk; Inflate decodes a whole body with a size limit.
// Not thread-safe per object.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kobs::net {

class GzipWriter {
 public:
  explicit GzipWriter(int level = 1);
  ~GzipWriter();
  GzipWriter(const GzipWriter&) = delete;
  GzipWriter& operator=(const GzipWriter&) = delete;

  // Compresses `data` and returns the compressed bytes produced so far; `finish` ends the
  // stream (trailer included). A sync flush after each call keeps streamed output flowing.
  std::string Compress(std::string_view data, bool finish);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Decodes a gzip (possibly multi-member) or zlib body. ResourceExhausted when the output
// would exceed `limit` bytes, InvalidArgument when the data is corrupt.
absl::StatusOr<std::string> Inflate(std::string_view data, uint64_t limit);

// Compresses a whole buffer as one gzip member.
std::string Gzip(std::string_view data, int level = 1);

}  // namespace kobs::net
