#include "sim/sim_server.h"

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <fmt/format.h>

#include "absl/strings/escaping.h"
#include "common/absl_compat.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "net/http_server.h"
#include "net/tls.h"
#include "sim/api.h"
#include "sim/controllers.h"
#include "sim/garbage_collector.h"
#include "sim/http_api.h"
#include "sim/object_meta.h"
#include "sim/node_status.h"
#include "sim/pod_logs.h"
#include "sim/scenario.h"

namespace kobs::sim {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

absl::StatusOr<std::string> ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return absl::NotFoundError(p.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status WriteFile(const fs::path& p, std::string_view data, bool secret) {
  fs::path tmp = p;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << data;
    if (!out) return absl::InternalError(fmt::format("cannot write {}", tmp.string()));
  }
  if (secret) {
    fs::permissions(tmp, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
  }
  std::error_code ec;
  fs::rename(tmp, p, ec);
  if (ec) return absl::InternalError(fmt::format("rename {}: {}", p.string(), ec.message()));
  return absl::OkStatus();
}

std::string RandomToken() {
  std::random_device rd;
  std::string t;
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 40; ++i) t.push_back(kHex[rd() % 16]);
  return t;
}

// The pair in <dir>/<name>.crt/.key, made by `make` when absent.
absl::StatusOr<net::KeyPair> LoadOrMake(const fs::path& dir, const std::string& name,
                                        const std::function<absl::StatusOr<net::KeyPair>()>& make) {
  absl::StatusOr<std::string> cert = ReadFile(dir / (name + ".crt"));
  absl::StatusOr<std::string> key = ReadFile(dir / (name + ".key"));
  if (cert.ok() && key.ok()) return net::KeyPair{*cert, *key};
  KOBS_ASSIGN_OR_RETURN(net::KeyPair pair, make());
  KOBS_RETURN_IF_ERROR(WriteFile(dir / (name + ".crt"), pair.cert_pem, false));
  KOBS_RETURN_IF_ERROR(WriteFile(dir / (name + ".key"), pair.key_pem, true));
  return pair;
}

}  // namespace

struct SimServer::Impl {
  SimOptions options;
  MetricsRegistry* metrics = nullptr;
  std::string token;
  std::string kubeconfig;
  net::KeyPair ca;
  std::unique_ptr<ObjectStore> store;
  std::unique_ptr<ResourceRegistry> registry;
  std::unique_ptr<Api> api;
  std::string log_dir;
  std::unique_ptr<PodLogs> logs;
  std::vector<Scenario> scenarios;  // until Start
  std::unique_ptr<ScenarioRunner> runner;
  std::unique_ptr<HttpApi> http_api;
  std::unique_ptr<GarbageCollector> gc;
  std::unique_ptr<ControllerManager> controllers;
  std::unique_ptr<net::HttpServer> server;
  bool started = false;

  std::string Url() const {
    std::string host = options.host.find(':') != std::string::npos ? "[" + options.host + "]"
                                                                     : options.host;
    if (host == "0.0.0.0") host = "127.0.0.1";
    return fmt::format("{}://{}:{}", options.tls ? "https" : "http", host, server->port());
  }
};

SimServer::SimServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SimServer::~SimServer() { Stop(); }

