// The OTLP/JSON encoding (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
// protobuf's JSON mapping, except that trace and span ids are hex, not base64. Parses into
// and prints from the generated messages. Stateless, thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace google::protobuf {
class Message;
}

namespace kobs::otlp {

// Maximum nesting of objects and arrays accepted in a JSON request.
inline constexpr int kMaxJsonDepth = 64;

// Parses an OTLP/JSON request body into `message`. Unknown fields are ignored (newer senders);
// InvalidArgument for malformed JSON, bad ids, nesting deeper than kMaxJsonDepth.
absl::Status ParseOtlpJson(std::string_view json, google::protobuf::Message* message);

// Prints `message` as OTLP/JSON (camelCase names, hex ids).
std::string PrintOtlpJson(const google::protobuf::Message& message);

}  // namespace kobs::otlp
