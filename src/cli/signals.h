// Shutdown signals for the long-running subcommands: SIGINT and SIGTERM are blocked in every
// thread (threads inherit the mask of the thread that starts them) and taken with sigwait(),
// so shutdown runs in an ordinary context rather than in a signal handler.
#pragma once

#include <signal.h>

namespace kobs::cli {

// Blocks SIGINT and SIGTERM in the calling thread (and ignores SIGPIPE); call before any
// thread starts.
sigset_t BlockShutdownSignals();

// Waits for one of them and returns its name ("SIGINT" or "SIGTERM").
const char* WaitForShutdownSignal(const sigset_t& signals);

}  // namespace kobs::cli
