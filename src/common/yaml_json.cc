#include "common/yaml_json.h"

#include <string>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"

namespace kobs {
namespace {

using nlohmann::json;

constexpr int kMaxDepth = 200;
// Aliases (`*a`) expand on conversion: a few hundred bytes of nested aliases can name billions
// of nodes. Documents past this many nodes are refused.
constexpr int64_t kMaxNodes = 1'000'000;

// [-+]?[0-9]+
bool LooksLikeInt(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool LooksLikeFloat(std::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  size_t e = s.find_first_of("eE");
  std::string_view mantissa = s.substr(0, e);
  if (e != std::string_view::npos && !LooksLikeInt(s.substr(e + 1))) return false;
  size_t dot = mantissa.find('.');
  std::string_view whole = mantissa.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? "" : mantissa.substr(dot + 1);
  auto digits = [](std::string_view d) {
    return d.find_first_not_of("0123456789") == std::string_view::npos;
  };
  if (!digits(whole) || !digits(frac)) return false;
  return !whole.empty() || !frac.empty();
}

json Scalar(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return s;  // quoted: always a string
  if (node.Tag() == "tag:yaml.org,2002:str") return s;
  std::string lower = absl::AsciiStrToLower(s);
  if (s.empty() || s == "~" || lower == "null") return nullptr;
  if (lower == "true" || lower == "yes" || lower == "on") return true;
  if (lower == "false" || lower == "no" || lower == "off") return false;
  if (LooksLikeInt(s)) {
    int64_t i;
    if (absl::SimpleAtoi(s, &i)) return i;
    uint64_t u;
    if (absl::SimpleAtoi(s, &u)) return u;
  }
  if (LooksLikeFloat(s)) {
    double d;
    if (absl::SimpleAtod(s, &d)) return d;
  }
  return s;
}

absl::StatusOr<json> Convert(const YAML::Node& node, int depth, int64_t* budget) {
  if (depth > kMaxDepth) return absl::InvalidArgumentError("yaml: nested too deeply");
  if (--*budget < 0) {
    return absl::InvalidArgumentError(
        "yaml: the document expands to more than 1000000 nodes (aliases?)");
  }
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return json(nullptr);
    case YAML::NodeType::Scalar:
      return Scalar(node);
    case YAML::NodeType::Sequence: {
      json arr = json::array();
      for (const YAML::Node& item : node) {
        absl::StatusOr<json> v = Convert(item, depth + 1, budget);
        if (!v.ok()) return v;
        arr.push_back(*std::move(v));
      }
      return arr;
    }
    case YAML::NodeType::Map: {
      json obj = json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) return absl::InvalidArgumentError("yaml: map keys must be scalars");
        absl::StatusOr<json> v = Convert(kv.second, depth + 1, budget);
        if (!v.ok()) return v;
        obj[kv.first.Scalar()] = *std::move(v);
      }
      return obj;
    }
  }
  return json(nullptr);
}

}  // namespace

absl::StatusOr<std::vector<json>> YamlDocumentsToJson(std::string_view text) {
  // Documents are split here, on "---" lines (spaces or a comment may follow), as
  // Kubernetes' YAML reader splits them; each is then parsed alone. yaml-cpp 0.7's LoadAll
  // loops forever, allocating, on some malformed streams (a lone ",": jbeder/yaml-cpp#1040),
  // which a single-document Load does not.
  std::vector<std::pair<int, std::string>> chunks(1, {0, ""});
  int line_no = 0;
  for (size_t pos = 0; pos < text.size(); ++line_no) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? nl : nl - pos + 1);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (line.substr(0, 3) == "---") {
      std::string_view rest = line.substr(3);
      size_t first = rest.find_first_not_of(" \t\r\n");
      if (first == std::string_view::npos || rest[first] == '#') {
        chunks.push_back({line_no + 1, ""});
        continue;
      }
    }
    chunks.back().second.append(line);
  }
  std::vector<json> out;
  for (const auto& [first_line, chunk] : chunks) {
    YAML::Node doc;
    try {
      doc = YAML::Load(chunk);
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(fmt::format("yaml: line {}, column {}: {}",
                                                    first_line + e.mark.line + 1,
                                                    e.mark.column + 1, e.msg));
    }
    if (doc.IsNull() || !doc.IsDefined()) continue;
    int64_t budget = kMaxNodes;
    absl::StatusOr<json> j = Convert(doc, 0, &budget);
    if (!j.ok()) return j.status();
    out.push_back(*std::move(j));
  }
  return out;
}

absl::StatusOr<json> YamlToJson(std::string_view text) {
  absl::StatusOr<std::vector<json>> docs = YamlDocumentsToJson(text);
  if (!docs.ok()) return docs.status();
  if (docs->empty()) return json(nullptr);
  return std::move(docs->front());
}

}  // namespace kobs
