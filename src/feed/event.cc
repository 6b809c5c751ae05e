#include "feed/event.h"

#include <vector>

#include <absl/strings/numbers.h>
#include <absl/strings/str_split.h>
#include <fmt/format.h>

#include "common/absl_compat.h"

namespace kobs::feed {
namespace {

const std::string kAllTopicString(kAllTopic);

// Length of the valid UTF-8 sequence at the start of `s`, or 0 when it is not one (Go's
// utf8.DecodeRuneInString rules: no overlong forms, no surrogates, nothing above U+10FFFF).
size_t Utf8Sequence(std::string_view s, uint32_t* rune) {
  const auto b0 = static_cast<uint8_t>(s[0]);
  size_t n;
  uint32_t r, min;
  if (b0 < 0x80) {
    *rune = b0;
    return 1;
  } else if ((b0 & 0xe0) == 0xc0) {
    n = 2, r = b0 & 0x1f, min = 0x80;
  } else if ((b0 & 0xf0) == 0xe0) {
    n = 3, r = b0 & 0x0f, min = 0x800;
  } else if ((b0 & 0xf8) == 0xf0) {
    n = 4, r = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (size_t i = 1; i < n; ++i) {
    const auto b = static_cast<uint8_t>(s[i]);
    if ((b & 0xc0) != 0x80) return 0;
    r = (r << 6) | (b & 0x3f);
  }
  if (r < min || r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff)) return 0;
  *rune = r;
  return n;
}

}  // namespace

std::string Position::ToString() const {
  return fmt::format("{}-{:016x}-{}", time_ns, key, frame);
}

absl::StatusOr<Position> Position::Parse(std::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(ToAbsl(text), '-');
  Position p;
  if (parts.size() != 3 || parts[0].empty() || parts[0].size() > 19 || parts[1].size() != 16 ||
      !absl::SimpleAtoi(parts[0], &p.time_ns) || p.time_ns < 0 ||
      !absl::SimpleHexAtoi(parts[1], &p.key) || !absl::SimpleAtoi(parts[2], &p.frame) ||
      p.frame < 0 || p.frame > kLastFrame || parts[0].front() == '+' ||
      parts[2].size() != 1) {
    return absl::InvalidArgumentError(fmt::format(
        "invalid event id '{}': want <nanoseconds>-<16 hex digits>-<0|1>, as sent in id:",
        text.substr(0, 80)));
  }
  return p;
}

void AppendGoJsonString(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
      out->push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    if (c < 0x80) {
      switch (c) {
        case '"': *out += "\\\""; break;
        case '\\': *out += "\\\\"; break;
        case '\n': *out += "\\n"; break;
        case '\r': *out += "\\r"; break;
        case '\t': *out += "\\t"; break;
        case '\b': *out += "\\b"; break;
        case '\f': *out += "\\f"; break;
        default:
          *out += "\\u00";
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xf]);
      }
      ++i;
      continue;
    }
    uint32_t rune = 0;
    const size_t n = Utf8Sequence(s.substr(i), &rune);
    if (n == 0) {
      *out += "\\ufffd";
      ++i;
    } else if (rune == 0x2028 || rune == 0x2029) {
      *out += rune == 0x2028 ? "\\u2028" : "\\u2029";
      i += n;
    } else {
      out->append(s.substr(i, n));
      i += n;
    }
  }
  out->push_back('"');
}

std::string SseEventJson(const EventFields& e) {
  std::string out;
  AppendSseEventJson(e, &out);
  return out;
}

void AppendSseEventJson(const EventFields& e, std::string* json) {
  std::string& out = *json;
  if (out.empty()) out.reserve(320 + e.message.size());
  auto field = [&out](std::string_view name, std::string_view value, bool first = false) {
    if (!first) out.push_back(',');
    out.push_back('"');
    out.append(name);
    out += "\":";
    AppendGoJsonString(&out, value);
  };
  out += "{\"metadata\":{";
  field("name", e.object_name, true);
  field("namespace", e.object_namespace);
  field("uid", e.object_uid);
  field("creationTimestamp", e.event_time);
  out += "},\"involvedObject\":{";
  field("apiVersion", e.object_api_version, true);
  field("kind", e.object_kind);
  field("name", e.object_name);
  field("namespace", e.object_namespace);
  field("uid", e.object_uid);
  out += "}";
  field("reason", e.reason);
  field("message", e.message);
  field("type", e.type);
  field("firstTimestamp", e.event_time);
  field("lastTimestamp", e.event_time);
  field("eventTime", e.event_time);
  out += ",\"source\":{";
  field("component", e.source_component, true);
  out += "}}";
}

FeedEvent::FeedEvent(int64_t t, uint64_t k, EventFields f)
    : time_ns(t), key(k), fields(std::move(f)), json(SseEventJson(fields)) {
  for (int i = 0; i <= kLastFrame; ++i) {
    const std::string& name = topic(i);
    // A topic is one line of the frame: a composition id with a line break cannot be one.
    if (name.empty() || name.find_first_of("\r\n") != std::string::npos) continue;
    frames_[i] = std::make_shared<const std::string>(
        fmt::format("id: {}\nevent: {}\ndata: {}\n\n", position(i).ToString(), name, json));
  }
}

const std::string& FeedEvent::topic(int frame) const {
  return frame == 0 ? kAllTopicString : fields.composition_id;
}

}  // namespace kobs::feed
