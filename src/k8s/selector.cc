#include "k8s/selector.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace kobs::k8s {
namespace {

bool KeyChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
         c == '/';
}

bool ValueChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}
  void SkipSpace() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool AtEnd() {
    SkipSpace();
    return i_ >= s_.size();
  }
  bool Consume(std::string_view t) {
    SkipSpace();
    if (s_.substr(i_, t.size()) != t) return false;
    i_ += t.size();
    return true;
  }
  std::string Take(bool (*ok)(char)) {
    SkipSpace();
    size_t start = i_;
    while (i_ < s_.size() && ok(s_[i_])) ++i_;
    return std::string(s_.substr(start, i_ - start));
  }
  // A word followed by whitespace or '(' (for `in` / `notin`).
  bool ConsumeWord(std::string_view w) {
    SkipSpace();
    if (s_.substr(i_, w.size()) != w) return false;
    size_t after = i_ + w.size();
    if (after < s_.size() && !std::isspace(static_cast<unsigned char>(s_[after])) &&
        s_[after] != '(') {
      return false;
    }
    i_ = after;
    return true;
  }
  size_t pos() const { return i_; }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

absl::Status Error(std::string_view text, size_t pos, std::string_view what) {
  return absl::InvalidArgumentError(
      fmt::format("invalid selector \"{}\" at {}: {}", text, pos, what));
}

absl::Status CheckKey(std::string_view text, const Lexer& lx, const std::string& key) {
  if (key.empty()) return Error(text, lx.pos(), "expected a key");
  const size_t slash = key.find('/');
  const std::string_view name = slash == std::string::npos ? key : std::string_view(key).substr(slash + 1);
  if (name.empty() || name.size() > 63 || key.find('/', slash == std::string::npos ? 0 : slash + 1) != std::string::npos) {
    return Error(text, lx.pos(), fmt::format("invalid key \"{}\"", key));
  }
  return absl::OkStatus();
}

bool Holds(const Requirement& r, bool present, const std::string& value) {
  switch (r.op) {
    case Requirement::Op::kEquals: return present && value == r.values[0];
    case Requirement::Op::kNotEquals: return !present || value != r.values[0];
    case Requirement::Op::kIn:
      return present && std::find(r.values.begin(), r.values.end(), value) != r.values.end();
    case Requirement::Op::kNotIn:
      return !present || std::find(r.values.begin(), r.values.end(), value) == r.values.end();
    case Requirement::Op::kExists: return present;
    case Requirement::Op::kNotExists: return !present;
  }
  return false;
}

}  // namespace

absl::StatusOr<LabelSelector> LabelSelector::Parse(std::string_view text) {
  LabelSelector sel;
  Lexer lx(text);
  if (lx.AtEnd()) return sel;
  while (true) {
    Requirement r;
    if (lx.Consume("!")) {
      r.key = lx.Take(KeyChar);
      if (absl::Status s = CheckKey(text, lx, r.key); !s.ok()) return s;
      r.op = Requirement::Op::kNotExists;
    } else {
      r.key = lx.Take(KeyChar);
      if (absl::Status s = CheckKey(text, lx, r.key); !s.ok()) return s;
      if (lx.Consume("==") || lx.Consume("=")) {
        r.op = Requirement::Op::kEquals;
        r.values.push_back(lx.Take(ValueChar));
      } else if (lx.Consume("!=")) {
        r.op = Requirement::Op::kNotEquals;
        r.values.push_back(lx.Take(ValueChar));
      } else if (const bool notin = lx.ConsumeWord("notin"); notin || lx.ConsumeWord("in")) {
        r.op = notin ? Requirement::Op::kNotIn : Requirement::Op::kIn;
        if (!lx.Consume("(")) return Error(text, lx.pos(), "expected '(' after in/notin");
        do {
          r.values.push_back(lx.Take(ValueChar));
        } while (lx.Consume(","));
        if (!lx.Consume(")")) return Error(text, lx.pos(), "expected ')'");
        std::sort(r.values.begin(), r.values.end());
        r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
      } else {
        r.op = Requirement::Op::kExists;
      }
    }
    sel.requirements_.push_back(std::move(r));
    if (lx.AtEnd()) break;
    if (!lx.Consume(",")) return Error(text, lx.pos(), "expected ',' between requirements");
  }
  return sel;
}

