#include "mcp/diagnostic_tools.h"

#include <future>
#include <set>
#include <string>

#include <fmt/format.h>

#include "mcp/sql_guard.h"
#include "mcp/tool_util.h"

namespace kobs::mcp {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;
using store::Param;

constexpr int64_t kWeekMinutes = 7 * 24 * 60;

// Event fields in Body = {"type": ..., "object": <Event>}.
constexpr char kReason[] = "JSONExtractString(Body, 'object', 'reason')";
constexpr char kMessage[] = "JSONExtractString(Body, 'object', 'message')";
constexpr char kType[] = "JSONExtractString(Body, 'object', 'type')";
constexpr char kObjKind[] = "JSONExtractString(Body, 'object', 'involvedObject', 'kind')";
constexpr char kObjName[] = "JSONExtractString(Body, 'object', 'involvedObject', 'name')";
constexpr char kObjNs[] = "JSONExtractString(Body, 'object', 'involvedObject', 'namespace')";
// has() on mapValues is answered by the exporter schema's index on them: many times faster
// than reading the map, for events and (negated) for everything but events.
constexpr char kIsEvent[] =
    "(has(mapValues(ResourceAttributes), 'k8s-events') AND "
    "ResourceAttributes['telemetry.source'] = 'k8s-events')";
// A cheap superset test before the JSON is parsed: the Body holds `"name":"<prefix>`.
constexpr char kNamePrefilter[] = "position(Body, concat('\"name\":\"', {name:String})) > 0";
constexpr char kIsError[] = "(SeverityText IN ('ERROR', 'FATAL') OR SeverityNumber >= 17)";

json Namespace() { return {{"type", "string"}, {"description", "Namespace"}, {"default", "default"}, {"maxLength", 253}}; }
json PodName() { return StrArg("Pod name or name prefix (required)", 253, 1); }
json Minutes(int64_t dflt) { return IntArg("Look back this many minutes", 1, kWeekMinutes, dflt); }

// What a tool needs: the store, the limits, and which otel_logs columns to read pod and
// namespace from (the exporter schema's LowCardinality materialized columns when the table
// has them, many times faster than the map lookup they stand for; the map otherwise).
struct Ctx {
  store::Store& store;
  McpOptions o;
  bool materialized = false;
  // The typed events table (schema migration 10): one composition's events are a primary-key
  // range there.
  bool typed_events = false;

