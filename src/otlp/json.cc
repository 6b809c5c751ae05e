#include "otlp/json.h"

#include <absl/strings/escaping.h>
#include <fmt/format.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include "common/absl_compat.h"

namespace kobs::otlp {
namespace {

bool IsIdKey(const std::string& k) {
  return k == "traceId" || k == "spanId" || k == "parentSpanId" || k == "trace_id" ||
         k == "span_id" || k == "parent_span_id";
}

// Nesting depth of `json`, counting brackets outside strings (so that a hostile body cannot
// exhaust the stack of the recursive parser).
int MaxDepth(std::string_view json) {
  int depth = 0, max = 0;
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    char c = json[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') max = std::max(max, ++depth);
    else if (c == '}' || c == ']') --depth;
  }
  return max;
}

absl::Status HexToBase64(nlohmann::json& value, const std::string& key) {
  if (!value.is_string()) {
    return absl::InvalidArgumentError(fmt::format("{} must be a hex string", key));
  }
  const std::string& hex = value.get_ref<const std::string&>();
  if (hex.size() % 2 != 0) {
    return absl::InvalidArgumentError(fmt::format("{} '{}' is not hex", key, hex.substr(0, 64)));
  }
  for (char c : hex) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(fmt::format("{} '{}' is not hex", key, hex.substr(0, 64)));
    }
  }
  std::string bytes = absl::HexStringToBytes(hex);
  value = absl::Base64Escape(bytes);
  return absl::OkStatus();
}

absl::Status FixIds(nlohmann::json& node) {
  if (node.is_object()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (IsIdKey(it.key())) {
        if (absl::Status s = HexToBase64(it.value(), it.key()); !s.ok()) return s;
      } else if (it.value().is_structured()) {
        if (absl::Status s = FixIds(it.value()); !s.ok()) return s;
      }
    }
  } else if (node.is_array()) {
    for (auto& v : node) {
      if (v.is_structured()) {
        if (absl::Status s = FixIds(v); !s.ok()) return s;
      }
    }
  }
  return absl::OkStatus();
}

void IdsToHex(nlohmann::json& node) {
  if (node.is_object()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (IsIdKey(it.key()) && it.value().is_string()) {
        std::string bytes;
        absl::Base64Unescape(it.value().get<std::string>(), &bytes);
        it.value() = absl::BytesToHexString(bytes);
      } else if (it.value().is_structured()) {
        IdsToHex(it.value());
      }
    }
  } else if (node.is_array()) {
    for (auto& v : node) IdsToHex(v);
  }
}

}  // namespace

absl::Status ParseOtlpJson(std::string_view json, google::protobuf::Message* message) {
  if (MaxDepth(json) > kMaxJsonDepth) {
    return absl::InvalidArgumentError(
        fmt::format("JSON nested deeper than {} levels", kMaxJsonDepth));
  }
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError("malformed JSON");
  if (!doc.is_object()) return absl::InvalidArgumentError("the JSON body must be an object");
  if (absl::Status s = FixIds(doc); !s.ok()) return s;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto status = google::protobuf::util::JsonStringToMessage(
      doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), message, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("invalid OTLP JSON: {}", std::string(status.message())));
  }
  return absl::OkStatus();
}

std::string PrintOtlpJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  nlohmann::json doc = nlohmann::json::parse(out, nullptr, false);
  if (doc.is_discarded()) return out;
  IdsToHex(doc);
  return doc.dump();
}

}  // namespace kobs::otlp
