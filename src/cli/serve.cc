#include "cli/serve.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <memory>

#include <fmt/format.h>

#include "chapi/clickhouse_endpoint.h"
#include "common/absl_compat.h"
#include "common/log.h"
#include "common/metrics.h"
#include "net/http_server.h"
#include "store/embedded_store.h"
#include "store/instrumented_store.h"
#include "store/remote_store.h"
#include "store/schema.h"

#ifndef KOBS_VERSION
#define KOBS_VERSION "dev"
#endif

namespace kobs::cli {
namespace {

spdlog::logger& log() { return Logger("serve"); }

int Fail(const std::string& what, const absl::Status& status) {
  Log(log(), spdlog::level::critical, what, {{"error", ToStd(status.message())},
                                            {"code", absl::StatusCodeToString(status.code())}});
  return 1;
}

absl::StatusOr<std::unique_ptr<store::Store>> OpenStore(const KobsConfig& c) {
  if (c.store_mode == "remote") {
    auto remote = store::RemoteStore::Create(c.remote);
    if (!remote.ok()) return remote.status();
    if (absl::Status ping = (*remote)->Ping(); !ping.ok()) {
      return absl::UnavailableError(
          fmt::format("ClickHouse at {} does not answer: {}", c.remote.url, ping.message()));
    }
    return std::unique_ptr<store::Store>(std::move(*remote));
  }
  auto embedded = store::EmbeddedStore::Create(c.embedded);
  if (!embedded.ok()) return embedded.status();
  return std::unique_ptr<store::Store>(std::move(*embedded));
}

absl::StatusOr<std::unique_ptr<net::HttpServer>> MakeServer(const std::string& listen,
                                                            const std::string& name,
                                                            MetricsRegistry& metrics) {
  net::HttpServerOptions o;
  absl::Status s = SplitHostPort(listen, &o.host, &o.port);
  if (!s.ok()) return s;
  o.name = name;
  return net::HttpServer::Create(o, metrics);
}

}  // namespace

int RunServe(const KobsConfig& c) {
  const auto start = std::chrono::steady_clock::now();
  // SIGINT/SIGTERM are blocked in every thread (threads inherit the mask) and taken with
  // sigwait() below, so shutdown runs in an ordinary context.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  MetricsRegistry metrics;
  RegisterProcessMetrics(metrics);
  metrics.GetGauge("kobs_build_info", "Build information.", {{"version", KOBS_VERSION}}).Set(1);
  Gauge& ready_gauge = metrics.GetGauge("kobs_ready", "1 once the server is ready.");
  Gauge& schema_gauge = metrics.GetGauge("kobs_schema_version", "Highest applied migration.");

  auto backend = OpenStore(c);
  if (!backend.ok()) return Fail("cannot open the store", backend.status());
  store::InstrumentedStore store(**backend, metrics);
  std::atomic<bool> ready{false};

  auto api = MakeServer(c.api_listen, "api", metrics);
  if (!api.ok()) return Fail("cannot listen for the API", api.status());
  (*api)->Route("/healthz", [](const net::Request&, net::ResponseWriter& w) {
    net::Reply(w, 200, "text/plain; charset=utf-8", "ok\n");
  });
  (*api)->Route("/readyz", [&ready](const net::Request&, net::ResponseWriter& w) {
    if (ready.load()) {
      net::Reply(w, 200, "text/plain; charset=utf-8", "ready\n");
    } else {
      net::Reply(w, 503, "text/plain; charset=utf-8", "not ready: schema not in place yet\n");
    }
  });
  (*api)->Route("/metrics", [&metrics](const net::Request&, net::ResponseWriter& w) {
    net::Reply(w, 200, "text/plain; version=0.0.4; charset=utf-8", metrics.Render());
  });

  std::unique_ptr<chapi::ClickHouseEndpoint> endpoint;
  std::unique_ptr<net::HttpServer> clickhouse;
  if (!c.clickhouse_listen.empty()) {
    endpoint = std::make_unique<chapi::ClickHouseEndpoint>(store, c.clickhouse, metrics);
    auto server = MakeServer(c.clickhouse_listen, "clickhouse", metrics);
    if (!server.ok()) return Fail("cannot listen for the ClickHouse endpoint", server.status());
    clickhouse = std::move(*server);
    auto* e = endpoint.get();
    clickhouse->Route("/", [e](auto& rq, auto& rs) { e->HandleQuery(rq, rs); }, /*prefix=*/true);
    clickhouse->Route("/ping", [e](auto& rq, auto& rs) { e->HandlePing(rq, rs); });
    clickhouse->Route("/replicas_status", [e](auto& rq, auto& rs) { e->HandlePing(rq, rs); });
    clickhouse->Route("/events", [e](auto& rq, auto& rs) { e->HandleEvents(rq, rs); });
  }

  if (absl::Status s = (*api)->Start(); !s.ok()) return Fail("cannot start the API", s);
  if (clickhouse) {
    if (absl::Status s = clickhouse->Start(); !s.ok()) {
      return Fail("cannot start the ClickHouse endpoint", s);
    }
  }

  auto schema = store::EnsureSchema(store, c.schema);
  if (!schema.ok()) return Fail("schema migration failed", schema.status());
  schema_gauge.Set(schema->current_version);
  ready = true;
  ready_gauge.Set(1);
  const double startup_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  Log(log(), spdlog::level::info, "ready",
      {{"store", std::string((*backend)->backend())},
       {"api", fmt::format("http://{}:{}", c.api_listen.substr(0, c.api_listen.rfind(':')),
                           (*api)->port())},
       {"clickhouse_http",
        clickhouse ? fmt::format("http://{}:{}",
                                 c.clickhouse_listen.substr(0, c.clickhouse_listen.rfind(':')),
                                 clickhouse->port())
                   : "disabled"},
       {"schema_version", std::to_string(schema->current_version)},
       {"legacy_logs_layout", schema->logs_legacy_layout ? "true" : "false"},
       {"startup_ms", fmt::format("{:.0f}", startup_ms)}});

  int sig = 0;
  sigwait(&signals, &sig);
  Log(log(), spdlog::level::info, "shutting down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  ready = false;
  ready_gauge.Set(0);
  if (clickhouse) clickhouse->Stop(c.shutdown_grace);
  (*api)->Stop(c.shutdown_grace);
  backend->reset();  // closes every chDB connection before static destructors run
  Log(log(), spdlog::level::info, "stopped");
  return 0;
}

}  // namespace kobs::cli
