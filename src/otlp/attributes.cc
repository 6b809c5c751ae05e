#include "otlp/attributes.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <absl/container/inlined_vector.h>
#include <absl/strings/escaping.h>

#include "common/absl_compat.h"
#include "store/row_binary.h"

namespace kobs::otlp {
namespace {

// Nesting deeper than this is written as null: protobuf's parser already caps recursion at
// 100, and a JSON body never needs more.
constexpr int kMaxDepth = 64;

}  // namespace

void AppendJsonEscaped(std::string_view s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 15]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
}

void AppendDouble(double v, std::string* out) {
  if (std::isnan(v)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(v)) {
    out->append(v > 0 ? "+Inf" : "-Inf");
    return;
  }
  char buf[64];
  const double a = std::fabs(v);
  const bool exponent = a != 0 && (a < 1e-6 || a >= 1e21);
  auto r = std::to_chars(buf, buf + sizeof buf, v,
                         exponent ? std::chars_format::scientific : std::chars_format::fixed);
  std::string_view s(buf, r.ptr - buf);
  if (!exponent) {
    out->append(s);
    return;
  }
  // "1e-07" -> "1e-7", as ES6 (and Go's encoding/json) write exponents.
  size_t e = s.find('e');
  out->append(s.substr(0, e + 2));
  std::string_view digits = s.substr(e + 2);
  while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
  out->append(digits);
}

void AppendAnyValueJson(const otlp_common::AnyValue& value, std::string* out, int depth) {
  using V = otlp_common::AnyValue;
  if (depth > kMaxDepth) {
    out->append("null");
    return;
  }
  switch (value.value_case()) {
    case V::kStringValue:
      out->push_back('"');
      AppendJsonEscaped(value.string_value(), out);
      out->push_back('"');
      break;
    case V::kBoolValue: out->append(value.bool_value() ? "true" : "false"); break;
    case V::kIntValue: out->append(std::to_string(value.int_value())); break;
    case V::kDoubleValue:
      if (std::isfinite(value.double_value())) {
        AppendDouble(value.double_value(), out);
      } else {
        out->append("null");  // JSON has no NaN or Infinity
      }
      break;
    case V::kBytesValue:
      out->push_back('"');
      out->append(absl::Base64Escape(ToAbsl(value.bytes_value())));
      out->push_back('"');
      break;
    case V::kArrayValue: {
      out->push_back('[');
      bool first = true;
      for (const auto& v : value.array_value().values()) {
        if (!first) out->push_back(',');
        first = false;
        AppendAnyValueJson(v, out, depth + 1);
      }
      out->push_back(']');
      break;
    }
    case V::kKvlistValue: {
      out->push_back('{');
      bool first = true;
      for (const auto& kv : value.kvlist_value().values()) {
        if (!first) out->push_back(',');
        first = false;
        out->push_back('"');
        AppendJsonEscaped(kv.key(), out);
        out->append("\":");
        AppendAnyValueJson(kv.value(), out, depth + 1);
      }
      out->push_back('}');
      break;
    }
    case V::VALUE_NOT_SET: out->append("null"); break;
  }
}

void AppendAnyValue(const otlp_common::AnyValue& value, std::string* out) {
  using V = otlp_common::AnyValue;
  switch (value.value_case()) {
    case V::kStringValue: out->append(value.string_value()); break;
    case V::kBoolValue: out->append(value.bool_value() ? "true" : "false"); break;
    case V::kIntValue: out->append(std::to_string(value.int_value())); break;
    case V::kDoubleValue: AppendDouble(value.double_value(), out); break;
    case V::kBytesValue: out->append(absl::Base64Escape(ToAbsl(value.bytes_value()))); break;
    case V::kArrayValue:
    case V::kKvlistValue: AppendAnyValueJson(value, out); break;
    case V::VALUE_NOT_SET: break;
  }
}

std::string AnyValueToString(const otlp_common::AnyValue& value) {
  std::string out;
  AppendAnyValue(value, &out);
  return out;
}

void ToAttributes(const google::protobuf::RepeatedPtrField<otlp_common::KeyValue>& attributes,
                  store::Attributes* out) {
  out->clear();
  out->reserve(attributes.size());
  for (const auto& kv : attributes) {
    std::string v;
    AppendAnyValue(kv.value(), &v);
    out->emplace_back(kv.key(), std::move(v));
  }
  // Stable sort, then keep the last of equal keys (a later duplicate overrides, as pcommon's
  // map does when it is built from the wire).
  std::stable_sort(out->begin(), out->end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  auto w = out->begin();
  for (auto r = out->begin(); r != out->end(); ++r) {
    if (w != out->begin() && (w - 1)->first == r->first) {
      *(w - 1) = std::move(*r);
    } else {
      if (w != r) *w = std::move(*r);
      ++w;
    }
  }
  out->erase(w, out->end());
}

void EncodeAttributeMap(
    const google::protobuf::RepeatedPtrField<otlp_common::KeyValue>& attributes, std::string* out) {
  absl::InlinedVector<const otlp_common::KeyValue*, 32> sorted;
  sorted.reserve(attributes.size());
  for (const auto& kv : attributes) sorted.push_back(&kv);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto* a, const auto* b) { return a->key() < b->key(); });
  // Keep the last of equal keys.
  size_t n = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (n > 0 && sorted[n - 1]->key() == sorted[i]->key()) {
      sorted[n - 1] = sorted[i];
    } else {
      sorted[n++] = sorted[i];
    }
  }
  store::RowBinaryWriter w(out);
  w.VarUInt(n);
  std::string scratch;
  for (size_t i = 0; i < n; ++i) {
    w.String(sorted[i]->key());
    const auto& v = sorted[i]->value();
    if (v.has_string_value()) {
      w.String(v.string_value());
    } else {
      scratch.clear();
      AppendAnyValue(v, &scratch);
      w.String(scratch);
    }
  }
}

void EncodeHexId(std::string_view bytes, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  if (std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; })) {
    out->push_back(0);  // empty String
    return;
  }
  store::RowBinaryWriter(out).VarUInt(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out->push_back(kHex[c >> 4]);
    out->push_back(kHex[c & 15]);
  }
}

std::string_view FindStringAttribute(
    const google::protobuf::RepeatedPtrField<otlp_common::KeyValue>& attributes,
    std::string_view key) {
  for (const auto& kv : attributes) {
    if (kv.key() == key && kv.value().has_string_value()) return kv.value().string_value();
  }
  return {};
}

std::string HexId(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  if (std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == 0; })) return {};
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

void FromAttributes(const store::Attributes& attributes,
                    google::protobuf::RepeatedPtrField<otlp_common::KeyValue>* out) {
  for (const auto& [k, v] : attributes) {
    otlp_common::KeyValue* kv = out->Add();
    kv->set_key(k);
    kv->mutable_value()->set_string_value(v);
  }
}

}  // namespace kobs::otlp
