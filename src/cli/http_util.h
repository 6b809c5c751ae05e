// The HTTP plumbing every kobs process shares: a server on a "host:port" listen address, the
// URL to print for it, and the /healthz, /readyz and /metrics routes.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/metrics.h"
#include "net/http_server.h"

namespace kobs::cli {

absl::StatusOr<std::unique_ptr<net::HttpServer>> MakeServer(
    const std::string& listen, const std::string& name, MetricsRegistry& metrics,
    int workers = 4, uint64_t max_body = 64ull << 20,
    decltype(net::HttpServerOptions::error_body) error_body = nullptr);

// "http://host:port" for a listen address and the port actually bound.
std::string Url(const std::string& listen, int port, bool http = true);

// /healthz (always 200), /readyz (200, or 503 with the reason `not_ready` returns when it
// returns one), /metrics (Prometheus text).
void RouteHealth(net::HttpServer& server, MetricsRegistry& metrics,
                 std::function<std::string()> not_ready);

}  // namespace kobs::cli
