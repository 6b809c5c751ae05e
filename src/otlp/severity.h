// Severity inference for log records that carry none: from a JSON body's level field or a
// leading level word in a text body. Used by OTLP ingest and the node agent's log tailer.
// Stateless and thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace kobs::otlp {

struct Severity {
  std::string_view text;  // canonical: TRACE, DEBUG, INFO, WARN, ERROR, FATAL
  uint8_t number = 0;     // OTel SeverityNumber: 1, 5, 9, 13, 17, 21
};

// Maps a level name ("error", "Warning", "E", "panic", "30" as in bunyan/pino...) to a severity.
std::optional<Severity> SeverityFromLevel(std::string_view level);

// Maps an OTel SeverityNumber (1..24) to its canonical short text ("" for 0/out of range).
std::string_view SeverityTextFromNumber(int number);

// The severity a JSON object names in its top-level `level`, `severity`, `log.level`, `lvl`,
// `loglevel` or `severityText` field (tried in this order; a string, or an integer as pino
// writes), else in `log.level` (ECS). Nothing when `body` is not a JSON object.
std::optional<Severity> SeverityFromJson(std::string_view body);

// Infers the severity of `body`, looking at (in order): a JSON object body's top-level
// `level`, `severity`, `log.level`, `lvl` or `loglevel` field; a logfmt `level=` pair; a klog
// header (`E1125 06:31:12.123456 ...`); a level word among the first tokens (`ERROR`, `[warn]`,
// `INFO:`, `panic:` ...). Looks at the first 256 bytes of text bodies only.
std::optional<Severity> InferSeverity(std::string_view body);

}  // namespace kobs::otlp
