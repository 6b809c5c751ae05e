// The MCP stdio transport: newline-delimited JSON-RPC messages on `in`, responses on `out`
// (one line each, flushed), until end of input. Logs never go to `out`.
#pragma once

#include <iosfwd>

#include "mcp/server.h"

namespace kobs::mcp {

// Returns 0 at end of input.
int ServeStdio(McpServer& server, std::istream& in, std::ostream& out);

}  // namespace kobs::mcp
