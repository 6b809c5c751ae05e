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

}  // namespace kobs::mcp
