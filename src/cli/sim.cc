#include "cli/sim.h"

#include <malloc.h>

#include <cstdio>
#include <filesystem>

#include "cli/signals.h"
#include "common/absl_compat.h"
#include "common/log.h"
#include "common/metrics.h"

namespace kobs::cli {

int RunSim(const sim::SimOptions& options) {
  const sigset_t signals = BlockShutdownSignals();
  // Few malloc arenas: the server's many request threads otherwise each keep an arena of
  // freed JSON, which doubles the resident size for nothing (bench/sim_scale).
  mallopt(M_ARENA_MAX, 2);

  MetricsRegistry metrics;
  RegisterProcessMetrics(metrics);
  auto server = sim::SimServer::Create(options, metrics);
  if (!server.ok()) {
    std::fprintf(stderr, "kobs sim: %s\n", std::string(ToStd(server.status().message())).c_str());
    return 1;
  }
  if (absl::Status s = (*server)->Start(); !s.ok()) {
    std::fprintf(stderr, "kobs sim: %s\n", std::string(ToStd(s.message())).c_str());
    return 1;
  }
  std::string kubeconfig = std::filesystem::absolute((*server)->kubeconfig_path()).string();
  Log(Logger("sim"), spdlog::level::info, "simulated API server listening",
      {{"url", (*server)->server_url()}, {"kubeconfig", kubeconfig}});
  std::printf("kobs sim: API server at %s\nkubeconfig: %s\ntry: kubectl --kubeconfig %s get "
              "namespaces\n",
              (*server)->server_url().c_str(), kubeconfig.c_str(), kubeconfig.c_str());
  std::fflush(stdout);
  const char* sig = WaitForShutdownSignal(signals);
  Log(Logger("sim"), spdlog::level::info, "shutting down", {{"signal", sig}});
  (*server)->Stop();
  return 0;
}

}  // namespace kobs::cli
