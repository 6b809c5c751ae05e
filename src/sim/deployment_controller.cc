// The Deployment controller: one ReplicaSet per pod template (named <deployment>-<hash>, with
// the pod-template-hash label), a rolling update within maxSurge/maxUnavailable (or Recreate),
// revision annotations (a template that matches an old ReplicaSet, as after `rollout undo`,
// brings that ReplicaSet back with the next revision), history pruned to
// revisionHistoryLimit, and the status and conditions `kubectl rollout status` reads.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "k8s/api_status.h"
#include "sim/controllers.h"
#include "sim/object_meta.h"

namespace kobs::sim {
namespace {

using nlohmann::json;

constexpr char kRevision[] = "deployment.kubernetes.io/revision";
constexpr char kHashLabel[] = "pod-template-hash";

int64_t IntAt(const json& obj, std::string_view path, int64_t def = 0) {
  json v = AtPath(obj, path);
  return v.is_number_integer() ? v.get<int64_t>() : def;
}

// A short, stable hash of the pod template, in the apiserver's name-safe alphabet.
std::string TemplateHash(const json& tmpl) {
  uint32_t h = 2166136261u;
  for (unsigned char c : tmpl.dump()) h = (h ^ c) * 16777619u;
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  for (int i = 0; i < 10; ++i) {
    out.push_back(kAlphabet[h % 27]);
    h = h / 27 + (h % 7) * 104729u;
  }
  return out;
}

// The template without the hash label, for comparing a ReplicaSet's to the Deployment's.
json Unhashed(json tmpl) {
  if (tmpl.is_object() && tmpl.contains("metadata") && tmpl["metadata"].is_object() &&
      tmpl["metadata"].contains("labels") && tmpl["metadata"]["labels"].is_object()) {
    tmpl["metadata"]["labels"].erase(kHashLabel);
  }
  return tmpl;
}

// maxSurge / maxUnavailable: an int or a percentage of `replicas`.
int64_t Resolve(const json& v, int64_t replicas, bool round_up, int64_t def) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    if (!s.empty() && s.back() == '%') {
      double pct = std::atof(s.c_str()) * static_cast<double>(replicas) / 100.0;
      return static_cast<int64_t>(round_up ? std::ceil(pct) : std::floor(pct));
    }
    return std::atoll(s.c_str());
  }
  return def;
}

int64_t Revision(const json& rs) {
  json a = AtPath(rs, ".metadata.annotations");
  return a.is_object() && a.contains(kRevision) && a[kRevision].is_string()
             ? std::atoll(a[kRevision].get<std::string>().c_str())
             : 0;
}

json Condition(const std::string& type, const std::string& status, const std::string& reason,
               const std::string& message, const json& previous) {
  std::string now = NowRfc3339();
  std::string transition = now;
  if (previous.is_array()) {
    for (const json& c : previous) {
      if (Str(c, "type") == type && Str(c, "status") == status) {
        transition = Str(c, "lastTransitionTime");
        if (Str(c, "reason") == reason) now = Str(c, "lastUpdateTime");
      }
    }
  }
  return {{"type", type},
          {"status", status},
          {"lastUpdateTime", now},
          {"lastTransitionTime", transition},
          {"reason", reason},
          {"message", message}};
}

}  // namespace

