#include "mcp/stdio_transport.h"

#include <istream>
#include <ostream>
#include <string>

namespace kobs::mcp {

int ServeStdio(McpServer& server, std::istream& in, std::ostream& out) {
  Session session;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json message = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    std::optional<nlohmann::json> reply;
    if (message.is_discarded()) {
      reply = ErrorResponse(nullptr, kParseError, "the line is not valid JSON");
    } else if (message.is_array()) {
      reply = ErrorResponse(nullptr, kInvalidRequest, "JSON-RPC batches are not supported");
    } else {
      reply = server.Handle(message, session);
    }
    if (reply.has_value()) out << reply->dump() << '\n' << std::flush;
  }
  return 0;
}

}  // namespace kobs::mcp
