#include "k8s_log_rows.h"

#include <algorithm>
#include <random>
#include <string>

#include <fmt/format.h>

namespace kobs::testing {

std::vector<store::LogRow> MakeK8sLogRows(int n, int64_t start_ns, uint64_t seed) {
  static const char* kNamespaces[] = {"krateo-system", "default", "payments", "kube-system"};
  static const char* kApps[] = {"checkout", "frontend", "session-db", "coredns", "api-gateway"};
  static const char* kLevels[] = {"INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"};
  static const char* kMessages[] = {
      "GET /api/v1/orders/{} 200 {}ms",
      "connection to upstream 10.0.{}.{}:5432 established",
      "failed to reconcile composition {}: context deadline exceeded (retry {})",
      "{{\"level\":\"info\",\"msg\":\"request served\",\"status\":{},\"latency_ms\":{}}}",
      "readiness probe ok after {} attempts, uptime {}s",
  };
  std::mt19937_64 rng(seed);
  std::vector<store::LogRow> rows;
  rows.reserve(n);
  for (int i = 0; i < n; ++i) {
    const char* ns = kNamespaces[rng() % 4];
    const char* app = kApps[rng() % 5];
    std::string pod = fmt::format("{}-{:x}-{:05x}", app, 0x5d8f7c9b4 + rng() % 7, rng() % 0xfffff);
    store::LogRow r;
    r.timestamp_ns = start_ns + static_cast<int64_t>(i) * 1'000'000;
    r.severity_text = kLevels[rng() % 6];
    r.severity_number = r.severity_text == "ERROR" ? 17 : r.severity_text == "WARN" ? 13 : 9;
    r.service_name = app;
    r.body = fmt::format(fmt::runtime(kMessages[rng() % 5]), rng() % 100000, rng() % 900);
    r.resource_attributes = {
        {"app", app},
        {"k8s.container.name", app},
        {"k8s.container.restart_count", std::to_string(rng() % 3)},
        {"k8s.deployment.name", app},
        {"k8s.namespace.name", ns},
        {"k8s.node.name", fmt::format("worker-{}", rng() % 3)},
        {"k8s.pod.labels.app", app},
        {"k8s.pod.name", pod},
        {"k8s.pod.uid", fmt::format("{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}", rng() & 0xffffffff,
                                    rng() & 0xffff, rng() & 0xfff, rng() & 0xfff,
                                    rng() & 0xffffffffffffULL)},
        {"krateo.io/composition-id", fmt::format("comp-{}", rng() % 20)},
    };
    r.log_attributes = {
        {"log.file.path", fmt::format("/var/log/pods/{}_{}_x/{}/0.log", ns, pod, app)},
        {"log.iostream", "stdout"},
        {"logtag", "F"},
    };
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace kobs::testing
