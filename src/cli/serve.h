// `kobs serve`: the composition root of the server role. Opens the store, runs the schema
// migrations, serves /healthz, /readyz, /metrics and the ClickHouse HTTP endpoint, and drains
// on SIGTERM/SIGINT. Returns the process exit code.
#pragma once

#include "cli/config.h"

namespace kobs::cli {

int RunServe(const KobsConfig& config);

}  // namespace kobs::cli
