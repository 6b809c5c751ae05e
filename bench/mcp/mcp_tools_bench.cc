// bench/mcp_tools: p50/p99 latency of each MCP diagnostic tool on an embedded store holding
// 1M pod-log rows, 100k Kubernetes events (the original data model), 100k spans and 100k
// container metric points, all within the last hour. The ceiling is the same tool path
// running `SELECT 1` (run_select_query), measured in the same run: each tool's p50 is also
// printed as a multiple of it. Target: p50 < 50 ms for every tool.
//
//   build/bench/mcp/mcp_tools_bench [--logs N] [--events N] [--runs N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "mcp/clickhouse_tools.h"
#include "mcp/diagnostic_tools.h"
#include "store/embedded_store.h"
#include "store/schema.h"
#include "support/stats.h"
#include "temp_dir.h"

namespace {

using kobs::bench::Percentile;

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

void Must(const absl::Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, std::string(s.message()).c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int logs = 1'000'000, events = 100'000, runs = 50;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--logs") logs = std::atoi(argv[i + 1]);
    else if (k == "--events") events = std::atoi(argv[i + 1]);
    else if (k == "--runs") runs = std::atoi(argv[i + 1]);
  }
  kobs::testing::TempDir dir;
  auto opened = kobs::store::EmbeddedStore::Create({.path = dir.Sub("data")});
  Must(opened.status(), "open");
  auto& store = **opened;
  Must(kobs::store::EnsureSchema(store, {.database = "default"}).status(), "schema");
  const auto load_start = Clock::now();
  // Pod p = row % 499 lives in namespace ns-(p % 20); composition c-(p % 100), so about 5 pods each.
  Must(store.Query(fmt::format(
                       "INSERT INTO otel_logs (Timestamp, SeverityText, SeverityNumber, "
                       "ServiceName, Body, ResourceAttributes) SELECT now64(9) - "
                       "toIntervalMillisecond(number * 3600000 / {0}), ['INFO','DEBUG','WARN',"
                       "'ERROR'][number % 4 + 1], [9, 5, 13, 17][number % 4 + 1], concat('svc-', "
                       "toString(number % 50)), concat('request ', toString(number), ' handled "
                       "in ', toString(number % 977), 'ms', if(number % 4 = 3, ' error: "
                       "connection refused', '')), map('k8s.pod.name', concat('pod-', "
                       "toString(number % 499)), 'k8s.namespace.name', concat('ns-', "
                       "toString(number % 499 % 20)), 'k8s.container.name', 'app') FROM "
                       "numbers({0})",
                       logs),
                   {})
           .status(),
       "logs");
  Must(store.Query(fmt::format(
                       "INSERT INTO otel_logs (Timestamp, SeverityText, SeverityNumber, Body, "
                       "ResourceAttributes, LogAttributes) SELECT now64(9) - "
                       "toIntervalMillisecond(number * 3600000 / {0}), if(number % 5 = 0, 'WARN', "
                       "'INFO'), if(number % 5 = 0, 13, 9), concat('{{\"type\":\"ADDED\","
                       "\"object\":{{\"kind\":\"Event\",\"type\":\"', if(number % 5 = 0, "
                       "'Warning', 'Normal'), '\",\"reason\":\"', ['Scheduled','Pulled',"
                       "'Created','Started','BackOff'][number % 5 + 1], '\",\"message\":\"event ', "
                       "toString(number), '\",\"involvedObject\":{{\"kind\":\"Pod\",\"name\":"
                       "\"pod-', toString(number % 499), '\",\"namespace\":\"ns-', "
                       "toString(number % 499 % 20), '\"}}}}}}'), map('telemetry.source', "
                       "'k8s-events'), map('krateo.io/composition-id', concat('c-', "
                       "toString(number % 499 % 100))) FROM numbers({0})",
                       events),
                   {})
           .status(),
       "events");
  Must(store.Query("INSERT INTO otel_traces (Timestamp, TraceId, SpanId, SpanName, ServiceName, "
                   "Duration, StatusCode) SELECT now64(9) - toIntervalMillisecond(number * 36), "
                   "hex(number), hex(number), 'op', if(number % 10 = 0, 'krateo-autopilot', "
                   "'svc'), (number % 5000) * 1000000, 'STATUS_CODE_OK' FROM numbers(100000)",
                   {})
           .status(),
       "traces");
  Must(store.Query("INSERT INTO otel_metrics_gauge (ResourceAttributes, MetricName, TimeUnix, "
                   "Value) SELECT map('k8s.pod.name', concat('pod-', toString(number % 499)), "
                   "'k8s.namespace.name', concat('ns-', toString(number % 499 % 20)), "
                   "'k8s.container.name', 'app'), ['container.memory.working_set', "
                   "'k8s.container.memory_limit', 'container.cpu.usage', "
                   "'k8s.container.cpu_limit'][number % 4 + 1], now64(9) - "
                   "toIntervalMillisecond(number * 36), number % 1000 FROM numbers(100000)",
                   {})
           .status(),
       "metrics");
  const double load_s = std::chrono::duration<double>(Clock::now() - load_start).count();
  std::printf("mcp_tools: %d log rows, %d events, 100000 spans, 100000 metric points "
              "(loaded in %.1f s); %d calls per tool\n",
              logs, events, load_s, runs);