void ReconcileDeployment(ControllerManager& m, const std::string& ns, const std::string& name) {
  Api& api = m.api();
  auto d_type = api.registry().Find("apps", "v1", "deployments");
  auto rs_type = api.registry().Find("apps", "v1", "replicasets");
  absl::StatusOr<json> d = api.Get(*d_type, ns, name);
  if (!d.ok() || !Str(*d, "metadata", "deletionTimestamp").empty()) return;
  const std::string uid = Str(*d, "metadata", "uid");
  const EventSource source{"deployment-controller", ""};
  const int64_t replicas = IntAt(*d, ".spec.replicas", 1);
  const json tmpl = AtPath(*d, ".spec.template");

  absl::StatusOr<ListResult> all = api.List(*rs_type, ns, {});
  if (!all.ok()) return;
  std::vector<json> owned;
  for (json& rs : all->items) {
    if (ControlledBy(rs, uid)) owned.push_back(std::move(rs));
  }
  int64_t max_revision = 0;
  for (const json& rs : owned) max_revision = std::max(max_revision, Revision(rs));

  // The new ReplicaSet: the one whose template is the Deployment's.
  json* current = nullptr;
  for (json& rs : owned) {
    if (Unhashed(AtPath(rs, ".spec.template")) == Unhashed(tmpl)) current = &rs;
  }
  auto requeue = [&] { m.Enqueue(ControllerManager::Kind::kDeployment, ns, name); };
  if (current == nullptr) {
    const std::string hash = TemplateHash(tmpl);
    json rs_tmpl = tmpl;
    rs_tmpl["metadata"]["labels"][kHashLabel] = hash;
    json selector = AtPath(*d, ".spec.selector");
    if (!selector.is_object()) selector = json::object();
    selector["matchLabels"][kHashLabel] = hash;
    json labels = rs_tmpl["metadata"]["labels"];
    json rs = {{"apiVersion", "apps/v1"},
               {"kind", "ReplicaSet"},
               {"metadata",
                {{"name", name + "-" + hash},
                 {"namespace", ns},
                 {"labels", labels},
                 {"annotations",
                  {{kRevision, std::to_string(max_revision + 1)},
                   {"deployment.kubernetes.io/desired-replicas", std::to_string(replicas)},
                   {"deployment.kubernetes.io/max-replicas", std::to_string(replicas + 1)}}},
                 {"ownerReferences",
                  {{{"apiVersion", "apps/v1"},
                    {"kind", "Deployment"},
                    {"name", name},
                    {"uid", uid},
                    {"controller", true},
                    {"blockOwnerDeletion", true}}}}}},
               {"spec", {{"replicas", 0}, {"selector", selector}, {"template", rs_tmpl}}}};
    absl::StatusOr<json> made = api.Create(*rs_type, ns, std::move(rs));
    if (!made.ok()) {
      if (k8s::ApiReason(made.status()) != "AlreadyExists") requeue();
      return;
    }
    owned.push_back(*std::move(made));
    current = &owned.back();
    max_revision += 1;
  } else if (Revision(*current) < max_revision) {
    // An old template came back (rollback): it becomes the newest revision.
    json next = *current;
    next["metadata"]["annotations"][kRevision] = std::to_string(max_revision + 1);
    absl::StatusOr<json> updated = api.Update(*rs_type, ns, Str(next, "metadata", "name"), next);
    if (!updated.ok()) return requeue();
    *current = *std::move(updated);
    max_revision += 1;
  }
  const std::string new_name = Str(*current, "metadata", "name");

  auto scale = [&](json& rs, int64_t to) -> bool {
    const int64_t from = IntAt(rs, ".spec.replicas");
    if (from == to) return true;
    json next = rs;
    next["spec"]["replicas"] = to;
    next["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
        std::to_string(replicas);
    absl::StatusOr<json> updated = api.Update(*rs_type, ns, Str(rs, "metadata", "name"), next);
    if (!updated.ok()) return false;
    rs = *std::move(updated);
    m.recorder().Record(*d, source, "Normal", "ScalingReplicaSet",
                        fmt::format("Scaled {} replica set {} from {} to {}",
                                    to > from ? "up" : "down", Str(rs, "metadata", "name"), from,
                                    to));
    return true;
  };

  std::vector<json*> old;
  for (json& rs : owned) {
    if (&rs != current) old.push_back(&rs);
  }
  std::sort(old.begin(), old.end(), [](const json* a, const json* b) {
    return Revision(*a) < Revision(*b);  // oldest first
  });
  auto spec_total = [&] {
    int64_t n = 0;
    for (json& rs : owned) n += IntAt(rs, ".spec.replicas");
    return n;
  };
  auto available_total = [&] {
    int64_t n = 0;
    for (json& rs : owned) n += IntAt(rs, ".status.availableReplicas");
    return n;
  };

  const bool paused = AtPath(*d, ".spec.paused") == json(true);
  const std::string strategy = Str(*d, "spec", "strategy", "type");
  if (!paused && strategy == "Recreate") {
    bool old_running = false;
    for (json* rs : old) {
      if (!scale(*rs, 0)) return requeue();
      old_running |= IntAt(*rs, ".status.replicas") > 0;
    }
    if (!old_running && !scale(*current, replicas)) return requeue();
  } else if (!paused) {
    const json ru = AtPath(*d, ".spec.strategy.rollingUpdate");
    int64_t surge = Resolve(AtPath(ru, ".maxSurge"), replicas, true, 1);
    int64_t unavailable = Resolve(AtPath(ru, ".maxUnavailable"), replicas, false, 0);
    if (surge == 0 && unavailable == 0) unavailable = 1;
    // Scale up the new ReplicaSet within maxSurge.
    const int64_t new_spec = IntAt(*current, ".spec.replicas");
    if (new_spec > replicas) {
      if (!scale(*current, replicas)) return requeue();
    } else if (new_spec < replicas) {
      int64_t room = replicas + surge - spec_total();
      if (room > 0 && !scale(*current, std::min(replicas, new_spec + room))) return requeue();
    }
    // Scale down old ReplicaSets within maxUnavailable, their unavailable pods first.
    int64_t can_remove = available_total() - (replicas - unavailable);
    for (json* rs : old) {
      const int64_t spec = IntAt(*rs, ".spec.replicas");
      const int64_t unavailable_here = spec - IntAt(*rs, ".status.availableReplicas");
      int64_t remove = std::min(spec, std::max<int64_t>(unavailable_here, 0) +
                                          std::max<int64_t>(can_remove, 0));
      if (remove <= 0) continue;
      if (!scale(*rs, spec - remove)) return requeue();
      can_remove -= std::max<int64_t>(remove - std::max<int64_t>(unavailable_here, 0), 0);
    }
  }

  // Old, empty ReplicaSets beyond the history limit go.
  const int64_t history = IntAt(*d, ".spec.revisionHistoryLimit", 10);
  std::vector<json*> empty_old;
  for (json* rs : old) {
    if (IntAt(*rs, ".spec.replicas") == 0 && IntAt(*rs, ".status.replicas") == 0) {
      empty_old.push_back(rs);
    }
  }
  for (size_t i = 0; i + history < empty_old.size(); ++i) {
    (void)api.Delete(*rs_type, ns, Str(*empty_old[i], "metadata", "name"));
  }

  // The Deployment carries its current revision, as `kubectl rollout history` reads it.
  const std::string want_revision = std::to_string(Revision(*current));
  if (Str(*d, "metadata", "annotations", kRevision) != want_revision) {
    json next = *d;
    ChildObject(next["metadata"], "annotations")[kRevision] = want_revision;
    absl::StatusOr<json> annotated = api.Update(*d_type, ns, name, next);
    if (!annotated.ok()) return requeue();
    *d = *std::move(annotated);
  }

  // Status, as the real controller computes it.
  int64_t total = 0, ready = 0, available = 0;
  for (json& rs : owned) {
    total += IntAt(rs, ".status.replicas");
    ready += IntAt(rs, ".status.readyReplicas");
    available += IntAt(rs, ".status.availableReplicas");
  }
  const int64_t updated = IntAt(*current, ".status.replicas");
  const json ru = AtPath(*d, ".spec.strategy.rollingUpdate");
  const int64_t max_unavailable =
      strategy == "Recreate" ? 0 : Resolve(AtPath(ru, ".maxUnavailable"), replicas, false, 0);
  const json prev_conditions = AtPath(*d, ".status.conditions");
  json conditions = json::array();
  conditions.push_back(
      available >= replicas - max_unavailable
          ? Condition("Available", "True", "MinimumReplicasAvailable",
                      "Deployment has minimum availability.", prev_conditions)
          : Condition("Available", "False", "MinimumReplicasUnavailable",
                      "Deployment does not have minimum availability.", prev_conditions));
  const bool complete = updated == replicas && available == replicas && total == replicas;
  conditions.push_back(
      complete ? Condition("Progressing", "True", "NewReplicaSetAvailable",
                           fmt::format("ReplicaSet \"{}\" has successfully progressed.", new_name),
                           prev_conditions)
               : Condition("Progressing", "True", "ReplicaSetUpdated",
                           fmt::format("ReplicaSet \"{}\" is progressing.", new_name),
                           prev_conditions));
  json status = {{"observedGeneration", AtPath(*d, ".metadata.generation")},
                 {"replicas", total},
                 {"updatedReplicas", updated},
                 {"readyReplicas", ready},
                 {"availableReplicas", available},
                 {"conditions", conditions}};
  if (total - available > 0) status["unavailableReplicas"] = total - available;
  for (const char* zero : {"replicas", "updatedReplicas", "readyReplicas", "availableReplicas"}) {
    if (status[zero] == json(0)) status.erase(zero);
  }
  json before = AtPath(*d, ".status");
  if (before == status) return;
  json next = *d;
  next["status"] = status;
  absl::Status s = api.Update(*d_type, ns, name, next, "status").status();
  if (k8s::IsConflict(s)) requeue();
}

}  // namespace kobs::sim
