// McpServer: the Model Context Protocol core, independent of the transport. It takes one
// decoded JSON-RPC 2.0 message at a time for a session and returns the response (none for
// notifications and responses). Implements the lifecycle (initialize with version
// negotiation, notifications/initialized, ping), tools/list and tools/call. Tool arguments are
// validated against each tool's input schema before the tool runs; tool failures come back as
// results with isError, protocol failures as JSON-RPC errors with the specified codes.
// Thread-safe (sessions are the caller's, one message at a time each).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace kobs {
class MetricsRegistry;
}

namespace kobs::mcp {

// JSON-RPC 2.0 error codes (MCP schema).
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;

// Protocol versions this server speaks, newest first.
const std::vector<std::string>& SupportedProtocolVersions();

struct Tool {
  std::string name;
  std::string title;
  std::string description;
  // JSON Schema of the arguments: an object schema whose properties use "type" (string,
  // integer, number, boolean), "minimum"/"maximum", "maxLength", "enum" and "default";
  // "required" lists the mandatory ones; unknown arguments are refused.
  nlohmann::json input_schema;
  // Runs with validated arguments (defaults filled in). The returned object becomes the
  // structuredContent and, serialized, the text content. An error becomes an isError result.
  std::function<absl::StatusOr<nlohmann::ordered_json>(const nlohmann::json& args)> run;
};

struct Session {
  std::string protocol_version;  // negotiated by initialize; empty before
  bool initialized = false;      // notifications/initialized received
  std::string client_name;
};

class McpServer {
 public:
  McpServer(std::string name, std::string version, std::vector<Tool> tools,
            MetricsRegistry& metrics);

  // One message. nullopt when nothing is to be answered (notification, response).
  std::optional<nlohmann::json> Handle(const nlohmann::json& message, Session& session);

  const std::vector<Tool>& tools() const { return tools_; }

 private:
  nlohmann::json Initialize(const nlohmann::json& params, Session& session);
  nlohmann::json ListTools() const;
  absl::StatusOr<nlohmann::json> CallTool(const nlohmann::json& params);

  const std::string name_;
  const std::string version_;
  const std::vector<Tool> tools_;
  MetricsRegistry& metrics_;
};

// The string `key` of `object`, or "" when it is absent or not a string (never throws: the
// input is the client's).
std::string StringField(const nlohmann::json& object, const char* key);

// A JSON-RPC error response.
nlohmann::json ErrorResponse(const nlohmann::json& id, int code, const std::string& message);

// Checks `args` against `schema` (the subset described at Tool::input_schema) and fills in
// defaults. InvalidArgument names the offending argument.
absl::StatusOr<nlohmann::json> ValidateArguments(const nlohmann::json& schema,
                                                 const nlohmann::json& args);

}  // namespace kobs::mcp
