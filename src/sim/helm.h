// Helm v3 install, upgrade and rollback inside the simulated cluster, stored exactly as Helm
// stores releases (k8s/helm_release.h): each revision a Secret, the previous deployed revision
// marked superseded, the rendered objects applied with Helm's ownership annotations
// (meta.helm.sh/release-name, meta.helm.sh/release-namespace) and the
// app.kubernetes.io/managed-by=Helm label. With `wait`, the revision stays pending until
// every Deployment, StatefulSet and DaemonSet of the manifest is rolled out, and becomes
// failed ("context deadline exceeded") when that takes longer than the wait, as
// `helm upgrade --wait --timeout` does.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "sim/api.h"

namespace kobs::sim {

struct HelmChart {
  std::string name;
  std::string version = "0.1.0";
  std::string app_version;
};

struct HelmAction {
  std::string release;
  std::string ns = "default";
  HelmChart chart;
  nlohmann::json values = nlohmann::json::object();
  std::string manifest;  // the rendered templates ("---"-separated YAML)
  // Simulated time to wait for the workloads; nullopt: do not wait (deployed at once).
  std::optional<std::chrono::milliseconds> wait;
};

// Installs (first revision) or upgrades the release; returns the new revision's number. The
// revision is pending-install/pending-upgrade when `wait` is set: FinishHelmWait settles it.
absl::StatusOr<int> HelmUpgrade(Api& api, const HelmAction& action);

// Whether every workload of the revision's manifest has rolled out.
absl::StatusOr<bool> HelmWorkloadsReady(Api& api, const std::string& ns,
                                        const std::string& release, int revision);
// Marks a pending revision deployed (ready) or failed (the wait ran out).
absl::Status FinishHelmWait(Api& api, const std::string& ns, const std::string& release,
                            int revision, bool ready);

// Rolls back to `revision` (0: the one before the current): its manifest applied again as a
// new revision, "Rollback to <n>", and the current one superseded.
absl::StatusOr<int> HelmRollback(Api& api, const std::string& ns, const std::string& release,
                                 int revision);

// Every revision of a release, decoded, oldest first.
absl::StatusOr<std::vector<nlohmann::json>> HelmHistory(Api& api, const std::string& ns,
                                                        const std::string& release);

// Applies an object as `manager` would with server-side apply (created when absent).
absl::StatusOr<nlohmann::json> ApplyObject(Api& api, nlohmann::json object,
                                           const std::string& default_namespace,
                                           const std::string& manager);

}  // namespace kobs::sim
