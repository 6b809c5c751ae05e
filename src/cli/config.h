// kobs.yaml: the whole configuration, parsed strictly (unknown keys are errors), with every
// option overridable by an environment variable. One table (Options()) lists every option
// with its description and default: it drives env overrides and the README's options table.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "chapi/clickhouse_endpoint.h"
#include "collect/events_service.h"
#include "collect/node_agent.h"
#include "feed/feed_service.h"
#include "mcp/http_transport.h"
#include "otlp/http_receiver.h"
#include "store/embedded_store.h"
#include "store/remote_store.h"
#include "store/schema.h"
#include "store/writer.h"

namespace YAML {
class Node;
}

namespace kobs::cli {

struct KobsConfig {
  std::string log_level = "info";
  std::string log_format = "json";  // json | text
  std::string store_mode = "embedded";  // embedded | remote
  store::EmbeddedStoreOptions embedded;
  store::RemoteStoreOptions remote;
  store::SchemaOptions schema;
  store::WriterOptions writer;
  otlp::ReceiverOptions otlp;
  mcp::McpOptions mcp;
  feed::FeedOptions feed;
  std::string api_listen = "127.0.0.1:8080";
  std::string clickhouse_listen = "127.0.0.1:8123";
  chapi::ClickHouseEndpointOptions clickhouse;
  collect::EventsServiceOptions k8s;
  collect::AgentConfig agent;
  std::chrono::milliseconds shutdown_grace{10'000};
};

struct OptionDoc {
  std::string path;         // "store.embedded.path"
  std::string env;          // "KOBS_STORE_EMBEDDED_PATH"
  std::string description;
  std::string default_value;
  std::vector<std::string> aliases;  // the original stack's variables, e.g. CLICKHOUSE_URL
};

// Every option, in documentation order.
const std::vector<OptionDoc>& Options();

// Sets `root[path]` from each option's environment variable (and aliases) that `getenv`
// returns; CLICKHOUSE_URL also switches store.mode to remote.
void ApplyEnvOverrides(YAML::Node& root,
                       const std::function<const char*(const char*)>& getenv);

// Parses the whole document (after overrides).
absl::StatusOr<KobsConfig> ParseConfig(const YAML::Node& root);

// Loads `path` (empty: no file, defaults only), applies env overrides and parses.
absl::StatusOr<KobsConfig> LoadConfig(const std::string& path,
                                      const std::function<const char*(const char*)>& getenv);

// The options table in Markdown (`kobs config-reference`).
std::string OptionsMarkdown();

// Splits "host:port" (port required; "[::1]:8123" allowed).
absl::Status SplitHostPort(const std::string& listen, std::string* host, uint16_t* port);

// Whether a "host:port" listen address only accepts connections from this machine.
bool IsLoopbackListen(const std::string& listen);

}  // namespace kobs::cli
