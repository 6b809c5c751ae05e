#include "sim/helm.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/absl_compat.h"
#include "common/status_macros.h"
#include "k8s/api_status.h"
#include "k8s/helm_release.h"
#include "sim/object_meta.h"

namespace kobs::sim {
namespace {

using nlohmann::json;

std::shared_ptr<const ResourceType> Secrets(Api& api) {
  return api.registry().Find("", "v1", "secrets");
}

// Helm's timestamps: RFC 3339 with nanoseconds.
std::string HelmTime() {
  auto now = std::chrono::system_clock::now();
  auto nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  std::string base = NowRfc3339();  // "...:SSZ"
  return fmt::format("{}.{:09d}Z", base.substr(0, base.size() - 1), nanos % 1000000000);
}

absl::Status StoreRelease(Api& api, const json& release, bool create) {
  json secret = k8s::EncodeHelmSecret(release);
  const std::string ns = Str(secret, "metadata", "namespace");
  const std::string name = Str(secret, "metadata", "name");
  auto type = Secrets(api);
  if (create) return api.Create(*type, ns, std::move(secret)).status();
  KOBS_ASSIGN_OR_RETURN(json current, api.Get(*type, ns, name));
  current["metadata"]["labels"] = secret["metadata"]["labels"];
  current["data"] = secret["data"];
  return api.Update(*type, ns, name, std::move(current)).status();
}

absl::StatusOr<json> Revision(Api& api, const std::string& ns, const std::string& release,
                              int revision) {
  KOBS_ASSIGN_OR_RETURN(json secret,
                        api.Get(*Secrets(api), ns, k8s::HelmSecretName(release, revision)));
  return k8s::DecodeHelmSecret(secret);
}

absl::Status ApplyManifest(Api& api, const std::string& manifest, const std::string& ns,
                           const std::string& release) {
  KOBS_ASSIGN_OR_RETURN(std::vector<json> objects, k8s::ManifestObjects(manifest));
  for (json& o : objects) {
    json& meta = ChildObject(o, "metadata");
    ChildObject(meta, "annotations")["meta.helm.sh/release-name"] = release;
    ChildObject(meta, "annotations")["meta.helm.sh/release-namespace"] = ns;
    ChildObject(meta, "labels")["app.kubernetes.io/managed-by"] = "Helm";
    KOBS_RETURN_IF_ERROR(ApplyObject(api, std::move(o), ns, "helm").status());
  }
  return absl::OkStatus();
}

int RevisionOf(const json& release) {
  return release.contains("version") && release["version"].is_number_integer()
             ? release["version"].get<int>()
             : 0;
}

std::string StatusOf(const json& release) {
  json s = AtPath(release, ".info.status");
  return s.is_string() ? s.get<std::string>() : "";
}

// Marks every deployed (or failed, when `include_failed`) revision superseded.
absl::Status SupersedeCurrent(Api& api, const std::vector<json>& history, bool include_failed) {
  for (json r : history) {
    std::string st = StatusOf(r);
    if (st == "deployed" || (include_failed && st == "failed")) {
      r["info"]["status"] = "superseded";
      KOBS_RETURN_IF_ERROR(StoreRelease(api, r, false));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<json> ApplyObject(Api& api, json object, const std::string& default_namespace,
                                 const std::string& manager) {
  const std::string api_version = Str(object, "apiVersion"), kind = Str(object, "kind");
  auto type = api.registry().FindKind(api_version, kind);
  if (type == nullptr) {
    return absl::NotFoundError(
        fmt::format("no resource type for kind \"{}\" in \"{}\"", kind, api_version));
  }
  std::string ns;
  if (type->namespaced) {
    ns = Str(object, "metadata", "namespace");
    if (ns.empty()) ns = default_namespace.empty() ? "default" : default_namespace;
    object["metadata"]["namespace"] = ns;
  }
  const std::string name = Str(object, "metadata", "name");
  if (name.empty()) return absl::InvalidArgumentError(fmt::format("a {} without a name", kind));
  return api.Patch(*type, ns, name, k8s::PatchType::kApplyPatch, object.dump(), "",
                   WriteRequest{.field_manager = manager, .force = true});
}

absl::StatusOr<std::vector<json>> HelmHistory(Api& api, const std::string& ns,
                                              const std::string& release) {
  KOBS_ASSIGN_OR_RETURN(
      ListResult list,
      api.List(*Secrets(api), ns, {.label_selector = k8s::HelmReleaseSelector(release)}));
  std::vector<json> out;
  for (const json& s : list.items) {
    if (Str(s, "type") != k8s::kHelmSecretType) continue;
    KOBS_ASSIGN_OR_RETURN(json r, k8s::DecodeHelmSecret(s));
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(),
            [](const json& a, const json& b) { return RevisionOf(a) < RevisionOf(b); });
  return out;
}

absl::StatusOr<int> HelmUpgrade(Api& api, const HelmAction& a) {
  if (a.release.empty() || a.chart.name.empty()) {
    return absl::InvalidArgumentError("a Helm release needs a release name and a chart name");
  }
  KOBS_ASSIGN_OR_RETURN(std::vector<json> history, HelmHistory(api, a.ns, a.release));
  const int revision = history.empty() ? 1 : RevisionOf(history.back()) + 1;
  const bool install = history.empty();
  const std::string now = HelmTime();
  json release = {
      {"name", a.release},
      {"namespace", a.ns},
      {"version", revision},
      {"info",
       {{"first_deployed", install ? json(now) : AtPath(history.front(), ".info.first_deployed")},
        {"last_deployed", now},
        {"deleted", ""},
        {"description", a.wait ? (install ? "Initial install underway" : "Preparing upgrade")
                               : (install ? "Install complete" : "Upgrade complete")},
        {"status", a.wait ? (install ? "pending-install" : "pending-upgrade") : "deployed"}}},
      {"chart",
       {{"metadata",
         {{"name", a.chart.name},
          {"version", a.chart.version},
          {"description", "A Helm chart for Kubernetes"},
          {"apiVersion", "v2"},
          {"appVersion", a.chart.app_version.empty() ? a.chart.version : a.chart.app_version},
          {"type", "application"}}},
        {"lock", nullptr},
        {"templates", json::array()},
        {"values", a.values},
        {"schema", nullptr},
        {"files", json::array()}}},
      {"config", a.values},
      {"manifest", a.manifest}};
  // Helm refuses a manifest it cannot parse before touching anything.
  KOBS_RETURN_IF_ERROR(k8s::ManifestObjects(a.manifest).status());
  if (!a.wait) KOBS_RETURN_IF_ERROR(SupersedeCurrent(api, history, false));
  KOBS_RETURN_IF_ERROR(StoreRelease(api, release, true));
  absl::Status applied = ApplyManifest(api, a.manifest, a.ns, a.release);
  if (!applied.ok()) {
    release["info"]["status"] = "failed";
    release["info"]["description"] = fmt::format("{} \"{}\" failed: {}", install ? "Release" : "Upgrade",
                                                 a.release, ToStd(applied.message()));
    KOBS_RETURN_IF_ERROR(StoreRelease(api, release, false));
    return applied;
  }
  return revision;
}

absl::StatusOr<bool> HelmWorkloadsReady(Api& api, const std::string& ns,
                                        const std::string& release, int revision) {
  KOBS_ASSIGN_OR_RETURN(json r, Revision(api, ns, release, revision));
  json manifest = AtPath(r, ".manifest");
  KOBS_ASSIGN_OR_RETURN(std::vector<json> objects,
                        k8s::ManifestObjects(manifest.is_string() ? manifest.get<std::string>() : ""));
  for (const json& o : objects) {
    const std::string kind = Str(o, "kind");
    if (kind != "Deployment" && kind != "StatefulSet" && kind != "DaemonSet") continue;
    auto type = api.registry().FindKind(Str(o, "apiVersion"), kind);
    if (type == nullptr) continue;
    std::string obj_ns = Str(o, "metadata", "namespace").empty() ? ns : Str(o, "metadata", "namespace");
    KOBS_ASSIGN_OR_RETURN(json live, api.Get(*type, obj_ns, Str(o, "metadata", "name")));
    auto num = [&](const char* path) {
      json v = AtPath(live, path);
      return v.is_number_integer() ? v.get<int64_t>() : 0;
    };
    if (kind == "DaemonSet") {
      if (num(".status.numberReady") < num(".status.desiredNumberScheduled")) return false;
      continue;
    }
    int64_t want = AtPath(live, ".spec.replicas").is_number_integer() ? num(".spec.replicas") : 1;
    if (num(".status.observedGeneration") < num(".metadata.generation") ||
        num(".status.updatedReplicas") < want || num(".status.readyReplicas") < want ||
        num(".status.replicas") > want) {
      return false;
    }
  }
  return true;
}

absl::Status FinishHelmWait(Api& api, const std::string& ns, const std::string& release,
                            int revision, bool ready) {
  KOBS_ASSIGN_OR_RETURN(json r, Revision(api, ns, release, revision));
  const bool install = StatusOf(r) == "pending-install";
  if (ready) {
    KOBS_ASSIGN_OR_RETURN(std::vector<json> history, HelmHistory(api, ns, release));
    std::erase_if(history, [&](const json& h) { return RevisionOf(h) == revision; });
    KOBS_RETURN_IF_ERROR(SupersedeCurrent(api, history, false));
    r["info"]["status"] = "deployed";
    r["info"]["description"] = install ? "Install complete" : "Upgrade complete";
  } else {
    r["info"]["status"] = "failed";
    r["info"]["description"] = fmt::format("{} \"{}\" failed: context deadline exceeded",
                                           install ? "Release" : "Upgrade", release);
  }
  return StoreRelease(api, r, false);
}

absl::StatusOr<int> HelmRollback(Api& api, const std::string& ns, const std::string& release,
                                 int revision) {
  KOBS_ASSIGN_OR_RETURN(std::vector<json> history, HelmHistory(api, ns, release));
  if (history.empty()) {
    return absl::NotFoundError(fmt::format("release: not found: {}", release));
  }
  const int current = RevisionOf(history.back());
  if (revision == 0) revision = current - 1;
  auto target = std::find_if(history.begin(), history.end(),
                             [&](const json& h) { return RevisionOf(h) == revision; });
  if (target == history.end() || revision < 1) {
    return absl::NotFoundError(fmt::format("release has no {} version", revision));
  }
  json next = *target;
  next["version"] = current + 1;
  next["info"]["status"] = "deployed";
  next["info"]["description"] = fmt::format("Rollback to {}", revision);
  next["info"]["last_deployed"] = HelmTime();
  KOBS_RETURN_IF_ERROR(SupersedeCurrent(api, history, true));
  json manifest = AtPath(next, ".manifest");
  KOBS_RETURN_IF_ERROR(
      ApplyManifest(api, manifest.is_string() ? manifest.get<std::string>() : "", ns, release));
  KOBS_RETURN_IF_ERROR(StoreRelease(api, next, true));
  return current + 1;
}

}  // namespace kobs::sim
