// OTLP AnyValue / KeyValue to the strings the OTel ClickHouse exporter stores: pcommon's
// Value.AsString() (strings raw, ES6 number formatting, base64 bytes, maps and arrays as
// JSON) and attribute lists as key-sorted Map(String, String) entries. Stateless.
#pragma once

#include <string>
#include <string_view>

#include "opentelemetry/proto/common/v1/common.pb.h"
#include "store/otel_rows.h"

namespace kobs::otlp {

namespace otlp_common = ::opentelemetry::proto::common::v1;

// Appends the exporter's string form of `value` to `out`.
void AppendAnyValue(const otlp_common::AnyValue& value, std::string* out);
std::string AnyValueToString(const otlp_common::AnyValue& value);

// Appends `value` as JSON (used for map and array values, and for bodies of those types).
void AppendAnyValueJson(const otlp_common::AnyValue& value, std::string* out, int depth = 0);

// `attributes` as key-sorted (key, string value) pairs; a repeated key keeps its last value.
void ToAttributes(const google::protobuf::RepeatedPtrField<otlp_common::KeyValue>& attributes,
                  store::Attributes* out);

// The reverse of ToAttributes for string values: appends each pair as a KeyValue.
void FromAttributes(const store::Attributes& attributes,
                    google::protobuf::RepeatedPtrField<otlp_common::KeyValue>* out);

// Appends `attributes` as a RowBinary Map(String, String): key-sorted, a repeated key keeping
// its last value. Faster than ToAttributes + StringMap (no per-entry copies of strings).
void EncodeAttributeMap(
    const google::protobuf::RepeatedPtrField<otlp_common::KeyValue>& attributes, std::string* out);

// Appends HexId(bytes) as a RowBinary String.
void EncodeHexId(std::string_view bytes, std::string* out);

// The value of string attribute `key`, or "" (e.g. service.name).
std::string_view FindStringAttribute(
    const google::protobuf::RepeatedPtrField<otlp_common::KeyValue>& attributes,
    std::string_view key);

// ES6 Number::toString form of `v` (as Go's encoding/json and pcommon print doubles).
void AppendDouble(double v, std::string* out);

// Lower-case hex of `bytes` (trace and span ids); empty when `bytes` is all zero or empty, as
// the exporter's TraceIDToHexOrEmptyString.
std::string HexId(std::string_view bytes);

// Appends `s` escaped as the inside of a JSON string.
void AppendJsonEscaped(std::string_view s, std::string* out);

}  // namespace kobs::otlp