  kobs::mcp::McpOptions options;
  std::vector<kobs::mcp::Tool> tools = kobs::mcp::DiagnosticTools(store, options);
  for (auto& t : kobs::mcp::ClickHouseTools(store, options)) tools.push_back(std::move(t));
  auto find = [&](const std::string& name) -> const kobs::mcp::Tool& {
    for (const auto& t : tools) {
      if (t.name == name) return t;
    }
    std::exit(1);
  };
  auto time_tool = [&](const std::string& name, const json& args) {
    const auto& tool = find(name);
    auto valid = kobs::mcp::ValidateArguments(tool.input_schema, args);
    Must(valid.status(), name.c_str());
    std::vector<double> ms;
    size_t rows = 0;
    for (int i = 0; i < runs + 3; ++i) {
      auto start = Clock::now();
      auto r = tool.run(*valid);
      double elapsed = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      Must(r.status(), name.c_str());
      if (i >= 3) ms.push_back(elapsed);  // the first calls warm the caches
      if (r->contains("rows")) rows = (*r)["rows"].size();
    }
    return std::make_tuple(Percentile(ms, 0.5), Percentile(ms, 0.99), rows);
  };
  auto [floor_p50, floor_p99, floor_rows] = time_tool("run_select_query", {{"query", "SELECT 1"}});
  std::printf("%-24s %9s %9s %8s %6s\n", "tool", "p50_ms", "p99_ms", "x_floor", "rows");
  std::printf("%-24s %9.2f %9.2f %8.1f %6zu  (ceiling: the tool path itself)\n",
              "run_select_query SELECT 1", floor_p50, floor_p99, 1.0, floor_rows);
  const std::vector<std::pair<std::string, json>> calls = {
      {"get_pod_errors", {{"namespace", "ns-2"}, {"pod_name", "pod-42"}}},
      {"get_pod_timeline", {{"namespace", "ns-2"}, {"pod_name", "pod-42"}}},
      {"get_composition_events", {{"composition_id", "c-42"}}},
      {"get_warning_summary", {{"namespace", "ns-2"}}},
      {"get_warning_summary", json::object()},
      {"get_agent_traces", json::object()},
      {"check_pod_health", {{"namespace", "ns-2"}, {"pod_name", "pod-42"}}},
      {"search_logs", {{"text", "refused"}, {"namespace", "ns-2"}}},
      {"get_slow_traces", {{"min_duration_ms", 4000}}},
      {"get_composition_health", {{"composition_id", "c-42"}}},
  };
  bool all_ok = true;
  for (const auto& [name, args] : calls) {
    auto [p50, p99, rows] = time_tool(name, args);
    all_ok = all_ok && p50 < 50;
    std::printf("%-24s %9.2f %9.2f %8.1f %6zu  %s\n", name.c_str(), p50, p99, p50 / floor_p50,
                rows, args.dump().c_str());
  }
  std::printf("target p50 < 50 ms for every tool: %s\n", all_ok ? "met" : "NOT met");
  return 0;
}
