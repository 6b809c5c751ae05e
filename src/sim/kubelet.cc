// The scheduler and the kubelet's pod lifecycle on the simulated node: binding (Scheduled);
// image pulls (Pulling/Pulled, or ErrImagePull then ImagePullBackOff with the kubelet's
// back-off, for images whose tag contains "nonexistent"); containers that run their command
// (container_program.h): output to the container log, sleeps in simulated time, an exit code
// that terminates the container; restarts by restartPolicy with the kubelet's crash back-off
// (10 s doubling to 5 min: CrashLoopBackOff, lastState, restartCount); pod phase, IP,
// conditions and container statuses as the kubelet reports them, and the events it records.
// Besides its command, a container follows its profile (container_profile.h): a memory
// working set that may grow past limits.memory (OOMKilled, and the kernel's OOMKilling event
// on the node), CPU, and generated log lines. Probes run as the kubelet runs them: exec probes
// through the same shell, httpGet/tcpSocket/grpc probes succeed when the container declares
// the port (by number or name) and, for HTTP, until the profile's healthyFor has passed.
// Readiness failures clear Ready; liveness failures kill and restart the container.
#include <atomic>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "absl/synchronization/mutex.h"
#include "common/absl_compat.h"
#include "k8s/api_status.h"
#include "sim/container_profile.h"
#include "sim/container_program.h"
#include "sim/controllers.h"
#include "sim/kubelet_runtime.h"
#include "sim/object_meta.h"