bool LabelSelector::Matches(const std::map<std::string, std::string>& labels) const {
  for (const auto& r : requirements_) {
    auto it = labels.find(r.key);
    if (!Holds(r, it != labels.end(), it != labels.end() ? it->second : "")) return false;
  }
  return true;
}

bool LabelSelector::Matches(const nlohmann::json& object) const {
  std::map<std::string, std::string> labels;
  if (object.is_object()) {
    auto md = object.find("metadata");
    if (md != object.end() && md->is_object()) {
      auto l = md->find("labels");
      if (l != md->end() && l->is_object()) {
        for (const auto& [k, v] : l->items()) {
          if (v.is_string()) labels[k] = v.get<std::string>();
        }
      }
    }
  }
  return Matches(labels);
}

std::string LabelSelector::ToString() const {
  std::string out;
  for (const auto& r : requirements_) {
    if (!out.empty()) out += ',';
    switch (r.op) {
      case Requirement::Op::kEquals: out += r.key + "=" + r.values[0]; break;
      case Requirement::Op::kNotEquals: out += r.key + "!=" + r.values[0]; break;
      case Requirement::Op::kIn: out += fmt::format("{} in ({})", r.key, fmt::join(r.values, ",")); break;
      case Requirement::Op::kNotIn:
        out += fmt::format("{} notin ({})", r.key, fmt::join(r.values, ","));
        break;
      case Requirement::Op::kExists: out += r.key; break;
      case Requirement::Op::kNotExists: out += "!" + r.key; break;
    }
  }
  return out;
}

absl::StatusOr<FieldSelector> FieldSelector::Parse(std::string_view text) {
  FieldSelector sel;
  Lexer lx(text);
  if (lx.AtEnd()) return sel;
  auto field_char = +[](char c) { return KeyChar(c) && c != '/'; };
  // Field values may hold more than label values (e.g. ':' in a node name).
  auto value_char = +[](char c) { return c != ',' && !std::isspace(static_cast<unsigned char>(c)); };
  while (true) {
    Requirement r;
    r.key = lx.Take(field_char);
    if (r.key.empty()) return Error(text, lx.pos(), "expected a field path");
    if (lx.Consume("==") || lx.Consume("=")) {
      r.op = Requirement::Op::kEquals;
    } else if (lx.Consume("!=")) {
      r.op = Requirement::Op::kNotEquals;
    } else {
      return Error(text, lx.pos(), "field selectors support =, == and != only");
    }
    r.values.push_back(lx.Take(value_char));
    sel.requirements_.push_back(std::move(r));
    if (lx.AtEnd()) break;
    if (!lx.Consume(",")) return Error(text, lx.pos(), "expected ',' between requirements");
  }
  return sel;
}

bool FieldSelector::Matches(const nlohmann::json& object) const {
  for (const auto& r : requirements_) {
    const nlohmann::json* node = &object;
    std::string_view path = r.key;
    while (node != nullptr && !path.empty()) {
      size_t dot = path.find('.');
      std::string part(path.substr(0, dot));
      path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
      if (!node->is_object()) {
        node = nullptr;
        break;
      }
      auto it = node->find(part);
      node = it == node->end() ? nullptr : &*it;
    }
    std::string value;
    if (node != nullptr) {
      if (node->is_string()) value = node->get<std::string>();
      else if (node->is_number() || node->is_boolean()) value = node->dump();
    }
    if (!Holds(r, true, value)) return false;
  }
  return true;
}

}  // namespace kobs::k8s
