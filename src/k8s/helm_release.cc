#include "k8s/helm_release.h"

#include <algorithm>

#include <fmt/format.h>

#include "absl/strings/escaping.h"
#include "common/absl_compat.h"
#include "common/yaml_json.h"
#include "net/gzip.h"

namespace kobs::k8s {

using nlohmann::json;

namespace {

constexpr uint64_t kMaxRelease = 64ull << 20;  // Secrets hold at most 1 MiB; gzip ratio bound

std::string StrAt(const json& obj, const char* a, const char* b = nullptr) {
  if (!obj.is_object() || !obj.contains(a)) return "";
  const json& v = obj[a];
  if (b == nullptr) return v.is_string() ? v.get<std::string>() : "";
  return v.is_object() && v.contains(b) && v[b].is_string() ? v[b].get<std::string>() : "";
}

int Version(const json& release) {
  return release.is_object() && release.contains("version") &&
                 release["version"].is_number_integer()
             ? release["version"].get<int>()
             : 0;
}

}  // namespace

std::string HelmSecretName(std::string_view release, int revision) {
  return fmt::format("sh.helm.release.v1.{}.v{}", release, revision);
}

std::string HelmReleaseSelector(std::string_view release) {
  return fmt::format("owner=helm,name={}", release);
}

absl::StatusOr<json> DecodeHelmSecret(const json& secret) {
  if (StrAt(secret, "type") != kHelmSecretType) {
    return absl::InvalidArgumentError(
        fmt::format("secret {} is not a Helm release (type \"{}\")", StrAt(secret, "metadata", "name"),
                    StrAt(secret, "type")));
  }
  std::string outer = StrAt(secret, "data", "release");
  std::string inner, payload;
  if (outer.empty() || !absl::Base64Unescape(outer, &inner) ||
      !absl::Base64Unescape(inner, &payload)) {
    return absl::InvalidArgumentError(
        fmt::format("secret {}: data.release is not base64", StrAt(secret, "metadata", "name")));
  }
  if (payload.size() >= 3 && static_cast<unsigned char>(payload[0]) == 0x1f &&
      static_cast<unsigned char>(payload[1]) == 0x8b && payload[2] == 8) {
    absl::StatusOr<std::string> inflated = net::Inflate(payload, kMaxRelease);
    if (!inflated.ok()) {
      return absl::InvalidArgumentError(fmt::format("secret {}: {}", StrAt(secret, "metadata", "name"),
                                                    ToStd(inflated.status().message())));
    }
    payload = *std::move(inflated);
  }
  json release = json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!release.is_object()) {
    return absl::InvalidArgumentError(fmt::format(
        "secret {}: the release is not a JSON object", StrAt(secret, "metadata", "name")));
  }
  return release;
}

json EncodeHelmSecret(const json& release) {
  const std::string name = StrAt(release, "name");
  const int version = std::max(Version(release), 1);
  const std::string status = StrAt(release, "info", "status");
  std::string inner = absl::Base64Escape(net::Gzip(release.dump(), 9));
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"type", kHelmSecretType},
          {"metadata",
           {{"name", HelmSecretName(name, version)},
            {"namespace", StrAt(release, "namespace")},
            {"labels",
             {{"name", name},
              {"owner", "helm"},
              {"status", status},
              {"version", std::to_string(version)}}}}},
          {"data", {{"release", absl::Base64Escape(inner)}}}};
}

const json* LatestDeployed(const std::vector<json>& releases) {
  const json* best = nullptr;
  for (const json& r : releases) {
    if (StrAt(r, "info", "status") != "deployed") continue;
    if (best == nullptr || Version(r) > Version(*best)) best = &r;
  }
  return best;
}

absl::StatusOr<std::vector<json>> ManifestObjects(std::string_view manifest) {
  absl::StatusOr<std::vector<json>> docs = YamlDocumentsToJson(manifest);
  if (!docs.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("release manifest: {}", ToStd(docs.status().message())));
  }
  std::vector<json> out;
  for (json& d : *docs) {
    if (d.is_null()) continue;
    if (!d.is_object() || !d.contains("kind") || !d.contains("apiVersion")) {
      return absl::InvalidArgumentError(
          "release manifest: every document must be an object with apiVersion and kind");
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace kobs::k8s
