#include "cli/config.h"

#include <fstream>

#include <absl/strings/numbers.h>
#include <absl/strings/str_split.h>
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "common/absl_compat.h"
#include "common/config_util.h"
#include "common/status_macros.h"

namespace kobs::cli {
namespace {

OptionDoc Opt(std::string path, std::string description, std::string default_value,
              std::vector<std::string> aliases = {}) {
  std::string env = "KOBS_";
  for (char c : path) env += c == '.' ? '_' : static_cast<char>(std::toupper(c));
  return {std::move(path), std::move(env), std::move(description), std::move(default_value),
          std::move(aliases)};
}

}  // namespace

const std::vector<OptionDoc>& Options() {
  static const auto* options = new std::vector<OptionDoc>{
      Opt("log.level", "Log level: trace, debug, info, warn, error, critical, off.", "info"),
      Opt("log.format", "Log format on stderr: json (one object per line) or text.", "json"),
      Opt("store.mode", "embedded (chDB in-process, owns store.embedded.path) or remote "
                        "(a ClickHouse server or cluster over HTTP).", "embedded"),
      Opt("store.embedded.path", "Data directory of the embedded store (one process at a time).",
          "./data"),
      Opt("store.embedded.chdb_library", "libchdb.so to load; empty: the one scripts/setup.sh "
                                         "installed in .deps/chdb.", ""),
      Opt("store.embedded.query_connections", "chDB connections serving queries.", "2"),
      Opt("store.embedded.insert_connections", "chDB connections serving inserts.", "1"),
      Opt("store.embedded.merge_nice",
          "Nice value (-20 to 19) of the store's background merges. Above 0, ingest, queries "
          "and the event feed's push run first when the CPUs are busy. A negative value needs "
          "CAP_SYS_NICE (a warning is logged without it).",
          "10"),
      Opt("store.remote.url", "ClickHouse HTTP(S) URL (remote mode). Setting CLICKHOUSE_URL "
                              "selects remote mode.", "http://127.0.0.1:8123", {"CLICKHOUSE_URL"}),
      Opt("store.remote.user", "ClickHouse user.", "default", {"CLICKHOUSE_USER"}),
      Opt("store.remote.password", "ClickHouse password.", "", {"CLICKHOUSE_PASSWORD"}),
      Opt("store.remote.auth_mode", "How credentials are sent: headers (X-ClickHouse-User/Key) "
                                    "or basic.", "headers"),
      Opt("store.remote.database", "Default database for unqualified names (empty: server's).", ""),
      Opt("store.remote.ca_file", "CA bundle for https URLs (empty: system CAs).", ""),
      Opt("store.remote.tls_insecure_skip_verify", "Skip TLS certificate verification.", "false"),
      Opt("store.remote.connect_timeout", "Connect timeout.", "5s"),
      Opt("store.remote.read_timeout", "Timeout of one query or insert.", "300s"),
      Opt("store.remote.max_connections", "Keep-alive connections (concurrent requests).", "8"),
      Opt("store.remote.compress_responses", "Ask for gzip-compressed responses.", "true"),
      Opt("store.remote.compress_requests", "Send inserts gzip-compressed.", "false"),
      Opt("store.schema.database", "Database of the OTel tables.", "default"),
      Opt("store.schema.ttl", "Retention of rows (TTL); 0 keeps rows forever.", "7d"),
      Opt("store.schema.cluster", "ClickHouse cluster: ON CLUSTER DDL, Replicated tables named "
                                  "<table>_local behind Distributed <table>.", ""),
      Opt("store.writer.max_batch_rows", "Rows per insert: a table's batch is written when it "
                                         "reaches this many rows.", "100000"),
      Opt("store.writer.max_batch_bytes", "... or this many bytes.", "64MiB"),
      Opt("store.writer.flush_interval", "... or when its oldest row has waited this long. "
                                         "Under load, batches grow while the previous one "
                                         "is written (group commit).",
          "50ms"),
      Opt("store.writer.max_pending_bytes", "Rows held in memory across tables; beyond it "
                                            "senders get 429 / RESOURCE_EXHAUSTED.", "256MiB"),
      Opt("store.writer.spool_dir", "Disk spool for acknowledged rows the store cannot take "
                                    "yet (replayed in order, exactly once); empty disables it.",
          "./spool"),
      Opt("store.writer.spool_max_bytes", "Spool size limit; beyond it senders get 503 / "
                                          "UNAVAILABLE.", "1GiB"),
      Opt("store.writer.retry_backoff_max", "Longest wait between retries of a failing store.",
          "10s"),
      Opt("store.writer.fsync", "fdatasync spool writes (survive power loss, not only a crash).",
          "false"),
      Opt("store.writer.write_ahead",
          "Acknowledge rows once they are in the spool and insert them from there in batches of "
          "up to max_batch_rows (queryable shortly after); false: acknowledge after the insert, "
          "spooling only when the store fails. Needs spool_dir.",
          "true"),
      Opt("store.writer.insert_interval",
          "With write_ahead: spooled rows are inserted once they fill a batch, or when the oldest "
          "has waited this long (larger parts, fewer merges; bounds acknowledged-to-queryable "
          "time at low load).",
          "250ms"),
      Opt("otlp.http_listen", "OTLP/HTTP receiver address (/v1/logs, /v1/traces, /v1/metrics); "
                              "empty disables it.", "127.0.0.1:4318"),
      Opt("otlp.grpc_listen", "OTLP/gRPC receiver address; empty disables it.",
          "127.0.0.1:4317"),
      Opt("otlp.max_request_size", "Largest OTLP request after decompression (413 / "
                                   "RESOURCE_EXHAUSTED beyond).", "64MiB"),
      Opt("otlp.bearer_token", "When set, OTLP requests need `Authorization: Bearer <token>`.",
          ""),
      Opt("otlp.http_workers", "OTLP/HTTP requests handled at once (each waits until its rows "
                               "are durable).", "32"),
      Opt("mcp.listen", "MCP server address (Streamable HTTP at /mcp); empty disables it.",
          "127.0.0.1:8000"),
      Opt("mcp.bearer_token", "When set, MCP requests need `Authorization: Bearer <token>`; "
                              "required when mcp.listen is not a loopback address.", ""),
      Opt("mcp.allowed_origins", "Comma-separated browser origins allowed besides loopback ones "
                                 "(others get 403).", ""),
      Opt("mcp.session_idle_timeout", "MCP sessions idle this long are forgotten (clients "
                                      "re-initialize).", "1h"),
      Opt("mcp.max_result_rows", "Rows run_select_query returns at most (the rest is counted "
                                 "and reported).", "1000"),
      Opt("mcp.max_result_bytes", "... and bytes of row JSON at most.", "256KiB"),
      Opt("mcp.max_execution_time", "Time limit of each query an MCP tool runs.", "30s"),
      Opt("mcp.rate_limit", "Requests per second each MCP client address may make (429 beyond; "
                            "0: no limit).", "20"),
      Opt("mcp.rate_burst", "... with bursts of this many.", "40"),
      Opt("api.listen", "Address of the event feed (/events, /notifications/, /health), "
                        "/healthz, /readyz and /metrics.",
          "127.0.0.1:8080", {"LISTEN_ADDR"}),
      Opt("feed.enabled", "Serve the event feed (REST /events and SSE /notifications/) on "
                          "api.listen.", "true"),
      Opt("feed.push", "Poll the events table at once when this process stores event rows "
                       "(false: every poll_interval only).", "true"),
      Opt("feed.poll_interval", "How often the feed looks for event rows other processes "
                                "(replicas) stored.", "250ms"),
      Opt("feed.settle", "How far each poll looks back, so rows that reach the store late are "
                         "still delivered (once).", "2s"),
      Opt("feed.keepalive", "Interval of `: keepalive` comments on SSE streams.", "25s"),
      Opt("feed.retry", "Reconnection delay sent to browsers (`retry:`).", "3s"),
      Opt("feed.ring_size", "Recent events kept in memory for Last-Event-ID replays (older "
                            "ones are replayed from the store).", "10000"),
      Opt("feed.client_buffer", "Unsent bytes per SSE client; a client beyond it is "
                                "disconnected and replays from its Last-Event-ID on reconnect.",
          "1MiB"),
      Opt("feed.max_clients", "SSE clients at most (503 with Retry-After beyond).", "20000"),
      Opt("feed.fanout_threads", "Threads that write new events to the SSE clients' sockets "
                                 "(a write is a system call per client).", "2"),
      Opt("feed.bearer_token", "When set, feed requests need `Authorization: Bearer <token>` "
                               "or `?access_token=<token>`.", ""),
      Opt("feed.cors_origin", "Access-Control-Allow-Origin of feed responses (empty: none).",
          "*"),
      Opt("feed.events_default_limit", "Events GET /events returns when limit= is absent.",
          "200"),
      Opt("feed.events_max_limit", "The most events GET /events returns (larger limits are "
                                   "capped).", "1000"),
      Opt("feed.events_recent_window",
          "GET /events reads this last stretch of event time first, and older events only when "
          "it holds fewer than the limit (a busy composition's newest events then open a day "
          "of the table, not a week); without a composition, its last 24th first (it scans "
          "the range); 0: one query over all.",
          "24h"),
      Opt("clickhouse_http.listen", "Address of the ClickHouse HTTP endpoint over the store "
                                    "(empty disables it).", "127.0.0.1:8123"),
      Opt("clickhouse_http.user", "User the ClickHouse endpoint accepts.", "default"),
      Opt("clickhouse_http.password", "Its password; empty allows loopback clients only.", ""),
      Opt("clickhouse_http.allow_remote_without_password",
          "Accept password-less requests from non-loopback clients.", "false"),
      Opt("clickhouse_http.response_buffer", "Output buffered before headers are sent (exact "
                                             "X-ClickHouse-Summary below it; streamed above).",
          "1MiB"),
      Opt("clickhouse_http.events_default_limit", "Rows of GET /events when limit= is absent "
                                                  "(1..1000).", "50"),
      Opt("k8s.kubeconfig", "Kubeconfig file of the cluster to collect from (also `kobs serve "
                            "--kubeconfig`); empty with in_cluster false: no cluster.", ""),
      Opt("k8s.context", "Kubeconfig context; empty: its current-context.", ""),
      Opt("k8s.in_cluster", "Use the pod's service account (KUBERNETES_SERVICE_HOST/PORT).",
          "false"),
      Opt("k8s.events", "Collect Kubernetes events into otel_logs (with a cluster).", "true"),
      Opt("k8s.namespace", "Namespace whose events are collected; empty: every namespace.", ""),
      Opt("k8s.state_file", "What the event collector stored, per event, so a restart stores "
                            "nothing twice.", "./kobs-k8s-events.json"),
      Opt("k8s.composition_label", "Label whose value is an object's composition id (looked "
                                   "up through ownerReferences).",
          "krateo.io/composition-id"),
      Opt("k8s.leader_election", "Collect only while holding the Lease (one replica collects).",
          "true"),
      Opt("k8s.lease_namespace", "Namespace of that Lease.", "default"),
      Opt("k8s.lease_name", "Name of that Lease.", "kobs-k8s-events"),
      Opt("k8s.qps", "Requests per second to the API server (0: no limit).", "20"),
      Opt("k8s.burst", "... with bursts of this many.", "40"),
      Opt("k8s.pod_logs_dir", "Single-node mode: tail this kubelet pod log directory "
                              "in-process into otel_logs (empty: no pod logs here).", ""),
      Opt("k8s.pod_logs_checkpoint", "Offsets of the tailed log files, so a restart neither "
                                     "loses nor repeats lines.", "./kobs-pod-logs.json"),
      Opt("k8s.metrics_interval", "Cluster metrics (node conditions and allocatable, "
                                  "deployment replicas, pod phases; by the leader) and, with "
                                  "pod_logs_dir, the node's kubelet and host metrics, this "
                                  "often (0: none).", "60s"),
      Opt("k8s.node_name", "Single-node mode: the node whose kubelet is read; empty: the "
                           "cluster's only node.", ""),
      Opt("agent.listen", "`kobs agent`: address of its /healthz, /readyz and /metrics.",
          "127.0.0.1:9465"),
      Opt("agent.endpoint", "The server's OTLP/HTTP base URL the agent ships to.",
          "http://127.0.0.1:4318", {"OTEL_EXPORTER_OTLP_ENDPOINT"}),
      Opt("agent.bearer_token", "Sent as `Authorization: Bearer` (the server's "
                                "otlp.bearer_token).", ""),
      Opt("agent.ca_file", "CA bundle for an https endpoint with a private CA.", ""),
      Opt("agent.buffer_dir", "Disk buffer of batches not yet accepted by the server (kept "
                              "across restarts).", "./kobs-agent-buffer"),
      Opt("agent.buffer_max_bytes", "Its size bound: beyond it log tailing pauses (lines wait "
                                    "in their files) and metric samples are dropped.", "256MiB"),
      Opt("agent.node_name", "This node's name (for its kubelet and k8s.node.name).", "",
          {"K8S_NODE_NAME"}),
      Opt("agent.pod_logs_dir", "The kubelet's pod log directory (empty: no logs).",
          "/var/log/pods"),
      Opt("agent.checkpoint", "Offsets of the tailed log files.", "./kobs-agent-offsets.json"),
      Opt("agent.metrics_interval", "Kubelet and host metrics this often (0: none).", "60s"),
      Opt("agent.kubelet_metrics", "Read the kubelet's /stats/summary and /pods (through the "
                                   "API server's node proxy).", "true"),
      Opt("agent.host_metrics", "Read the host's CPU, memory, filesystem and network metrics.",
          "true"),
      Opt("agent.proc_root", "Where the host's /proc is mounted.", "/proc"),
      Opt("agent.host_root", "Where the host's root is mounted (for filesystem usage); empty: "
                             "/.", ""),
      Opt("shutdown_grace", "Time in-flight requests get to finish on SIGTERM/SIGINT.", "10s"),
  };
  return *options;
}

namespace {

void SetPath(YAML::Node root, const std::string& path, const std::string& value) {
  std::vector<std::string> parts = absl::StrSplit(path, '.');
  // yaml-cpp nodes are handles: walk down, creating maps as needed.
  std::vector<YAML::Node> chain{root};
  for (size_t i = 0; i + 1 < parts.size(); ++i) chain.push_back(chain.back()[parts[i]]);
  chain.back()[parts.back()] = value;
}

}  // namespace

void ApplyEnvOverrides(YAML::Node& root, const std::function<const char*(const char*)>& getenv) {
  if (!root || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  for (const OptionDoc& o : Options()) {
    // Aliases first, so the KOBS_ name wins when both are set.
    for (const std::string& alias : o.aliases) {
      if (const char* v = getenv(alias.c_str())) {
        SetPath(root, o.path, v);
        if (alias == "CLICKHOUSE_URL" && getenv("KOBS_STORE_MODE") == nullptr) {
          SetPath(root, "store.mode", "remote");
        }
      }
    }
    if (const char* v = getenv(o.env.c_str())) SetPath(root, o.path, v);
  }
}

absl::Status SplitHostPort(const std::string& listen, std::string* host, uint16_t* port) {
  size_t colon = listen.rfind(':');
  int p;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &p) || p < 0 ||
      p > 65535) {
    return absl::InvalidArgumentError(
        fmt::format("invalid listen address '{}': want host:port", listen));
  }
  *host = listen.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  if (host->empty()) *host = "0.0.0.0";
  *port = static_cast<uint16_t>(p);
  return absl::OkStatus();
}

