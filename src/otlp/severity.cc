#include "otlp/severity.h"

#include <algorithm>
#include <cctype>
#include <string>

#include <nlohmann/json.hpp>

namespace kobs::otlp {
namespace {

constexpr Severity kTrace{"TRACE", 1}, kDebug{"DEBUG", 5}, kInfo{"INFO", 9}, kWarn{"WARN", 13},
    kError{"ERROR", 17}, kFatal{"FATAL", 21};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// Level words that only count as such when written as a level is (not "error" in a sentence):
// at the start of the body, or in brackets, or followed by ':'.
std::optional<Severity> FromWord(std::string_view word) {
  std::string w = Lower(word);
  if (w == "trace" || w == "trc" || w == "finest" || w == "finer") return kTrace;
  if (w == "debug" || w == "dbg" || w == "fine") return kDebug;
  if (w == "info" || w == "inf" || w == "information" || w == "notice") return kInfo;
  if (w == "warn" || w == "warning" || w == "wrn") return kWarn;
  if (w == "error" || w == "err" || w == "eror" || w == "severe") return kError;
  if (w == "fatal" || w == "ftl" || w == "panic" || w == "critical" || w == "crit" ||
      w == "crt" || w == "alert" || w == "emerg" || w == "emergency" || w == "dpanic") {
    return kFatal;
  }
  return std::nullopt;
}

std::optional<Severity> FromJson(std::string_view body) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return std::nullopt;
  for (const char* key : {"level", "severity", "log.level", "lvl", "loglevel", "severityText"}) {
    auto it = doc.find(key);
    if (it == doc.end()) continue;
    if (it->is_string()) {
      if (auto s = SeverityFromLevel(it->get<std::string>())) return s;
    } else if (it->is_number_integer()) {
      if (auto s = SeverityFromLevel(std::to_string(it->get<int64_t>()))) return s;
    }
  }
  // {"log": {"level": "..."}} as ECS writes it.
  if (auto it = doc.find("log"); it != doc.end() && it->is_object()) {
    if (auto l = it->find("level"); l != it->end() && l->is_string()) {
      return SeverityFromLevel(l->get<std::string>());
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<Severity> SeverityFromLevel(std::string_view level) {
  while (!level.empty() && std::isspace(static_cast<unsigned char>(level.front()))) {
    level.remove_prefix(1);
  }
  while (!level.empty() && std::isspace(static_cast<unsigned char>(level.back()))) {
    level.remove_suffix(1);
  }
  if (level.size() == 1) {
    switch (std::toupper(static_cast<unsigned char>(level[0]))) {
      case 'T': return kTrace;
      case 'D': return kDebug;
      case 'I': return kInfo;
      case 'W': return kWarn;
      case 'E': return kError;
      case 'F': return kFatal;
      default: return std::nullopt;
    }
  }
  // bunyan/pino numeric levels.
  if (level == "10") return kTrace;
  if (level == "20") return kDebug;
  if (level == "30") return kInfo;
  if (level == "40") return kWarn;
  if (level == "50") return kError;
  if (level == "60") return kFatal;
  return FromWord(level);
}

std::string_view SeverityTextFromNumber(int n) {
  if (n >= 1 && n <= 4) return "TRACE";
  if (n >= 5 && n <= 8) return "DEBUG";
  if (n >= 9 && n <= 12) return "INFO";
  if (n >= 13 && n <= 16) return "WARN";
  if (n >= 17 && n <= 20) return "ERROR";
  if (n >= 21 && n <= 24) return "FATAL";
  return "";
}

std::optional<Severity> InferSeverity(std::string_view body) {
  size_t start = 0;
  while (start < body.size() && std::isspace(static_cast<unsigned char>(body[start]))) ++start;
  if (start < body.size() && body[start] == '{' && body.size() <= (1u << 20)) {
    if (auto s = FromJson(body.substr(start))) return s;
  }
  std::string_view head = body.substr(start, 256);
  // klog: Lmmdd hh:mm:ss.uuuuuu
  if (head.size() >= 6 && std::string_view("IWEF").find(head[0]) != std::string_view::npos &&
      std::isdigit(static_cast<unsigned char>(head[1])) && std::isdigit(static_cast<unsigned char>(head[2])) &&
      std::isdigit(static_cast<unsigned char>(head[3])) && std::isdigit(static_cast<unsigned char>(head[4])) &&
      head[5] == ' ') {
    return SeverityFromLevel(head.substr(0, 1));
  }
  // logfmt level=..., or a JSON-ish "level":"..." in a body that did not parse as JSON.
  for (std::string_view key : {"level=", "lvl=", "severity=", "\"level\":", "\"severity\":"}) {
    size_t p = head.find(key);
    if (p != std::string_view::npos && (p == 0 || !IsWordChar(head[p - 1]))) {
      size_t v = p + key.size();
      while (v < head.size() && (head[v] == '"' || head[v] == ' ')) ++v;
      size_t e = v;
      while (e < head.size() && IsWordChar(head[e])) ++e;
      if (auto s = SeverityFromLevel(head.substr(v, e - v))) return s;
    }
  }
  // A level word among the first six words: the first one, or one that is bracketed, followed
  // by ':', or upper-case. Numbers (timestamps, pids) do not count as words.
  size_t i = 0;
  for (int token = 0; token < 6 && i < head.size();) {
    while (i < head.size() && !IsWordChar(head[i])) ++i;
    size_t b = i;
    while (i < head.size() && IsWordChar(head[i])) ++i;
    if (b == i) break;
    std::string_view word = head.substr(b, i - b);
    if (std::all_of(word.begin(), word.end(),
                    [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
      continue;
    }
    ++token;
    if (word.size() < 3) continue;
    const bool bracketed = b > 0 && (head[b - 1] == '[' || head[b - 1] == '<' || head[b - 1] == '(');
    const bool colon = i < head.size() && (head[i] == ':' || head[i] == ']' || head[i] == '>');
    bool upper = true;
    for (char c : word) upper = upper && !std::islower(static_cast<unsigned char>(c));
    if (token == 1 || bracketed || colon || upper) {
      if (auto s = FromWord(word)) return s;
    }
  }
  return std::nullopt;
}

}  // namespace kobs::otlp
