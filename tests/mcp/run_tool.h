// Runs one tool of a list the way McpServer does (arguments validated first) and returns its
// structured result, or {"invalid": reason} / {"error": message}.
#pragma once

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "mcp/server.h"

namespace kobs::mcp {

inline nlohmann::json RunTool(const std::vector<Tool>& tools, const std::string& name,
                              const nlohmann::json& args) {
  for (const auto& t : tools) {
    if (t.name != name) continue;
    auto valid = ValidateArguments(t.input_schema, args);
    if (!valid.ok()) return {{"invalid", std::string(valid.status().message())}};
    auto r = t.run(*valid);
    if (!r.ok()) return {{"error", std::string(r.status().message())}};
    return nlohmann::json::parse(r->dump());
  }
  ADD_FAILURE() << "no tool " << name;
  return {};
}

}  // namespace kobs::mcp
