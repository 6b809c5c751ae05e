// The HTTP face of the simulated API server: the Kubernetes REST paths (/api, /apis, their
// discovery documents in legacy and aggregated form, /version, health), request parsing
// (verbs, namespaces, subresources, query options, content types), authentication (bearer
// token or a verified client certificate), JSON and Table responses, `Status` errors, watch
// streams with bookmarks and 410 Expired, and pod logs. The semantics live in Api.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "net/http.h"
#include "sim/api.h"
#include "sim/pod_logs.h"

namespace kobs {
class MetricsRegistry;
class Counter;
class Gauge;
}  // namespace kobs

namespace kobs::sim {

struct HttpApiOptions {
  // Bearer token every request must carry ("" with no client CA: no authentication).
  std::string token;
  // Whether a verified client certificate authenticates a request (HTTPS with a client CA).
  bool accept_client_certs = true;
  // Bookmarks are sent after this long without an event (when the client allows them).
  std::chrono::milliseconds bookmark_interval{std::chrono::seconds(60)};
  // A watch without timeoutSeconds ends after this long (the client then re-watches).
  std::chrono::seconds max_watch{1800};
  std::string git_version = "v1.32.0-kobs-sim";
  // Serves GET /api/v1/nodes/<node>[:port]/proxy/<path> (the kubelet's endpoints): the JSON
  // body, or nullopt for 404. Unset: node proxying is not served.
  std::function<std::optional<nlohmann::json>(const std::string& node, const std::string& path)>
      node_proxy;
};

class HttpApi {
 public:
  HttpApi(Api& api, PodLogs& logs, HttpApiOptions options, MetricsRegistry& metrics);

  void Handle(const net::Request& request, net::ResponseWriter& w);
  // Ends running watches and log follows promptly (server shutdown).
  void Stop() { stopping_ = true; }

 private:
  struct Target;
  void Serve(const net::Request& request, net::ResponseWriter& w, const Target& t);
  void Discovery(const net::Request& request, net::ResponseWriter& w);
  void NodeProxy(const net::Request& request, net::ResponseWriter& w,
                 const std::vector<std::string>& segments);
  void Watch(const net::Request& request, net::ResponseWriter& w, const Target& t);
  void Logs(const net::Request& request, net::ResponseWriter& w, const Target& t);
  bool Authenticated(const net::Request& request) const;

  Api& api_;
  PodLogs& logs_;
  const HttpApiOptions options_;
  std::atomic<bool> stopping_{false};
  Gauge& watches_;
  Counter& watch_events_;
};

}  // namespace kobs::sim
