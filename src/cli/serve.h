// `kobs serve`: the composition root of the server role. Opens the store, runs the schema
// migrations, serves /healthz, /readyz, /metrics and the ClickHouse HTTP endpoint, and drains
// on SIGTERM/SIGINT. Returns the process exit code.
//
// With `sim` (`kobs serve --sim`, the newcomer's single-node mode), it also runs the simulated
// cluster in-process and collects from it: events, and with the node agent in-process its pod
// logs and kubelet metrics; once ready it prints where to look and three queries to try.
#pragma once

#include <optional>

#include "cli/config.h"
#include "sim/sim_server.h"

namespace kobs::cli {

int RunServe(const KobsConfig& config, std::optional<sim::SimOptions> sim = std::nullopt);

}  // namespace kobs::cli
