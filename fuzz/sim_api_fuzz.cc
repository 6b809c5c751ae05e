// Fuzzes the simulated API server's request handling: the input is a request
// ("METHOD target\ncontent-type\nbody"), run through HttpApi::Handle against an in-memory
// cluster: path and query parsing, JSON and YAML bodies, selectors, continue tokens, patches
// of every type, deletion options. Watches and log follows (which block by design) are skipped.
// The cluster is rebuilt every 2,000 inputs so state does not grow without bound.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "common/metrics.h"
#include "fake_response.h"
#include "net/http.h"
#include "sim/api.h"
#include "sim/http_api.h"
#include "sim/object_store.h"
#include "sim/pod_logs.h"
#include "sim/resources.h"

namespace {

struct Cluster {
  kobs::MetricsRegistry metrics;
  std::unique_ptr<kobs::sim::ObjectStore> store =
      *kobs::sim::ObjectStore::Open({.history = 200});
  kobs::sim::ResourceRegistry registry;
  kobs::sim::Api api{*store, registry};
  kobs::sim::PodLogs logs{{.max_lines_per_container = 100}};
  kobs::sim::HttpApi http{api, logs, {}, metrics};

  Cluster() {
    auto ns = registry.Find("", "v1", "namespaces");
    (void)api.Create(*ns, "", {{"metadata", {{"name", "default"}}}});
    auto pods = registry.Find("", "v1", "pods");
    (void)api.Create(*pods, "default",
                     {{"metadata", {{"name", "p"}, {"labels", {{"a", "b"}}}}},
                      {"spec", {{"containers", {{{"name", "c"}, {"image", "i"}}}}}}});
    logs.Append("default", "p", "c", "hello");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::unique_ptr<Cluster> cluster;
  static int runs = 0;
  if (cluster == nullptr || ++runs % 2000 == 0) cluster = std::make_unique<Cluster>();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nl1 = in.find('\n');
  if (nl1 == std::string_view::npos) return 0;
  size_t nl2 = in.find('\n', nl1 + 1);
  std::string_view first = in.substr(0, nl1);
  std::string_view type = nl2 == std::string_view::npos ? "" : in.substr(nl1 + 1, nl2 - nl1 - 1);
  std::string_view body = nl2 == std::string_view::npos ? "" : in.substr(nl2 + 1);
  size_t sp = first.find(' ');
  if (sp == std::string_view::npos) return 0;
  kobs::net::Request r;
  r.method = std::string(first.substr(0, sp));
  r.target = std::string(first.substr(sp + 1));
  if (r.target.find("watch") != std::string::npos || r.target.find("follow") != std::string::npos) {
    return 0;
  }
  kobs::net::ParseTarget(r.target, &r.path, &r.query);
  if (!type.empty()) r.headers.Add("content-type", type);
  r.headers.Add("accept", size % 3 == 0 ? "application/json;as=Table;v=v1;g=meta.k8s.io"
                                        : "application/json");
  r.body = std::string(body);
  kobs::testing::FakeResponse w;
  cluster->http.Handle(r, w);
  if (w.status() < 200 || w.status() > 599) std::abort();
  return 0;
}
