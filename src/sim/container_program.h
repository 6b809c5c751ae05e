// What a simulated container does, read from its command and args as a user writes them for
// a real cluster: the simple shell that demo and test pods use. `sh -c "echo hi; sleep 5;
// exit 1"` becomes the steps echo "hi", sleep 5 s, exit 1. Understood: `echo [-n|-e] words`
// (quotes and backslash escapes as sh reads them), `printf` (as echo, without the newline
// rules), `sleep N|infinity`, `exit N`, `true`, `false`, statements joined by `;`, `&&` or
// newlines. Any other command (`nginx -g ...`, `/app/server`) is taken as the image's own
// long-running process, as is no command at all: it runs until stopped.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kobs::sim {

struct ProgramStep {
  enum class Kind { kOutput, kSleep, kExit, kForever };
  Kind kind;
  std::string text;     // kOutput: one log line (without the newline)
  double seconds = 0;   // kSleep
  int code = 0;         // kExit
};

// The steps of a container; a final kExit 0 is implied when the script ends. InvalidArgument
// for unbalanced quotes.
absl::StatusOr<std::vector<ProgramStep>> ParseProgram(const std::vector<std::string>& command,
                                                      const std::vector<std::string>& args);

}  // namespace kobs::sim
