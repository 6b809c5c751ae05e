// Kubernetes events as otel_logs rows, exactly in the original stack's data model (what its
// k8sobjects receiver, resource processor and compositionresolver produced), so that its SQL
// keeps working, plus what it lacked:
//   Body               {"object": <the Event as the API sent it>, "type": "ADDED|MODIFIED|DELETED"}
//                      (keys sorted, as the OTel exporter's JSON of a map)
//   ResourceAttributes telemetry.source = k8s-events, k8s.namespace.name = <event namespace>
//   LogAttributes      k8s.resource.name = events, event.domain = k8s, event.name = <Event name>,
//                      and the composition id under its label key when resolved
// Better than the original: Timestamp is the event's own time (lastTimestamp, series,
// eventTime, then creationTimestamp; the observation time only when it has none), and
// SeverityText/SeverityNumber are WARN/13 for Warning events and INFO/9 for the others.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "store/otel_rows.h"

namespace kobs::collect {

inline constexpr char kEventsScope[] = "kobs/k8s-events";

// `type` is the watch event type; `observed_ns` the time kobs saw it.
store::LogRow EventToLogRow(const std::string& type, const nlohmann::json& event,
                            const std::string& composition_id, const std::string& label_key,
                            int64_t observed_ns);

}  // namespace kobs::collect
