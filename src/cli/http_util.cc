#include "cli/http_util.h"

#include <fmt/format.h>

#include "cli/config.h"

namespace kobs::cli {

absl::StatusOr<std::unique_ptr<net::HttpServer>> MakeServer(const std::string& listen,
                                                            const std::string& name,
                                                            MetricsRegistry& metrics,
                                                            int workers,
                                                            uint64_t max_body,
                                                            decltype(net::HttpServerOptions::error_body)
                                                                error_body) {
  net::HttpServerOptions o;
  absl::Status s = SplitHostPort(listen, &o.host, &o.port);
  if (!s.ok()) return s;
  o.name = name;
  o.worker_threads = workers;
  o.max_body_bytes = max_body;
  o.error_body = std::move(error_body);
  return net::HttpServer::Create(o, metrics);
}

// "http://host:port" for a listen address and the port actually bound.
std::string Url(const std::string& listen, int port, bool http) {
  std::string host = listen.substr(0, listen.rfind(':'));
  return fmt::format("{}{}:{}", http ? "http://" : "", host, port);
}

void RouteHealth(net::HttpServer& server, MetricsRegistry& metrics,
                 std::function<std::string()> not_ready) {
  server.Route("/healthz", [](const net::Request&, net::ResponseWriter& w) {
    net::Reply(w, 200, "text/plain; charset=utf-8", "ok\n");
  });
  server.Route("/readyz", [not_ready = std::move(not_ready)](const net::Request&,
                                                             net::ResponseWriter& w) {
    std::string reason = not_ready();
    if (reason.empty()) {
      net::Reply(w, 200, "text/plain; charset=utf-8", "ready\n");
    } else {
      net::Reply(w, 503, "text/plain; charset=utf-8", "not ready: " + reason + "\n");
    }
  });
  server.Route("/metrics", [&metrics](const net::Request&, net::ResponseWriter& w) {
    net::Reply(w, 200, "text/plain; version=0.0.4; charset=utf-8", metrics.Render());
  });
}

}  // namespace kobs::cli
