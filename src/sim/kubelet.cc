// The scheduler and the kubelet's pod lifecycle on the simulated node: binding (Scheduled);
// image pulls (Pulling/Pulled, or ErrImagePull then ImagePullBackOff with the kubelet's
// back-off, for images whose tag contains "nonexistent"); containers that run their command
// (container_program.h): output to the container log, sleeps in simulated time, an exit code
// that terminates the container; restarts by restartPolicy with the kubelet's crash back-off
// (10 s doubling to 5 min: CrashLoopBackOff, lastState, restartCount); pod phase, IP,
// conditions and container statuses as the kubelet reports them, and the events it records.
#include <atomic>
#include <map>

#include <fmt/format.h>

#include "absl/synchronization/mutex.h"
#include "common/absl_compat.h"
#include "k8s/api_status.h"
#include "sim/container_program.h"
#include "sim/controllers.h"
#include "sim/object_meta.h"

namespace kobs::sim {
namespace {

using nlohmann::json;
using Steady = std::chrono::steady_clock;

std::atomic<uint32_t> next_pod_ip{2};

// What the kubelet knows of one container of one pod.
struct Run {
  enum class State { kPullBackoff, kRunning, kTerminated, kCrashBackoff };
  State state = State::kPullBackoff;
  int pull_failures = 0;
  std::vector<ProgramStep> steps;
  size_t pc = 0;
  Steady::time_point wake;
  int restarts = 0;
  int crashes = 0;
  std::string started_at;
  json last_terminated;  // the previous instance's termination
  json terminated;       // this instance's, once it exited
};

absl::Mutex runs_mu;
std::map<std::pair<std::string, std::string>, Run>& Runs() {
  static auto* m = new std::map<std::pair<std::string, std::string>, Run>();
  return *m;
}

void ForgetLocked(const std::string& uid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(runs_mu) {
  Runs().erase(Runs().lower_bound({uid, ""}), Runs().lower_bound({uid + '\x01', ""}));
}

bool ImageMissing(const std::string& image) {
  return image.find("nonexistent") != std::string::npos;
}

json Cond(const char* type, bool status, const std::string& now) {
  return {{"type", type},
          {"status", status ? "True" : "False"},
          {"lastProbeTime", nullptr},
          {"lastTransitionTime", now}};
}

std::vector<std::string> Strings(const json& v) {
  std::vector<std::string> out;
  if (!v.is_array()) return out;
  for (const json& s : v) {
    if (s.is_string()) out.push_back(s.get<std::string>());
  }
  return out;
}

}  // namespace

void ForgetPodRuntime(const std::string& uid) {
  absl::MutexLock lock(&runs_mu);
  ForgetLocked(uid);
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
  const std::string uid = Str(*pod, "metadata", "uid");
  std::string policy = Str(*pod, "spec", "restartPolicy");
  if (policy.empty()) policy = "Always";
  const std::string pod_ref = fmt::format("{}_{}({})", name, ns, uid);
  json statuses = json::array();
  Steady::time_point next_wake = Steady::time_point::max();
  bool all_ready = true, all_done = true, all_succeeded = true;

  absl::MutexLock lock(&runs_mu);
  for (const json& c : containers) {
    const std::string cname = Str(c, "name"), image = Str(c, "image");
    const std::string field = fmt::format("spec.containers{{{}}}", cname);
    auto [it, fresh] = Runs().try_emplace({uid, cname});
    Run& run = it->second;
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
      run.terminated = nullptr;
    };
    if (fresh) {
      if (ImageMissing(image)) {
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
    // The container's program, up to its next sleep or its exit.
    while (run.state == Run::State::kRunning && steady_now >= run.wake &&
           run.pc < run.steps.size()) {
      const ProgramStep& step = run.steps[run.pc++];
      if (step.kind == ProgramStep::Kind::kOutput) {
        m.logs().Append(ns, name, cname, step.text, run.restarts);
      } else if (step.kind == ProgramStep::Kind::kSleep) {
        run.wake = steady_now + m.Scaled(std::chrono::milliseconds(
                                    static_cast<int64_t>(step.seconds * 1000)));
      } else if (step.kind == ProgramStep::Kind::kForever) {
        run.wake = Steady::time_point::max();
      } else {
        run.state = Run::State::kTerminated;
        run.terminated = {{"exitCode", step.code},
                          {"reason", step.code == 0 ? "Completed" : "Error"},
                          {"startedAt", run.started_at},
                          {"finishedAt", now},
                          {"containerID", fmt::format("containerd://{:064x}",
                                                      std::hash<std::string>{}(
                                                          uid + cname +
                                                          std::to_string(run.restarts)))}};
        const bool restart = policy == "Always" || (policy == "OnFailure" && step.code != 0);
        if (restart) {
          // The first restart is at once; then 10 s doubling to 5 min.
          int64_t seconds =
              run.crashes == 0 ? 0 : std::min<int64_t>(300, int64_t{10} << std::min(run.crashes - 1, 5));
          ++run.crashes;
          run.state = Run::State::kCrashBackoff;
          run.wake = steady_now + m.Scaled(std::chrono::seconds(seconds));
          if (seconds > 0) {
            m.recorder().Record(*pod, kubelet, "Warning", "BackOff",
                                fmt::format("Back-off restarting failed container {} in pod {}",
                                            cname, pod_ref),
                                field);
          }
        }
      }
    }
    if (run.state == Run::State::kCrashBackoff && steady_now >= run.wake) {
      run.last_terminated = run.terminated;
      ++run.restarts;
      start(true);
      // Run what it does at once (its first lines, or a quick exit).
      while (run.state == Run::State::kRunning && run.pc < run.steps.size() &&
             run.steps[run.pc].kind == ProgramStep::Kind::kOutput) {
        m.logs().Append(ns, name, cname, run.steps[run.pc++].text, run.restarts);
      }
    }
    if (run.state != Run::State::kTerminated) next_wake = std::min(next_wake, run.wake);

    // The container's status.
    json st = {{"name", cname},
               {"image", image},
               {"imageID", ""},
               {"restartCount", run.restarts}};
    const bool running = run.state == Run::State::kRunning;
    st["ready"] = running;
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
    all_ready &= running;
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
    uint32_t n = next_pod_ip++;
    std::string ip = fmt::format("10.244.{}.{}", (n >> 8) & 0xff, n & 0xff);
    status["podIP"] = ip;
    status["podIPs"] = {{{"ip", ip}}};
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
