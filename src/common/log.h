// Structured JSON-lines logging on stderr (spdlog behind a small facade).
// One named logger per module: `static auto& log = kobs::Logger("store");`. Thread-safe.
#pragma once

#include <initializer_list>
#include <string_view>
#include <utility>

#include <spdlog/logger.h>

namespace kobs {

enum class LogFormat { kJson, kText };

// Configures every logger created before or after this call. `level` is one of
// trace, debug, info, warn, error, critical, off.
void InitLogging(std::string_view level, LogFormat format);

// Returns the logger named `module`, creating it on first use. The reference stays valid.
spdlog::logger& Logger(std::string_view module);

// Escapes `s` as the inside of a JSON string (no quotes added).
std::string JsonEscape(std::string_view s);

// A message with fields: Log(log, info, "query failed", {{"code", "60"}, {"table", t}}).
// Fields are emitted as JSON keys in JSON mode and as key=value in text mode.
using LogField = std::pair<std::string_view, std::string_view>;
void Log(spdlog::logger& logger, spdlog::level::level_enum level, std::string_view msg,
         std::initializer_list<LogField> fields = {});

}  // namespace kobs
