// `kobs sim`: runs the simulated Kubernetes API server (src/sim) until SIGINT/SIGTERM, and
// prints where its kubeconfig is. Returns the process exit code.
#pragma once

#include "sim/sim_server.h"

namespace kobs::cli {

int RunSim(const sim::SimOptions& options);

}  // namespace kobs::cli
