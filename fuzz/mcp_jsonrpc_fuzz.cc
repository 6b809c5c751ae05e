// Fuzzes the MCP JSON-RPC path: a POST body decoded as JSON and handled by McpServer (a fresh
// session that is initialized first when the first byte is odd), with a tool whose arguments
// go through schema validation; and the body as SQL through the run_select_query guard.
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/metrics.h"
#include "mcp/server.h"
#include "mcp/sql_guard.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static kobs::MetricsRegistry metrics;
  static kobs::mcp::McpServer server(
      "kobs", "fuzz",
      {kobs::mcp::Tool{
          .name = "t",
          .title = "T",
          .description = "d",
          .input_schema = {{"type", "object"},
                           {"properties",
                            {{"s", {{"type", "string"}, {"maxLength", 8}, {"enum", {"a", "b"}}}},
                             {"n", {{"type", "integer"}, {"minimum", 0}, {"maximum", 9}}},
                             {"b", {{"type", "boolean"}, {"default", true}}}}},
                           {"required", {"s"}}},
          .run = [](const nlohmann::json& a) -> absl::StatusOr<nlohmann::ordered_json> {
            return nlohmann::ordered_json{{"echo", a}};
          }}},
      metrics);
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  kobs::mcp::Session session;
  if (data[0] & 1) {
    server.Handle({{"jsonrpc", "2.0"}, {"id", 0}, {"method", "initialize"},
                   {"params", {{"protocolVersion", "2025-11-25"}}}},
                  session);
  }
  nlohmann::json message = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!message.is_discarded()) server.Handle(message, session);
  size_t end = 0;
  (void)kobs::mcp::CheckReadOnlySql(body, &end);
  return 0;
}
