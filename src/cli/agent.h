// `kobs agent`: the node agent (collect/node_agent.h) as its own process, one per node (a
// DaemonSet): tails the node's container logs and reads its kubelet and /proc metrics, ships
// everything to the server over OTLP/HTTP through a disk buffer, serves /healthz, /readyz and
// /metrics, and stops cleanly on SIGTERM/SIGINT. Returns the process exit code.
#pragma once

#include "cli/config.h"

namespace kobs::cli {

int RunAgent(const KobsConfig& config);

}  // namespace kobs::cli
