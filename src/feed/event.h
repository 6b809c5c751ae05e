// The feed's unit: one Kubernetes event row of kobs_k8s_events, as the Krateo frontend's
// SSEK8sEvent JSON (the original Go proxy's shape, byte for byte), with its position in the
// feed and its SSE frames pre-rendered.
//
// A position is (FeedTime in ns, FeedKey, frame): every replica orders the store's rows the
// same way, and a restart does not change them. An event is published on up to two topics,
// `krateo` (frame 0) and its composition id (frame 1), so a client's place in the stream is a
// frame, and each frame's `id:` is its position ("<ns>-<16 hex>-<frame>").
#pragma once

#include <compare>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace kobs::feed {

inline constexpr std::string_view kAllTopic = "krateo";
inline constexpr int kLastFrame = 1;

struct Position {
  int64_t time_ns = 0;
  uint64_t key = 0;
  int frame = 0;  // -1: before the event's first frame

  auto operator<=>(const Position&) const = default;
  std::string ToString() const;
  // Parses ToString()'s form; InvalidArgument otherwise.
  static absl::StatusOr<Position> Parse(std::string_view text);
};

// The columns the original proxy selected, from kobs_k8s_events.
struct EventFields {
  std::string composition_id;
  std::string event_namespace;
  std::string object_api_version;
  std::string object_kind;
  std::string object_name;
  std::string object_namespace;
  std::string object_uid;
  std::string reason;
  std::string message;
  std::string type;
  std::string event_time;  // eventTime, else lastTimestamp, else Timestamp (RFC 3339)
  std::string source_component;
};

// Appends `s` as a JSON string the way Go's encoding/json does: <, > and & as \u003c \u003e
// \u0026, U+2028/U+2029 escaped, invalid UTF-8 bytes as \ufffd.
void AppendGoJsonString(std::string* out, std::string_view s);

// The SSEK8sEvent JSON of the original proxy (metadata.* is the involved object's, every
// timestamp is the event time).
std::string SseEventJson(const EventFields& e);
// The same, appended to `out`.
void AppendSseEventJson(const EventFields& e, std::string* out);

struct FeedEvent {
  FeedEvent(int64_t time_ns, uint64_t key, EventFields fields);

  Position position(int frame) const { return {time_ns, key, frame}; }
  // The topic of frame 0 (krateo) or 1 (the composition id; empty when there is none).
  const std::string& topic(int frame) const;
  // The rendered frame ("id: ...\nevent: <topic>\ndata: <json>\n\n"); null when the frame
  // does not exist (no composition id).
  const std::shared_ptr<const std::string>& frame(int i) const { return frames_[i]; }

  const int64_t time_ns;
  const uint64_t key;
  const EventFields fields;
  const std::string json;

 private:
  std::shared_ptr<const std::string> frames_[kLastFrame + 1];
};

}  // namespace kobs::feed
