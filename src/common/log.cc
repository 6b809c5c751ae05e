#include "common/log.h"

#include <memory>
#include <mutex>
#include <string>

#include <absl/synchronization/mutex.h>
#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace kobs {
namespace {

struct LogState {
  absl::Mutex mu;
  LogFormat format ABSL_GUARDED_BY(mu) = LogFormat::kJson;
  spdlog::level::level_enum level ABSL_GUARDED_BY(mu) = spdlog::level::info;
};

LogState& State() {
  static auto* state = new LogState();  // never destroyed: loggers may log during exit
  return *state;
}

// In JSON mode the message is pre-rendered as `"msg":"...",fields...` by Log(), so the
// pattern only adds the envelope.
constexpr char kJsonPattern[] =
    R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","logger":"%n",%v})";
constexpr char kTextPattern[] = "%Y-%m-%dT%H:%M:%S.%fZ %l [%n] %v";

void Configure(spdlog::logger& logger, LogFormat format, spdlog::level::level_enum level) {
  logger.set_formatter(std::make_unique<spdlog::pattern_formatter>(
      format == LogFormat::kJson ? kJsonPattern : kTextPattern, spdlog::pattern_time_type::utc));
  logger.set_level(level);
  logger.flush_on(spdlog::level::info);
}

}  // namespace

std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

void InitLogging(std::string_view level, LogFormat format) {
  auto lvl = spdlog::level::from_str(std::string(level));
  LogState& st = State();
  absl::MutexLock lock(&st.mu);
  st.format = format;
  st.level = lvl;
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { Configure(*l, format, lvl); });
}

spdlog::logger& Logger(std::string_view module) {
  LogState& st = State();
  absl::MutexLock lock(&st.mu);
  std::string name(module);
  if (auto existing = spdlog::get(name)) return *existing;
  auto logger = std::make_shared<spdlog::logger>(
      name, std::make_shared<spdlog::sinks::stderr_sink_mt>());
  Configure(*logger, st.format, st.level);
  spdlog::register_logger(logger);
  return *logger;  // the registry keeps it alive
}

void Log(spdlog::logger& logger, spdlog::level::level_enum level, std::string_view msg,
         std::initializer_list<LogField> fields) {
  if (!logger.should_log(level)) return;
  LogFormat format;
  {
    LogState& st = State();
    absl::MutexLock lock(&st.mu);
    format = st.format;
  }
  std::string line;
  if (format == LogFormat::kJson) {
    line = fmt::format("\"msg\":\"{}\"", JsonEscape(msg));
    for (const auto& [k, v] : fields) {
      line += fmt::format(",\"{}\":\"{}\"", JsonEscape(k), JsonEscape(v));
    }
  } else {
    line = std::string(msg);
    for (const auto& [k, v] : fields) line += fmt::format(" {}={}", k, v);
  }
  logger.log(level, "{}", line);
}

}  // namespace kobs