absl::StatusOr<std::unique_ptr<SimServer>> SimServer::Create(SimOptions options,
                                                             MetricsRegistry& metrics) {
  auto impl = std::make_unique<Impl>();
  impl->metrics = &metrics;
  fs::path dir = options.dir;
  std::error_code ec;
  fs::create_directories(dir / "pki", ec);
  if (ec) return absl::InvalidArgumentError(fmt::format("sim dir {}: {}", dir.string(), ec.message()));
  // The token: given, kept from an earlier start, or new.
  impl->token = options.token;
  // Plain HTTP without a token given: no authentication, as the old insecure port (kubectl
  // never sends a bearer token over plain HTTP).
  if (impl->token.empty() && options.tls) {
    absl::StatusOr<std::string> kept = ReadFile(dir / "token");
    impl->token = kept.ok() ? std::string(absl::StripAsciiWhitespace(*kept)) : RandomToken();
    if (!kept.ok()) KOBS_RETURN_IF_ERROR(WriteFile(dir / "token", impl->token + "\n", true));
  }
  net::HttpServerOptions http;
  http.host = options.host;
  http.port = options.port;
  http.name = "sim";
  http.worker_threads = options.max_requests;
  http.idle_timeout = std::chrono::minutes(5);
  http.max_body_bytes = 3 << 20;  // the API server's request limit (3 MiB)
  if (options.tls) {
    KOBS_ASSIGN_OR_RETURN(impl->ca, LoadOrMake(dir / "pki", "ca", [] {
                            return net::GenerateCa("kobs-sim-ca");
                          }));
    const net::KeyPair& ca = impl->ca;
    KOBS_ASSIGN_OR_RETURN(net::KeyPair serving, LoadOrMake(dir / "pki", "apiserver", [&] {
                            return net::IssueCertificate(
                                ca, {.common_name = "kube-apiserver",
                                     .dns_names = {"localhost", "kubernetes",
                                                   "kubernetes.default",
                                                   "kubernetes.default.svc"},
                                     .ip_addresses = {"127.0.0.1", "::1"},
                                     .days = 3650});
                          }));
    KOBS_ASSIGN_OR_RETURN(net::KeyPair admin, LoadOrMake(dir / "pki", "admin", [&] {
                            return net::IssueCertificate(
                                ca, {.common_name = "kobs-sim-admin",
                                     .organizations = {"system:masters"},
                                     .server = false,
                                     .client = true,
                                     .days = 3650});
                          }));
    (void)admin;
    http.tls_cert_pem = serving.cert_pem;
    http.tls_key_pem = serving.key_pem;
    http.tls_client_ca_pem = ca.cert_pem;
  }
  KOBS_ASSIGN_OR_RETURN(impl->store,
                        ObjectStore::Open({.history = options.history,
                                           .dir = options.persist ? (dir / "state").string() : ""}));
  impl->registry = std::make_unique<ResourceRegistry>();
  impl->api = std::make_unique<Api>(*impl->store, *impl->registry);
  impl->api->RestoreCustomTypes();
  if (options.log_dir.empty()) {
    impl->log_dir = options.persist ? (dir / "pods").string() : "";
  } else if (options.log_dir != "-") {
    impl->log_dir = options.log_dir;
  }
  impl->logs = std::make_unique<PodLogs>(PodLogsOptions{.dir = impl->log_dir});
  Impl* raw = impl.get();
  impl->http_api = std::make_unique<HttpApi>(
      *impl->api, *impl->logs,
      HttpApiOptions{.token = impl->token,
                     .bookmark_interval = options.bookmark_interval,
                     .node_proxy = [raw](const std::string& node,
                                         const std::string& path) -> std::optional<json> {
                       if (raw->controllers == nullptr) return std::nullopt;
                       return NodeProxy(*raw->controllers, node, path);
                     }},
      metrics);
  impl->gc = std::make_unique<GarbageCollector>(*impl->api, *impl->logs);
  if (options.time_factor <= 0) {
    return absl::InvalidArgumentError(
        fmt::format("time factor {}: must be positive", options.time_factor));
  }
  if (options.controllers) {
    impl->controllers = std::make_unique<ControllerManager>(
        *impl->api, *impl->logs,
        ControllerOptions{.node_name = options.node_name,
                          .node = {.memory_bytes = options.node_memory,
                                   .log_dir = impl->log_dir.empty() ? dir.string() : impl->log_dir},
                          .time_factor = options.time_factor,
                          .missing_images = options.missing_images});
  }
  for (const std::string& name : options.scenarios) {
    KOBS_ASSIGN_OR_RETURN(Scenario sc, LoadScenario(name));
    impl->scenarios.push_back(std::move(sc));
  }
  impl->runner = std::make_unique<ScenarioRunner>(*impl->api, options.time_factor, metrics);
  // The namespaces every cluster starts with.
  auto ns_type = impl->registry->Find("", "v1", "namespaces");
  for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
    absl::StatusOr<json> made =
        impl->api->Create(*ns_type, "", {{"metadata", {{"name", ns}}}});
    if (!made.ok() && made.status().code() != absl::StatusCode::kAlreadyExists) {
      return made.status();
    }
  }
  KOBS_ASSIGN_OR_RETURN(impl->server, net::HttpServer::Create(http, metrics));
  HttpApi* api = impl->http_api.get();
  impl->server->Route("/metrics", [&metrics](const net::Request&, net::ResponseWriter& w) {
    net::Reply(w, 200, "text/plain; version=0.0.4; charset=utf-8", metrics.Render());
  });
  impl->server->Route(
      "/", [api](const net::Request& r, net::ResponseWriter& w) { api->Handle(r, w); },
      /*prefix=*/true);
  impl->options = std::move(options);
  // The kubeconfig, pointing at the port actually bound.
  impl->kubeconfig =
      impl->options.kubeconfig.empty() ? (dir / "kubeconfig").string() : impl->options.kubeconfig;
  std::string cluster = fmt::format("    server: {}\n", impl->Url());
  if (impl->options.tls) {
    cluster += fmt::format("    certificate-authority-data: {}\n",
                           absl::Base64Escape(impl->ca.cert_pem));
  }
  std::string kubeconfig = fmt::format(
      "apiVersion: v1\nkind: Config\nclusters:\n- name: kobs-sim\n  cluster:\n{}"
      "users:\n- name: kobs-sim-admin\n  user:{}\n"
      "contexts:\n- name: kobs-sim\n  context:\n    cluster: kobs-sim\n"
      "    user: kobs-sim-admin\n    namespace: default\n"
      "current-context: kobs-sim\n",
      cluster,
      impl->token.empty() ? std::string(" {}") : fmt::format("\n    token: {}", impl->token));
  KOBS_RETURN_IF_ERROR(WriteFile(impl->kubeconfig, kubeconfig, true));
  return std::unique_ptr<SimServer>(new SimServer(std::move(impl)));
}

absl::Status SimServer::Start() {
  KOBS_RETURN_IF_ERROR(impl_->server->Start());
  impl_->gc->Start();
  if (impl_->controllers) impl_->controllers->Start();
  if (!impl_->scenarios.empty()) impl_->runner->Start(std::move(impl_->scenarios));
  impl_->started = true;
  return absl::OkStatus();
}

void SimServer::Stop() {
  if (impl_ == nullptr || !impl_->started) return;
  impl_->started = false;
  impl_->http_api->Stop();
  impl_->runner->Stop();
  impl_->gc->Stop();
  if (impl_->controllers) impl_->controllers->Stop();
  impl_->server->Stop(std::chrono::seconds(2));
  impl_->store->Close();
}

uint16_t SimServer::port() const { return impl_->server->port(); }
const std::string& SimServer::kubeconfig_path() const { return impl_->kubeconfig; }
const std::string& SimServer::token() const { return impl_->token; }
std::string SimServer::server_url() const { return impl_->Url(); }
const std::string& SimServer::ca_pem() const { return impl_->ca.cert_pem; }
Api& SimServer::api() { return *impl_->api; }
PodLogs& SimServer::logs() { return *impl_->logs; }
const std::string& SimServer::log_dir() const { return impl_->log_dir; }
ScenarioRunner& SimServer::scenarios() { return *impl_->runner; }

}  // namespace kobs::sim
