// The Kubernetes diagnostic tools over the original stack's data model (otel_logs rows with
// ResourceAttributes['telemetry.source'] = 'k8s-events' and an Event in Body; pod logs; traces;
// kubelet and cluster metrics): the original krateo-mcp-tools six, with their parameters and
// defaults (get_pod_errors, get_pod_timeline, get_composition_events, get_warning_summary,
// get_agent_traces, check_pod_health), and search_logs, get_slow_traces,
// get_composition_health. Every value is a bound parameter; prefixes are LIKE-escaped;
// required parameters must be non-empty; time windows and row counts are bounded.
//
// check_pod_health reads these metrics (as the OpenTelemetry kubeletstats and k8s_cluster
// receivers name them, and as kobs's node agent writes them), matched on the
// k8s.namespace.name / k8s.pod.name resource attributes: k8s.container.restarts,
// container.memory.working_set, k8s.container.memory_limit, container.cpu.usage (cores),
// k8s.container.cpu_limit; the last termination reason from the
// k8s.container.status.last_terminated_reason resource attribute, else from the pod's events.
#pragma once

#include <vector>

#include "mcp/http_transport.h"
#include "mcp/server.h"
#include "store/store.h"

namespace kobs::mcp {

std::vector<Tool> DiagnosticTools(store::Store& store, const McpOptions& options);

}  // namespace kobs::mcp
