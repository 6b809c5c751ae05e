// Logs mapping, checked column by column after a real insert into the embedded store.
#include "otlp/logs.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "otlp/attributes.h"
#include "store_fixture.h"

namespace kobs::otlp {
namespace {

namespace logs_v1 = ::opentelemetry::proto::collector::logs::v1;
namespace common_v1 = ::opentelemetry::proto::common::v1;

void Attr(google::protobuf::RepeatedPtrField<common_v1::KeyValue>* kvs, const std::string& k,
          const std::string& v) {
  auto* kv = kvs->Add();
  kv->set_key(k);
  kv->mutable_value()->set_string_value(v);
}

class LogsTest : public StoreFixture {
 protected:
  // Decodes, inserts, and returns the rows as TSV in insertion order.
  std::string RoundTrip(const logs_v1::ExportLogsServiceRequest& req, Decoded* d) {
    DecodeLogs(req, d);
    Replace(*d);
    return Tsv(
        "SELECT Timestamp, TraceId, SpanId, TraceFlags, SeverityText, SeverityNumber, "
        "ServiceName, Body, ResourceSchemaUrl, ResourceAttributes, ScopeSchemaUrl, ScopeName, "
        "ScopeVersion, ScopeAttributes, LogAttributes, EventName FROM otlp.otel_logs "
        "ORDER BY Timestamp");
  }
};

TEST_F(LogsTest, MapsEveryColumnAsTheExporterDoes) {
  logs_v1::ExportLogsServiceRequest req;
  auto* rl = req.add_resource_logs();
  rl->set_schema_url("https://opentelemetry.io/schemas/1.26.0");
  Attr(rl->mutable_resource()->mutable_attributes(), "service.name", "checkout");
  Attr(rl->mutable_resource()->mutable_attributes(), "k8s.namespace.name", "demo");
  auto* sl = rl->add_scope_logs();
  sl->set_schema_url("scope-schema");
  sl->mutable_scope()->set_name("io.kobs");
  sl->mutable_scope()->set_version("1.2");
  Attr(sl->mutable_scope()->mutable_attributes(), "scope.k", "v");
  auto* r = sl->add_log_records();
  r->set_time_unix_nano(1764052272123456789);
  r->set_observed_time_unix_nano(1764052279000000000);
  r->set_trace_id(std::string("\x5b\x8e\xff\xf7\x98\x03\x81\x03\xd2\x69\xb6\x33\x81\x3f\xc6\x0c", 16));
  r->set_span_id(std::string("\xee\xe1\x9b\x7e\xc3\xc1\xb1\x74", 8));
  r->set_flags(0x101);
  r->set_severity_text("Warning");
  r->set_severity_number(opentelemetry::proto::logs::v1::SEVERITY_NUMBER_WARN);
  r->mutable_body()->set_string_value("disk\tfull");
  Attr(r->mutable_attributes(), "z", "last");
  auto* a = r->add_attributes();
  a->set_key("a");
  a->mutable_value()->set_int_value(-7);
  auto* b = r->add_attributes();
  b->set_key("b");
  b->mutable_value()->set_double_value(0.5);
  auto* c = r->add_attributes();
  c->set_key("c");
  c->mutable_value()->set_bool_value(true);
  auto* arr = r->add_attributes();
  arr->set_key("arr");
  arr->mutable_value()->mutable_array_value()->add_values()->set_string_value("x\"y");
  arr->mutable_value()->mutable_array_value()->add_values()->set_int_value(1);
  Attr(r->mutable_attributes(), "z", "dup-wins");  // a repeated key: the last one wins
  // A record with only an observed time, no severity, and a map body.
  auto* r2 = sl->add_log_records();
  r2->set_observed_time_unix_nano(1764052280000000000);
  auto* kv = r2->mutable_body()->mutable_kvlist_value()->add_values();
  kv->set_key("level");
  kv->mutable_value()->set_string_value("error");
  Decoded d;
  std::string tsv = RoundTrip(req, &d);
  EXPECT_EQ(d.rejected, 0);
  EXPECT_EQ(d.at(Table::kLogs).rows, 2u);
  EXPECT_EQ(tsv,
            "2025-11-25 06:31:12.123456789\t5b8efff798038103d269b633813fc60c\teee19b7ec3c1b174\t1\t"
            "Warning\t13\tcheckout\tdisk\\tfull\thttps://opentelemetry.io/schemas/1.26.0\t"
            "{'k8s.namespace.name':'demo','service.name':'checkout'}\tscope-schema\tio.kobs\t1.2\t"
            "{'scope.k':'v'}\t"
            "{'a':'-7','arr':'[\"x\\\\\"y\",1]','b':'0.5','c':'true','z':'dup-wins'}\t\n"
            "2025-11-25 06:31:20.000000000\t\t\t0\tERROR\t17\tcheckout\t{\"level\":\"error\"}\t"
            "https://opentelemetry.io/schemas/1.26.0\t"
            "{'k8s.namespace.name':'demo','service.name':'checkout'}\tscope-schema\tio.kobs\t1.2\t"
            "{'scope.k':'v'}\t{}\t\n");
}

TEST_F(LogsTest, RejectsMalformedIdsAndKeepsTheRest) {
  logs_v1::ExportLogsServiceRequest req;
  auto* sl = req.add_resource_logs()->add_scope_logs();
  sl->add_log_records()->set_trace_id("short");
  sl->add_log_records()->set_span_id("123");
  auto* ok = sl->add_log_records();
  ok->set_time_unix_nano(1);
  ok->mutable_body()->set_string_value("INFO fine");
  Decoded d;
  std::string tsv = RoundTrip(req, &d);
  EXPECT_EQ(d.rejected, 2);
  EXPECT_THAT(d.rejected_reason, ::testing::HasSubstr("5-byte trace_id"));
  EXPECT_EQ(d.at(Table::kLogs).rows, 1u);
  EXPECT_THAT(tsv, ::testing::HasSubstr("\tINFO\t9\t\tINFO fine\t"));
}

TEST_F(LogsTest, ReadsEventNameFromNewerSenders) {
  logs_v1::ExportLogsServiceRequest req;
  auto* r = req.add_resource_logs()->add_scope_logs()->add_log_records();
  r->set_time_unix_nano(5);
  std::string wire = req.SerializeAsString();
  // Append LogRecord.event_name (field 12, absent from proto v1.4.0) by re-encoding by hand.
  logs_v1::ExportLogsServiceRequest parsed;
  std::string record = r->SerializeAsString() + std::string("\x62\x05k.e.v", 7);
  std::string scope = std::string("\x12") + static_cast<char>(record.size()) + record;
  std::string resource = std::string("\x12") + static_cast<char>(scope.size()) + scope;
  std::string request = std::string("\x0a") + static_cast<char>(resource.size()) + resource;
  ASSERT_TRUE(parsed.ParseFromString(request));
  Decoded d;
  EXPECT_THAT(RoundTrip(parsed, &d), ::testing::EndsWith("\tk.e.v\n"));
}

TEST(AttributesTest, FormatsValuesAsPcommonAsString) {
  common_v1::AnyValue v;
  v.set_double_value(1e21);
  EXPECT_EQ(AnyValueToString(v), "1e+21");
  v.set_double_value(123456789.25);
  EXPECT_EQ(AnyValueToString(v), "123456789.25");
  v.set_double_value(1e-7);
  EXPECT_EQ(AnyValueToString(v), "1e-7");
  v.set_double_value(3);
  EXPECT_EQ(AnyValueToString(v), "3");
  v.set_bytes_value("\x01\x02");
  EXPECT_EQ(AnyValueToString(v), "AQI=");
  v.Clear();
  EXPECT_EQ(AnyValueToString(v), "");
  EXPECT_EQ(HexId(std::string(8, '\0')), "");
}

}  // namespace
}  // namespace kobs::otlp
