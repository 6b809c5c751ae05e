// Decodes a Kubernetes watch stream (the body of `?watch=true`, already de-chunked): JSON
// event objects `{"type": ..., "object": ...}`, one after another, normally one per line.
// Chunk boundaries may fall anywhere; objects are split on their own braces (strings and
// escapes understood), so a missing newline does not matter either. ERROR events carry an
// API Status, turned into an absl::Status (410 Gone -> IsGone()).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"

namespace kobs::k8s {

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type;
  nlohmann::json object;        // the object (for kError, the Status object)
  std::string resource_version;  // object.metadata.resourceVersion ("" when absent)
  absl::Status error;            // kError only
};

class WatchDecoder {
 public:
  explicit WatchDecoder(size_t max_event_bytes = 16u << 20) : max_event_bytes_(max_event_bytes) {}

  // Appends the complete events in `chunk` (with what earlier chunks left) to `*out`. An
  // error (malformed JSON, unknown event type, an event over the size limit) ends the stream.
  absl::Status Feed(std::string_view chunk, std::vector<WatchEvent>* out);

  // At the end of the stream: an error when a partial event is left over.
  absl::Status Finish() const;

 private:
  absl::Status Emit(std::string_view text, std::vector<WatchEvent>* out);

  const size_t max_event_bytes_;
  std::string buf_;      // the current, incomplete object
  int depth_ = 0;        // brace/bracket depth inside it
  bool in_string_ = false;
  bool escape_ = false;
};

}  // namespace kobs::k8s
