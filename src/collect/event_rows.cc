#include "collect/event_rows.h"

#include <algorithm>

#include "common/time_util.h"
#include "k8s/objects.h"

namespace kobs::collect {

using nlohmann::json;

store::LogRow EventToLogRow(const std::string& type, const json& event,
                            const std::string& composition_id, const std::string& label_key,
                            int64_t observed_ns) {
  store::LogRow row;
  absl::StatusOr<k8s::Event> e = k8s::DecodeEvent(event);
  row.timestamp_ns = observed_ns;
  if (e.ok()) {
    absl::StatusOr<int64_t> t = ParseRfc3339Nanos(e->LastSeen());
    if (t.ok()) row.timestamp_ns = *t;
    const bool warning = e->type == "Warning";
    row.severity_text = warning ? "WARN" : "INFO";
    row.severity_number = warning ? 13 : 9;
  }
  row.body = json{{"object", event}, {"type", type}}.dump(-1, ' ', false,
                                                           json::error_handler_t::replace);
  row.scope_name = kEventsScope;
  const std::string ns = e.ok() ? e->metadata.namespace_ : "";
  row.resource_attributes = {{"k8s.namespace.name", ns}, {"telemetry.source", "k8s-events"}};
  row.log_attributes = {{"event.domain", "k8s"},
                        {"event.name", e.ok() ? e->metadata.name : ""},
                        {"k8s.resource.name", "events"}};
  if (!composition_id.empty()) row.log_attributes.emplace_back(label_key, composition_id);
  // Attribute maps sorted by key (otel_rows.h: equal sets must encode equally).
  std::sort(row.resource_attributes.begin(), row.resource_attributes.end());
  std::sort(row.log_attributes.begin(), row.log_attributes.end());
  return row;
}

}  // namespace kobs::collect
