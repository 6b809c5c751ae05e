#include "k8s/watch_decoder.h"

#include <fmt/format.h>

#include "k8s/api_status.h"

namespace kobs::k8s {

absl::Status WatchDecoder::Feed(std::string_view chunk, std::vector<WatchEvent>* out) {
  for (char c : chunk) {
    if (depth_ == 0 && !in_string_) {
      if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;  // between events
      if (c != '{') {
        return absl::InvalidArgumentError(
            fmt::format("watch stream: expected an event object, got '{}'", c));
      }
    }
    buf_ += c;
    if (buf_.size() > max_event_bytes_) {
      return absl::ResourceExhaustedError(
          fmt::format("watch stream: an event is larger than {} bytes", max_event_bytes_));
    }
    if (in_string_) {
      if (escape_) {
        escape_ = false;
      } else if (c == '\\') {
        escape_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if (c == '}' || c == ']') {
      if (--depth_ == 0) {
        absl::Status s = Emit(buf_, out);
        buf_.clear();
        if (!s.ok()) return s;
      } else if (depth_ < 0) {
        return absl::InvalidArgumentError("watch stream: unbalanced brackets");
      }
    }
  }
  return absl::OkStatus();
}

absl::Status WatchDecoder::Finish() const {
  if (!buf_.empty()) {
    return absl::DataLossError(
        fmt::format("watch stream ended inside an event ({} bytes)", buf_.size()));
  }
  return absl::OkStatus();
}

absl::Status WatchDecoder::Emit(std::string_view text, std::vector<WatchEvent>* out) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("watch stream: an event is not valid JSON");
  }
  auto type = j.find("type");
  auto object = j.find("object");
  if (type == j.end() || !type->is_string() || object == j.end() || !object->is_object()) {
    return absl::InvalidArgumentError("watch stream: an event lacks a type or an object");
  }
  WatchEvent e;
  const std::string& t = type->get_ref<const std::string&>();
  if (t == "ADDED") e.type = WatchEvent::Type::kAdded;
  else if (t == "MODIFIED") e.type = WatchEvent::Type::kModified;
  else if (t == "DELETED") e.type = WatchEvent::Type::kDeleted;
  else if (t == "BOOKMARK") e.type = WatchEvent::Type::kBookmark;
  else if (t == "ERROR") e.type = WatchEvent::Type::kError;
  else return absl::InvalidArgumentError(fmt::format("watch stream: unknown event type \"{}\"", t));
  e.object = std::move(*object);
  if (auto md = e.object.find("metadata"); md != e.object.end() && md->is_object()) {
    if (auto rv = md->find("resourceVersion"); rv != md->end() && rv->is_string()) {
      e.resource_version = rv->get<std::string>();
    }
  }
  if (e.type == WatchEvent::Type::kError) {
    int code = 500;
    if (auto c = e.object.find("code"); c != e.object.end() && c->is_number_integer()) {
      code = c->get<int>();
    }
    e.error = StatusFromResponse(code >= 200 && code < 300 ? 500 : code, e.object.dump());
  }
  out->push_back(std::move(e));
  return absl::OkStatus();
}

}  // namespace kobs::k8s
