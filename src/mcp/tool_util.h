// Helpers shared by the MCP tools: JSON Schema fragments for tool arguments, and queries
// that run read-only with bounded results.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "mcp/http_transport.h"
#include "store/store.h"

namespace kobs::mcp {

// An object schema with these properties, refusing others.
nlohmann::json Schema(nlohmann::json properties, std::vector<std::string> required = {});
// A string argument (`min_length` 1 makes "" invalid, for required names).
nlohmann::json StrArg(const std::string& description, size_t max_length = 1000,
                      size_t min_length = 0);
// An integer argument with bounds and a default.
nlohmann::json IntArg(const std::string& description, int64_t min, int64_t max, int64_t dflt);

// Runs `sql` (read-only by construction, or already checked) with readonly=2 and the
// configured max_execution_time, and returns its JSONEachRow rows as an array: at most
// `max_rows` rows and `options.max_result_bytes` of row text. `*more` receives the number of
// rows left out, counted up to a bound (`*more_exact` false beyond it).
absl::StatusOr<nlohmann::ordered_json> RunBounded(store::Store& store, std::string_view sql,
                                                  std::vector<store::Param> params,
                                                  const McpOptions& options, uint64_t max_rows,
                                                  uint64_t* more, bool* more_exact);

// RunBounded for kobs's own queries, whose size the query bounds: all rows (up to 100k).
absl::StatusOr<nlohmann::ordered_json> Rows(store::Store& store, const McpOptions& options,
                                            const std::string& sql,
                                            std::vector<store::Param> params);

}  // namespace kobs::mcp
