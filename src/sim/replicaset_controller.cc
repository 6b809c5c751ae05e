// The ReplicaSet controller: as many pods as spec.replicas, made from the template and owned
// by the ReplicaSet; surplus pods deleted (not-ready and newest first); status counts.
#include <algorithm>

#include <fmt/format.h>

#include "common/absl_compat.h"
#include "k8s/api_status.h"
#include "sim/controllers.h"
#include "sim/object_meta.h"

namespace kobs::sim {
namespace {

using nlohmann::json;

int64_t Replicas(const json& obj) {
  json r = AtPath(obj, ".spec.replicas");
  return r.is_number_integer() ? r.get<int64_t>() : 1;
}

}  // namespace

void ReconcileReplicaSet(ControllerManager& m, const std::string& ns, const std::string& name) {
  Api& api = m.api();
  auto rs_type = api.registry().Find("apps", "v1", "replicasets");
  auto pod_type = api.registry().Find("", "v1", "pods");
  absl::StatusOr<json> rs = api.Get(*rs_type, ns, name);
  if (!rs.ok() || !Str(*rs, "metadata", "deletionTimestamp").empty()) return;
  const std::string uid = Str(*rs, "metadata", "uid");
  absl::StatusOr<ListResult> pods = api.List(*pod_type, ns, {});
  if (!pods.ok()) return;
  std::vector<json> owned;
  for (json& p : pods->items) {
    if (ControlledBy(p, uid) && Str(p, "metadata", "deletionTimestamp").empty()) {
      owned.push_back(std::move(p));
    }
  }
  const int64_t want = Replicas(*rs);
  const EventSource source{"replicaset-controller", ""};
  int64_t have = static_cast<int64_t>(owned.size());
  if (have < want) {
    json tmpl = AtPath(*rs, ".spec.template");
    for (int64_t i = have; i < want; ++i) {
      json pod = PodFromTemplate(*rs, tmpl, name + "-", /*generate=*/true);
      absl::StatusOr<json> made = api.Create(*pod_type, ns, std::move(pod));
      if (!made.ok()) {
        m.recorder().Record(*rs, source, "Warning", "FailedCreate",
                            fmt::format("Error creating: {}", ToStd(made.status().message())));
        m.Enqueue(ControllerManager::Kind::kReplicaSet, ns, name, std::chrono::seconds(1));
        break;
      }
      m.recorder().Record(*rs, source, "Normal", "SuccessfulCreate",
                          fmt::format("Created pod: {}", Str(*made, "metadata", "name")));
      owned.push_back(*std::move(made));
    }
  } else if (have > want) {
    // Not-ready pods first, then the newest.
    std::sort(owned.begin(), owned.end(), [](const json& a, const json& b) {
      if (PodReady(a) != PodReady(b)) return !PodReady(a);
      return Str(a, "metadata", "creationTimestamp") > Str(b, "metadata", "creationTimestamp");
    });
    for (int64_t i = 0; i < have - want; ++i) {
      const std::string pod_name = Str(owned[i], "metadata", "name");
      if (api.Delete(*pod_type, ns, pod_name).ok()) {
        m.recorder().Record(*rs, source, "Normal", "SuccessfulDelete",
                            fmt::format("Deleted pod: {}", pod_name));
      }
    }
    owned.erase(owned.begin(), owned.begin() + (have - want));
  }
  int64_t ready = 0, labeled = static_cast<int64_t>(owned.size());
  for (const json& p : owned) ready += PodReady(p) ? 1 : 0;
  json status = {{"replicas", static_cast<int64_t>(owned.size())},
                 {"fullyLabeledReplicas", labeled},
                 {"readyReplicas", ready},
                 {"availableReplicas", ready},
                 {"observedGeneration", AtPath(*rs, ".metadata.generation")}};
  if (ready == 0) {  // omitempty, as the real status
    status.erase("readyReplicas");
    status.erase("availableReplicas");
  }
  json current = AtPath(*rs, ".status");
  if (current == status) return;
  json next = *rs;
  next["status"] = status;
  absl::Status s = api.Update(*rs_type, ns, name, next, "status").status();
  if (k8s::IsConflict(s)) m.Enqueue(ControllerManager::Kind::kReplicaSet, ns, name);
}

}  // namespace kobs::sim
