#include "mcp/sql_guard.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace kobs::mcp {
namespace {

enum class Kind { kWord, kQuoted, kString, kNumber, kPunct, kSemicolon };

struct Token {
  Kind kind;
  std::string text;  // words lower-cased
  size_t pos = 0;    // byte offset in the query
};

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool WordChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' ||
         static_cast<unsigned char>(c) >= 0x80;
}

// Splits `sql` into tokens, dropping whitespace and comments. Fails on an unterminated
// string, quoted identifier or comment.
absl::Status Tokenize(std::string_view sql, std::vector<Token>* out) {
  size_t i = 0;
  const size_t n = sql.size();
  while (i < n) {
    const char c = sql[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '-' && i + 1 < n && sql[i + 1] == '-') {
      while (i < n && sql[i] != '\n') ++i;
    } else if (c == '#') {  // ClickHouse also takes `#` line comments
      while (i < n && sql[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < n && sql[i + 1] == '*') {
      size_t end = sql.find("*/", i + 2);
      if (end == std::string_view::npos) {
        return absl::InvalidArgumentError("the query has an unterminated /* comment");
      }
      i = end + 2;
    } else if (c == '\'' || c == '"' || c == '`') {
      // Backslash escapes and doubled quotes, as ClickHouse reads them.
      size_t j = i + 1;
      std::string text;
      bool closed = false;
      while (j < n) {
        if (sql[j] == '\\' && j + 1 < n) {
          text += sql[j + 1];
          j += 2;
        } else if (sql[j] == c) {
          if (j + 1 < n && sql[j + 1] == c) {
            text += c;
            j += 2;
          } else {
            closed = true;
            ++j;
            break;
          }
        } else {
          text += sql[j++];
        }
      }
      if (!closed) {
        return absl::InvalidArgumentError(
            fmt::format("the query has an unterminated {} quote", c == '\'' ? "string" : "identifier"));
      }
      out->push_back({c == '\'' ? Kind::kString : Kind::kQuoted, Lower(text), i});
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      while (j < n && (WordChar(sql[j]) || sql[j] == '.')) ++j;
      out->push_back({Kind::kNumber, std::string(sql.substr(i, j - i)), i});
      i = j;
    } else if (WordChar(c)) {
      size_t j = i;
      while (j < n && WordChar(sql[j])) ++j;
      out->push_back({Kind::kWord, Lower(sql.substr(i, j - i)), i});
      i = j;
    } else if (c == ';') {
      out->push_back({Kind::kSemicolon, ";", i});
      ++i;
    } else {
      out->push_back({Kind::kPunct, std::string(1, c), i});
      ++i;
    }
  }
  return absl::OkStatus();
}

// Table functions that read or write outside the databases: files, URLs, object stores,
// other servers and databases, processes, stdin.
bool ReachesOutside(const std::string& fn) {
  static const char* const kNames[] = {
      "file", "filecluster", "url", "urlcluster", "remote", "remotesecure", "cluster",
      "clusterallreplicas", "s3", "s3cluster", "gcs", "oss", "cosn", "hdfs", "hdfscluster",
      "azureblobstorage", "azureblobstoragecluster", "mysql", "postgresql", "mongodb", "redis",
      "sqlite", "jdbc", "odbc", "executable", "input", "iceberg", "icebergs3", "icebergazure",
      "iceberghdfs", "iceberglocal", "icebergcluster", "icebergs3cluster", "deltalake",
      "deltalakes3", "deltalakeazure", "deltalakecluster", "hudi", "hudicluster", "arrowflight",
      "arrowflightcluster", "ytsaurus", "paimon", "paimons3", "prometheusquery",
      "prometheusqueryrange", "timeseriesdata", "python", "objectstorage"};
  return std::find(std::begin(kNames), std::end(kNames), fn) != std::end(kNames);
}

}  // namespace

absl::Status CheckReadOnlySql(std::string_view sql, size_t* statement_end) {
  std::vector<Token> t;
  if (absl::Status s = Tokenize(sql, &t); !s.ok()) return s;
  if (t.empty()) return absl::InvalidArgumentError("the query is empty");
  size_t end = sql.size();
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i].kind == Kind::kSemicolon) {
      for (size_t j = i + 1; j < t.size(); ++j) {
        if (t[j].kind != Kind::kSemicolon) {
          return absl::InvalidArgumentError(
              "only one statement is allowed: remove everything after the first `;`");
        }
      }
      end = t[i].pos;
      t.resize(i);
      break;
    }
  }
  size_t first = 0;
  while (first < t.size() && t[first].kind == Kind::kPunct && t[first].text == "(") ++first;
  static const char* const kAllowed[] = {"select", "with", "show", "describe", "desc", "explain",
                                         "exists"};
  if (first >= t.size() || t[first].kind != Kind::kWord ||
      std::find(std::begin(kAllowed), std::end(kAllowed), t[first].text) == std::end(kAllowed)) {
    return absl::InvalidArgumentError(fmt::format(
        "only read-only statements are allowed (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, EXISTS); "
        "this one starts with `{}`",
        first < t.size() ? t[first].text : ""));
  }
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i].kind != Kind::kWord) continue;
    const bool after_dot = i > 0 && t[i - 1].kind == Kind::kPunct && t[i - 1].text == ".";
    if (after_dot) continue;  // a column or table name such as system.settings
    const std::string& w = t[i].text;
    const Token* next = i + 1 < t.size() ? &t[i + 1] : nullptr;
    if (w == "into" && next != nullptr && next->kind == Kind::kWord && next->text == "outfile") {
      return absl::InvalidArgumentError("INTO OUTFILE is not allowed: results come back to you");
    }
    if (w == "settings" && next != nullptr &&
        (next->kind == Kind::kWord || next->kind == Kind::kQuoted) && i + 2 < t.size() &&
        t[i + 2].kind == Kind::kPunct && t[i + 2].text == "=") {
      return absl::InvalidArgumentError(fmt::format(
          "a SETTINGS clause is not allowed (here `{}`): the server sets read-only mode, the "
          "time limit and the result limits",
          next->text));
    }
    if (w == "format" && next != nullptr && next->kind == Kind::kWord && i + 2 == t.size()) {
      return absl::InvalidArgumentError(
          "a FORMAT clause is not allowed: the tool returns rows as JSON");
    }
    if (next != nullptr && next->kind == Kind::kPunct && next->text == "(" && ReachesOutside(w)) {
      return absl::InvalidArgumentError(fmt::format(
          "the table function `{}` is not allowed: it reaches files, URLs, other servers or "
          "processes",
          w));
    }
  }
  if (statement_end != nullptr) *statement_end = end;
  return absl::OkStatus();
}

std::string EscapeLike(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (char c : raw) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace kobs::mcp