absl::StatusOr<KobsConfig> ParseConfig(const YAML::Node& root) {
  KobsConfig c;
  KOBS_RETURN_IF_ERROR(
      CheckKeys(root,
                {"log", "store", "otlp", "mcp", "api", "feed", "clickhouse_http", "k8s",
                 "agent", "shutdown_grace"},
                "kobs.yaml"));
  YAML::Node log = Child(root, "log");
  KOBS_RETURN_IF_ERROR(CheckKeys(log, {"level", "format"}, "log"));
  KOBS_RETURN_IF_ERROR(ReadString(log, "level", &c.log_level));
  KOBS_RETURN_IF_ERROR(ReadString(log, "format", &c.log_format));
  if (c.log_format != "json" && c.log_format != "text") {
    return absl::InvalidArgumentError(
        fmt::format("log.format must be json or text, not '{}'", c.log_format));
  }
  YAML::Node store = Child(root, "store");
  KOBS_RETURN_IF_ERROR(CheckKeys(store, {"mode", "embedded", "remote", "schema", "writer"}, "store"));
  KOBS_RETURN_IF_ERROR(ReadString(store, "mode", &c.store_mode));
  if (c.store_mode != "embedded" && c.store_mode != "remote") {
    return absl::InvalidArgumentError(
        fmt::format("store.mode must be embedded or remote, not '{}'", c.store_mode));
  }
  YAML::Node embedded = Child(store, "embedded");
  KOBS_RETURN_IF_ERROR(CheckKeys(
      embedded, {"path", "chdb_library", "query_connections", "insert_connections", "merge_nice"},
      "store.embedded"));
  KOBS_RETURN_IF_ERROR(ReadString(embedded, "path", &c.embedded.path));
  KOBS_RETURN_IF_ERROR(ReadString(embedded, "chdb_library", &c.embedded.library));
  int64_t n = c.embedded.query_connections;
  KOBS_RETURN_IF_ERROR(ReadInt(embedded, "query_connections", &n));
  c.embedded.query_connections = static_cast<int>(n);
  n = c.embedded.insert_connections;
  KOBS_RETURN_IF_ERROR(ReadInt(embedded, "insert_connections", &n));
  c.embedded.insert_connections = static_cast<int>(n);
  if (c.embedded.query_connections < 1 || c.embedded.insert_connections < 1) {
    return absl::InvalidArgumentError("store.embedded connection counts must be at least 1");
  }
  n = c.embedded.merge_nice;
  KOBS_RETURN_IF_ERROR(ReadInt(embedded, "merge_nice", &n));
  if (n < -20 || n > 19) {
    return absl::InvalidArgumentError(
        fmt::format("store.embedded.merge_nice must be between -20 and 19, not {}", n));
  }
  c.embedded.merge_nice = static_cast<int>(n);
  auto remote = store::ParseRemoteStoreOptions(Child(store, "remote"));
  if (!remote.ok()) return remote.status();
  c.remote = *remote;
  auto schema = store::ParseSchemaOptions(Child(store, "schema"));
  if (!schema.ok()) return schema.status();
  c.schema = *schema;
  auto writer = store::ParseWriterOptions(Child(store, "writer"));
  if (!writer.ok()) return writer.status();
  c.writer = *writer;
  auto otlp = otlp::ParseReceiverOptions(Child(root, "otlp"));
  if (!otlp.ok()) return otlp.status();
  c.otlp = *otlp;
  auto mcp = mcp::ParseMcpOptions(Child(root, "mcp"));
  if (!mcp.ok()) return mcp.status();
  c.mcp = *mcp;
  auto feed = feed::ParseFeedOptions(Child(root, "feed"));
  if (!feed.ok()) return feed.status();
  c.feed = *feed;
  YAML::Node api = Child(root, "api");
  KOBS_RETURN_IF_ERROR(CheckKeys(api, {"listen"}, "api"));
  KOBS_RETURN_IF_ERROR(ReadString(api, "listen", &c.api_listen));
  YAML::Node ch = Child(root, "clickhouse_http");
  KOBS_RETURN_IF_ERROR(ReadString(ch, "listen", &c.clickhouse_listen));
  auto endpoint = chapi::ParseClickHouseEndpointOptions(ch);
  if (!endpoint.ok()) return endpoint.status();
  c.clickhouse = *endpoint;
  auto k8s = collect::ParseEventsServiceOptions(Child(root, "k8s"));
  if (!k8s.ok()) return k8s.status();
  c.k8s = *k8s;
  auto agent = collect::ParseAgentConfig(Child(root, "agent"));
  if (!agent.ok()) return agent.status();
  c.agent = *agent;
  c.agent.node.label_key = c.k8s.composition_label;
  c.agent.node.logs.label_key = c.k8s.composition_label;
  KOBS_RETURN_IF_ERROR(ReadDuration(root, "shutdown_grace", &c.shutdown_grace));
  std::string host;
  uint16_t port;
  KOBS_RETURN_IF_ERROR(SplitHostPort(c.api_listen, &host, &port));
  for (const std::string* listen :
       {&c.clickhouse_listen, &c.otlp.http_listen, &c.otlp.grpc_listen, &c.mcp.listen}) {
    if (!listen->empty()) KOBS_RETURN_IF_ERROR(SplitHostPort(*listen, &host, &port));
  }
  if (!c.mcp.listen.empty() && c.mcp.bearer_token.empty() && !IsLoopbackListen(c.mcp.listen)) {
    return absl::InvalidArgumentError(
        "mcp.bearer_token is required when mcp.listen is not a loopback address");
  }
  return c;
}

