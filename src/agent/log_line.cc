#include "agent/log_line.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/time_util.h"

namespace kobs::agent {
namespace {

absl::Status Bad(std::string_view what, std::string_view line) {
  return absl::InvalidArgumentError(
      fmt::format("{}: \"{}\"", what, line.substr(0, std::min<size_t>(line.size(), 80))));
}

// With the prefix a literal, the comparison has a constant size and is inlined (this runs
// several times for every log line).
template <size_t N>
bool StartsWith(std::string_view s, const char (&p)[N]) {
  return s.size() >= N - 1 && std::memcmp(s.data(), p, N - 1) == 0;
}

// "java.lang.IllegalStateException: x", "org.foo.BarError", "Caused by: ...".
bool JavaExceptionLine(std::string_view line) {
  if (StartsWith(line, "Caused by: ") || StartsWith(line, "Suppressed: ")) return true;
  // A class name is short: look at the head only (log lines can be megabytes).
  line = line.substr(0, 512);
  size_t end = line.find_first_of(": ");
  std::string_view name = line.substr(0, end);
  if (name.find('.') == std::string_view::npos) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '$' || c == '_')) {
      return false;
    }
  }
  auto ends = [&](std::string_view suffix) {
    return name.size() >= suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
  };
  return ends("Exception") || ends("Error") || ends("Throwable");
}

bool GoroutineHeader(std::string_view line) {
  return StartsWith(line, "goroutine ") && line.find(" [") != std::string_view::npos &&
         !line.empty() && line.back() == ':';
}

}  // namespace

std::string_view StreamName(Stream s) { return s == Stream::kStderr ? "stderr" : "stdout"; }

absl::Status ParseCriLine(std::string_view line, LogLine* out) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return Bad("CRI line without a stream", line);
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return Bad("CRI line without a tag", line);
  absl::StatusOr<int64_t> t = ParseRfc3339Nanos(line.substr(0, sp1));
  if (!t.ok()) return t.status();
  out->time_unix_nano = *t;
  const std::string_view stream = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (stream == "stdout") {
    out->stream = Stream::kStdout;
  } else if (stream == "stderr") {
    out->stream = Stream::kStderr;
  } else {
    return Bad("CRI line with an unknown stream", line);
  }
  // Tags: "P" or "F", possibly followed by more ':'-separated tags (the CRI's forward rule).
  size_t sp3 = line.find(' ', sp2 + 1);
  std::string_view tags = line.substr(sp2 + 1, sp3 == std::string_view::npos ? std::string_view::npos
                                                                             : sp3 - sp2 - 1);
  std::string_view first = tags.substr(0, tags.find(':'));
  if (first != "P" && first != "F") return Bad("CRI line with an unknown tag", line);
  out->partial = first == "P";
  out->text = sp3 == std::string_view::npos ? std::string_view() : line.substr(sp3 + 1);
  return absl::OkStatus();
}

absl::Status ParseDockerLine(std::string_view line, LogLine* out, std::string* scratch) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("log") || !j["log"].is_string()) {
    return Bad("not a Docker json-file record", line);
  }
  *scratch = j["log"].get<std::string>();
  out->partial = scratch->empty() || scratch->back() != '\n';
  out->text = *scratch;
  if (!out->partial) out->text.remove_suffix(1);
  auto stream = j.find("stream");
  out->stream = stream != j.end() && stream->is_string() && *stream == "stderr" ? Stream::kStderr
                                                                                : Stream::kStdout;
  out->time_unix_nano = 0;
  auto time = j.find("time");
  if (time != j.end() && time->is_string()) {
    absl::StatusOr<int64_t> t = ParseRfc3339Nanos(time->get<std::string>());
    if (!t.ok()) return t.status();
    out->time_unix_nano = *t;
  }
  return absl::OkStatus();
}

absl::Status ParseLogLine(std::string_view line, LogLine* out, std::string* scratch) {
  if (!line.empty() && line.front() == '{') return ParseDockerLine(line, out, scratch);
  return ParseCriLine(line, out);
}

std::optional<LineAssembler::Line> LineAssembler::Add(const LogLine& part) {
  Pending& p = pending_[static_cast<int>(part.stream)];
  if (!p.active) {
    // The last joined line is no longer needed, nor its buffer: joined lines are long (a
    // runtime splits lines at 16 KiB) and rare, and a node has hundreds of files, each with
    // two streams.
    if (!p.text.empty()) std::string().swap(p.text);
    if (!part.partial && part.text.size() <= max_bytes_) {
      return Line{part.time_unix_nano, part.stream, part.text, false};  // no copy
    }
    p.time_unix_nano = part.time_unix_nano;  // p.text is empty here
    p.truncated = false;
    p.active = true;
  }
  if (!p.truncated) {
    const size_t room = max_bytes_ - std::min(max_bytes_, p.text.size());
    p.truncated = part.text.size() > room;
    p.text.append(part.text.substr(0, room));
  }
  if (part.partial) return std::nullopt;
  p.active = false;
  return Line{p.time_unix_nano, part.stream, p.text, p.truncated};
}

