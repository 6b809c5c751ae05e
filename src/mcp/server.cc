#include "mcp/server.h"

#include <chrono>

#include <fmt/format.h>

#include "common/absl_compat.h"
#include "common/metrics.h"

namespace kobs::mcp {

using json = nlohmann::json;

const std::vector<std::string>& SupportedProtocolVersions() {
  static const auto* v =
      new std::vector<std::string>{"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"};
  return *v;
}

std::string StringField(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

json ErrorResponse(const json& id, int code, const std::string& message) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}};
}

namespace {

json Result(const json& id, json result) {
  return {{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

bool IsInteger(const json& v) { return v.is_number_integer() || v.is_number_unsigned(); }

// Whether `id` is a valid JSON-RPC request id (string or integer; MCP forbids null).
bool ValidId(const json& id) { return id.is_string() || IsInteger(id); }

}  // namespace

absl::StatusOr<json> ValidateArguments(const json& schema, const json& args) {
  if (!args.is_null() && !args.is_object()) {
    return absl::InvalidArgumentError("arguments must be an object");
  }
  const json& props = schema.contains("properties") ? schema["properties"] : json::object();
  json out = json::object();
  if (args.is_object()) {
    for (const auto& [key, value] : args.items()) {
      if (!props.contains(key)) {
        return absl::InvalidArgumentError(fmt::format("unknown argument `{}`", key));
      }
      const json& p = props[key];
      const std::string type = p.value("type", "string");
      if (value.is_null()) continue;  // as if absent
      bool ok = (type == "string" && value.is_string()) || (type == "integer" && IsInteger(value)) ||
                (type == "number" && value.is_number()) || (type == "boolean" && value.is_boolean());
      if (!ok) {
        return absl::InvalidArgumentError(
            fmt::format("argument `{}` must be {} {}", key, type == "integer" ? "an" : "a", type));
      }
      if (value.is_number()) {
        const double d = value.get<double>();
        if (p.contains("minimum") && d < p["minimum"].get<double>()) {
          return absl::InvalidArgumentError(fmt::format("argument `{}` must be at least {}", key,
                                                        p["minimum"].dump()));
        }
        if (p.contains("maximum") && d > p["maximum"].get<double>()) {
          return absl::InvalidArgumentError(fmt::format("argument `{}` must be at most {}", key,
                                                        p["maximum"].dump()));
        }
      }
      if (value.is_string()) {
        const auto& s = value.get_ref<const std::string&>();
        if (p.contains("maxLength") && s.size() > p["maxLength"].get<size_t>()) {
          return absl::InvalidArgumentError(fmt::format(
              "argument `{}` is longer than {} characters", key, p["maxLength"].get<size_t>()));
        }
        if (p.contains("minLength") && s.size() < p["minLength"].get<size_t>()) {
          return absl::InvalidArgumentError(
              fmt::format("argument `{}` must not be empty", key));
        }
        if (p.contains("enum")) {
          bool found = false;
          for (const auto& e : p["enum"]) found = found || e == value;
          if (!found) {
            return absl::InvalidArgumentError(
                fmt::format("argument `{}` must be one of {}", key, p["enum"].dump()));
          }
        }
      }
      out[key] = value;
    }
  }
  if (schema.contains("required")) {
    for (const auto& r : schema["required"]) {
      if (!out.contains(r.get<std::string>())) {
        return absl::InvalidArgumentError(
            fmt::format("argument `{}` is required", r.get<std::string>()));
      }
    }
  }
  for (const auto& [key, p] : props.items()) {
    if (!out.contains(key) && p.contains("default")) out[key] = p["default"];
  }
  return out;
}

McpServer::McpServer(std::string name, std::string version, std::vector<Tool> tools,
                     MetricsRegistry& metrics)
    : name_(std::move(name)), version_(std::move(version)), tools_(std::move(tools)),
      metrics_(metrics) {}

std::optional<json> McpServer::Handle(const json& message, Session& session) {
  if (!message.is_object() || StringField(message, "jsonrpc") != "2.0") {
    return ErrorResponse(nullptr, kInvalidRequest, "not a JSON-RPC 2.0 message");
  }
  const bool has_id = message.contains("id");
  if (!message.contains("method")) {
    // A response to a server request (kobs sends none) or garbage: nothing to answer.
    if (has_id && (message.contains("result") || message.contains("error"))) return std::nullopt;
    return ErrorResponse(has_id ? message["id"] : json(nullptr), kInvalidRequest,
                         "a request needs a method");
  }
  if (!message["method"].is_string()) {
    return ErrorResponse(has_id ? message["id"] : json(nullptr), kInvalidRequest,
                         "method must be a string");
  }
  const std::string method = message["method"];
  const json params = message.contains("params") ? message["params"] : json::object();
  if (!has_id) {  // a notification
    if (method == "notifications/initialized") session.initialized = true;
    return std::nullopt;
  }
  const json& id = message["id"];
  if (!ValidId(id)) return ErrorResponse(nullptr, kInvalidRequest, "id must be a string or integer");
  if (!params.is_object()) return ErrorResponse(id, kInvalidParams, "params must be an object");
  metrics_.GetCounter("kobs_mcp_requests_total", "MCP requests, by method.", {{"method", method}})
      .Inc();
  if (method == "initialize") return Result(id, Initialize(params, session));
  if (method == "ping") return Result(id, json::object());
  if (session.protocol_version.empty()) {
    return ErrorResponse(id, kInvalidRequest, "the session is not initialized: send initialize");
  }
  if (method == "tools/list") return Result(id, ListTools());
  if (method == "tools/call") {
    auto r = CallTool(params);
    if (!r.ok()) return ErrorResponse(id, kInvalidParams, std::string(ToStd(r.status().message())));
    return Result(id, std::move(*r));
  }
  return ErrorResponse(id, kMethodNotFound, fmt::format("method not found: {}", method));
}

json McpServer::Initialize(const json& params, Session& session) {
  const std::string asked = StringField(params, "protocolVersion");
  const auto& versions = SupportedProtocolVersions();
  // The client's version when we speak it, else our latest (the client decides to go on).
  session.protocol_version =
      std::find(versions.begin(), versions.end(), asked) != versions.end() ? asked : versions[0];
  if (params.contains("clientInfo")) session.client_name = StringField(params["clientInfo"], "name");
  return {{"protocolVersion", session.protocol_version},
          {"capabilities", {{"tools", {{"listChanged", false}}}}},
          {"serverInfo", {{"name", name_}, {"title", "kobs"}, {"version", version_}}},
          {"instructions",
           "Kubernetes observability data (events, pod logs, traces, metrics) in ClickHouse. "
           "Use the diagnostic tools first; run_select_query runs read-only SQL with bounded "
           "results."}};
}

json McpServer::ListTools() const {
  json list = json::array();
  for (const auto& t : tools_) {
    list.push_back({{"name", t.name},
                    {"title", t.title},
                    {"description", t.description},
                    {"inputSchema", t.input_schema},
                    {"annotations",
                     {{"title", t.title},
                      {"readOnlyHint", true},
                      {"destructiveHint", false},
                      {"idempotentHint", true},
                      {"openWorldHint", false}}}});
  }
  return {{"tools", list}};
}

absl::StatusOr<json> McpServer::CallTool(const json& params) {
  if (!params.contains("name") || !params["name"].is_string()) {
    return absl::InvalidArgumentError("tools/call needs a tool name");
  }
  const std::string name = params["name"];
  auto it = std::find_if(tools_.begin(), tools_.end(), [&](const Tool& t) { return t.name == name; });
  if (it == tools_.end()) return absl::InvalidArgumentError(fmt::format("unknown tool: {}", name));
  const auto start = std::chrono::steady_clock::now();
  json result;
  auto args = ValidateArguments(it->input_schema,
                                params.contains("arguments") ? params["arguments"] : json::object());
  absl::StatusOr<nlohmann::ordered_json> out =
      args.ok() ? absl::InternalError("not run") : args.status();
  if (args.ok()) {
    try {
      out = it->run(*args);
    } catch (const std::exception& e) {  // a bug in a tool must not take the session down
      out = absl::InternalError(fmt::format("the tool failed: {}", e.what()));
    }
  }
  std::string outcome = "ok";
  if (out.ok()) {
    result = {{"content", {{{"type", "text"}, {"text", out->dump()}}}},
              {"structuredContent", json::parse(out->dump())},
              {"isError", false}};
  } else {
    outcome = args.ok() ? "error" : "invalid_arguments";
    result = {{"content", {{{"type", "text"}, {"text", std::string(ToStd(out.status().message()))}}}},
              {"isError", true}};
  }
  metrics_
      .GetCounter("kobs_mcp_tool_calls_total", "MCP tool calls, by tool and outcome.",
                  {{"tool", name}, {"outcome", outcome}})
      .Inc();
  metrics_.GetHistogram("kobs_mcp_tool_seconds", "MCP tool call duration.", {{"tool", name}})
      .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return result;
}

}  // namespace kobs::mcp
