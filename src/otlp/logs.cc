#include "otlp/logs.h"

#include <fmt/format.h>

#include "otlp/attributes.h"
#include "otlp/severity.h"
#include "store/row_binary.h"

namespace kobs::otlp {
namespace {

namespace logs_v1 = ::opentelemetry::proto::logs::v1;

// LogRecord.event_name (field 12) arrived after opentelemetry-proto v1.4.0, which we compile:
// newer senders' values land in the unknown-field set.
std::string_view EventName(const logs_v1::LogRecord& record) {
  const auto& unknown = record.GetReflection()->GetUnknownFields(record);
  for (int i = 0; i < unknown.field_count(); ++i) {
    const auto& f = unknown.field(i);
    if (f.number() == 12 && f.type() == google::protobuf::UnknownField::TYPE_LENGTH_DELIMITED) {
      return f.length_delimited();
    }
  }
  return {};
}

void Reject(Decoded* out, std::string reason) {
  if (out->rejected == 0) out->rejected_reason = std::move(reason);
  ++out->rejected;
}

}  // namespace

void DecodeLogs(const opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest& request,
                Decoded* out) {
  EncodedRows& rows = out->at(Table::kLogs);
  std::string resource_attributes, scope_attributes, body;
  for (const auto& rl : request.resource_logs()) {
    resource_attributes.clear();
    EncodeAttributeMap(rl.resource().attributes(), &resource_attributes);
    const std::string_view service = FindStringAttribute(rl.resource().attributes(), "service.name");
    for (const auto& sl : rl.scope_logs()) {
      scope_attributes.clear();
      EncodeAttributeMap(sl.scope().attributes(), &scope_attributes);
      for (const auto& r : sl.log_records()) {
        if (!r.trace_id().empty() && r.trace_id().size() != 16) {
          Reject(out, fmt::format("log record with a {}-byte trace_id (want 16)", r.trace_id().size()));
          continue;
        }
        if (!r.span_id().empty() && r.span_id().size() != 8) {
          Reject(out, fmt::format("log record with a {}-byte span_id (want 8)", r.span_id().size()));
          continue;
        }
        const std::string* body_text;
        if (r.body().has_string_value()) {
          body_text = &r.body().string_value();
        } else {
          body.clear();
          AppendAnyValue(r.body(), &body);
          body_text = &body;
        }
        std::string_view severity_text = r.severity_text();
        int severity_number = r.severity_number();
        if (severity_text.empty() && severity_number == 0) {
          if (auto s = InferSeverity(*body_text)) {
            severity_text = s->text;
            severity_number = s->number;
          }
        } else if (severity_text.empty()) {
          severity_text = SeverityTextFromNumber(severity_number);
        }
        std::string& d = rows.data;
        store::RowBinaryWriter w(&d);
        w.DateTime64Nanos(static_cast<int64_t>(
            r.time_unix_nano() != 0 ? r.time_unix_nano() : r.observed_time_unix_nano()));
        EncodeHexId(r.trace_id(), &d);
        EncodeHexId(r.span_id(), &d);
        w.UInt8(static_cast<uint8_t>(r.flags() & 0xff));
        w.String(severity_text);
        w.UInt8(static_cast<uint8_t>(severity_number));
        w.String(service);
        w.String(*body_text);
        w.String(rl.schema_url());
        d.append(resource_attributes);
        w.String(sl.schema_url());
        w.String(sl.scope().name());
        w.String(sl.scope().version());
        d.append(scope_attributes);
        EncodeAttributeMap(r.attributes(), &d);
        w.String(EventName(r));
        ++rows.rows;
      }
    }
  }
}

}  // namespace kobs::otlp
