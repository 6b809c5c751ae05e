// Scenarios for `kobs sim --scenario <name|file>`: manifests plus a timeline, played against
// the simulated cluster in simulated time (the time factor shortens every `at`). A scenario
// file is YAML:
//
//   name: my-scenario
//   description: what it shows
//   manifests: |            # applied at T+0 (server-side apply, field manager kobs-sim)
//     apiVersion: v1
//     kind: Pod
//     ...
//   timeline:
//   - at: 30s
//     setImage: {namespace: default, deployment: web, container: nginx, image: nginx:1.26}
//   - at: 40s
//     apply: |                # YAML documents
//       ...
//   - at: 50s
//     patch: {apiVersion: apps/v1, kind: Deployment, namespace: default, name: web,
//             type: merge, patch: {spec: {replicas: 3}}}      # merge | strategic | json
//   - at: 60s
//     scale: {kind: Deployment, namespace: default, name: web, replicas: 1}
//   - at: 70s
//     restart: {kind: Deployment, namespace: default, name: web}   # kubectl rollout restart
//   - at: 80s
//     delete: {apiVersion: v1, kind: Pod, namespace: default, name: web-0}
//   - at: 90s
//     helm: {action: upgrade, release: web, namespace: default,
//            chart: {name: nginx, version: 15.0.0, appVersion: 1.25.0},
//            values: {...}, manifest: "...", wait: 30s}          # action: install | upgrade
//   - at: 120s
//     helmRollback: {release: web, namespace: default, revision: 1}
//
// In any string, ${uid:<apiVersion>:<Kind>:<namespace>:<name>} becomes that object's uid when
// the step runs (a composition id, for instance). Built-in scenarios: BuiltinScenarioNames().
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "sim/api.h"

namespace kobs {
class Counter;
class MetricsRegistry;
}  // namespace kobs

namespace kobs::sim {

struct ScenarioStep {
  std::chrono::milliseconds at{0};
  std::string action;  // apply, patch, setImage, scale, restart, delete, helm, helmRollback
  nlohmann::json args;
};

struct Scenario {
  std::string name;
  std::string description;
  std::vector<ScenarioStep> steps;  // sorted by `at`
};

// Parses a scenario document; InvalidArgument names the step and field at fault.
absl::StatusOr<Scenario> ParseScenario(std::string_view yaml);
// A built-in scenario by name, or a scenario file by path.
absl::StatusOr<Scenario> LoadScenario(const std::string& name_or_path);
// name and one-line description of each built-in scenario.
std::vector<std::pair<std::string, std::string>> BuiltinScenarios();
// The YAML of a built-in scenario (nullptr when unknown).
const char* BuiltinScenarioYaml(std::string_view name);

// Plays scenarios on a thread. A failing step is logged and counted; the rest go on.
class ScenarioRunner {
 public:
  ScenarioRunner(Api& api, double time_factor, MetricsRegistry& metrics);
  ~ScenarioRunner();

  void Start(std::vector<Scenario> scenarios);
  void Stop();
  // Steps run so far (ok or not), and those that failed.
  int steps_run() const { return steps_run_; }
  int steps_failed() const { return steps_failed_; }
  // Whether every step has run and every Helm wait has settled.
  bool done() const { return done_; }

  // Runs one step now (tests, and the runner itself).
  absl::Status RunStep(const ScenarioStep& step);

 private:
  struct HelmWait;
  void Run(std::vector<Scenario> scenarios);
  bool SettleHelmWaits();

  Api& api_;
  const double time_factor_;
  Counter& steps_ok_metric_;
  Counter& steps_failed_metric_;
  std::atomic<bool> stop_{false};
  std::atomic<int> steps_run_{0};
  std::atomic<int> steps_failed_{0};
  std::atomic<bool> done_{false};
  absl::Mutex mu_;
  std::vector<std::unique_ptr<HelmWait>> waits_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace kobs::sim
