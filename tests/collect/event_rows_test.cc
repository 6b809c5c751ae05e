// Events of the simulated cluster's composition scenario, mapped to otel_logs rows with their
// composition ids (resolved through owner chains) and stored in the embedded store: the
// original stack's /events SQL and MCP composition-events SQL give the right rows.
#include "collect/event_rows.h"

#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "chapi/clickhouse_endpoint.h"
#include "collect/composition_resolver.h"
#include "common/metrics.h"
#include "embedded_store_suite.h"
#include "k8s/client.h"
#include "sim_cluster.h"
#include "store/schema.h"

namespace kobs::collect {
namespace {

using nlohmann::json;
using ::kobs::testing::IsOk;
using ::testing::HasSubstr;

class EventRowsTest : public kobs::testing::EmbeddedStoreSuite {
 protected:
  static void SetUpTestSuite() {
    OpenStore();
    ASSERT_THAT(store::EnsureSchema(*store_, {}), IsOk());
  }
};

TEST_F(EventRowsTest, MapsAnEventAsTheOriginalDataModel) {
  json event = {{"kind", "Event"},
                {"apiVersion", "v1"},
                {"metadata", {{"name", "web-1.17a"}, {"namespace", "shop"}, {"uid", "e1"}}},
                {"involvedObject", {{"kind", "Pod"}, {"name", "web-1"}, {"namespace", "shop"}}},
                {"reason", "BackOff"},
                {"type", "Warning"},
                {"lastTimestamp", "2026-12-06T10:00:02Z"},
                {"eventTime", nullptr}};
  store::LogRow row = EventToLogRow("MODIFIED", event, "comp-1", "krateo.io/composition-id", 7);
  EXPECT_EQ(row.timestamp_ns, 1796551202000000000);
  EXPECT_EQ(row.severity_text, "WARN");
  EXPECT_EQ(row.severity_number, 13);
  EXPECT_EQ(json::parse(row.body)["type"], "MODIFIED");
  EXPECT_EQ(json::parse(row.body)["object"], event);
  EXPECT_EQ(row.body.find("{\"object\":"), 0u);  // sorted keys, as the exporter writes maps
  EXPECT_THAT(row.resource_attributes,
              ::testing::ElementsAre(std::pair<std::string, std::string>{"k8s.namespace.name", "shop"},
                                     std::pair<std::string, std::string>{"telemetry.source", "k8s-events"}));
  EXPECT_THAT(row.log_attributes,
              ::testing::ElementsAre(std::pair<std::string, std::string>{"event.domain", "k8s"},
                                     std::pair<std::string, std::string>{"event.name", "web-1.17a"},
                                     std::pair<std::string, std::string>{"k8s.resource.name", "events"},
                                     std::pair<std::string, std::string>{"krateo.io/composition-id", "comp-1"}));
  event["type"] = "Normal";
  event.erase("lastTimestamp");
  row = EventToLogRow("ADDED", event, "", "krateo.io/composition-id", 7);
  EXPECT_EQ(row.severity_text, "INFO");
  EXPECT_EQ(row.timestamp_ns, 7);  // no time of its own: when it was seen
  EXPECT_EQ(row.log_attributes.size(), 3u);
}

TEST_F(EventRowsTest, TheOriginalSqlFindsAScenariosCompositionEvents) {
  SimCluster sim;
  ASSERT_NO_FATAL_FAILURE(sim.Start({"composition-crashloop", "crashloop-pod"}));
  auto& client = sim.client;
  MetricsRegistry metrics;
  CompositionResolver resolver(FetchWith(*client), {}, metrics);
  auto events = client->ResourceByName("events");
  ASSERT_THAT(events, IsOk());
  // Until both pods of the composition's Deployment and the bare pod are in back-off (up to
  // 30 s: a loaded CI machine runs the scenario slower).
  json items;
  for (int i = 0; i < 300; ++i) {
    auto l = client->ListAll(*events, "", {});
    ASSERT_THAT(l, IsOk());
    items = (*l)["items"];
    int backoffs = 0, bare = 0;
    for (const json& e : items) {
      backoffs += e["reason"] == "BackOff" && e["metadata"]["namespace"] == "demo-system";
      bare += e["type"] == "Warning" && e["involvedObject"]["name"] == "demo-crashloop";
    }
    if (backoffs >= 2 && bare >= 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::string data;
  int rows = 0;
  for (const json& e : items) {
    absl::StatusOr<k8s::Event> decoded = k8s::DecodeEvent(e);
    ASSERT_THAT(decoded, IsOk());
    auto id = resolver.Resolve(decoded->involved_object);
    ASSERT_THAT(id, IsOk());
    store::EncodeLogRow(EventToLogRow("ADDED", e, *id, "krateo.io/composition-id", 0), &data);
    ++rows;
  }
  ASSERT_THAT(store_->Insert("otel_logs", store::LogColumns(), "RowBinary", data), IsOk());

  // The scenario installs the composition's CRD while it runs: discovery may predate it.
  auto apps = client->Resource("composition.krateo.io/v1-1-10", "FireworksApp");
  for (int i = 0; i < 300 && !apps.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_THAT(client->RefreshDiscovery(), IsOk());
    apps = client->Resource("composition.krateo.io/v1-1-10", "FireworksApp");
  }
  ASSERT_THAT(apps, IsOk());
  auto app = client->Get(*apps, "demo-system", "fireworks-demo");
  ASSERT_THAT(app, IsOk());
  const std::string uid = (*app)["metadata"]["uid"];
  auto result = store_->Query(chapi::kEventsQuery,
                              {.format = "JSONEachRow",
                               .params = {store::Param::Str("composition_id", uid),
                                          store::Param::Raw("limit", "500")}});
  ASSERT_THAT(result, IsOk());
  const std::string& out = result->data;
  // Pods, the ReplicaSet and the Deployment: all resolved to the composition.
  EXPECT_THAT(out, HasSubstr("\"obj_kind\":\"Pod\""));
  EXPECT_THAT(out, HasSubstr("\"obj_kind\":\"ReplicaSet\""));
  EXPECT_THAT(out, HasSubstr("\"obj_kind\":\"Deployment\""));
  EXPECT_THAT(out, HasSubstr("\"reason\":\"BackOff\""));
  EXPECT_THAT(out, HasSubstr("\"type\":\"Warning\""));
  EXPECT_THAT(out, HasSubstr("\"source_component\":\"kubelet\""));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("demo-crashloop")));  // not of the composition
  // The bare crash-looping pod has no composition; the MCP composition query's shape works too.
  auto warnings = store::QueryScalar(
      *store_,
      "SELECT count() FROM otel_logs WHERE ResourceAttributes['telemetry.source'] = 'k8s-events' "
      "AND SeverityText = 'WARN' AND JSONExtractString(Body, 'object', 'involvedObject', 'name') "
      "= 'demo-crashloop' AND LogAttributes['krateo.io/composition-id'] = ''");
  ASSERT_THAT(warnings, IsOk());
  EXPECT_NE(*warnings, "0");
  // The typed table has the same events as typed columns, the composition's a key range.
  auto typed = store_->Query(
      "SELECT ObjectKind, Reason, Type, SourceComponent, Count >= 1 FROM kobs_k8s_events "
      "WHERE CompositionId = {id:String} AND Reason = 'BackOff' LIMIT 1",
      {.params = {store::Param::Str("id", uid)}});
  ASSERT_THAT(typed, IsOk());
  EXPECT_EQ(typed->data, "Pod\tBackOff\tWarning\tkubelet\t1\n");
  auto explain = store_->Query(
      "EXPLAIN indexes = 1 SELECT count() FROM kobs_k8s_events WHERE CompositionId = {id:String}",
      {.params = {store::Param::Str("id", uid)}});
  ASSERT_THAT(explain, IsOk());
  EXPECT_THAT(explain->data, HasSubstr("PrimaryKey"));
  EXPECT_THAT(explain->data, HasSubstr("CompositionId"));
  auto same = store::QueryScalar(
      *store_,
      "SELECT (SELECT count() FROM kobs_k8s_events) = (SELECT count() FROM otel_logs WHERE "
      "ResourceAttributes['telemetry.source'] = 'k8s-events')");
  ASSERT_THAT(same, IsOk());
  EXPECT_EQ(*same, "1");
  EXPECT_GT(rows, 10);
}

}  // namespace
}  // namespace kobs::collect
