// Fuzzes what scenario authors and clusters hand the simulator as text: scenario files, the
// sim.kobs.dev/profile annotation, Kubernetes quantities and durations, container shell
// commands, and Helm release Secrets (the payload as-is, and gzipped, behind the two base64
// layers Helm's storage uses).
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "k8s/helm_release.h"
#include "net/gzip.h"
#include "sim/container_profile.h"
#include "sim/container_program.h"
#include "sim/scenario.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  (void)kobs::sim::ParseScenario(body);
  nlohmann::json pod = {{"metadata", {{"annotations", {{"sim.kobs.dev/profile", std::string(body)}}}}}};
  if (auto profiles = kobs::sim::ParseProfiles(pod); profiles.ok()) {
    for (const auto& [name, p] : *profiles) {
      for (uint64_t n = 0; n < 3; ++n) (void)kobs::sim::GenerateLogLines(p, name, n);
    }
  }
  (void)kobs::sim::ParseQuantityMilli(body);
  (void)kobs::sim::ParseDuration(body);
  (void)kobs::sim::ParseProgram({"sh", "-c", std::string(body)}, {});
  for (const std::string& payload : {std::string(body), kobs::net::Gzip(body)}) {
    nlohmann::json secret = {
        {"type", "helm.sh/release.v1"},
        {"data", {{"release", absl::Base64Escape(absl::Base64Escape(payload))}}}};
    if (auto release = kobs::k8s::DecodeHelmSecret(secret); release.ok()) {
      (void)kobs::k8s::DecodeHelmSecret(kobs::k8s::EncodeHelmSecret(*release));
      if (release->contains("manifest") && (*release)["manifest"].is_string()) {
        (void)kobs::k8s::ManifestObjects((*release)["manifest"].get<std::string>());
      }
    }
  }
  return 0;
}
