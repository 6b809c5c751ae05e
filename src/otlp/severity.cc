#include "otlp/severity.h"

#include <algorithm>
#include <cctype>
#include <iterator>
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

// The level fields SeverityFromJson reads, in the order they are tried.
constexpr std::string_view kLevelKeys[] = {"level",    "severity", "log.level",
                                           "lvl",      "loglevel", "severityText"};
constexpr int kLevelKeyCount = static_cast<int>(std::size(kLevelKeys));

// Reads a JSON object's level fields as the parser meets them, without building the document
// (log bodies are parsed once each, and most of their fields are of no interest here). As in
// a parsed document, a key given twice has its last value.
class LevelFields : public nlohmann::json_sax<nlohmann::json> {
 public:
  // The level field's text per kLevelKeys (string or integer values only), then log.level
  // inside a "log" object (ECS).
  std::optional<std::string> value[kLevelKeyCount + 1];

  bool null() override { return Value(std::nullopt); }
  bool boolean(bool) override { return Value(std::nullopt); }
  // Integer levels (pino's 30, 50) count at the top level only; log.level is a name.
  bool number_integer(number_integer_t v) override {
    return Value(key_ >= 0 && key_ < kLevelKeyCount ? std::optional<std::string>(std::to_string(v))
                                                    : std::nullopt);
  }
  bool number_unsigned(number_unsigned_t v) override {
    // A parsed document reads an unsigned integer as int64_t, wrapping as this cast does.
    return number_integer(static_cast<number_integer_t>(v));
  }
  bool number_float(number_float_t, const string_t&) override { return Value(std::nullopt); }
  bool string(string_t& v) override {
    return Value(Wanted() ? std::optional<std::string>(v) : std::nullopt);
  }
  bool binary(binary_t&) override { return Value(std::nullopt); }
  bool start_object(std::size_t) override {
    const bool log = depth_ == 1 && key_ == kLogKey;
    Value(std::nullopt);
    if (log) in_log_ = true;
    ++depth_;
    return true;
  }
  bool end_object() override {
    --depth_;
    if (depth_ == 1) in_log_ = false;
    return true;
  }
  bool start_array(std::size_t) override {
    Value(std::nullopt);
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool key(string_t& k) override {
    key_ = -1;
    if (depth_ == 1) {
      if (k == "log") {
        key_ = kLogKey;
        value[kLevelKeyCount].reset();  // a later "log" replaces an earlier one
        in_log_ = false;
      }
      for (int i = 0; i < kLevelKeyCount; ++i) {
        if (k == kLevelKeys[i]) key_ = i;
      }
    } else if (depth_ == 2 && in_log_ && k == "level") {
      key_ = kLevelKeyCount;
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  static constexpr int kLogKey = kLevelKeyCount + 1;
  // Whether the key just read is one whose value is kept (strings are copied only then).
  bool Wanted() const { return key_ >= 0 && key_ <= kLevelKeyCount; }
  // The value of the key just read, if it is one of ours.
  bool Value(std::optional<std::string> v) {
    if (Wanted()) value[key_] = std::move(v);
    key_ = -1;
    return true;
  }
  int depth_ = 0;
  int key_ = -1;  // index into `value`, kLogKey, or -1
  bool in_log_ = false;
};

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

std::optional<Severity> SeverityFromJson(std::string_view body) {
  LevelFields fields;
  if (!nlohmann::json::sax_parse(body, &fields)) return std::nullopt;
  for (int i = 0; i < kLevelKeyCount; ++i) {
    if (!fields.value[i]) continue;
    if (auto s = SeverityFromLevel(*fields.value[i])) return s;
  }
  // {"log": {"level": "..."}} as ECS writes it.
  if (const auto& l = fields.value[kLevelKeyCount]; l) return SeverityFromLevel(*l);
  return std::nullopt;
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
    if (auto s = SeverityFromJson(body.substr(start))) return s;
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