namespace kobs::sim {
namespace {

using nlohmann::json;
using kubelet::CpuSeconds;
using kubelet::IntField;
using kubelet::MemoryNow;
using kubelet::Probe;
using kubelet::Run;
using kubelet::RunProbe;
using kubelet::Steady;
using kubelet::Strings;

std::atomic<uint32_t> next_pod_ip{2};

absl::Mutex runs_mu;
std::map<std::pair<std::string, std::string>, Run>& Runs() {
  static auto* m = new std::map<std::pair<std::string, std::string>, Run>();
  return *m;
}

void ForgetLocked(const std::string& uid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(runs_mu) {
  Runs().erase(Runs().lower_bound({uid, ""}), Runs().lower_bound({uid + '\x01', ""}));
}

// A tag containing "nonexistent", or an image the simulator is configured to miss: the
// exact reference, or a repository without a tag for all of its tags.
bool ImageMissing(const std::string& image, const std::vector<std::string>& missing) {
  if (image.find("nonexistent") != std::string::npos) return true;
  const size_t slash = image.rfind('/');
  const size_t colon = image.find(':', slash == std::string::npos ? 0 : slash);
  const std::string repository = image.substr(0, colon);
  for (const std::string& m : missing) {
    if (m == image || m == repository) return true;
  }
  return false;
}

json Cond(const char* type, bool status, const std::string& now) {
  return {{"type", type},
          {"status", status ? "True" : "False"},
          {"lastProbeTime", nullptr},
          {"lastTransitionTime", now}};
}

}  // namespace

void ForgetPodRuntime(const std::string& uid) {
  absl::MutexLock lock(&runs_mu);
  ForgetLocked(uid);
}

std::vector<ContainerUsage> ContainerUsages(double time_factor) {
  std::vector<ContainerUsage> out;
  const Steady::time_point now = Steady::now();
  absl::MutexLock lock(&runs_mu);
  for (const auto& [key, run] : Runs()) {
    ContainerUsage u;
    u.pod_uid = key.first;
    u.ns = run.ns;
    u.pod = run.pod;
    u.container = key.second;
    u.running = run.state == Run::State::kRunning;
    u.started_at = run.started_at;
    u.restarts = run.restarts;
    u.memory_limit = run.memory_limit;
    if (u.running) {
      u.memory_bytes = MemoryNow(run, now, time_factor);
      u.cpu_millicores = run.profile.cpu_millicores;
    }
    u.cpu_core_seconds = run.cpu_seconds_before + CpuSeconds(run, now, time_factor);
    out.push_back(std::move(u));
  }
  return out;
}

void ReconcilePod(ControllerManager& m, const std::string& ns, const std::string& name) {
  Api& api = m.api();
  auto pod_type = api.registry().Find("", "v1", "pods");
  absl::StatusOr<json> pod = api.Get(*pod_type, ns, name);
  if (!pod.ok() || !Str(*pod, "metadata", "deletionTimestamp").empty()) return;
  const std::string node = m.options().node_name;
  const EventSource kubelet{"kubelet", node};
  auto requeue = [&](std::chrono::milliseconds after) {
    m.Enqueue(ControllerManager::Kind::kPod, ns, name, after);
  };

  // The scheduler.
  if (Str(*pod, "spec", "nodeName").empty()) {
    json patch = {{"spec", {{"nodeName", node}}}};
    absl::StatusOr<json> bound =
        api.Patch(*pod_type, ns, name, k8s::PatchType::kMergePatch, patch.dump());
    if (!bound.ok()) return requeue(std::chrono::milliseconds(100));
    m.recorder().Record(*bound, {"default-scheduler", ""}, "Normal", "Scheduled",
                        fmt::format("Successfully assigned {}/{} to {}", ns, name, node));
    return;
  }
  if (Str(*pod, "spec", "nodeName") != node) return;
  const std::string phase = Str(*pod, "status", "phase");
  if (phase == "Succeeded" || phase == "Failed") return;
  json containers = AtPath(*pod, ".spec.containers");
  if (!containers.is_array()) return;

  const std::string now = NowRfc3339();
  const Steady::time_point steady_now = Steady::now();
  const double factor = m.options().time_factor > 0 ? m.options().time_factor : 1.0;
  const std::string uid = Str(*pod, "metadata", "uid");
  std::string policy = Str(*pod, "spec", "restartPolicy");
  if (policy.empty()) policy = "Always";
  const std::string pod_ref = fmt::format("{}_{}({})", name, ns, uid);
  std::string pod_ip = Str(*pod, "status", "podIP");
  if (pod_ip.empty()) {
    uint32_t n = next_pod_ip++;
    pod_ip = fmt::format("10.244.{}.{}", (n >> 8) & 0xff, n & 0xff);
  }
  absl::StatusOr<std::map<std::string, ContainerProfile>> profiles = ParseProfiles(*pod);
  if (!profiles.ok()) {
    // A scenario's typo must be visible where its author looks: on the pod's events.
    m.recorder().Record(*pod, kubelet, "Warning", "InvalidProfile",
                        std::string(ToStd(profiles.status().message())));
    profiles = std::map<std::string, ContainerProfile>{};
  }
  json statuses = json::array();
  Steady::time_point next_wake = Steady::time_point::max();
  bool all_ready = true, all_done = true, all_succeeded = true;
  auto sim_to_real = [&](double sim_seconds) {
    return std::chrono::duration_cast<Steady::duration>(
        std::chrono::duration<double>(sim_seconds / factor));
  };

  absl::MutexLock lock(&runs_mu);
  for (const json& c : containers) {
    const std::string cname = Str(c, "name"), image = Str(c, "image");
    const std::string field = fmt::format("spec.containers{{{}}}", cname);
    auto [it, fresh] = Runs().try_emplace({uid, cname});
    Run& run = it->second;
    const json readiness_probe = AtPath(c, ".readinessProbe");
    const json liveness_probe = AtPath(c, ".livenessProbe");
    auto start = [&](bool restart) {
      if (!restart && Str(c, "imagePullPolicy") == "Always") {
        m.recorder().Record(*pod, kubelet, "Normal", "Pulling",
                            fmt::format("Pulling image \"{}\"", image), field);
        m.recorder().Record(*pod, kubelet, "Normal", "Pulled",
                            fmt::format("Successfully pulled image \"{}\" in 512ms (512ms "
                                        "including waiting). Image size: 3623807 bytes.",
                                        image),
                            field);
      } else {
        m.recorder().Record(*pod, kubelet, "Normal", "Pulled",
                            fmt::format("Container image \"{}\" already present on machine",
                                        image),
                            field);
      }
      m.recorder().Record(*pod, kubelet, "Normal", "Created",
                          fmt::format("Created container: {}", cname), field);
      m.recorder().Record(*pod, kubelet, "Normal", "Started",
                          fmt::format("Started container {}", cname), field);
      absl::StatusOr<std::vector<ProgramStep>> steps =
          ParseProgram(Strings(AtPath(c, ".command")), Strings(AtPath(c, ".args")));
      run.steps = steps.ok() ? *std::move(steps)
                             : std::vector<ProgramStep>{
                                   {ProgramStep::Kind::kOutput,
                                    fmt::format("sh: syntax error: {}", ToStd(steps.status().message()))},
                                   {ProgramStep::Kind::kExit, "", 0, 2}};
      run.pc = 0;
      run.state = Run::State::kRunning;
      run.wake = steady_now;
      run.started_at = now;
      run.started = steady_now;
      run.terminated = nullptr;
      run.ns = ns;
      run.pod = name;
      run.profile = ProfileFor(*profiles, cname);
      run.log_n = 0;
      absl::StatusOr<int64_t> limit =
          ParseQuantityMilli(Str(c, "resources", "limits", "memory"));
      run.memory_limit = limit.ok() ? *limit / 1000 : 0;
      run.oom_at = Steady::time_point::max();
      if (run.memory_limit > 0 && run.profile.memory_bytes >= run.memory_limit) {
        run.oom_at = steady_now + sim_to_real(0.5);  // dies as it allocates
      } else if (run.memory_limit > 0 && run.profile.memory_growth_per_second > 0 &&
                 (run.profile.memory_peak == 0 || run.profile.memory_peak >= run.memory_limit)) {
        run.oom_at = steady_now + sim_to_real(
                                      static_cast<double>(run.memory_limit - run.profile.memory_bytes) /
                                      static_cast<double>(run.profile.memory_growth_per_second));
      }
      auto first_probe = [&](const json& probe) {
        return probe.is_object()
                   ? steady_now + sim_to_real(IntField(probe, "initialDelaySeconds", 0))
                   : Steady::time_point::max();
      };
      run.readiness = Probe{first_probe(readiness_probe)};
      run.liveness = Probe{first_probe(liveness_probe)};
      run.liveness.ok = true;
    };
    // Ends the running instance: its termination, then a restart as the policy says.
    auto terminate = [&](int code, const char* reason) {
      run.cpu_seconds_before += CpuSeconds(run, steady_now, factor);
      run.state = Run::State::kTerminated;
      run.terminated = {{"exitCode", code},
                        {"reason", reason},
                        {"startedAt", run.started_at},
                        {"finishedAt", now},
                        {"containerID", fmt::format("containerd://{:064x}",
                                                    std::hash<std::string>{}(
                                                        uid + cname + std::to_string(run.restarts)))}};
      const bool restart = policy == "Always" || (policy == "OnFailure" && code != 0);
      if (!restart) return;
      // The first restart is at the kubelet's next sync (1 s); then 10 s doubling to 5 min.
      // Until the sync after the exit (1 s), the status shows the termination itself
      // (kubectl: Error, OOMKilled), then CrashLoopBackOff while the back-off lasts.
      int64_t seconds =
          run.crashes == 0 ? 0 : std::min<int64_t>(300, int64_t{10} << std::min(run.crashes - 1, 5));
      ++run.crashes;
      run.state = Run::State::kCrashBackoff;
      run.wake = steady_now + m.Scaled(std::chrono::seconds(std::max<int64_t>(seconds, 1)));
      // The window is real time (at most 1 s, half the back-off), so that kubectl sees the
      // termination even when time runs faster.
      run.show_terminated_until =
          steady_now + std::min<std::chrono::milliseconds>(
                           std::chrono::seconds(1),
                           m.Scaled(std::chrono::seconds(std::max<int64_t>(seconds, 1))) / 2);
      if (seconds > 0) {
        m.recorder().Record(*pod, kubelet, "Warning", "BackOff",
                            fmt::format("Back-off restarting failed container {} in pod {}",
                                        cname, pod_ref),
                            field);
      }
    };
    if (fresh) {
      if (ImageMissing(image, m.options().missing_images)) {
        run.state = Run::State::kPullBackoff;
        run.wake = steady_now;
      } else {
        start(false);
      }
    }
    // Image pulls that fail, again after each back-off.
    if (run.state == Run::State::kPullBackoff && steady_now >= run.wake) {
      if (run.pull_failures == 0) {
        m.recorder().Record(*pod, kubelet, "Normal", "Pulling",
                            fmt::format("Pulling image \"{}\"", image), field);
        m.recorder().Record(
            *pod, kubelet, "Warning", "Failed",
            fmt::format("Failed to pull image \"{0}\": rpc error: code = NotFound desc = failed to "
                        "pull and unpack image \"{0}\": failed to resolve reference \"{0}\": "
                        "{0}: not found",
                        image),
            field);
        m.recorder().Record(*pod, kubelet, "Warning", "Failed", "Error: ErrImagePull", field);
      } else {
        m.recorder().Record(*pod, kubelet, "Normal", "BackOff",
                            fmt::format("Back-off pulling image \"{}\"", image), field);
        m.recorder().Record(*pod, kubelet, "Warning", "Failed", "Error: ImagePullBackOff", field);
      }
      int64_t seconds = std::min<int64_t>(300, int64_t{10} << std::min(run.pull_failures, 5));
      run.wake = steady_now + m.Scaled(std::chrono::seconds(seconds));
      ++run.pull_failures;
    }
    // The profile's log lines that are due (bounded per pass, so a huge rate cannot stall
    // the loop; the rest follow on the next pass).
    if (run.state == Run::State::kRunning && run.profile.log_rate > 0) {
      double age = std::chrono::duration<double>(steady_now - run.started).count() * factor;
      uint64_t due = static_cast<uint64_t>(age * run.profile.log_rate) + 1;
      for (int n = 0; run.log_n < due && n < 5000; ++n, ++run.log_n) {
        for (std::string& line : GenerateLogLines(run.profile, cname, run.log_n)) {
          m.logs().Append(ns, name, cname, std::move(line), run.restarts, uid);
        }
      }
      // Wake for the next line, at most 10 times a second.
      auto next_line = run.started + sim_to_real(static_cast<double>(run.log_n) / run.profile.log_rate);
      next_wake = std::min(next_wake, std::max(next_line, steady_now + std::chrono::milliseconds(100)));
    }
    // The container's program, up to its next sleep or its exit.
    while (run.state == Run::State::kRunning && steady_now >= run.wake &&
           run.pc < run.steps.size()) {
      const ProgramStep& step = run.steps[run.pc++];
      if (step.kind == ProgramStep::Kind::kOutput) {
        m.logs().Append(ns, name, cname, step.text, run.restarts, uid);
      } else if (step.kind == ProgramStep::Kind::kSleep) {
        run.wake = steady_now + m.Scaled(std::chrono::milliseconds(
                                    static_cast<int64_t>(step.seconds * 1000)));
      } else if (step.kind == ProgramStep::Kind::kForever) {
        run.wake = Steady::time_point::max();
      } else {
        terminate(step.code, step.code == 0 ? "Completed" : "Error");
      }
    }
    // Memory past the limit: the kernel's OOM killer ends it.
    if (run.state == Run::State::kRunning && steady_now >= run.oom_at) {
      std::string process = cname;
      std::vector<std::string> cmd = Strings(AtPath(c, ".command"));
      if (!cmd.empty() && cmd[0] != "sh" && cmd[0] != "/bin/sh") {
        process = cmd[0].substr(cmd[0].rfind('/') + 1);
      }
      uint32_t pid = 1000 + static_cast<uint32_t>(std::hash<std::string>{}(uid + cname) % 30000);
      int64_t rss_kb = run.memory_limit / 1024;
      json node_ref = {{"apiVersion", "v1"},
                       {"kind", "Node"},
                       {"metadata", {{"name", node}, {"uid", node}}}};
      m.recorder().Record(
          node_ref, {"kernel-monitor", node}, "Warning", "OOMKilling",
          fmt::format("Memory cgroup out of memory: Kill process {0} ({1}) score {2} or sacrifice "
                      "child\nKilled process {0} ({1}) total-vm:{3}kB, anon-rss:{4}kB, "
                      "file-rss:{5}kB, shmem-rss:0kB",
                      pid, process, 1000 + pid % 999, rss_kb + 24576, rss_kb - rss_kb / 20,
                      rss_kb / 20));
      terminate(137, "OOMKilled");
    }
    // Probes that are due.
    auto probe = [&](const json& spec, Probe& state, const char* what) {
      if (run.state != Run::State::kRunning || !spec.is_object() || steady_now < state.next) {
        return;
      }
      std::string failure = RunProbe(spec, c, run, pod_ip, steady_now, factor);
      state.next = steady_now + sim_to_real(std::max(1, IntField(spec, "periodSeconds", 10)));
      if (failure.empty()) {
        state.failures = 0;
        if (++state.successes >= std::max(1, IntField(spec, "successThreshold", 1))) state.ok = true;
        return;
      }
      state.successes = 0;
      ++state.failures;
      m.recorder().Record(*pod, kubelet, "Warning", "Unhealthy",
                          fmt::format("{} probe failed: {}", what, failure), field);
      if (state.failures >= std::max(1, IntField(spec, "failureThreshold", 3))) state.ok = false;
    };
    probe(readiness_probe, run.readiness, "Readiness");
    probe(liveness_probe, run.liveness, "Liveness");
    if (run.state == Run::State::kRunning && !run.liveness.ok) {
      m.recorder().Record(*pod, kubelet, "Normal", "Killing",
                          fmt::format("Container {} failed liveness probe, will be restarted",
                                      cname),
                          field);
      terminate(137, "Error");
    }
    if (run.state == Run::State::kCrashBackoff && steady_now >= run.wake) {
      run.last_terminated = run.terminated;
      ++run.restarts;
      start(true);
      // Run what it does at once (its first lines, or a quick exit).
      while (run.state == Run::State::kRunning && run.pc < run.steps.size() &&
             run.steps[run.pc].kind == ProgramStep::Kind::kOutput) {
        m.logs().Append(ns, name, cname, run.steps[run.pc++].text, run.restarts, uid);
      }
      next_wake = steady_now;  // the restarted instance's probes, logs and OOM
    }
    if (run.state != Run::State::kTerminated) next_wake = std::min(next_wake, run.wake);
    if (run.state == Run::State::kRunning) {
      next_wake = std::min({next_wake, run.oom_at, run.readiness.next, run.liveness.next});
    }

    // The container's status.
    json st = {{"name", cname},
               {"image", image},
               {"imageID", ""},
               {"restartCount", run.restarts}};
    const bool running = run.state == Run::State::kRunning;
    const bool ready = running && (!readiness_probe.is_object() || run.readiness.ok);
    st["ready"] = ready;
    st["started"] = running;
    if (run.state != Run::State::kPullBackoff) {
      st["imageID"] = fmt::format("docker.io/library/{}@sha256:{:064x}", image,
                                  std::hash<std::string>{}(image));
      st["containerID"] = fmt::format("containerd://{:064x}",
                                      std::hash<std::string>{}(uid + cname +
                                                               std::to_string(run.restarts)));
    }
    switch (run.state) {
      case Run::State::kPullBackoff:
        st["state"] = {{"waiting",
                        {{"reason", run.pull_failures <= 1 ? "ErrImagePull" : "ImagePullBackOff"},
                         {"message", fmt::format("Back-off pulling image \"{}\"", image)}}}};
        break;
      case Run::State::kRunning:
        st["state"] = {{"running", {{"startedAt", run.started_at}}}};
        break;
      case Run::State::kTerminated:
        st["state"] = {{"terminated", run.terminated}};
        break;
      case Run::State::kCrashBackoff: {
        if (steady_now < run.show_terminated_until) {
          st["state"] = {{"terminated", run.terminated}};
          if (run.last_terminated.is_object()) {
            st["lastState"] = {{"terminated", run.last_terminated}};
          }
          next_wake = std::min(next_wake, run.show_terminated_until);
          break;
        }
        int64_t seconds = std::min<int64_t>(300, int64_t{10} << std::min(run.crashes - 1, 5));
        st["state"] = {
            {"waiting",
             {{"reason", "CrashLoopBackOff"},
              {"message", fmt::format("back-off {}s restarting failed container={} pod={}",
                                      run.crashes <= 1 ? 0 : seconds, cname, pod_ref)}}}};
        st["lastState"] = {{"terminated", run.terminated}};
        break;
      }
    }
    if (run.state != Run::State::kCrashBackoff && run.last_terminated.is_object()) {
      st["lastState"] = {{"terminated", run.last_terminated}};
    }
    all_ready &= ready;
    const bool done = run.state == Run::State::kTerminated;
    all_done &= done;
    all_succeeded &= done && run.terminated.value("exitCode", 1) == 0;
    statuses.push_back(std::move(st));
  }

  json status = AtPath(*pod, ".status");
  if (!status.is_object()) status = json::object();
  bool any_started = false;
  for (const json& st : statuses) any_started |= !st["imageID"].get<std::string>().empty();
  status["phase"] = all_done ? (all_succeeded ? "Succeeded" : "Failed")
                             : (any_started ? "Running" : "Pending");
  status["hostIP"] = "192.168.49.2";
  status["hostIPs"] = {{{"ip", "192.168.49.2"}}};
  if (!status.contains("startTime")) status["startTime"] = now;
  if (!status.contains("podIP")) {
    status["podIP"] = pod_ip;
    status["podIPs"] = {{{"ip", pod_ip}}};
  }
  status["containerStatuses"] = statuses;
  // Conditions keep their transition time while their status holds.
  json old_conditions = AtPath(*pod, ".status.conditions");
  auto cond = [&](const char* type, bool value) {
    json c = Cond(type, value, now);
    if (old_conditions.is_array()) {
      for (const json& o : old_conditions) {
        if (Str(o, "type") == type && Str(o, "status") == Str(c, "status")) {
          c["lastTransitionTime"] = o["lastTransitionTime"];
        }
      }
    }
    if (!value && (std::string_view(type) == "Ready" ||
                   std::string_view(type) == "ContainersReady")) {
      c["reason"] = all_done ? "PodCompleted" : "ContainersNotReady";
    }
    return c;
  };
  status["conditions"] = {cond("PodReadyToStartContainers", true), cond("Initialized", true),
                          cond("Ready", all_ready), cond("ContainersReady", all_ready),
                          cond("PodScheduled", true)};
  if (all_done) ForgetLocked(uid);
  if (next_wake != Steady::time_point::max()) {
    requeue(std::chrono::duration_cast<std::chrono::milliseconds>(
        std::max(next_wake - steady_now, Steady::duration(0))));
  }
  if (AtPath(*pod, ".status") == status) return;
  json next = *pod;
  next["status"] = status;
  absl::Status s = api.Update(*pod_type, ns, name, next, "status").status();
  if (!s.ok()) requeue(std::chrono::milliseconds(100));
}

}  // namespace kobs::sim
