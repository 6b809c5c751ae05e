// The kubelet's state of one container instance, and what follows from its spec and profile:
// probe results, CPU time and memory now. Internal to the kubelet (kubelet.cc) and its stats.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/container_profile.h"
#include "sim/container_program.h"

namespace kobs::sim::kubelet {

using Steady = std::chrono::steady_clock;

struct Probe {
  Steady::time_point next = Steady::time_point::max();
  int failures = 0;
  int successes = 0;
  bool ok = false;
};

// What the kubelet knows of one container of one pod.
struct Run {
  enum class State { kPullBackoff, kRunning, kTerminated, kCrashBackoff };
  State state = State::kPullBackoff;
  int pull_failures = 0;
  std::vector<ProgramStep> steps;
  size_t pc = 0;
  Steady::time_point wake;  // the program's next step
  int restarts = 0;
  int crashes = 0;
  std::string started_at;
  Steady::time_point started;
  nlohmann::json last_terminated;  // the previous instance's termination
  nlohmann::json terminated;     // this instance's, once it exited
  // The profile and what follows from it.
  ContainerProfile profile;
  int64_t memory_limit = 0;  // bytes, 0 = none
  Steady::time_point oom_at = Steady::time_point::max();
  uint64_t log_n = 0;        // profile log lines written by this instance
  Probe readiness, liveness;
  Steady::time_point show_terminated_until;  // in back-off: report the exit until then
  // For the stats: the pod and CPU time of earlier instances.
  std::string ns, pod;
  double cpu_seconds_before = 0;
};

// The strings of a JSON array (others skipped).
std::vector<std::string> Strings(const nlohmann::json& v);
// An integer field of a probe spec, or `fallback`.
int IntField(const nlohmann::json& obj, const char* key, int fallback);
// One probe attempt: "" when it succeeds, else the failure text the kubelet reports. Exec
// probes run through the container shell; httpGet/tcpSocket/grpc need the port declared.
std::string RunProbe(const nlohmann::json& probe, const nlohmann::json& container, const Run& run,
                     const std::string& pod_ip, Steady::time_point now, double time_factor);
// CPU seconds of a running instance so far, and its working set now.
double CpuSeconds(const Run& run, Steady::time_point now, double time_factor);
int64_t MemoryNow(const Run& run, Steady::time_point now, double time_factor);

}  // namespace kobs::sim::kubelet
