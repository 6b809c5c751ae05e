// The raw-SQL tools, compatible with ClickHouse's mcp-clickhouse: list_databases, list_tables
// (like/not_like filters, paging, columns with types and comments), describe_table and
// run_select_query (read-only by construction: SqlGuard, the engine's classifier when the
// store has one, readonly=2 and max_execution_time at execution; results capped in rows and
// bytes with an explicit truncation marker). Values are always bound parameters.
#pragma once

#include <vector>

#include "mcp/http_transport.h"
#include "mcp/server.h"
#include "store/store.h"

namespace kobs::mcp {

std::vector<Tool> ClickHouseTools(store::Store& store, const McpOptions& options);

// Runs `sql` (already checked) with the read-only settings and returns JSONEachRow rows as an
// array, at most `max_rows` rows and `max_bytes` of row text; `*more` receives the number of
// rows left out (counted up to a bound; `*more_exact` false beyond it).
absl::StatusOr<nlohmann::ordered_json> RunBounded(store::Store& store, std::string_view sql,
                                                  std::vector<store::Param> params,
                                                  const McpOptions& options, uint64_t max_rows,
                                                  uint64_t* more, bool* more_exact);

}  // namespace kobs::mcp