// Whether a "host:port" listen address only accepts connections from this machine.
bool IsLoopbackListen(const std::string& listen) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}


absl::StatusOr<KobsConfig> LoadConfig(const std::string& path,
                                      const std::function<const char*(const char*)>& getenv) {
  YAML::Node root;
  if (!path.empty()) {
    std::ifstream in(path);
    if (!in) return absl::NotFoundError(fmt::format("cannot read config file '{}'", path));
    try {
      root = YAML::Load(in);
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(fmt::format("config file '{}': {}", path, e.what()));
    }
  }
  ApplyEnvOverrides(root, getenv);
  try {
    auto config = ParseConfig(root);
    if (!config.ok() && !path.empty()) {
      return absl::Status(config.status().code(),
                          fmt::format("{}: {}", path, config.status().message()));
    }
    return config;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(fmt::format("configuration: {}", e.what()));
  }
}

std::string OptionsMarkdown() {
  std::string out =
      "| Name | Environment | Description | Default |\n|---|---|---|---|\n";
  for (const OptionDoc& o : Options()) {
    std::string env = "`" + o.env + "`";
    for (const auto& a : o.aliases) env += ", `" + a + "`";
    out += fmt::format("| `{}` | {} | {} | `{}` |\n", o.path, env, o.description,
                       o.default_value);
  }
  return out;
}

}  // namespace kobs::cli
