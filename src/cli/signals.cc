#include "cli/signals.h"

#include <pthread.h>
#include <signal.h>

namespace kobs::cli {

sigset_t BlockShutdownSignals() {
  // A closed pipe or socket is an error to handle where it is written, not a reason to die
  // (e.g. `kobs serve --sim | head`).
  signal(SIGPIPE, SIG_IGN);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

const char* WaitForShutdownSignal(const sigset_t& signals) {
  int sig = 0;
  sigwait(&signals, &sig);
  return sig == SIGTERM ? "SIGTERM" : "SIGINT";
}

}  // namespace kobs::cli
