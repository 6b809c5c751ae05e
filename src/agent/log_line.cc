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

// Stream names are "stdout" and "stderr": compared with a size known here, the comparison is
// inlined (it runs several times for every log line).
bool SameStream(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  return a.size() == 6 ? std::memcmp(a.data(), b.data(), 6) == 0 : a == b;
}

bool GoroutineHeader(std::string_view line) {
  return StartsWith(line, "goroutine ") && line.find(" [") != std::string_view::npos &&
         !line.empty() && line.back() == ':';
}

}  // namespace

absl::StatusOr<LogLine> ParseCriLine(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return Bad("CRI line without a stream", line);
  size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return Bad("CRI line without a tag", line);
  LogLine out;
  absl::StatusOr<int64_t> t = ParseRfc3339Nanos(line.substr(0, sp1));
  if (!t.ok()) return t.status();
  out.time_unix_nano = *t;
  const std::string_view stream = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (stream != "stdout" && stream != "stderr") return Bad("CRI line with an unknown stream", line);
  out.stream.assign(stream);
  // Tags: "P" or "F", possibly followed by more ':'-separated tags (the CRI's forward rule).
  size_t sp3 = line.find(' ', sp2 + 1);
  std::string_view tags = line.substr(sp2 + 1, sp3 == std::string_view::npos ? std::string_view::npos
                                                                             : sp3 - sp2 - 1);
  std::string_view first = tags.substr(0, tags.find(':'));
  if (first != "P" && first != "F") return Bad("CRI line with an unknown tag", line);
  out.partial = first == "P";
  if (sp3 != std::string_view::npos) {
    const std::string_view text = line.substr(sp3 + 1);
    // A part is followed by more: room for a short last part saves a reallocation and a copy.
    if (out.partial) out.text.reserve(text.size() + 4096);
    out.text.assign(text.data(), text.size());
  }
  return out;
}

absl::StatusOr<LogLine> ParseDockerLine(std::string_view line) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("log") || !j["log"].is_string()) {
    return Bad("not a Docker json-file record", line);
  }
  LogLine out;
  out.text = j["log"].get<std::string>();
  out.partial = out.text.empty() || out.text.back() != '\n';
  if (!out.partial) out.text.pop_back();
  auto stream = j.find("stream");
  out.stream = stream != j.end() && stream->is_string() ? stream->get<std::string>() : "stdout";
  if (out.stream != "stderr") out.stream = "stdout";
  auto time = j.find("time");
  if (time != j.end() && time->is_string()) {
    absl::StatusOr<int64_t> t = ParseRfc3339Nanos(time->get<std::string>());
    if (!t.ok()) return t.status();
    out.time_unix_nano = *t;
  }
  return out;
}

absl::StatusOr<LogLine> ParseLogLine(std::string_view line) {
  if (!line.empty() && line.front() == '{') return ParseDockerLine(line);
  return ParseCriLine(line);
}

LineAssembler::Pending& LineAssembler::For(const std::string& stream) {
  return std::string_view(stream) == "stderr" ? stderr_ : stdout_;
}

std::optional<LineAssembler::Line> LineAssembler::Add(LogLine part) {
  Pending& p = For(part.stream);
  if (!p.active && part.text.size() <= max_bytes_) {
    p.line = Line{part.time_unix_nano, std::move(part.stream), std::move(part.text), false};
    p.active = true;
    if (part.partial) return std::nullopt;
    p.active = false;
    return std::move(p.line);
  }
  if (!p.active) {
    p.line = Line{part.time_unix_nano, part.stream, "", false};
    p.active = true;
  }
  if (!p.line.truncated) {
    size_t room = max_bytes_ - std::min(max_bytes_, p.line.text.size());
    if (part.text.size() > room) {
      p.line.text.append(part.text, 0, room);
      p.line.truncated = true;
    } else {
      p.line.text += part.text;
    }
  }
  if (part.partial) return std::nullopt;
  p.active = false;
  return std::move(p.line);
}

std::vector<LineAssembler::Line> LineAssembler::Flush() {
  std::vector<Line> out;
  for (Pending* p : {&stdout_, &stderr_}) {
    if (p->active) out.push_back(std::move(p->line));
    p->active = false;
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

std::vector<Recombiner::Entry> Recombiner::Add(const LineAssembler::Line& line) {
  std::vector<Entry> done;
  LineAssembler::Line copy = line;
  Add(std::move(copy), &done);
  return done;
}

void Recombiner::Add(LineAssembler::Line&& line, std::vector<Entry>* done) {
  auto it = std::find_if(open_.begin(), open_.end(),
                         [&](const Open& o) { return SameStream(o.entry.stream, line.stream); });
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
  o.entry.stream = std::move(line.stream);
  o.entry.text = std::move(line.text);
  o.entry.lines = 1;
}

bool Recombiner::pending(const std::string& stream) const {
  return std::any_of(open_.begin(), open_.end(),
                     [&](const Open& o) { return SameStream(o.entry.stream, stream); });
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
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\x1b') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 1 >= s.size()) break;
    char kind = s[i + 1];
    if (kind == '[') {
      // CSI: parameters and intermediates, then a final byte in @..~.
      size_t j = i + 2;
      while (j < s.size() && (static_cast<unsigned char>(s[j]) < 0x40 || s[j] > 0x7e)) ++j;
      i = j;
    } else if (kind == ']') {
      // OSC: up to BEL or ESC backslash.
      size_t j = i + 2;
      while (j < s.size() && s[j] != '\a' && !(s[j] == '\x1b' && j + 1 < s.size() && s[j + 1] == '\\')) {
        ++j;
      }
      i = j < s.size() && s[j] == '\x1b' ? j + 1 : j;
    } else {
      // Other escapes: intermediate bytes (0x20-0x2f, as in ESC ( B), then one final byte.
      size_t j = i + 1;
      while (j < s.size() && s[j] >= 0x20 && s[j] <= 0x2f) ++j;
      i = j;
    }
  }
  return out;
}

}  // namespace kobs::agent