std::vector<LineAssembler::Line> LineAssembler::Flush() {
  std::vector<Line> out;
  for (Stream s : {Stream::kStdout, Stream::kStderr}) {
    Pending& p = pending_[static_cast<int>(s)];
    if (p.active) out.push_back(Line{p.time_unix_nano, s, p.text, p.truncated});
    p.active = false;
  }
  return out;
}

bool Recombiner::Continues(const Open& open, std::string_view line) const {
  if (open.entry.lines >= max_lines_ || open.entry.text.size() + line.size() > max_bytes_) {
    return false;
  }
  if (open.mode == Open::Mode::kGo) {
    // Goroutine dumps are separated by blank lines; anything else after one ends the entry.
    return !open.last_blank || line.empty() || GoroutineHeader(line);
  }
  if (StartsWith(line, "  ") || StartsWith(line, "\t") || StartsWith(line, "}")) return true;
  if (open.mode == Open::Mode::kPython) {
    // The traceback's last line ("ValueError: bad input") ends it, not indented.
    return true;
  }
  if (StartsWith(line, "... ") || StartsWith(line, "\t... ")) return true;
  return JavaExceptionLine(line);
}

void Recombiner::Add(const LineAssembler::Line& line, std::vector<Entry>* done) {
  auto it = std::find_if(open_.begin(), open_.end(),
                         [&](const Open& o) { return o.entry.stream == line.stream; });
  if (it != open_.end()) {
    if (Continues(*it, line.text)) {
      it->entry.text += '\n';
      it->entry.text += line.text;
      ++it->entry.lines;
      it->last_blank = line.text.empty();
      // A Python traceback ends with its first unindented line after the frames.
      if (it->mode == Open::Mode::kPython && !StartsWith(line.text, " ") &&
          !StartsWith(line.text, "Traceback ")) {
        done->push_back(std::move(it->entry));
        open_.erase(it);
      }
      return;
    }
    done->push_back(std::move(it->entry));
  } else {
    it = open_.emplace(open_.end());
  }
  // The stream's entry starts over in place with this line.
  Open& o = *it;
  o.mode = Open::Mode::kPlain;
  o.last_blank = false;
  if (GoroutineHeader(line.text) || StartsWith(line.text, "panic: ")) o.mode = Open::Mode::kGo;
  if (StartsWith(line.text, "Traceback (most recent call last):")) o.mode = Open::Mode::kPython;
  o.entry.time_unix_nano = line.time_unix_nano;
  o.entry.stream = line.stream;
  o.entry.text = line.text;
  o.entry.lines = 1;
}

bool Recombiner::pending(Stream stream) const {
  return std::any_of(open_.begin(), open_.end(), [&](const Open& o) { return o.entry.stream == stream; });
}

std::vector<Recombiner::Entry> Recombiner::Flush() {
  std::vector<Entry> out;
  for (Open& o : open_) {
    // A Go dump's trailing blank line is not part of the entry.
    while (o.entry.text.size() > 0 && o.entry.text.back() == '\n') o.entry.text.pop_back();
    out.push_back(std::move(o.entry));
  }
  open_.clear();
  return out;
}

std::string StripAnsi(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    // The text up to the next escape, in one piece (most lines have none).
    const void* esc = std::memchr(s.data() + i, '\x1b', s.size() - i);
    const size_t at = esc != nullptr ? static_cast<size_t>(static_cast<const char*>(esc) - s.data())
                                     : s.size();
    out.append(s.data() + i, at - i);
    if (at + 1 >= s.size()) break;  // no escape, or one at the very end
    const char kind = s[at + 1];
    size_t j;
    if (kind == '[') {
      // CSI: parameters and intermediates, then a final byte in @..~.
      j = at + 2;
      while (j < s.size() && (static_cast<unsigned char>(s[j]) < 0x40 || s[j] > 0x7e)) ++j;
    } else if (kind == ']') {
      // OSC: up to BEL or ESC backslash.
      j = at + 2;
      while (j < s.size() && s[j] != '\a' &&
             !(s[j] == '\x1b' && j + 1 < s.size() && s[j + 1] == '\\')) {
        ++j;
      }
      if (j < s.size() && s[j] == '\x1b') ++j;
    } else {
      // Other escapes: intermediate bytes (0x20-0x2f, as in ESC ( B), then one final byte.
      j = at + 1;
      while (j < s.size() && s[j] >= 0x20 && s[j] <= 0x2f) ++j;
    }
    i = j + 1;  // past the sequence's final byte
  }
  return out;
}

}  // namespace kobs::agent
