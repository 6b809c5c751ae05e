// The diagnostic tools on a real embedded store holding rows in the original stack's data
// model: Kubernetes events (telemetry.source = k8s-events, Event JSON in Body, composition id
// in LogAttributes), pod logs, spans and container metrics. Each tool's answer is checked, and
// every string argument of every tool gets the injection corpus: nothing matches by accident,
// nothing is written, and required names are really required.
#include "mcp/diagnostic_tools.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "embedded_store_suite.h"
#include "run_tool.h"
#include "store/schema.h"

namespace kobs::mcp {
namespace {

using json = nlohmann::json;
using ::kobs::testing::IsOk;

constexpr char kComposition[] = "4b3c2a10-0000-4000-8000-000000000001";

std::string Event(const std::string& type, const std::string& reason, const std::string& kind,
                  const std::string& name, const std::string& message, int age_s) {
  json body = {{"type", "ADDED"},
               {"object",
                {{"kind", "Event"},
                 {"type", type},
                 {"reason", reason},
                 {"message", message},
                 {"involvedObject", {{"kind", kind}, {"name", name}, {"namespace", "shop"}}}}}};
  std::string b = body.dump();
  std::string escaped;
  for (char c : b) {
    if (c == '\'' || c == '\\') escaped += '\\';
    escaped += c;
  }
  return fmt::format(
      "(now64(9) - INTERVAL {} SECOND, '{}', {}, '{}', "
      "map('telemetry.source', 'k8s-events', 'k8s.namespace.name', 'shop'), "
      "map('krateo.io/composition-id', '{}', 'k8s.resource.name', '{}'))",
      age_s, type == "Warning" ? "WARN" : "INFO", type == "Warning" ? 13 : 9, escaped,
      kComposition, name);
}

class DiagnosticToolsTest : public testing::EmbeddedStoreSuite {
 protected:
  static void SetUpTestSuite() {
    OpenStore();
    ASSERT_THAT(store::EnsureSchema(*store_, {.database = "default"}), IsOk());
    std::string events = "INSERT INTO otel_logs (Timestamp, SeverityText, SeverityNumber, Body, "
                         "ResourceAttributes, LogAttributes) VALUES ";
    events += Event("Normal", "Scheduled", "Pod", "api-7d9f-x2x", "Successfully assigned", 600) + ",";
    events += Event("Warning", "BackOff", "Pod", "api-7d9f-x2x", "Back-off restarting failed container", 300) + ",";
    events += Event("Warning", "BackOff", "Pod", "api-7d9f-x2x", "Back-off restarting failed container", 200) + ",";
    events += Event("Warning", "Unhealthy", "Pod", "api-7d9f-x2x", "Liveness probe failed", 100) + ",";
    events += Event("Normal", "ScalingReplicaSet", "Deployment", "api", "Scaled up", 700) + ",";
    events += Event("Warning", "BackOff", "Pod", "api_other", "not a prefix match for api_", 50);
    ASSERT_THAT(store_->Query(events, {}), IsOk());
    ASSERT_THAT(
        store_->Query(
            "INSERT INTO otel_logs (Timestamp, SeverityText, SeverityNumber, ServiceName, Body, "
            "ResourceAttributes) VALUES "
            "(now64(9) - INTERVAL 30 SECOND, 'ERROR', 17, 'api', 'panic: nil map', "
            "map('k8s.pod.name', 'api-7d9f-x2x', 'k8s.namespace.name', 'shop', "
            "'k8s.container.name', 'api')), "
            "(now64(9) - INTERVAL 20 SECOND, 'INFO', 9, 'api', 'listening on :8080', "
            "map('k8s.pod.name', 'api-7d9f-x2x', 'k8s.namespace.name', 'shop', "
            "'k8s.container.name', 'api')), "
            "(now64(9) - INTERVAL 10 SECOND, 'ERROR', 17, 'db', 'connection refused', "
            "map('k8s.pod.name', 'db-0', 'k8s.namespace.name', 'shop'))",
            {}),
        IsOk());
    ASSERT_THAT(
        store_->Query(
            "INSERT INTO otel_traces (Timestamp, TraceId, SpanId, SpanName, ServiceName, "
            "Duration, StatusCode) VALUES "
            "(now64(9) - INTERVAL 60 SECOND, 't1', 's1', 'plan', 'krateo-autopilot', 2500000000, "
            "'STATUS_CODE_OK'), "
            "(now64(9) - INTERVAL 50 SECOND, 't2', 's2', 'GET /', 'frontend', 40000000, "
            "'STATUS_CODE_UNSET')",
            {}),
        IsOk());
    const std::string res =
        "map('k8s.pod.name', 'api-7d9f-x2x', 'k8s.namespace.name', 'shop', 'k8s.container.name', "
        "'api'{})";
    ASSERT_THAT(
        store_->Query(
            fmt::format("INSERT INTO otel_metrics_gauge (ResourceAttributes, MetricName, TimeUnix, "
                        "Value) VALUES "
                        "({}, 'container.memory.working_set', now64(9) - INTERVAL 30 SECOND, "
                        "201326592), ({}, 'k8s.container.memory_limit', now64(9) - INTERVAL 30 "
                        "SECOND, 268435456), ({}, 'container.cpu.usage', now64(9) - INTERVAL 30 "
                        "SECOND, 0.25), ({}, 'k8s.container.cpu_limit', now64(9) - INTERVAL 30 "
                        "SECOND, 0.5)",
                        fmt::format(fmt::runtime(res), ""), fmt::format(fmt::runtime(res), ""),
                        fmt::format(fmt::runtime(res), ""), fmt::format(fmt::runtime(res), "")),
            {}),
        IsOk());
    ASSERT_THAT(
        store_->Query(
            fmt::format("INSERT INTO otel_metrics_sum (ResourceAttributes, MetricName, TimeUnix, "
                        "Value) VALUES ({}, 'k8s.container.restarts', now64(9) - INTERVAL 90 "
                        "SECOND, 3), ({}, 'k8s.container.restarts', now64(9) - INTERVAL 30 "
                        "SECOND, 4)",
                        fmt::format(fmt::runtime(res), ""),
                        fmt::format(fmt::runtime(res),
                                    ", 'k8s.container.status.last_terminated_reason', "
                                    "'OOMKilled'")),
            {}),
        IsOk());
  }
  json Run(const std::string& tool, json args) {
    return RunTool(DiagnosticTools(*store_, McpOptions{}), tool, args);
  }
};

TEST_F(DiagnosticToolsTest, PodErrorsAndTimeline) {
  json r = Run("get_pod_errors", {{"namespace", "shop"}, {"pod_name", "api-"}});
  ASSERT_EQ(r["row_count"], 1) << r;
  EXPECT_EQ(r["rows"][0]["body"], "panic: nil map");
  EXPECT_EQ(r["rows"][0]["container"], "api");
  json t = Run("get_pod_timeline", {{"namespace", "shop"}, {"pod_name", "api-7d9f"}});
  ASSERT_EQ(t["row_count"], 5) << t;  // 4 events + 1 error line
  EXPECT_EQ(t["rows"][0]["source"], "log");
  EXPECT_EQ(t["rows"][1]["reason"], "Unhealthy");
  EXPECT_EQ(t["rows"][4]["reason"], "Scheduled");
}

TEST_F(DiagnosticToolsTest, CompositionEventsAndWarnings) {
  json e = Run("get_composition_events", {{"composition_id", kComposition}});
  EXPECT_EQ(e["row_count"], 6) << e;
  EXPECT_EQ(e["rows"][0]["name"], "api_other");
  json w = Run("get_warning_summary", {{"namespace", "shop"}});
  ASSERT_GE(w["row_count"], 2) << w;
  EXPECT_EQ(w["rows"][0]["resource"], "api-7d9f-x2x");
  EXPECT_EQ(w["rows"][0]["reason"], "BackOff");
  EXPECT_EQ(w["rows"][0]["event_count"], 2);
  EXPECT_EQ(Run("get_warning_summary", {{"namespace", "elsewhere"}})["row_count"], 0);
}

TEST_F(DiagnosticToolsTest, TracesAndLogSearch) {
  json a = Run("get_agent_traces", json::object());
  ASSERT_EQ(a["row_count"], 1) << a;
  EXPECT_EQ(a["rows"][0]["service_name"], "krateo-autopilot");
  EXPECT_EQ(Run("get_agent_traces", {{"agent_name", "frontend"}})["row_count"], 1);
  json slow = Run("get_slow_traces", {{"min_duration_ms", 1000}});
  ASSERT_EQ(slow["row_count"], 1);
  EXPECT_EQ(slow["rows"][0]["duration_ms"], 2500);
  EXPECT_EQ(Run("get_slow_traces", {{"min_duration_ms", 10}})["row_count"], 2);
  json s = Run("search_logs", {{"text", "REFUSED"}});
  ASSERT_EQ(s["row_count"], 1) << s;
  EXPECT_EQ(s["rows"][0]["pod_name"], "db-0");
  EXPECT_EQ(Run("search_logs", {{"min_severity", "ERROR"}})["row_count"], 2);
  EXPECT_EQ(Run("search_logs", {{"attribute_key", "k8s.container.name"}, {"attribute_value", "api"}})
                ["row_count"],
            2);
  EXPECT_EQ(Run("search_logs", {{"pod_name", "api"}, {"min_severity", "INFO"}})["row_count"], 2);
}

TEST_F(DiagnosticToolsTest, PodHealthHasRestartsReasonsAndUsageAgainstLimits) {
  json h = Run("check_pod_health", {{"namespace", "shop"}, {"pod_name", "api-7d9f-x2x"}});
  ASSERT_FALSE(h.contains("error")) << h;
  EXPECT_EQ(h["error_logs"], 1);
  EXPECT_EQ(h["warning_events"][0]["reason"], "BackOff");
  EXPECT_EQ(h["warning_events"][0]["count"], 2);
  ASSERT_EQ(h["containers"].size(), 1u) << h;
  const json& c = h["containers"][0];
  EXPECT_EQ(c["restart_count"], 4) << "the latest point";
  EXPECT_EQ(c["last_terminated_reason"], "OOMKilled");
  EXPECT_DOUBLE_EQ(c["memory_used_of_limit"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(c["cpu_used_of_limit"].get<double>(), 0.5);
  EXPECT_EQ(h["last_problem_event"], "Unhealthy");
}

TEST_F(DiagnosticToolsTest, CompositionHealthInOneAnswer) {
  json h = Run("get_composition_health", {{"composition_id", kComposition}});
  ASSERT_FALSE(h.contains("error")) << h;
  EXPECT_EQ(h["healthy"], false);
  EXPECT_EQ(h["warning_events"], 4);
  ASSERT_EQ(h["resources"].size(), 3u) << h;
  EXPECT_EQ(h["resources"][0]["name"], "api-7d9f-x2x");
  EXPECT_EQ(h["resources"][0]["last_reason"], "Unhealthy");
  ASSERT_EQ(h["pods"].size(), 2u) << h;
  EXPECT_EQ(h["pods"][0]["pod"], "api-7d9f-x2x");
  EXPECT_EQ(h["pods"][0]["error_logs"], 1);
  EXPECT_EQ(h["pods"][0]["containers"][0]["restart_count"], 4);
  EXPECT_EQ(Run("get_composition_health", {{"composition_id", "nope"}})["healthy"], true);
}

TEST_F(DiagnosticToolsTest, RequiredNamesAreRequiredAndInjectionFindsNothing) {
  EXPECT_THAT(Run("get_pod_errors", {{"pod_name", ""}})["invalid"].get<std::string>(),
              ::testing::HasSubstr("must not be empty"));
  EXPECT_THAT(Run("check_pod_health", json::object())["invalid"].get<std::string>(),
              ::testing::HasSubstr("`pod_name` is required"));
  EXPECT_THAT(Run("get_composition_events", {{"composition_id", ""}})["invalid"].get<std::string>(),
              ::testing::HasSubstr("must not be empty"));
  // A `_` in a prefix is literal: "api_" matches api_other only.
  json r = Run("get_pod_timeline", {{"namespace", "shop"}, {"pod_name", "api_"}});
  ASSERT_EQ(r["row_count"], 1) << r;
  EXPECT_EQ(r["rows"][0]["message"], "not a prefix match for api_");
  auto tables = [&] {
    return store::QueryScalar(*store_, "SELECT count() FROM system.tables WHERE database = 'default'");
  };
  auto before = tables();
  for (const char* evil : {"%", "_", "' OR '1'='1", "'; DROP TABLE otel_logs; --",
                           "x') UNION ALL SELECT 1 --", "\\'", "shop' --"}) {
    for (const char* tool : {"get_pod_errors", "get_pod_timeline", "check_pod_health"}) {
      json out = Run(tool, {{"namespace", evil}, {"pod_name", evil}});
      EXPECT_FALSE(out.contains("error")) << tool << " " << evil << " " << out;
      if (out.contains("row_count")) {
        EXPECT_EQ(out["row_count"], 0) << tool << " " << evil;
      }
    }
    EXPECT_EQ(Run("get_composition_events", {{"composition_id", evil}})["row_count"], 0);
    EXPECT_EQ(Run("get_warning_summary", {{"namespace", evil}})["row_count"], 0);
    EXPECT_EQ(Run("get_agent_traces", {{"agent_name", evil}})["row_count"], 0);
    EXPECT_EQ(Run("get_slow_traces", {{"service", evil}})["row_count"], 0);
    EXPECT_EQ(Run("search_logs", {{"text", evil}, {"pod_name", evil}})["row_count"], 0);
    EXPECT_EQ(Run("get_composition_health", {{"composition_id", evil}})["healthy"], true);
  }
  EXPECT_EQ(*tables(), *before);
}

}  // namespace
}  // namespace kobs::mcp
