#include "otlp/json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "status_matchers.h"

namespace kobs::otlp {
namespace {

using ::kobs::testing::IsOk;
using ::kobs::testing::StatusIs;
namespace logs_v1 = ::opentelemetry::proto::collector::logs::v1;
namespace trace_v1 = ::opentelemetry::proto::collector::trace::v1;

TEST(OtlpJsonTest, ParsesTheSpecExample) {
  // The shape OTel SDKs send: camelCase, hex ids, enum integers, 64-bit integers as strings.
  const char* body = R"({"resourceLogs":[{"resource":{"attributes":[
      {"key":"service.name","value":{"stringValue":"checkout"}}]},
    "scopeLogs":[{"scope":{"name":"s","version":"1"},"logRecords":[{
      "timeUnixNano":"1764052272000000001","observedTimeUnixNano":1764052272000000002,
      "severityNumber":17,"severityText":"ERROR","body":{"stringValue":"boom"},
      "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
      "attributes":[{"key":"n","value":{"intValue":"42"}}],"futureField":1}]}]}]})";
  logs_v1::ExportLogsServiceRequest req;
  ASSERT_THAT(ParseOtlpJson(body, &req), IsOk());
  const auto& r = req.resource_logs(0).scope_logs(0).log_records(0);
  EXPECT_EQ(r.time_unix_nano(), 1764052272000000001u);
  EXPECT_EQ(r.observed_time_unix_nano(), 1764052272000000002u);
  EXPECT_EQ(r.severity_number(), 17);
  EXPECT_EQ(r.trace_id().size(), 16u);
  EXPECT_EQ(static_cast<unsigned char>(r.trace_id()[0]), 0x5b);
  EXPECT_EQ(r.span_id().size(), 8u);
  EXPECT_EQ(r.attributes(0).value().int_value(), 42);
}

TEST(OtlpJsonTest, RejectsMalformedInput) {
  logs_v1::ExportLogsServiceRequest req;
  EXPECT_THAT(ParseOtlpJson("{", &req), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseOtlpJson("[]", &req), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseOtlpJson(R"({"resourceLogs":"x"})", &req),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseOtlpJson(R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"zz"}]}]}]})", &req),
              StatusIs(absl::StatusCode::kInvalidArgument));
  std::string deep(100000, '[');
  EXPECT_THAT(ParseOtlpJson(deep, &req), StatusIs(absl::StatusCode::kInvalidArgument));
  std::string nested = R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":)";
  for (int i = 0; i < 200; ++i) nested += R"({"kvlistValue":{"values":[{"key":"k","value":)";
  EXPECT_THAT(ParseOtlpJson(nested, &req), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(OtlpJsonTest, PrintsHexIds) {
  trace_v1::ExportTraceServiceRequest req;
  auto* span = req.add_resource_spans()->add_scope_spans()->add_spans();
  span->set_trace_id(std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10", 16));
  span->set_span_id(std::string("\xaa\xbb\xcc\xdd\xee\xff\x00\x11", 8));
  std::string json = PrintOtlpJson(req);
  EXPECT_THAT(json, ::testing::HasSubstr(R"("traceId":"0102030405060708090a0b0c0d0e0f10")"));
  EXPECT_THAT(json, ::testing::HasSubstr(R"("spanId":"aabbccddeeff0011")"));
  trace_v1::ExportTraceServiceRequest back;
  ASSERT_THAT(ParseOtlpJson(json, &back), IsOk());
  EXPECT_EQ(back.SerializeAsString(), req.SerializeAsString());
}

}  // namespace
}  // namespace kobs::otlp
