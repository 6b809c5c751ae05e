// kobs: the one binary. main() is the composition root: the only place that reads the
// environment and knows concrete types (style.md "Config and DI").
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/agent.h"
#include "cli/config.h"
#include "cli/serve.h"
#include "cli/sim.h"
#include "sim/container_profile.h"
#include "sim/scenario.h"
#include "common/absl_compat.h"
#include "common/log.h"
#include "common/metrics.h"
#include "mcp/clickhouse_tools.h"
#include "mcp/diagnostic_tools.h"
#include "mcp/server.h"
#include "mcp/stdio_transport.h"
#include "store/chdb_api.h"
#include "store/embedded_store.h"
#include "store/errors.h"
#include "store/remote_store.h"

#ifndef KOBS_VERSION
#define KOBS_VERSION "dev"
#endif

namespace kobs::cli {
namespace {

const char* GetEnv(const char* name) { return std::getenv(name); }

// The running server's ClickHouse endpoint: `url`, else the one clickhouse_http.listen names.
std::string EndpointUrl(const KobsConfig& config, std::string url) {
  if (url.empty() && !config.clickhouse_listen.empty()) {
    std::string host;
    uint16_t port;
    if (SplitHostPort(config.clickhouse_listen, &host, &port).ok()) {
      if (host == "0.0.0.0" || host == "::") host = "127.0.0.1";
      url = fmt::format("http://{}:{}", host.find(':') != std::string::npos ? "[" + host + "]" : host,
                        port);
    }
  }
  return url;
}

absl::StatusOr<std::unique_ptr<store::Store>> RemoteClient(const KobsConfig& config,
                                                           const std::string& url) {
  store::RemoteStoreOptions ro;
  ro.url = url;
  ro.user = config.clickhouse.user;
  ro.password = config.clickhouse.password;
  ro.connect_timeout = std::chrono::milliseconds(1000);
  auto remote = store::RemoteStore::Create(ro);
  if (!remote.ok()) return remote.status();
  return std::unique_ptr<store::Store>(std::move(*remote));
}

// Runs `query` on the running server's ClickHouse endpoint, or on the data directory when
// no server answers; prints the output to stdout.
int RunSql(const KobsConfig& config, const std::string& query, const std::string& format,
           const std::vector<std::string>& params, std::string url) {
  store::QueryOptions options;
  options.format = format;
  for (const auto& p : params) {
    size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::fprintf(stderr, "kobs sql: --param wants name=value, got '%s'\n", p.c_str());
      return 2;
    }
    options.params.push_back(store::Param::Raw(p.substr(0, eq), p.substr(eq + 1)));
  }
  auto print = [](std::string_view chunk) {
    std::fwrite(chunk.data(), 1, chunk.size(), stdout);
    return absl::OkStatus();
  };
  url = EndpointUrl(config, url);
  if (!url.empty()) {
    auto remote = RemoteClient(config, url);
    if (remote.ok()) {
      auto r = (*remote)->QueryStream(query, options, print);
      if (r.ok()) return 0;
      if (!absl::IsUnavailable(r.status())) {
        std::fprintf(stderr, "kobs sql: %s\n", std::string(ToStd(r.status().message())).c_str());
        return 1;
      }
    }
  }
  // No server answered: open the data directory ourselves.
  auto embedded = store::EmbeddedStore::Create(config.embedded);
  if (!embedded.ok()) {
    std::fprintf(stderr, "kobs sql: no kobs server answered at %s, and %s\n",
                 url.empty() ? "(no endpoint configured)" : url.c_str(),
                 std::string(ToStd(embedded.status().message())).c_str());
    return 1;
  }
  auto r = (*embedded)->QueryStream(query, options, print);
  (*embedded)->Close();
  if (!r.ok()) {
    std::fprintf(stderr, "kobs sql: %s\n", std::string(ToStd(r.status().message())).c_str());
    return 1;
  }
  return 0;
}

// The MCP server on stdin/stdout, over the running server's ClickHouse endpoint, or over the
// data directory when no server answers.
int RunMcpStdio(const KobsConfig& config, std::string url) {
  std::unique_ptr<store::Store> store;
  url = EndpointUrl(config, url);
  if (!url.empty()) {
    auto remote = RemoteClient(config, url);
    if (remote.ok() && store::QueryScalar(**remote, "SELECT 1").ok()) store = std::move(*remote);
  }
  std::unique_ptr<store::EmbeddedStore> embedded;
  if (store == nullptr) {
    auto opened = store::EmbeddedStore::Create(config.embedded);
    if (!opened.ok()) {
      std::fprintf(stderr, "kobs mcp: no kobs server answered at %s, and %s\n",
                   url.empty() ? "(no endpoint configured)" : url.c_str(),
                   std::string(ToStd(opened.status().message())).c_str());
      return 1;
    }
    embedded = std::move(*opened);
  }
  store::Store& s = store != nullptr ? *store : *embedded;
  MetricsRegistry metrics;
  std::vector<mcp::Tool> tools = mcp::DiagnosticTools(s, config.mcp);
  for (auto& t : mcp::ClickHouseTools(s, config.mcp)) tools.push_back(std::move(t));
  mcp::McpServer server("kobs", KOBS_VERSION, std::move(tools), metrics);
  int rc = mcp::ServeStdio(server, std::cin, std::cout);
  if (embedded != nullptr) embedded->Close();
  return rc;
}

int RunVersion(const KobsConfig& config) {
  std::printf("kobs %s\n", KOBS_VERSION);
  std::string lib = config.embedded.library.empty() ? store::DefaultChdbLibrary()
                                                    : config.embedded.library;
  auto api = store::chdb::Load(lib);
  if (api.ok()) {
    std::printf("chDB %s (%s)\n", (*api)->version(), lib.c_str());
  } else {
    std::printf("chDB not available: %s\n", std::string(ToStd(api.status().message())).c_str());
  }
  return 0;
}

}  // namespace
}  // namespace kobs::cli

