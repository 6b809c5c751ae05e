// Helm v3 releases as Helm's Secret storage driver keeps them, so that kobs (and the simulated
// cluster) can read, write and roll back a release through the Kubernetes API alone:
//
//   Secret sh.helm.release.v1.<release>.v<revision>, type helm.sh/release.v1,
//   labels {name, owner: helm, status, version}, data.release = base64(gzip(release JSON))
//   (the Secret's own data encoding adds the outer base64 on the wire).
//
// The release JSON is Helm's: {name, namespace, version, info {first_deployed,
// last_deployed, deleted, description, status}, chart {metadata {name, version, appVersion,
// ...}, values, templates, files}, config, manifest}. Statuses: deployed, failed, superseded,
// pending-install, pending-upgrade, pending-rollback, uninstalling, uninstalled.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace kobs::k8s {

inline constexpr std::string_view kHelmSecretType = "helm.sh/release.v1";

// "sh.helm.release.v1.<name>.v<revision>"
std::string HelmSecretName(std::string_view release, int revision);

// The release inside a Secret as the API returns it (data.release base64, holding
// base64(gzip(JSON)) or, from old Helm versions, base64(JSON)). InvalidArgument when the
// Secret is not a Helm release or its payload is corrupt.
absl::StatusOr<nlohmann::json> DecodeHelmSecret(const nlohmann::json& secret);

// The Secret that stores `release` (its name, namespace, version and info.status are read).
nlohmann::json EncodeHelmSecret(const nlohmann::json& release);

// The label selector of every revision of a release: "owner=helm,name=<release>".
std::string HelmReleaseSelector(std::string_view release);

// The releases among decoded revisions: the newest with status "deployed", or null.
const nlohmann::json* LatestDeployed(const std::vector<nlohmann::json>& releases);

// Splits a release manifest ("---"-separated YAML documents, "# Source:" comments) into its
// objects. InvalidArgument names the document that does not parse.
absl::StatusOr<std::vector<nlohmann::json>> ManifestObjects(std::string_view manifest);

}  // namespace kobs::k8s
