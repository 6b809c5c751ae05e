// The node agent's reading of container log files, line by line, as the kubelet's runtimes
// write them:
//   - CRI (containerd, CRI-O): `<RFC 3339 nanos> <stdout|stderr> <P|F> <text>`, where `P`
//     marks a part of a line the runtime split (over 16 KiB) and `F` its final part;
//   - Docker json-file: `{"log":"<text>\n","stream":"stdout","time":"<RFC 3339 nanos>"}`, where
//     a `log` without the trailing newline is a part that the next record continues.
// LineAssembler joins the parts into whole lines; Recombiner joins whole lines into entries
// (a stack trace is one entry); StripAnsi removes terminal colour codes. All pure: the tailer
// feeds them, the fuzz target too.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/time_util.h"

namespace kobs::agent {

enum class Stream : uint8_t { kStdout = 0, kStderr = 1 };
// "stdout" or "stderr".
std::string_view StreamName(Stream s);

// A line of a log file as parsed. Its text is a view: into the line itself (CRI), or into the
// caller's scratch string (Docker, whose text is JSON-escaped). Nothing is copied per line.
struct LogLine {
  int64_t time_unix_nano = 0;
  Stream stream = Stream::kStdout;
  bool partial = false;  // a part of a longer line (CRI `P`, Docker `log` without "\n")
  std::string_view text;  // without the trailing newline
};

// One line of a CRI log file (without its "\n"). InvalidArgument names what is wrong.
absl::Status ParseCriLine(std::string_view line, LogLine* out);
// One line of a Docker json-file log; the text is decoded into `scratch`.
absl::Status ParseDockerLine(std::string_view line, LogLine* out, std::string* scratch);
// Either, told apart by the first byte ('{' is Docker's).
absl::Status ParseLogLine(std::string_view line, LogLine* out, std::string* scratch);

// Joins partial lines, per stream, into whole lines. A line longer than `max_bytes` is cut
// there and marked truncated, the rest of it dropped, so a runaway writer cannot take the
// agent's memory.
class LineAssembler {
 public:
  explicit LineAssembler(size_t max_bytes = 1 << 20) : max_bytes_(max_bytes) {}

  struct Line {
    int64_t time_unix_nano = 0;  // of its first part
    Stream stream = Stream::kStdout;
    // A whole part that nothing of its stream precedes is passed through: this is its text.
    // Else the joined line held here, valid until the next Add() or Flush().
    std::string_view text;
    bool truncated = false;
  };
  // A whole line when `part` completes one.
  std::optional<Line> Add(const LogLine& part);
  // What is pending (a file that ended mid-line), as lines (valid until the next call).
  std::vector<Line> Flush();

 private:
  struct Pending {
    int64_t time_unix_nano = 0;
    std::string text;
    bool truncated = false;
    bool active = false;
  };
  const size_t max_bytes_;
  Pending pending_[2];  // by Stream
};

// Joins whole lines into log entries. A line continues the entry before it (of the same
// stream) when it starts with two spaces, a tab or `}` (the original stack's rule), is a
// Java `Caused by:` / `... N more` line or an exception name after a log line, follows a Go
// `goroutine N [...]:` header until a blank line, or belongs to a Python traceback (through
// its final `Error: message` line). Entries are bounded in lines and bytes.
class Recombiner {
 public:
  explicit Recombiner(size_t max_lines = 500, size_t max_bytes = 256 << 10)
      : max_lines_(max_lines), max_bytes_(max_bytes) {}

  struct Entry {
    int64_t time_unix_nano = 0;
    Stream stream = Stream::kStdout;
    std::string text;  // lines joined with "\n"
    size_t lines = 0;
  };
  // Appends the entries that `line` completes to `done` (zero, one, or one per stream when
  // streams alternate). The line's text is copied once, into its entry.
  void Add(const LineAssembler::Line& line, std::vector<Entry>* done);
  // Every pending entry (at the end of a file, or after a quiet interval).
  std::vector<Entry> Flush();
  bool pending() const { return !open_.empty(); }
  bool pending(Stream stream) const;

 private:
  struct Open {
    Entry entry;
    enum class Mode { kPlain, kGo, kPython } mode = Mode::kPlain;
    bool last_blank = false;
  };
  bool Continues(const Open& open, std::string_view line) const;
  const size_t max_lines_, max_bytes_;
  std::vector<Open> open_;  // at most one per stream
};

// `text` without ANSI escape sequences (CSI `ESC [ ... letter`, OSC `ESC ] ... BEL`, and
// two-byte escapes), as the original stack's `\x1b\[[0-9;]*[mGKHFABCDsu]` rule and more.
std::string StripAnsi(std::string_view text);

}  // namespace kobs::agent
