#include "cli/serve.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "chapi/clickhouse_endpoint.h"
#include "cli/http_util.h"
#include "cli/signals.h"
#include "collect/events_service.h"
#include "common/absl_compat.h"
#include "common/log.h"
#include "common/metrics.h"
#include "feed/feed_service.h"
#include "mcp/clickhouse_tools.h"
#include "mcp/diagnostic_tools.h"
#include "mcp/http_transport.h"
#include "mcp/server.h"
#include "net/http_server.h"
#include "otlp/grpc_receiver.h"
#include "otlp/http_receiver.h"
#include "otlp/ingest.h"
#include "store/embedded_store.h"
#include "store/instrumented_store.h"
#include "store/remote_store.h"
#include "store/schema.h"
#include "store/writer.h"

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

// What a newcomer reads first: where everything is and three queries that show the data.
void PrintWhereToLook(const std::string& api, const std::string& clickhouse,
                      const std::string& otlp, const std::string& mcp,
                      const std::string& kubeconfig, const std::vector<std::string>& scenarios) {
  std::string played;
  for (const auto& s : scenarios) played += (played.empty() ? "" : " ") + s;
  // The queries name this very binary, so they can be pasted as they are.
  std::error_code ec;
  std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec || self.empty()) self = "kobs";
  const std::string cwd = std::filesystem::current_path(ec).string() + "/";
  if (!ec && self.rfind(cwd, 0) == 0) self = self.substr(cwd.size());
  std::printf(R"(
================================================================================
 kobs is running on the embedded store, collecting a simulated cluster that plays:
   %s
 Events, pod logs and metrics flow in within a minute.

   health, metrics   %s/healthz  /readyz  /metrics
   event feed        %s/events   curl -N %s/notifications/   (SSE, every composition)
   ClickHouse HTTP   %s   (kobs sql "...", curl, clickhouse-client)
   OTLP/HTTP         %s
   MCP               %s
   the cluster       kubectl --kubeconfig %s get pods -A

 Try (`kobs sql` runs SQL on the ClickHouse endpoint):
   # a composition's events (the Krateo FireworksApp; a primary-key range)
   %s sql "SELECT Timestamp, Type, Reason, ObjectKind, ObjectName, Message FROM kobs_k8s_events WHERE CompositionId = (SELECT any(CompositionId) FROM kobs_k8s_events WHERE CompositionId != '') ORDER BY Timestamp DESC LIMIT 10"
   # a crash-looping pod's errors
   %s sql "SELECT Timestamp, SeverityText, Body FROM otel_logs WHERE ResourceAttributes['k8s.pod.name'] = 'demo-crashloop' AND SeverityText IN ('ERROR', 'FATAL') ORDER BY Timestamp DESC LIMIT 10"
   # memory against limits
   %s sql "SELECT ResourceAttributes['k8s.namespace.name'] AS ns, ResourceAttributes['k8s.pod.name'] AS pod, round(max(Value), 2) AS memory_of_limit FROM otel_metrics_gauge WHERE MetricName = 'k8s.container.memory_limit_utilization' AND TimeUnix > now() - INTERVAL 10 MINUTE GROUP BY ns, pod ORDER BY memory_of_limit DESC LIMIT 10"

 Ctrl-C stops everything.
================================================================================

)",
              played.empty() ? "(no scenarios)" : played.c_str(), api.c_str(), api.c_str(),
              api.c_str(), clickhouse.c_str(),
              otlp.c_str(), mcp.c_str(), kubeconfig.c_str(), self.c_str(), self.c_str(),
              self.c_str());
  std::fflush(stdout);
}

}  // namespace

// Every SSE client holds a descriptor: lift the soft limit to the hard one, as Go's runtime
// does for every server.
static void RaiseFileLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &lim);
  }
}

