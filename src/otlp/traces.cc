#include "otlp/traces.h"

#include <fmt/format.h>

#include "otlp/attributes.h"
#include "store/row_binary.h"

namespace kobs::otlp {
namespace {

void Reject(Decoded* out, std::string reason) {
  if (out->rejected == 0) out->rejected_reason = std::move(reason);
  ++out->rejected;
}

bool ValidId(const std::string& id, size_t size) { return id.empty() || id.size() == size; }

}  // namespace

const std::vector<std::string>& TraceColumns() {
  static const auto* columns = new std::vector<std::string>{
      "Timestamp",       "TraceId",          "SpanId",          "ParentSpanId",
      "TraceState",      "SpanName",         "SpanKind",        "ServiceName",
      "ResourceAttributes", "ScopeName",     "ScopeVersion",    "SpanAttributes",
      "Duration",        "StatusCode",       "StatusMessage",   "Events.Timestamp",
      "Events.Name",     "Events.Attributes", "Links.TraceId",  "Links.SpanId",
      "Links.TraceState", "Links.Attributes"};
  return *columns;
}

std::string_view SpanKindName(int kind) {
  switch (kind) {
    case 0: return "SPAN_KIND_UNSPECIFIED";
    case 1: return "SPAN_KIND_INTERNAL";
    case 2: return "SPAN_KIND_SERVER";
    case 3: return "SPAN_KIND_CLIENT";
    case 4: return "SPAN_KIND_PRODUCER";
    case 5: return "SPAN_KIND_CONSUMER";
    default: return "";
  }
}

std::string_view StatusCodeName(int code) {
  switch (code) {
    case 0: return "STATUS_CODE_UNSET";
    case 1: return "STATUS_CODE_OK";
    case 2: return "STATUS_CODE_ERROR";
    default: return "";
  }
}

void DecodeTraces(
    const opentelemetry::proto::collector::trace::v1::ExportTraceServiceRequest& request,
    Decoded* out) {
  EncodedRows& rows = out->at(Table::kTraces);
  std::string resource_attributes;
  for (const auto& rs : request.resource_spans()) {
    resource_attributes.clear();
    EncodeAttributeMap(rs.resource().attributes(), &resource_attributes);
    const std::string_view service = FindStringAttribute(rs.resource().attributes(), "service.name");
    for (const auto& ss : rs.scope_spans()) {
      for (const auto& span : ss.spans()) {
        if (span.trace_id().size() != 16 || span.span_id().size() != 8 ||
            !ValidId(span.parent_span_id(), 8)) {
          Reject(out, fmt::format("span '{}' with a malformed trace, span or parent id",
                                  span.name().substr(0, 100)));
          continue;
        }
        bool links_ok = true;
        for (const auto& l : span.links()) {
          links_ok = links_ok && ValidId(l.trace_id(), 16) && ValidId(l.span_id(), 8);
        }
        if (!links_ok) {
          Reject(out, fmt::format("span '{}' with a malformed link id", span.name().substr(0, 100)));
          continue;
        }
        std::string& d = rows.data;
        store::RowBinaryWriter w(&d);
        w.DateTime64Nanos(static_cast<int64_t>(span.start_time_unix_nano()));
        EncodeHexId(span.trace_id(), &d);
        EncodeHexId(span.span_id(), &d);
        EncodeHexId(span.parent_span_id(), &d);
        w.String(span.trace_state());
        w.String(span.name());
        w.String(SpanKindName(span.kind()));
        w.String(service);
        d.append(resource_attributes);
        w.String(ss.scope().name());
        w.String(ss.scope().version());
        EncodeAttributeMap(span.attributes(), &d);
        w.UInt64(span.end_time_unix_nano() > span.start_time_unix_nano()
                     ? span.end_time_unix_nano() - span.start_time_unix_nano()
                     : 0);
        w.String(StatusCodeName(span.status().code()));
        w.String(span.status().message());
        w.ArraySize(span.events_size());
        for (const auto& e : span.events()) w.DateTime64Nanos(static_cast<int64_t>(e.time_unix_nano()));
        w.ArraySize(span.events_size());
        for (const auto& e : span.events()) w.String(e.name());
        w.ArraySize(span.events_size());
        for (const auto& e : span.events()) EncodeAttributeMap(e.attributes(), &d);
        w.ArraySize(span.links_size());
        for (const auto& l : span.links()) EncodeHexId(l.trace_id(), &d);
        w.ArraySize(span.links_size());
        for (const auto& l : span.links()) EncodeHexId(l.span_id(), &d);
        w.ArraySize(span.links_size());
        for (const auto& l : span.links()) w.String(l.trace_state());
        w.ArraySize(span.links_size());
        for (const auto& l : span.links()) EncodeAttributeMap(l.attributes(), &d);
        ++rows.rows;
      }
    }
  }
}

}  // namespace kobs::otlp
