// The StatefulSet, DaemonSet and Job controllers, well enough to own pods as the real ones do:
//  - StatefulSet: pods <name>-<ordinal> made in order (OrderedReady: the next once the one
//    before is Running and Ready), removed from the highest ordinal, replaced highest first
//    when the template changes; the pod-name, pod-index and controller-revision-hash labels;
//  - DaemonSet: one pod on the node;
//  - Job: up to `parallelism` pods at once until `completions` succeed, failed pods replaced
//    after the Job back-off (10 s doubling) until `backoffLimit`, then Failed with
//    BackoffLimitExceeded; Complete with SuccessCriteriaMet otherwise.
// Each records the events and sets the status fields its real counterpart does.
#include <algorithm>
#include <functional>
#include <map>

#include <fmt/format.h>

#include "absl/synchronization/mutex.h"
#include "common/absl_compat.h"
#include "k8s/api_status.h"
#include "sim/controllers.h"
#include "sim/object_meta.h"

namespace kobs::sim {
namespace {

using nlohmann::json;

int64_t IntAt(const json& obj, const char* path, int64_t fallback) {
  json v = AtPath(obj, path);
  return v.is_number_integer() ? v.get<int64_t>() : fallback;
}

// The pods `owner` controls, not being deleted.
std::vector<json> OwnedPods(Api& api, const json& owner) {
  std::vector<json> out;
  auto pod_type = api.registry().Find("", "v1", "pods");
  absl::StatusOr<ListResult> pods = api.List(*pod_type, Str(owner, "metadata", "namespace"), {});
  if (!pods.ok()) return out;
  const std::string uid = Str(owner, "metadata", "uid");
  for (json& p : pods->items) {
    if (ControlledBy(p, uid) && Str(p, "metadata", "deletionTimestamp").empty()) {
      out.push_back(std::move(p));
    }
  }
  return out;
}

// Writes `status` unless it is already there; a conflict requeues.
void SetStatus(ControllerManager& m, const ResourceType& type, ControllerManager::Kind kind,
               const json& obj, json status) {
  if (AtPath(obj, ".status") == status) return;
  json next = obj;
  next["status"] = std::move(status);
  const std::string ns = Str(obj, "metadata", "namespace"), name = Str(obj, "metadata", "name");
  absl::Status s = m.api().Update(type, ns, name, next, "status").status();
  if (k8s::IsConflict(s)) m.Enqueue(kind, ns, name, std::chrono::milliseconds(50));
}

struct JobBackoff {
  int64_t failed = 0;
  std::chrono::steady_clock::time_point not_before;
};
absl::Mutex job_backoff_mu;
std::map<std::string, JobBackoff>& JobBackoffs() {
  static auto* m = new std::map<std::string, JobBackoff>();
  return *m;
}

std::string TemplateHash(const json& tmpl) {
  return fmt::format("{:010x}", std::hash<std::string>{}(tmpl.dump()) & 0xffffffffffULL);
}

}  // namespace

void ReconcileStatefulSet(ControllerManager& m, const std::string& ns, const std::string& name) {
  Api& api = m.api();
  auto type = api.registry().Find("apps", "v1", "statefulsets");
  auto pod_type = api.registry().Find("", "v1", "pods");
  absl::StatusOr<json> sts = api.Get(*type, ns, name);
  if (!sts.ok() || !Str(*sts, "metadata", "deletionTimestamp").empty()) return;
  const EventSource source{"statefulset-controller", ""};
  const int64_t want = IntAt(*sts, ".spec.replicas", 1);
  const json tmpl = AtPath(*sts, ".spec.template");
  const std::string revision = name + "-" + TemplateHash(tmpl);
  const bool parallel = Str(*sts, "spec", "podManagementPolicy") == "Parallel";
  std::map<int64_t, json> by_ordinal;
  for (json& p : OwnedPods(api, *sts)) {
    std::string pod_name = Str(p, "metadata", "name");
    size_t dash = pod_name.rfind('-');
    int64_t ordinal = -1;
    if (dash != std::string::npos) {
      try {
        ordinal = std::stoll(pod_name.substr(dash + 1));
      } catch (...) {
      }
    }
    if (ordinal >= 0) by_ordinal[ordinal] = std::move(p);
  }
  auto requeue = [&] {
    m.Enqueue(ControllerManager::Kind::kStatefulSet, ns, name, std::chrono::milliseconds(200));
  };
  bool busy = false;  // OrderedReady: one change at a time, each waiting for readiness
  for (int64_t i = 0; i < want && !busy; ++i) {
    auto it = by_ordinal.find(i);
    if (it == by_ordinal.end()) {
      json tmpl_with_labels = tmpl;
      json& labels = ChildObject(ChildObject(tmpl_with_labels, "metadata"), "labels");
      labels["statefulset.kubernetes.io/pod-name"] = fmt::format("{}-{}", name, i);
      labels["apps.kubernetes.io/pod-index"] = std::to_string(i);
      labels["controller-revision-hash"] = revision;
      json pod = PodFromTemplate(*sts, tmpl_with_labels, fmt::format("{}-{}", name, i), false);
      pod["spec"]["hostname"] = fmt::format("{}-{}", name, i);
      if (!Str(*sts, "spec", "serviceName").empty()) {
        pod["spec"]["subdomain"] = Str(*sts, "spec", "serviceName");
      }
      absl::StatusOr<json> made = api.Create(*pod_type, ns, std::move(pod));
      if (!made.ok()) {
        m.recorder().Record(*sts, source, "Warning", "FailedCreate",
                            fmt::format("create Pod {}-{} in StatefulSet {} failed error: {}",
                                        name, i, name, ToStd(made.status().message())));
        return requeue();
      }
      m.recorder().Record(*sts, source, "Normal", "SuccessfulCreate",
                          fmt::format("create Pod {}-{} in StatefulSet {} successful", name, i,
                                      name));
      by_ordinal[i] = *std::move(made);
      busy = !parallel;
    } else if (!PodReady(it->second) && !parallel) {
      busy = true;
    }
  }
  // Surplus ordinals, highest first; then pods of an older revision, highest first.
  if (!busy) {
    for (auto it = by_ordinal.rbegin(); it != by_ordinal.rend(); ++it) {
      bool surplus = it->first >= want;
      bool stale = Str(it->second, "metadata", "labels", "controller-revision-hash") != revision;
      if (!surplus && !stale) continue;
      std::string pod_name = Str(it->second, "metadata", "name");
      if (api.Delete(*pod_type, ns, pod_name).ok()) {
        m.recorder().Record(*sts, source, "Normal", "SuccessfulDelete",
                            fmt::format("delete Pod {} in StatefulSet {} successful", pod_name,
                                        name));
      }
      if (!parallel || !surplus) break;
    }
  }
  int64_t replicas = 0, ready = 0, updated = 0;
  for (const auto& [ordinal, p] : by_ordinal) {
    ++replicas;
    ready += PodReady(p) ? 1 : 0;
    updated += Str(p, "metadata", "labels", "controller-revision-hash") == revision ? 1 : 0;
  }
  json status = {{"observedGeneration", AtPath(*sts, ".metadata.generation")},
                 {"replicas", replicas},
                 {"readyReplicas", ready},
                 {"currentReplicas", updated},
                 {"updatedReplicas", updated},
                 {"availableReplicas", ready},
                 {"currentRevision", revision},
                 {"updateRevision", revision},
                 {"collisionCount", 0}};
  SetStatus(m, *type, ControllerManager::Kind::kStatefulSet, *sts, std::move(status));
}

void ReconcileDaemonSet(ControllerManager& m, const std::string& ns, const std::string& name) {
  Api& api = m.api();
  auto type = api.registry().Find("apps", "v1", "daemonsets");
  auto pod_type = api.registry().Find("", "v1", "pods");
  absl::StatusOr<json> ds = api.Get(*type, ns, name);
  if (!ds.ok() || !Str(*ds, "metadata", "deletionTimestamp").empty()) return;
  const EventSource source{"daemonset-controller", ""};
  const json tmpl = AtPath(*ds, ".spec.template");
  const std::string hash = TemplateHash(tmpl);
  std::vector<json> pods = OwnedPods(api, *ds);
  // One pod on the node, of the current template.
  for (const json& p : pods) {
    if (Str(p, "metadata", "labels", "controller-revision-hash") == hash) continue;
    std::string pod_name = Str(p, "metadata", "name");
    if (api.Delete(*pod_type, ns, pod_name).ok()) {
      m.recorder().Record(*ds, source, "Normal", "SuccessfulDelete",
                          fmt::format("Deleted pod: {}", pod_name));
    }
  }
  std::erase_if(pods, [&](const json& p) {
    return Str(p, "metadata", "labels", "controller-revision-hash") != hash;
  });
  if (pods.empty()) {
    json t = tmpl;
    ChildObject(ChildObject(t, "metadata"), "labels")["controller-revision-hash"] = hash;
    json pod = PodFromTemplate(*ds, t, name + "-", true);
    pod["spec"]["nodeName"] = m.options().node_name;
    absl::StatusOr<json> made = api.Create(*pod_type, ns, std::move(pod));
    if (made.ok()) {
      m.recorder().Record(*ds, source, "Normal", "SuccessfulCreate",
                          fmt::format("Created pod: {}", Str(*made, "metadata", "name")));
      pods.push_back(*std::move(made));
    } else {
      m.recorder().Record(*ds, source, "Warning", "FailedCreate",
                          fmt::format("Error creating: {}", ToStd(made.status().message())));
      m.Enqueue(ControllerManager::Kind::kDaemonSet, ns, name, std::chrono::seconds(1));
    }
  }
  int64_t ready = 0;
  for (const json& p : pods) ready += PodReady(p) ? 1 : 0;
  const int64_t scheduled = static_cast<int64_t>(pods.size());
  json status = {{"currentNumberScheduled", scheduled},
                 {"desiredNumberScheduled", 1},
                 {"numberMisscheduled", 0},
                 {"numberReady", ready},
                 {"numberAvailable", ready},
                 {"updatedNumberScheduled", scheduled},
                 {"observedGeneration", AtPath(*ds, ".metadata.generation")}};
  if (ready < 1) status["numberUnavailable"] = 1 - ready;
  SetStatus(m, *type, ControllerManager::Kind::kDaemonSet, *ds, std::move(status));
}

void ReconcileJob(ControllerManager& m, const std::string& ns, const std::string& name) {
  Api& api = m.api();
  auto type = api.registry().Find("batch", "v1", "jobs");
  auto pod_type = api.registry().Find("", "v1", "pods");
  absl::StatusOr<json> job = api.Get(*type, ns, name);
  if (!job.ok() || !Str(*job, "metadata", "deletionTimestamp").empty()) return;
  const EventSource source{"job-controller", ""};
  const std::string now = NowRfc3339();
  json status = AtPath(*job, ".status");
  if (!status.is_object()) status = json::object();
  auto finished = [&] {
    json conds = AtPath(status, ".conditions");
    if (!conds.is_array()) return false;
    for (const json& c : conds) {
      if ((Str(c, "type") == "Complete" || Str(c, "type") == "Failed") &&
          Str(c, "status") == "True") {
        return true;
      }
    }
    return false;
  };
  if (finished()) return;
  const int64_t completions = IntAt(*job, ".spec.completions", 1);
  const int64_t parallelism = IntAt(*job, ".spec.parallelism", 1);
  const int64_t backoff_limit = IntAt(*job, ".spec.backoffLimit", 6);
  int64_t active = 0, succeeded = 0, failed = 0, ready = 0;
  std::string last_failure;
  for (const json& p : OwnedPods(api, *job)) {
    const std::string phase = Str(p, "status", "phase");
    if (phase == "Succeeded") {
      ++succeeded;
    } else if (phase == "Failed") {
      ++failed;
      last_failure = std::max(last_failure, Str(p, "metadata", "creationTimestamp"));
    } else {
      ++active;
      ready += PodReady(p) ? 1 : 0;
    }
    // Restarts under OnFailure count as failures, as the Job controller counts them.
    json statuses = AtPath(p, ".status.containerStatuses");
    if (statuses.is_array()) {
      for (const json& s : statuses) failed += IntAt(s, ".restartCount", 0);
    }
  }
  if (!status.contains("startTime")) status["startTime"] = now;
  auto condition = [&](const char* type_name, const char* reason, const std::string& message) {
    return json{{"type", type_name},           {"status", "True"},
                {"reason", reason},            {"message", message},
                {"lastProbeTime", now},        {"lastTransitionTime", now}};
  };
  auto delete_active = [&] {
    for (const json& p : OwnedPods(api, *job)) {
      std::string phase = Str(p, "status", "phase");
      if (phase != "Succeeded" && phase != "Failed") {
        (void)api.Delete(*pod_type, ns, Str(p, "metadata", "name"));
      }
    }
  };
  if (failed > backoff_limit) {
    delete_active();
    active = 0;
    std::string message = "Job has reached the specified backoff limit";
    status["conditions"] = {condition("FailureTarget", "BackoffLimitExceeded", message),
                            condition("Failed", "BackoffLimitExceeded", message)};
    m.recorder().Record(*job, source, "Warning", "BackoffLimitExceeded", message);
  } else if (succeeded >= completions) {
    delete_active();
    active = 0;
    status["completionTime"] = now;
    status["conditions"] = {condition("SuccessCriteriaMet", "CompletionsReached",
                                      "Reached expected number of succeeded pods"),
                            condition("Complete", "CompletionsReached",
                                      "Reached expected number of succeeded pods")};
    m.recorder().Record(*job, source, "Normal", "Completed", "Job completed");
  } else {
    int64_t missing = std::min(parallelism, completions - succeeded) - active;
    // Failed pods are replaced after the Job back-off: 10 s doubling, up to 6 min, from the
    // moment the controller saw the failure (kept in memory, as the real controller does).
    if (missing > 0 && failed > 0) {
      auto delay = m.Scaled(std::chrono::seconds(
          std::min<int64_t>(360, int64_t{10} << std::min<int64_t>(failed - 1, 6))));
      const auto steady_now = std::chrono::steady_clock::now();
      absl::MutexLock lock(&job_backoff_mu);
      JobBackoff& b = JobBackoffs()[Str(*job, "metadata", "uid")];
      if (b.failed != failed) {
        b.failed = failed;
        b.not_before = steady_now + delay;
      }
      if (steady_now < b.not_before) {
        m.Enqueue(ControllerManager::Kind::kJob, ns, name,
                  std::chrono::duration_cast<std::chrono::milliseconds>(b.not_before - steady_now));
        missing = 0;
      }
    }
    json tmpl = AtPath(*job, ".spec.template");
    json& labels = ChildObject(ChildObject(tmpl, "metadata"), "labels");
    const std::string uid = Str(*job, "metadata", "uid");
    labels["batch.kubernetes.io/controller-uid"] = uid;
    labels["batch.kubernetes.io/job-name"] = name;
    labels["controller-uid"] = uid;
    labels["job-name"] = name;
    for (int64_t i = 0; i < missing; ++i) {
      absl::StatusOr<json> made =
          api.Create(*pod_type, ns, PodFromTemplate(*job, tmpl, name + "-", true));
      if (!made.ok()) {
        m.recorder().Record(*job, source, "Warning", "FailedCreate",
                            fmt::format("Error creating: {}", ToStd(made.status().message())));
        m.Enqueue(ControllerManager::Kind::kJob, ns, name, std::chrono::seconds(1));
        break;
      }
      ++active;
      m.recorder().Record(*job, source, "Normal", "SuccessfulCreate",
                          fmt::format("Created pod: {}", Str(*made, "metadata", "name")));
    }
  }
  status["active"] = active;
  status["ready"] = ready;
  status["terminating"] = 0;
  status["uncountedTerminatedPods"] = json::object();
  if (succeeded > 0) status["succeeded"] = succeeded; else status.erase("succeeded");
  if (failed > 0) status["failed"] = failed; else status.erase("failed");
  if (active == 0) status.erase("active");
  if (finished()) {
    absl::MutexLock lock(&job_backoff_mu);
    JobBackoffs().erase(Str(*job, "metadata", "uid"));
  }
  SetStatus(m, *type, ControllerManager::Kind::kJob, *job, std::move(status));
}

}  // namespace kobs::sim