int RunServe(const KobsConfig& config, std::optional<sim::SimOptions> sim_options) {
  const auto start = std::chrono::steady_clock::now();
  RaiseFileLimit();
  const sigset_t signals = BlockShutdownSignals();

  MetricsRegistry metrics;
  KobsConfig c = config;
  // Single-node mode: the simulated cluster in-process, collected like a real one.
  std::unique_ptr<sim::SimServer> sim;
  if (sim_options) {
    auto s = sim::SimServer::Create(*sim_options, metrics);
    if (!s.ok()) return Fail("cannot create the simulated cluster", s.status());
    sim = std::move(*s);
    if (absl::Status st = sim->Start(); !st.ok()) {
      return Fail("cannot start the simulated cluster", st);
    }
    c.k8s.kubeconfig = sim->kubeconfig_path();
    c.k8s.in_cluster = false;
    if (c.k8s.pod_logs_dir.empty()) c.k8s.pod_logs_dir = sim->log_dir();
    Log(log(), spdlog::level::info, "simulated cluster running",
        {{"url", sim->server_url()}, {"kubeconfig", sim->kubeconfig_path()}});
  }
  RegisterProcessMetrics(metrics);
  metrics.GetGauge("kobs_build_info", "Build information.", {{"version", KOBS_VERSION}}).Set(1);
  Gauge& ready_gauge = metrics.GetGauge("kobs_ready", "1 once the server is ready.");
  Gauge& schema_gauge = metrics.GetGauge("kobs_schema_version", "Highest applied migration.");

  auto backend = OpenStore(c);
  if (!backend.ok()) return Fail("cannot open the store", backend.status());
  store::InstrumentedStore store(**backend, metrics);
  std::atomic<bool> ready{false};

  auto api = MakeServer(c.api_listen, "api", metrics, /*workers=*/8, /*max_body=*/1 << 20);
  if (!api.ok()) return Fail("cannot listen for the API", api.status());
  RouteHealth(**api, metrics, [&ready]() -> std::string {
    return ready.load() ? "" : "schema not in place yet";
  });
  // The event feed: /events and SSE /notifications/ from kobs_k8s_events, woken by inserts.
  std::unique_ptr<feed::FeedService> feed;
  if (c.feed.enabled) {
    feed = std::make_unique<feed::FeedService>(store, c.schema.database, c.feed, metrics);
    feed->Register(**api);
    store.SetInsertObserver([f = feed.get()](std::string_view table) { f->OnInsert(table); });
  }

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
  if (feed) {
    if (absl::Status st = feed->Start(); !st.ok()) return Fail("cannot start the event feed", st);
  }

  // OTLP ingest: receivers -> Ingest (decode) -> Writer (batch, spool) -> store.
  auto writer = store::Writer::Create(store, c.writer, metrics);
  if (!writer.ok()) return Fail("cannot start the writer", writer.status());
  otlp::Ingest ingest(
      [w = writer->get(), db = c.schema.database](otlp::Decoded& rows) {
        return w->Write(otlp::ToTableRows(rows, db));
      },
      metrics);
  otlp::HttpReceiver otlp_http_receiver(ingest, c.otlp);
  std::unique_ptr<net::HttpServer> otlp_http;
  if (!c.otlp.http_listen.empty()) {
    auto server = MakeServer(c.otlp.http_listen, "otlp", metrics, c.otlp.http_workers,
                             c.otlp.max_request_bytes, otlp::OtlpErrorBody);
    if (!server.ok()) return Fail("cannot listen for OTLP/HTTP", server.status());
    otlp_http = std::move(*server);
    otlp_http_receiver.Register(*otlp_http);
    if (absl::Status st = otlp_http->Start(); !st.ok()) return Fail("cannot start OTLP/HTTP", st);
  }
  for (const std::string& listen : {c.otlp.http_listen, c.otlp.grpc_listen}) {
    if (!listen.empty() && c.otlp.bearer_token.empty() && !IsLoopbackListen(listen)) {
      Log(log(), spdlog::level::warn,
          "OTLP accepts unauthenticated senders from the network: set otlp.bearer_token",
          {{"listen", listen}});
    }
  }
  // MCP: Streamable HTTP at /mcp over the store's tools.
  std::vector<mcp::Tool> tools = mcp::DiagnosticTools(store, c.mcp);
  for (auto& t : mcp::ClickHouseTools(store, c.mcp)) tools.push_back(std::move(t));
  mcp::McpServer mcp_server("kobs", KOBS_VERSION, std::move(tools), metrics);
  mcp::HttpTransport mcp_transport(mcp_server, c.mcp);
  std::unique_ptr<net::HttpServer> mcp_http;
  if (!c.mcp.listen.empty()) {
    auto server = MakeServer(c.mcp.listen, "mcp", metrics, /*workers=*/8, /*max_body=*/4ull << 20);
    if (!server.ok()) return Fail("cannot listen for MCP", server.status());
    mcp_http = std::move(*server);
    mcp_transport.Register(*mcp_http);
    mcp_http->Route("/health", [](const net::Request&, net::ResponseWriter& w) {
      net::Reply(w, 200, "text/plain", "ok\n");
    });
    if (absl::Status st = mcp_http->Start(); !st.ok()) return Fail("cannot start MCP", st);
  }
  std::unique_ptr<otlp::GrpcReceiver> otlp_grpc;
  if (!c.otlp.grpc_listen.empty()) {
    auto g = otlp::GrpcReceiver::Start(ingest, c.otlp);
    if (!g.ok()) return Fail("cannot listen for OTLP/gRPC", g.status());
    otlp_grpc = std::move(*g);
  }
  // Kubernetes events, when a cluster is configured (leader-elected among replicas).
  std::unique_ptr<collect::EventsService> k8s_events;
  if (c.k8s.enabled()) {
    auto service = collect::EventsService::Create(c.k8s, **writer, metrics);
    if (!service.ok()) return Fail("cannot connect to the cluster", service.status());
    k8s_events = std::move(*service);
    if (absl::Status st = k8s_events->Start(); !st.ok()) {
      return Fail("cannot collect from the cluster", st);
    }
  }
  ready = true;
  ready_gauge.Set(1);
  const double startup_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  Log(log(), spdlog::level::info, "ready",
      {{"store", std::string((*backend)->backend())},
       {"api", Url(c.api_listen, (*api)->port())},
       {"clickhouse_http", clickhouse ? Url(c.clickhouse_listen, clickhouse->port()) : "disabled"},
       {"otlp_http", otlp_http ? Url(c.otlp.http_listen, otlp_http->port()) : "disabled"},
       {"otlp_grpc", otlp_grpc ? Url(c.otlp.grpc_listen, otlp_grpc->port(), false) : "disabled"},
       {"mcp", mcp_http ? Url(c.mcp.listen, mcp_http->port()) + "/mcp" : "disabled"},
       {"feed", feed ? Url(c.api_listen, (*api)->port()) + "/notifications/" : "disabled"},
       {"k8s_events", k8s_events ? (c.k8s.in_cluster ? "in-cluster" : c.k8s.kubeconfig)
                                 : "disabled"},
       {"schema_version", std::to_string(schema->current_version)},
       {"legacy_logs_layout", schema->logs_legacy_layout ? "true" : "false"},
       {"startup_ms", fmt::format("{:.0f}", startup_ms)}});
  if (sim) {
    PrintWhereToLook(Url(c.api_listen, (*api)->port()),
                     clickhouse ? Url(c.clickhouse_listen, clickhouse->port()) : "disabled",
                     otlp_http ? Url(c.otlp.http_listen, otlp_http->port()) : "disabled",
                     mcp_http ? Url(c.mcp.listen, mcp_http->port()) + "/mcp" : "disabled",
                     std::filesystem::absolute(sim->kubeconfig_path()).string(),
                     sim_options->scenarios);
  }

  const char* sig = WaitForShutdownSignal(signals);
  Log(log(), spdlog::level::info, "shutting down", {{"signal", sig}});
  ready = false;
  ready_gauge.Set(0);
  // Receivers first (their in-flight requests finish and are acknowledged), then the writer
  // flushes what it holds, then the rest.
  if (otlp_http) otlp_http->Stop(c.shutdown_grace);
  if (otlp_grpc) otlp_grpc->Stop(c.shutdown_grace);
  if (k8s_events) k8s_events->Stop();  // writes what it holds, releases the Lease
  if (sim) sim->Stop();
  mcp_transport.Shutdown();  // ends the legacy SSE streams
  if (feed) feed->Stop();    // ends the feed's streams (browsers reconnect with their last id)
  if (mcp_http) mcp_http->Stop(c.shutdown_grace);
  (*writer)->Stop();
  if (clickhouse) clickhouse->Stop(c.shutdown_grace);
  (*api)->Stop(c.shutdown_grace);
  backend->reset();  // closes every chDB connection before static destructors run
  Log(log(), spdlog::level::info, "stopped");
  return 0;
}

}  // namespace kobs::cli
