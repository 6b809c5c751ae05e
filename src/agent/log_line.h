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

#include "absl/status/statusor.h"
#include "common/time_util.h"

namespace kobs::agent {

struct LogLine {
  int64_t time_unix_nano = 0;
  std::string stream;  // "stdout" or "stderr"
  bool partial = false;  // a part of a longer line (CRI `P`, Docker `log` without "\n")
  std::string text;      // without the trailing newline
};

// One line of a CRI log file (without its "\n"). InvalidArgument names what is wrong.
absl::StatusOr<LogLine> ParseCriLine(std::string_view line);
// One line of a Docker json-file log.
absl::StatusOr<LogLine> ParseDockerLine(std::string_view line);
// Either, told apart by the first byte ('{' is Docker's).
absl::StatusOr<LogLine> ParseLogLine(std::string_view line);

// Joins partial lines, per stream, into whole lines. A line longer than `max_bytes` is cut
// there and marked truncated, the rest of it dropped, so a runaway writer cannot take the
// agent's memory.
class LineAssembler {
 public:
  explicit LineAssembler(size_t max_bytes = 1 << 20) : max_bytes_(max_bytes) {}

  struct Line {
    int64_t time_unix_nano = 0;  // of its first part
    std::string stream;
    std::string text;
    bool truncated = false;
  };
  // A whole line when `part` completes one.
  std::optional<Line> Add(LogLine part);
  // What is pending (a file that ended mid-line), as lines.
  std::vector<Line> Flush();

 private:
  struct Pending {
    Line line;
    bool active = false;
  };
  Pending& For(const std::string& stream);
  const size_t max_bytes_;
  Pending stdout_, stderr_;
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
    std::string stream;
    std::string text;  // lines joined with "\n"
    size_t lines = 0;
  };
  // The entries that `line` completes (zero, one, or one per stream when streams alternate).
  std::vector<Entry> Add(const LineAssembler::Line& line);
  // The same, taking the line's text and appending the completed entries to `done` (the
  // tailer's path: no copies of the text, no vector per line).
  void Add(LineAssembler::Line&& line, std::vector<Entry>* done);
  // Every pending entry (at the end of a file, or after a quiet interval).
  std::vector<Entry> Flush();
  bool pending() const { return !open_.empty(); }
  bool pending(const std::string& stream) const;

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