int main(int argc, char** argv) {
  using namespace kobs::cli;
  CLI::App app{"kobs: Kubernetes observability and closed-loop remediation on ClickHouse"};
  app.require_subcommand(1);
  std::string config_path;
  app.add_option("-c,--config", config_path,
                 "Configuration file (default: ./kobs.yaml when it exists; KOBS_CONFIG)");

  CLI::App* serve = app.add_subcommand("serve", "Run the server: store, ClickHouse endpoint, APIs");
  std::string serve_kubeconfig;
  serve->add_option("--kubeconfig", serve_kubeconfig,
                    "Collect from the cluster of this kubeconfig (k8s.kubeconfig)");
  bool serve_sim = false;
  serve->add_flag("--sim", serve_sim,
                  "Single-node mode: run the simulated cluster in-process and collect its "
                  "events, pod logs and metrics (the node agent in-process); prints where to "
                  "look once ready");
  kobs::sim::SimOptions serve_sim_options;
  serve_sim_options.dir = "kobs-sim";
  serve->add_option("--sim-dir", serve_sim_options.dir,
                    "The simulated cluster's directory: state, PKI, kubeconfig, pod logs")
      ->capture_default_str();
  std::string serve_sim_listen = "127.0.0.1:6443";
  serve->add_option("--sim-listen", serve_sim_listen, "Its API server's host:port")
      ->capture_default_str();
  serve->add_option("--sim-scenario", serve_sim_options.scenarios,
                    "A scenario it plays (repeatable; default: every built-in one; \"none\" "
                    "for none; `kobs sim --list-scenarios` lists them)");
  CLI::App* agent = app.add_subcommand(
      "agent", "Run the node agent: this node's pod logs and kubelet and host metrics, shipped "
               "to the server over OTLP (options: agent.*)");
  std::string agent_kubeconfig;
  agent->add_option("--kubeconfig", agent_kubeconfig,
                    "Cluster of this kubeconfig (k8s.kubeconfig; in a pod: k8s.in_cluster)");
  CLI::App* sql = app.add_subcommand(
      "sql", "Run SQL on the running server's ClickHouse endpoint, or on the data directory");
  std::string query, format, url;
  std::vector<std::string> params;
  sql->add_option("query", query, "The SQL statement")->required();
  sql->add_option("-f,--format", format, "Output format (default: PrettyCompact on a terminal, "
                                         "TabSeparated otherwise)");
  sql->add_option("-p,--param", params, "Bind {name:Type}: --param name=value (repeatable)");
  sql->add_option("--url", url, "ClickHouse endpoint to use (default: from clickhouse_http.listen)");
  CLI::App* mcp = app.add_subcommand(
      "mcp", "Serve MCP on stdin/stdout (for clients that start their servers), over the "
             "running server's data or the data directory");
  mcp->add_option("--url", url, "ClickHouse endpoint to use (default: from clickhouse_http.listen)");
  CLI::App* sim_cmd = app.add_subcommand(
      "sim", "Run the simulated Kubernetes API server (kubectl works against it)");
  kobs::sim::SimOptions sim_options;
  std::string sim_listen = "127.0.0.1:6443";
  sim_cmd->add_option("--listen", sim_listen, "host:port to listen on (port 0: any free port)")
      ->capture_default_str();
  sim_cmd->add_option("--dir", sim_options.dir,
                      "Working directory: state, PKI, token and kubeconfig")
      ->capture_default_str();
  sim_cmd->add_option("--kubeconfig", sim_options.kubeconfig,
                      "Where to write the kubeconfig (default: <dir>/kubeconfig)");
  sim_cmd->add_option("--token", sim_options.token,
                      "Bearer token to accept (default: generated once, kept in <dir>/token; with --no-tls, "
                      "none: no authentication)");
  sim_cmd->add_flag("!--no-tls", sim_options.tls, "Serve plain HTTP instead of HTTPS");
  sim_cmd->add_flag("!--in-memory", sim_options.persist,
                    "Keep the cluster state in memory only (lost at exit)");
  sim_cmd->add_option("--history", sim_options.history,
                      "Changes kept for watch resume; older resourceVersions get 410 Gone")
      ->capture_default_str();
  sim_cmd->add_flag("!--no-controllers", sim_options.controllers,
                    "Run a bare API server: no controllers, scheduler or kubelet");
  sim_cmd->add_option("--time-factor", sim_options.time_factor,
                      "Time acceleration for simulated durations (back-offs, pulls, probes, log "
                      "rates, memory growth)")
      ->capture_default_str();
  sim_cmd->add_option("--log-dir", sim_options.log_dir,
                      "Where the kubelet writes CRI container logs (default <dir>/pods, none with "
                      "--in-memory; - for nowhere)");
  std::string node_memory = "8Gi";
  sim_cmd->add_option("--node-memory", node_memory,
                      "The simulated node's memory (a Kubernetes quantity)")
      ->capture_default_str();
  sim_cmd->add_option("--scenario", sim_options.scenarios,
                      "Play a scenario: a built-in name or a YAML file (repeatable; "
                      "--list-scenarios shows the built-in ones)");
  sim_cmd->add_option("--missing-image", sim_options.missing_images,
                      "An image that fails to pull: a reference, or a repository for all its "
                      "tags (repeatable; tags containing \"nonexistent\" always fail)");
  bool list_scenarios = false;
  sim_cmd->add_flag("--list-scenarios", list_scenarios, "List the built-in scenarios and exit");
  int64_t bookmark_ms = 60000;
  sim_cmd->add_option("--bookmark-interval-ms", bookmark_ms,
                      "Watch bookmarks after this long without events")
      ->capture_default_str();
  sim_cmd->add_option("--max-requests", sim_options.max_requests,
                      "Concurrent requests, watches included")
      ->capture_default_str();
  CLI::App* version = app.add_subcommand("version", "Print versions of kobs and chDB");
  CLI::App* reference =
      app.add_subcommand("config-reference", "Print every option as a Markdown table");

  CLI11_PARSE(app, argc, argv);

  if (sim_cmd->parsed() && list_scenarios) {
    for (const auto& [name, description] : kobs::sim::BuiltinScenarios()) {
      std::printf("%-24s %s\n", name.c_str(), description.c_str());
    }
    return 0;
  }
  if (sim_cmd->parsed()) {
    kobs::InitLogging("info", kobs::LogFormat::kText);
    if (!SplitHostPort(sim_listen, &sim_options.host, &sim_options.port).ok()) {
      std::fprintf(stderr, "kobs sim: --listen %s: expected host:port\n", sim_listen.c_str());
      return 1;
    }
    sim_options.bookmark_interval = std::chrono::milliseconds(bookmark_ms);
    absl::StatusOr<int64_t> memory = kobs::sim::ParseQuantityMilli(node_memory);
    if (!memory.ok() || *memory < 1000LL * (256 << 20)) {
      std::fprintf(stderr, "kobs sim: --node-memory %s: expected a quantity of at least 256Mi\n",
                   node_memory.c_str());
      return 2;
    }
    sim_options.node_memory = *memory / 1000;
    return RunSim(sim_options);
  }
  if (reference->parsed()) {
    std::fputs(OptionsMarkdown().c_str(), stdout);
    return 0;
  }
  if (config_path.empty()) {
    if (const char* p = std::getenv("KOBS_CONFIG")) config_path = p;
    else if (std::filesystem::exists("kobs.yaml")) config_path = "kobs.yaml";
  }
  auto config = LoadConfig(config_path, GetEnv);
  if (!config.ok()) {
    std::fprintf(stderr, "kobs: invalid configuration: %s\n",
                 std::string(kobs::ToStd(config.status().message())).c_str());
    return 1;
  }
  kobs::InitLogging(sql->parsed() || version->parsed() || mcp->parsed() ? "warn" : config->log_level,
                    config->log_format == "text" ? kobs::LogFormat::kText : kobs::LogFormat::kJson);
  if (serve->parsed()) {
    if (!serve_kubeconfig.empty()) config->k8s.kubeconfig = serve_kubeconfig;
    if (config->k8s.in_cluster && !config->k8s.kubeconfig.empty()) {
      std::fprintf(stderr, "kobs: --kubeconfig and k8s.in_cluster exclude each other\n");
      return 1;
    }
    if (!serve_sim) return RunServe(*config);
    if (!serve_kubeconfig.empty() || config->k8s.in_cluster) {
      std::fprintf(stderr, "kobs: --sim collects the simulated cluster; drop --kubeconfig\n");
      return 1;
    }
    if (!SplitHostPort(serve_sim_listen, &serve_sim_options.host, &serve_sim_options.port).ok()) {
      std::fprintf(stderr, "kobs serve: --sim-listen %s: expected host:port\n",
                   serve_sim_listen.c_str());
      return 1;
    }
    if (serve_sim_options.scenarios.empty()) {
      for (const auto& [name, description] : kobs::sim::BuiltinScenarios()) {
        serve_sim_options.scenarios.push_back(name);
      }
    } else if (serve_sim_options.scenarios == std::vector<std::string>{"none"}) {
      serve_sim_options.scenarios.clear();
    }
    return RunServe(*config, serve_sim_options);
  }
  if (agent->parsed()) {
    if (!agent_kubeconfig.empty()) config->k8s.kubeconfig = agent_kubeconfig;
    if (config->k8s.in_cluster && !config->k8s.kubeconfig.empty()) {
      std::fprintf(stderr, "kobs: --kubeconfig and k8s.in_cluster exclude each other\n");
      return 1;
    }
    return RunAgent(*config);
  }
  if (version->parsed()) return RunVersion(*config);
  if (mcp->parsed()) return RunMcpStdio(*config, url);
  if (format.empty()) format = isatty(STDOUT_FILENO) ? "PrettyCompact" : "TabSeparated";
  return RunSql(*config, query, format, params, url);
}
