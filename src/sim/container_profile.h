// What a simulated container uses and prints besides its command: its memory and CPU, and a
// stream of realistic log lines. A scenario sets it with one documented annotation on the
// pod (or on a workload's pod template), a YAML map keyed by container name ("*" for every
// container of the pod):
//
//   metadata:
//     annotations:
//       sim.kobs.dev/profile: |
//         app:
//           memory: 64Mi          # working set when the container starts (default 8Mi)
//           memoryGrowth: 10Mi    # added per simulated second; past limits.memory: OOMKilled
//           memoryPeak: 160Mi     # where the growth stops (default: no end)
//           cpu: 250m             # CPU in use (default 2m)
//           logs: web             # generator: web | json | java | ansi | plain
//           lines: ["a", "b"]     # or: these lines, in turn (instead of a generator)
//           logRate: 2            # lines per simulated second (default 1 when logs/lines set)
//           healthyFor: 60s       # HTTP probes answer 500 after this long (default: forever)
//
// Durations accept s, m and h; quantities take the Kubernetes suffixes (Ki Mi Gi Ti, k M G T,
// m). Time acceleration (`--time-factor`) shortens every simulated second alike.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "k8s/objects.h"

namespace kobs::sim {

inline constexpr std::string_view kProfileAnnotation = "sim.kobs.dev/profile";

struct ContainerProfile {
  int64_t memory_bytes = 8 << 20;
  int64_t memory_growth_per_second = 0;
  int64_t memory_peak = 0;  // 0: grows without end
  int64_t cpu_millicores = 2;
  std::string logs;                // generator name, "" for none
  std::vector<std::string> lines;  // cycled instead of a generator
  double log_rate = 0;             // lines per simulated second
  std::optional<std::chrono::milliseconds> healthy_for;
};

using k8s::ParseQuantityMilli;
// "30s", "5m", "1h", "1.5s", "250ms".
absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text);

// The profiles from a pod's annotation, by container name (the "*" entry applies to every
// container without its own). InvalidArgument names the bad field, so a scenario author can
// fix it; a pod without the annotation has no profiles.
absl::StatusOr<std::map<std::string, ContainerProfile>> ParseProfiles(const nlohmann::json& pod);
ContainerProfile ProfileFor(const std::map<std::string, ContainerProfile>& profiles,
                            const std::string& container);

// Log line number `n` of `profile` (one or more lines: a Java stack trace is several),
// deterministic in (container, n).
std::vector<std::string> GenerateLogLines(const ContainerProfile& profile,
                                          const std::string& container, uint64_t n);

// The names of the generators, for error messages and documentation.
const std::vector<std::string>& LogGenerators();

}  // namespace kobs::sim