  // `sql` over otel_logs, with the map lookups of pod and namespace on the fast columns.
  std::string Logs(std::string sql) const {
    if (!materialized) return sql;
    for (auto [from, to] : {std::pair{"ResourceAttributes['k8s.pod.name']",
                                      "`__otel_materialized_k8s.pod.name`"},
                            std::pair{"ResourceAttributes['k8s.namespace.name']",
                                      "`__otel_materialized_k8s.namespace.name`"}}) {
      for (size_t at; (at = sql.find(from)) != std::string::npos;) {
        sql.replace(at, std::string_view(from).size(), to);
      }
    }
    return sql;
  }
};

std::string Prefix(const json& a, const char* key) {
  return EscapeLike(a[key].get<std::string>()) + "%";
}

// A tool result: the rows, with the truncation marker when the limit cut them.
absl::StatusOr<ojson> Bounded(store::Store& store, const McpOptions& o, const std::string& sql,
                              std::vector<Param> params, uint64_t limit) {
  uint64_t more = 0;
  bool exact = true;
  auto rows = RunBounded(store, sql, std::move(params), o, limit, &more, &exact);
  if (!rows.ok()) return rows.status();
  ojson out = {{"rows", *rows}, {"row_count", rows->size()}, {"truncated", more > 0}};
  if (more > 0) out["more_rows"] = more;
  return out;
}

Tool PodErrors(const Ctx& c) {
  return Tool{
      .name = "get_pod_errors",
      .title = "Pod error logs",
      .description = "ERROR and FATAL log lines of the pods whose name starts with pod_name in a "
                     "namespace, newest first.",
      .input_schema = Schema({{"namespace", Namespace()}, {"pod_name", PodName()},
                              {"minutes", Minutes(30)}, {"limit", IntArg("Rows at most", 1, 500, 30)}},
                             {"pod_name"}),
      .run = [c](const json& a) {
        return Bounded(c.store, c.o,
                       c.Logs(fmt::format(
                           "SELECT toString(Timestamp) AS timestamp, SeverityText AS severity, "
                           "substring(Body, 1, 500) AS body, ResourceAttributes['k8s.pod.name'] AS "
                           "pod_name, ResourceAttributes['k8s.container.name'] AS container "
                           "FROM otel_logs WHERE ResourceAttributes['k8s.pod.name'] LIKE {{pod:String}} "
                           "AND ResourceAttributes['k8s.namespace.name'] = {{ns:String}} AND {} "
                           "AND Timestamp > now() - INTERVAL {{m:UInt32}} MINUTE "
                           "ORDER BY Timestamp DESC LIMIT {{limit:UInt32}}",
                           kIsError)),
                       {Param::Str("pod", Prefix(a, "pod_name")), Param::Str("ns", a["namespace"].get<std::string>()),
                        Param::Raw("m", a["minutes"].dump()), Param::Raw("limit", a["limit"].dump())},
                       a["limit"].get<uint64_t>());
      }};
}

Tool PodTimeline(const Ctx& c) {
  return Tool{
      .name = "get_pod_timeline",
      .title = "Pod timeline",
      .description = "Kubernetes events and ERROR/FATAL/WARN log lines of the pods whose name "
                     "starts with pod_name, merged newest first.",
      .input_schema = Schema({{"namespace", Namespace()}, {"pod_name", PodName()},
                              {"minutes", Minutes(60)}, {"limit", IntArg("Rows at most", 1, 500, 50)}},
                             {"pod_name"}),
      .run = [c](const json& a) {
        return Bounded(
            c.store, c.o,
            c.Logs(fmt::format(
                // Parenthesized: in ClickHouse a bare ORDER BY/LIMIT after UNION ALL binds to the
                // last SELECT only (the original's timeline was neither sorted nor bounded).
                "SELECT * FROM ("
                "SELECT toString(Timestamp) AS timestamp, 'event' AS source, {0} AS reason, {1} "
                "AS message, {2} AS type FROM otel_logs WHERE {3} AND {6} AND {4} LIKE "
                "{{pod:String}} AND {5} = {{ns:String}} AND Timestamp > now() - INTERVAL "
                "{{m:UInt32}} MINUTE "
                "UNION ALL "
                "SELECT toString(Timestamp) AS timestamp, 'log' AS source, SeverityText AS reason, "
                "substring(Body, 1, 300) AS message, '' AS type FROM otel_logs WHERE "
                "ResourceAttributes['k8s.pod.name'] LIKE {{pod:String}} AND "
                "ResourceAttributes['k8s.namespace.name'] = {{ns:String}} AND SeverityText IN "
                "('ERROR', 'FATAL', 'WARN') AND NOT has(mapValues(ResourceAttributes), "
                "'k8s-events') AND Timestamp > now() - INTERVAL {{m:UInt32}} MINUTE) "
                "ORDER BY timestamp DESC LIMIT {{limit:UInt32}}",
                kReason, kMessage, kType, kIsEvent, kObjName, kObjNs, kNamePrefilter)),
            {Param::Str("pod", Prefix(a, "pod_name")), Param::Str("ns", a["namespace"].get<std::string>()),
             Param::Str("name", a["pod_name"].get<std::string>()),
             Param::Raw("m", a["minutes"].dump()), Param::Raw("limit", a["limit"].dump())},
            a["limit"].get<uint64_t>());
      }};
}

Tool CompositionEvents(const Ctx& c) {
  return Tool{
      .name = "get_composition_events",
      .title = "Composition events",
      .description = "Kubernetes events of the resources of one Krateo composition, newest first.",
      .input_schema = Schema({{"composition_id", StrArg("The composition's uid (required)", 253, 1)},
                              {"minutes", Minutes(60)}, {"limit", IntArg("Rows at most", 1, 500, 50)}},
                             {"composition_id"}),
      .run = [c](const json& a) {
        return Bounded(
            c.store, c.o,
            fmt::format("SELECT toString(Timestamp) AS timestamp, {} AS kind, {} AS name, {} AS "
                        "namespace, {} AS reason, {} AS message, {} AS type FROM otel_logs WHERE "
                        "has(mapValues(LogAttributes), {{id:String}}) AND LogAttributes['krateo.io/composition-id'] = {{id:String}} AND {} AND "
                        "Timestamp > now() - INTERVAL {{m:UInt32}} MINUTE ORDER BY Timestamp DESC "
                        "LIMIT {{limit:UInt32}}",
                        kObjKind, kObjName, kObjNs, kReason, kMessage, kType, kIsEvent),
            {Param::Str("id", a["composition_id"].get<std::string>()), Param::Raw("m", a["minutes"].dump()),
             Param::Raw("limit", a["limit"].dump())},
            a["limit"].get<uint64_t>());
      }};
}

Tool WarningSummary(const Ctx& c) {
  return Tool{
      .name = "get_warning_summary",
      .title = "Warning summary",
      .description = "Warning events counted by resource and reason, most frequent first; "
                     "optionally in one namespace.",
      .input_schema = Schema({{"minutes", Minutes(30)},
                              {"namespace", StrArg("Only this namespace (all when absent)", 253)},
                              {"limit", IntArg("Rows at most", 1, 500, 30)}}),
      .run = [c](const json& a) {
        return Bounded(
            c.store, c.o,
            fmt::format("SELECT {} AS namespace, {} AS resource, {} AS kind, {} AS reason, "
                        "count() AS event_count, max(toString(Timestamp)) AS last_seen FROM "
                        "otel_logs WHERE {} AND {} = 'Warning' AND ({{ns:String}} = '' OR {} = "
                        "{{ns:String}}) AND Timestamp > now() - INTERVAL {{m:UInt32}} MINUTE "
                        "GROUP BY namespace, resource, kind, reason ORDER BY event_count DESC, "
                        "last_seen DESC LIMIT {{limit:UInt32}}",
                        kObjNs, kObjName, kObjKind, kReason, kIsEvent, kType, kObjNs),
            {Param::Str("ns", a.value("namespace", "")), Param::Raw("m", a["minutes"].dump()),
             Param::Raw("limit", a["limit"].dump())},
            a["limit"].get<uint64_t>());
      }};
}

Tool AgentTraces(const Ctx& c) {
  return Tool{
      .name = "get_agent_traces",
      .title = "Agent traces",
      .description = "Recent spans of one agent (service name), or of every krateo-* service.",
      .input_schema = Schema({{"agent_name", StrArg("Service name (all krateo-* when absent)", 253)},
                              {"minutes", Minutes(60)}, {"limit", IntArg("Rows at most", 1, 500, 30)}}),
      .run = [c](const json& a) {
        return Bounded(
            c.store, c.o,
            "SELECT TraceId AS trace_id, SpanName AS span_name, ServiceName AS service_name, "
            "Duration / 1000000 AS duration_ms, StatusCode AS status_code, toString(Timestamp) "
            "AS timestamp FROM otel_traces WHERE Timestamp > now() - INTERVAL {m:UInt32} MINUTE "
            "AND if({agent:String} = '', ServiceName LIKE 'krateo-%', ServiceName = "
            "{agent:String}) ORDER BY Timestamp DESC LIMIT {limit:UInt32}",
            {Param::Str("agent", a.value("agent_name", "")), Param::Raw("m", a["minutes"].dump()),
             Param::Raw("limit", a["limit"].dump())},
            a["limit"].get<uint64_t>());
      }};
}

// The latest value of each of {metrics:Array(String)} per container of the pods `filter`
// (SQL over ResourceAttributes) selects, from both gauge and sum tables (receivers differ on
// which one a metric is).
std::string LatestMetrics(const std::string& filter) {
  std::string part;
  for (const char* table : {"otel_metrics_gauge", "otel_metrics_sum"}) {
    if (!part.empty()) part += " UNION ALL ";
    part += fmt::format(
        "SELECT ResourceAttributes, MetricName, Value, TimeUnix FROM {} WHERE MetricName IN "
        "{{metrics:Array(String)}} AND TimeUnix > now() - INTERVAL {{m:UInt32}} MINUTE AND {}",
        table, filter);
  }
  return "SELECT ResourceAttributes['k8s.pod.name'] AS pod, "
         "ResourceAttributes['k8s.container.name'] AS container, MetricName AS metric, "
         "argMax(Value, TimeUnix) AS value, "
         "argMax(ResourceAttributes['k8s.container.status.last_terminated_reason'], TimeUnix) "
         "AS last_terminated_reason FROM (" + part + ") "
         "GROUP BY pod, container, metric ORDER BY pod, container, metric";
}

constexpr char kPodFilter[] =
    "ResourceAttributes['k8s.namespace.name'] = {ns:String} AND "
    "ResourceAttributes['k8s.pod.name'] LIKE {pod:String}";

constexpr char kHealthMetrics[] =
    "['k8s.container.restarts','container.memory.working_set','k8s.container.memory_limit',"
    "'container.cpu.usage','k8s.container.cpu_limit']";

// Folds LatestMetrics rows into one object per container.
ojson Containers(const ojson& rows) {
  ojson out = ojson::array();
  for (const auto& r : rows) {
    if (out.empty() || out.back()["pod"] != r["pod"] || out.back()["container"] != r["container"]) {
      out.push_back({{"pod", r["pod"]}, {"container", r["container"]}});
    }
    ojson& c = out.back();
    const std::string m = r["metric"];
    const double v = r["value"].get<double>();
    if (m == "k8s.container.restarts") {
      c["restart_count"] = static_cast<int64_t>(v);
      if (!r["last_terminated_reason"].get<std::string>().empty()) {
        c["last_terminated_reason"] = r["last_terminated_reason"];
      }
    } else if (m == "container.memory.working_set") {
      c["memory_working_set_bytes"] = v;
    } else if (m == "k8s.container.memory_limit") {
      c["memory_limit_bytes"] = v;
    } else if (m == "container.cpu.usage") {
      c["cpu_usage_cores"] = v;
    } else if (m == "k8s.container.cpu_limit") {
      c["cpu_limit_cores"] = v;
    }
  }
  for (auto& c : out) {
    if (c.contains("memory_working_set_bytes") && c.contains("memory_limit_bytes") &&
        c["memory_limit_bytes"].get<double>() > 0) {
      c["memory_used_of_limit"] = c["memory_working_set_bytes"].get<double>() /
                                  c["memory_limit_bytes"].get<double>();
    }
    if (c.contains("cpu_usage_cores") && c.contains("cpu_limit_cores") &&
        c["cpu_limit_cores"].get<double>() > 0) {
      c["cpu_used_of_limit"] =
          c["cpu_usage_cores"].get<double>() / c["cpu_limit_cores"].get<double>();
    }
  }
  return out;
}

Tool PodHealth(const Ctx& c) {
  return Tool{
      .name = "check_pod_health",
      .title = "Pod health",
      .description =
          "Health of the pods whose name starts with pod_name over the last hour: warning events "
          "by reason, the number of error log lines, and per container the restart count, the "
          "last termination reason, and memory and CPU use against their limits.",
      .input_schema = Schema({{"namespace", Namespace()}, {"pod_name", PodName()},
                              {"minutes", Minutes(60)}},
                             {"pod_name"}),
      .run = [c](const json& a) -> absl::StatusOr<ojson> {
        std::vector<Param> p = {Param::Str("pod", Prefix(a, "pod_name")),
                                Param::Str("ns", a["namespace"].get<std::string>()),
                                Param::Str("name", a["pod_name"].get<std::string>()),
                                Param::Raw("m", a["minutes"].dump()),
                                Param::Raw("metrics", kHealthMetrics)};
        // One pass over the pod's events, one over its logs, one over its metrics, at once.
        auto events_f = std::async(std::launch::async, [&] {
          return Rows(
              c.store, c.o,
              fmt::format("SELECT {} AS type, {} AS reason, count() AS count, "
                          "max(toString(Timestamp)) AS last_seen, argMax({}, Timestamp) AS "
                          "last_message FROM otel_logs WHERE {} AND {} AND {} LIKE {{pod:String}} "
                          "AND {} = {{ns:String}} AND Timestamp > now() - INTERVAL {{m:UInt32}} "
                          "MINUTE GROUP BY type, reason ORDER BY count DESC, last_seen DESC LIMIT 200",
                          kType, kReason, kMessage, kIsEvent, kNamePrefilter, kObjName, kObjNs),
              p);
        });
        auto errors_f = std::async(std::launch::async, [&] {
          return Rows(c.store, c.o,
                      c.Logs(fmt::format("SELECT count() AS error_count FROM otel_logs WHERE "
                                         "{} AND {} AND Timestamp > now() - INTERVAL "
                                         "{{m:UInt32}} MINUTE",
                                         kPodFilter, kIsError)),
                      p);
        });
        auto metrics = Rows(c.store, c.o, LatestMetrics(kPodFilter), p);
        auto events = events_f.get();
        auto errors = errors_f.get();
        if (!events.ok()) return events.status();
        if (!errors.ok()) return errors.status();
        if (!metrics.ok()) return metrics.status();
        ojson warnings = ojson::array();
        ojson last_problem = nullptr;
        std::string last_problem_seen;
        static const std::set<std::string> kProblems = {"OOMKilling", "BackOff", "Killing",
                                                        "Failed", "Unhealthy", "Evicted"};
        for (auto& e : *events) {
          // Without the metric attribute, the last termination cause comes from the events.
          if (kProblems.count(e["reason"].get<std::string>()) > 0 &&
              e["last_seen"].get<std::string>() > last_problem_seen) {
            last_problem_seen = e["last_seen"].get<std::string>();
            last_problem = e["reason"];
          }
          if (e["type"] == "Warning") {
            e.erase("type");
            warnings.push_back(e);
          }
        }
        const ojson& count = (*errors)[0]["error_count"];
        return ojson{{"pod", a["pod_name"]},
                     {"namespace", a["namespace"]},
                     {"warning_events", warnings},
                     {"error_logs", count.is_string() ? ojson(std::stoll(count.get<std::string>())) : count},
                     {"containers", Containers(*metrics)},
                     {"last_problem_event", last_problem}};
      }};
}

Tool SearchLogs(const Ctx& c) {
  return Tool{
      .name = "search_logs",
      .title = "Search logs",
      .description =
          "Log lines (events excluded) over a bounded time window, newest first, filtered by "
          "text (case-insensitive substring of the body), namespace, pod name prefix, service, "
          "minimum severity, and one attribute (key and value, log or resource attribute).",
      .input_schema = Schema({{"text", StrArg("Substring of the body", 1000)},
                              {"namespace", StrArg("Namespace", 253)},
                              {"pod_name", StrArg("Pod name prefix", 253)},
                              {"service", StrArg("Service name", 253)},
                              {"min_severity", {{"type", "string"}, {"enum", {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}}}},
                              {"attribute_key", StrArg("Attribute key", 256)},
                              {"attribute_value", StrArg("Attribute value", 1000)},
                              {"minutes", Minutes(60)},
                              {"limit", IntArg("Rows at most", 1, 1000, 100)}}),
      .run = [c](const json& a) {
        static const std::map<std::string, int> kSeverity = {
            {"TRACE", 1}, {"DEBUG", 5}, {"INFO", 9}, {"WARN", 13}, {"ERROR", 17}, {"FATAL", 21}};
        const int min_sev = kSeverity.at(a.value("min_severity", "TRACE"));
        const std::string pod = a.value("pod_name", "");
        return Bounded(
            c.store, c.o,
            c.Logs("SELECT toString(Timestamp) AS timestamp, SeverityText AS severity, ServiceName AS "
            "service, ResourceAttributes['k8s.namespace.name'] AS namespace, "
            "ResourceAttributes['k8s.pod.name'] AS pod_name, substring(Body, 1, 1000) AS body "
            "FROM otel_logs WHERE Timestamp > now() - INTERVAL {m:UInt32} MINUTE AND "
            "NOT has(mapValues(ResourceAttributes), 'k8s-events') AND "
            "({text:String} = '' OR positionCaseInsensitive(Body, {text:String}) > 0) AND "
            "({ns:String} = '' OR ResourceAttributes['k8s.namespace.name'] = {ns:String}) AND "
            "({pod:String} = '%' OR ResourceAttributes['k8s.pod.name'] LIKE {pod:String}) AND "
            "({svc:String} = '' OR ServiceName = {svc:String}) AND "
            "(SeverityNumber >= {sev:UInt8} OR (SeverityNumber = 0 AND {sev:UInt8} <= 1)) AND "
            "({key:String} = '' OR LogAttributes[{key:String}] = {value:String} OR "
            "ResourceAttributes[{key:String}] = {value:String}) "
            "ORDER BY Timestamp DESC LIMIT {limit:UInt32}"),
            {Param::Str("text", a.value("text", "")), Param::Str("ns", a.value("namespace", "")),
             Param::Str("pod", EscapeLike(pod) + "%"), Param::Str("svc", a.value("service", "")),
             Param::Raw("sev", std::to_string(min_sev)),
             Param::Str("key", a.value("attribute_key", "")),
             Param::Str("value", a.value("attribute_value", "")),
             Param::Raw("m", a["minutes"].dump()), Param::Raw("limit", a["limit"].dump())},
            a["limit"].get<uint64_t>());
      }};
}

Tool SlowTraces(const Ctx& c) {
  return Tool{
      .name = "get_slow_traces",
      .title = "Slow spans",
      .description = "The slowest spans over a time window, at least min_duration_ms long, "
                     "optionally of one service; slowest first.",
      .input_schema = Schema({{"service", StrArg("Service name", 253)},
                              {"min_duration_ms", IntArg("Minimum duration in ms", 0, 86'400'000, 1000)},
                              {"minutes", Minutes(60)},
                              {"limit", IntArg("Rows at most", 1, 500, 30)}}),
      .run = [c](const json& a) {
        return Bounded(
            c.store, c.o,
            "SELECT TraceId AS trace_id, SpanId AS span_id, SpanName AS span_name, ServiceName "
            "AS service_name, Duration / 1000000 AS duration_ms, StatusCode AS status_code, "
            "toString(Timestamp) AS timestamp FROM otel_traces WHERE Timestamp > now() - "
            "INTERVAL {m:UInt32} MINUTE AND Duration >= {min:UInt64} * 1000000 AND "
            "({svc:String} = '' OR ServiceName = {svc:String}) ORDER BY Duration DESC "
            "LIMIT {limit:UInt32}",
            {Param::Str("svc", a.value("service", "")), Param::Raw("min", a["min_duration_ms"].dump()),
             Param::Raw("m", a["minutes"].dump()), Param::Raw("limit", a["limit"].dump())},
            a["limit"].get<uint64_t>());
      }};
}

Tool CompositionHealth(const Ctx& c) {
  return Tool{
      .name = "get_composition_health",
      .title = "Composition health",
      .description =
          "Every resource of a Krateo composition seen in its events, in one answer: per "
          "resource the warning and normal event counts and the last reason and message; and "
          "for its pods the error log lines and container restarts.",
      .input_schema = Schema({{"composition_id", StrArg("The composition's uid (required)", 253, 1)},
                              {"minutes", Minutes(60)}},
                             {"composition_id"}),
      .run = [c](const json& a) -> absl::StatusOr<ojson> {
        std::vector<Param> p = {Param::Str("id", a["composition_id"].get<std::string>()),
                                Param::Raw("m", a["minutes"].dump())};
        const std::string resources_sql =
            c.typed_events
                ? std::string(
                      "SELECT ObjectKind AS kind, ObjectName AS name, ObjectNamespace AS "
                      "namespace, countIf(Type = 'Warning') AS warnings, countIf(Type != "
                      "'Warning') AS normal, argMax(Reason, Timestamp) AS last_reason, "
                      "argMax(Message, Timestamp) AS last_message, max(toString(Timestamp)) AS "
                      "last_seen FROM kobs_k8s_events WHERE CompositionId = {id:String} AND "
                      "Timestamp > now() - INTERVAL {m:UInt32} MINUTE GROUP BY kind, name, "
                      "namespace ORDER BY warnings DESC, kind, name LIMIT 500")
                : fmt::format(
                      "SELECT {0} AS kind, {1} AS name, {2} AS namespace, countIf({3} = "
                      "'Warning') AS warnings, countIf({3} != 'Warning') AS normal, "
                      "argMax({4}, Timestamp) AS last_reason, argMax({5}, Timestamp) AS "
                      "last_message, max(toString(Timestamp)) AS last_seen FROM otel_logs "
                      "WHERE has(mapValues(LogAttributes), {{id:String}}) AND "
                      "LogAttributes['krateo.io/composition-id'] = {{id:String}} AND {6} AND "
                      "Timestamp > now() - INTERVAL {{m:UInt32}} MINUTE GROUP BY kind, name, "
                      "namespace ORDER BY warnings DESC, kind, name LIMIT 500",
                      kObjKind, kObjName, kObjNs, kType, kReason, kMessage, kIsEvent);
        auto resources = Rows(c.store, c.o, resources_sql, p);
        if (!resources.ok()) return resources.status();
        // Its pods (the Pod resources above): error logs and containers, one query each.
        std::vector<std::string> keys;
        for (const auto& r : *resources) {
          if (r["kind"] == "Pod") {
            keys.push_back(r["namespace"].get<std::string>() + "/" + r["name"].get<std::string>());
          }
        }
        p.push_back(Param::StrArray("pods", keys));
        const std::string in_pods =
            "has({pods:Array(String)}, concat(ResourceAttributes['k8s.namespace.name'], '/', "
            "ResourceAttributes['k8s.pod.name']))";
        // The pods' error logs and their containers' metrics, at once.
        std::vector<Param> mp = p;
        mp.push_back(Param::Raw("metrics", kHealthMetrics));
        auto errors_f = std::async(std::launch::async, [&] {
          return Rows(c.store, c.o,
                      c.Logs(fmt::format("SELECT ResourceAttributes['k8s.pod.name'] AS pod, "
                                         "ResourceAttributes['k8s.namespace.name'] AS "
                                         "namespace, count() AS n FROM otel_logs WHERE {} "
                                         "AND {} AND Timestamp > now() - INTERVAL "
                                         "{{m:UInt32}} MINUTE GROUP BY pod, namespace",
                                         in_pods, kIsError)),
                      p);
        });
        auto metrics = Rows(c.store, c.o, LatestMetrics(in_pods), mp);
        auto errors = errors_f.get();
        if (!errors.ok()) return errors.status();
        if (!metrics.ok()) return metrics.status();
        const ojson containers = Containers(*metrics);
        ojson pods = ojson::array();
        for (const auto& r : *resources) {
          if (r["kind"] != "Pod") continue;
          ojson pod = {{"pod", r["name"]}, {"namespace", r["namespace"]}, {"error_logs", 0},
                       {"containers", ojson::array()}};
          for (const auto& e : *errors) {
            if (e["pod"] == r["name"] && e["namespace"] == r["namespace"]) pod["error_logs"] = e["n"];
          }
          for (const auto& ct : containers) {
            if (ct["pod"] == r["name"]) pod["containers"].push_back(ct);
          }
          pods.push_back(std::move(pod));
        }
        int64_t warnings = 0;
        for (const auto& r : *resources) {
          const ojson& w = r["warnings"];
          warnings += w.is_string() ? std::stoll(w.get<std::string>()) : w.get<int64_t>();
        }
        return ojson{{"composition_id", a["composition_id"]},
                     {"healthy", warnings == 0},
                     {"warning_events", warnings},
                     {"resources", *resources},
                     {"pods", pods}};
      }};
}

}  // namespace

std::vector<Tool> DiagnosticTools(store::Store& store, const McpOptions& o) {
  // The exporter schema's materialized pod and namespace columns, when otel_logs has them.
  auto cols = store::QueryScalar(
      store,
      "SELECT count() FROM system.columns WHERE database = currentDatabase() AND table = "
      "'otel_logs' AND name IN ('__otel_materialized_k8s.pod.name', "
      "'__otel_materialized_k8s.namespace.name')");
  auto typed = store::QueryScalar(
      store,
      "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = "
      "'kobs_k8s_events'");
  const Ctx c{.store = store,
              .o = o,
              .materialized = cols.ok() && *cols == "2",
              .typed_events = typed.ok() && *typed == "1"};
  return {PodErrors(c),      PodTimeline(c), CompositionEvents(c), WarningSummary(c), AgentTraces(c),
          PodHealth(c),      SearchLogs(c),  SlowTraces(c),        CompositionHealth(c)};
}

}  // namespace kobs::mcp
