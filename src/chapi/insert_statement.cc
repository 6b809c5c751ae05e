#include "chapi/insert_statement.h"

#include <algorithm>
#include <cctype>

namespace kobs::chapi {
namespace {

// A minimal cursor over SQL text: whitespace and comments are skipped between tokens.
class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}

  void SkipSpace() {
    for (;;) {
      while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
      if (s_.substr(pos_, 2) == "--") {
        while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
      } else if (s_.substr(pos_, 2) == "/*") {
        size_t end = s_.find("*/", pos_ + 2);
        pos_ = end == std::string_view::npos ? s_.size() : end + 2;
      } else {
        return;
      }
    }
  }

  // Consumes keyword `kw` (case-insensitive, whole word).
  bool Keyword(std::string_view kw) {
    SkipSpace();
    if (s_.size() - pos_ < kw.size()) return false;
    for (size_t i = 0; i < kw.size(); ++i) {
      if (std::toupper(static_cast<unsigned char>(s_[pos_ + i])) != kw[i]) return false;
    }
    size_t end = pos_ + kw.size();
    if (end < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[end])) || s_[end] == '_')) {
      return false;
    }
    pos_ = end;
    return true;
  }

  bool Char(char c) {
    SkipSpace();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  // A bare or quoted (`x`, "x") identifier.
  std::optional<std::string> Identifier() {
    SkipSpace();
    if (pos_ >= s_.size()) return std::nullopt;
    char q = s_[pos_];
    if (q == '`' || q == '"') {
      std::string out;
      for (size_t i = pos_ + 1; i < s_.size(); ++i) {
        if (s_[i] == '\\' && i + 1 < s_.size()) {
          out += s_[++i];
        } else if (s_[i] == q) {
          if (i + 1 < s_.size() && s_[i + 1] == q) {  // doubled quote
            out += q;
            ++i;
            continue;
          }
          pos_ = i + 1;
          return out;
        } else {
          out += s_[i];
        }
      }
      return std::nullopt;
    }
    size_t start = pos_;
    while (pos_ < s_.size() &&
           (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) {
      ++pos_;
    }
    if (pos_ == start || std::isdigit(static_cast<unsigned char>(s_[start]))) {
      pos_ = start;
      return std::nullopt;
    }
    return std::string(s_.substr(start, pos_ - start));
  }

  // Skips a SETTINGS list up to (not including) FORMAT or VALUES.
  bool SkipSettings() {
    for (;;) {
      size_t save = pos_;
      if (Keyword("FORMAT") || Keyword("VALUES")) {
        pos_ = save;
        return true;
      }
      pos_ = save;
      SkipSpace();
      if (pos_ >= s_.size()) return false;
      char c = s_[pos_];
      if (c == '\'') {  // string literal, with backslash escapes
        ++pos_;
        while (pos_ < s_.size() && s_[pos_] != '\'') {
          pos_ += (s_[pos_] == '\\' && pos_ + 1 < s_.size()) ? 2 : 1;
        }
        pos_ = std::min(pos_ + 1, s_.size());
      } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
        while (pos_ < s_.size() &&
               (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) {
          ++pos_;  // a whole word, so "myformat" is not taken for FORMAT
        }
      } else {
        ++pos_;
      }
    }
  }

  size_t pos() const { return pos_; }
  void set_pos(size_t p) { pos_ = p; }
  std::string_view text() const { return s_; }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

std::optional<InsertStatement> ParseInsert(std::string_view sql) {
  Cursor c(sql);
  if (!c.Keyword("INSERT") || !c.Keyword("INTO")) return std::nullopt;
  c.Keyword("TABLE");
  size_t save = c.pos();
  if (c.Keyword("FUNCTION")) return std::nullopt;
  c.set_pos(save);
  InsertStatement st;
  auto first = c.Identifier();
  if (!first) return std::nullopt;
  st.table = *first;
  if (c.Char('.')) {
    auto second = c.Identifier();
    if (!second) return std::nullopt;
    st.table += "." + *second;
  }
  if (c.Char('(')) {
    do {
      auto col = c.Identifier();
      if (!col) return std::nullopt;
      st.columns.push_back(*col);
    } while (c.Char(','));
    if (!c.Char(')')) return std::nullopt;
  }
  if (c.Keyword("SETTINGS") && !c.SkipSettings()) return std::nullopt;
  if (c.Keyword("VALUES")) {
    st.format = "Values";
    c.SkipSpace();
    st.data_offset = c.pos();
    return st;
  }
  if (!c.Keyword("FORMAT")) return std::nullopt;
  auto format = c.Identifier();
  if (!format) return std::nullopt;
  st.format = *format;
  // Data starts after the rest of the FORMAT line (ClickHouse skips one line break).
  size_t p = c.pos();
  std::string_view s = c.text();
  while (p < s.size() && (s[p] == ' ' || s[p] == '\t')) ++p;
  if (p < s.size() && s[p] == '\r') ++p;
  if (p < s.size() && s[p] == '\n') ++p;
  st.data_offset = p;
  return st;
}

}  // namespace kobs::chapi
