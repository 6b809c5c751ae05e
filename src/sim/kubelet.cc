// The scheduler and the kubelet's pod lifecycle on the simulated node: binding (Scheduled),
// image pulls (Pulling/Pulled, or ErrImagePull then ImagePullBackOff with the kubelet's
// back-off for images whose tag contains "nonexistent"), container creation and start
// (Created/Started), pod IP, conditions and container statuses as the kubelet reports them.
// Container commands, exits, crash loops, OOM kills, probes and metrics come with the
// scenario work (issue 5 continues there).
#include <atomic>
#include <map>

#include <fmt/format.h>

#include "absl/synchronization/mutex.h"
#include "k8s/api_status.h"
#include "sim/controllers.h"
#include "sim/object_meta.h"

namespace kobs::sim {
namespace {

using nlohmann::json;

std::atomic<uint32_t> next_pod_ip{2};

// Per pod uid: image pull failures so far and when the next attempt is due.
struct PullBackoff {
  int failures = 0;
  std::chrono::steady_clock::time_point next;
};
absl::Mutex backoff_mu;
std::map<std::string, PullBackoff>& PullFailures() {
  static auto* m = new std::map<std::string, PullBackoff>();
  return *m;
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

}  // namespace

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
  if (phase != "Pending" && !phase.empty()) return;

  json containers = AtPath(*pod, ".spec.containers");
  if (!containers.is_array()) return;
  const std::string now = NowRfc3339();
  const std::string uid = Str(*pod, "metadata", "uid");
  json statuses = json::array();
  bool all_running = true;
  int failures = 0;
  {
    absl::MutexLock lock(&backoff_mu);
    auto it = PullFailures().find(uid);
    if (it != PullFailures().end()) {
      // Not before the back-off is over (status writes also wake this pod up).
      if (std::chrono::steady_clock::now() < it->second.next) return;
      failures = it->second.failures;
    }
  }
  bool pull_failed = false;
  const json previous = AtPath(*pod, ".status.containerStatuses");
  for (const json& c : containers) {
    const std::string cname = Str(c, "name"), image = Str(c, "image");
    const std::string field = fmt::format("spec.containers{{{}}}", cname);
    bool already_running = false;
    if (previous.is_array()) {
      for (const json& p : previous) {
        if (Str(p, "name") == cname && AtPath(p, ".state.running").is_object()) {
          statuses.push_back(p);
          already_running = true;
        }
      }
    }
    if (already_running) continue;
    json st = {{"name", cname},
               {"image", image},
               {"imageID", ""},
               {"ready", false},
               {"restartCount", 0},
               {"started", false}};
    if (ImageMissing(image)) {
      all_running = false;
      pull_failed = true;
      if (failures == 0) {
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
        st["state"] = {{"waiting",
                        {{"reason", "ErrImagePull"},
                         {"message", fmt::format("failed to pull and unpack image \"{}\"",
                                                 image)}}}};
      } else {
        m.recorder().Record(*pod, kubelet, "Normal", "BackOff",
                            fmt::format("Back-off pulling image \"{}\"", image), field);
        m.recorder().Record(*pod, kubelet, "Warning", "Failed", "Error: ImagePullBackOff", field);
        st["state"] = {{"waiting",
                        {{"reason", "ImagePullBackOff"},
                         {"message", fmt::format("Back-off pulling image \"{}\"", image)}}}};
      }
    } else {
      const bool present = Str(c, "imagePullPolicy") != "Always";
      if (present) {
        m.recorder().Record(*pod, kubelet, "Normal", "Pulled",
                            fmt::format("Container image \"{}\" already present on machine", image),
                            field);
      } else {
        m.recorder().Record(*pod, kubelet, "Normal", "Pulling",
                            fmt::format("Pulling image \"{}\"", image), field);
        m.recorder().Record(*pod, kubelet, "Normal", "Pulled",
                            fmt::format("Successfully pulled image \"{}\" in 512ms (512ms "
                                        "including waiting). Image size: 3623807 bytes.",
                                        image),
                            field);
      }
      m.recorder().Record(*pod, kubelet, "Normal", "Created",
                          fmt::format("Created container: {}", cname), field);
      m.recorder().Record(*pod, kubelet, "Normal", "Started",
                          fmt::format("Started container {}", cname), field);
      st["ready"] = true;
      st["started"] = true;
      st["imageID"] = fmt::format("docker.io/library/{}@sha256:{:064x}", image,
                                  std::hash<std::string>{}(image));
      st["containerID"] =
          fmt::format("containerd://{:064x}", std::hash<std::string>{}(uid + cname));
      st["state"] = {{"running", {{"startedAt", now}}}};
    }
    statuses.push_back(std::move(st));
  }
  json status = AtPath(*pod, ".status");
  if (!status.is_object()) status = json::object();
  status["phase"] = all_running ? "Running" : "Pending";
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
  status["conditions"] = {Cond("PodReadyToStartContainers", true, now),
                          Cond("Initialized", true, now), Cond("Ready", all_running, now),
                          Cond("ContainersReady", all_running, now),
                          Cond("PodScheduled", true, now)};
  if (!all_running) {
    status["conditions"][2]["reason"] = "ContainersNotReady";
    status["conditions"][3]["reason"] = "ContainersNotReady";
  }
  json next = *pod;
  next["status"] = status;
  absl::Status s = api.Update(*pod_type, ns, name, next, "status").status();
  if (!s.ok()) return requeue(std::chrono::milliseconds(100));
  if (pull_failed) {
    // The kubelet's image back-off: 10 s doubling to 5 min.
    int64_t seconds = std::min<int64_t>(300, int64_t{10} << std::min(failures, 5));
    auto delay = m.Scaled(std::chrono::seconds(seconds));
    {
      absl::MutexLock lock(&backoff_mu);
      PullFailures()[uid] = {failures + 1, std::chrono::steady_clock::now() + delay};
    }
    requeue(delay);
  }
}

}  // namespace kobs::sim
