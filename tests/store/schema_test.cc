#include "store/schema.h"

#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "k8s_log_rows.h"
#include "embedded_store_suite.h"
#include "status_matchers.h"
#include "store/embedded_store.h"
#include "store/otel_rows.h"
#include "temp_dir.h"

namespace kobs::store {
namespace {

using ::kobs::testing::IsOk;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

class SchemaTest : public testing::EmbeddedStoreSuite {
 protected:
  static void SetUpTestSuite() { OpenStore(); }
  std::string Scalar(const std::string& sql, std::vector<Param> params = {}) {
    auto v = QueryScalar(*store_, sql, std::move(params));
    EXPECT_THAT(v, IsOk());
    return v.ok() ? *v : "";
  }
  std::string Columns(const std::string& db, const std::string& table) {
    return Scalar(
        "SELECT arrayStringConcat(groupArray(concat(name, ' ', type)), ', ') FROM "
        "(SELECT name, type FROM system.columns WHERE database = {db:String} AND "
        "table = {t:String} ORDER BY position)",
        {Param::Str("db", db), Param::Str("t", table)});
  }

};


TEST_F(SchemaTest, CreatesEveryExporterTableOnce) {
  SchemaOptions o{.database = "fresh"};
  ASSERT_OK_AND_ASSIGN(SchemaState first, EnsureSchema(*store_, o));
  EXPECT_EQ(first.applied, 14);
  EXPECT_EQ(first.current_version, 14);
  EXPECT_FALSE(first.logs_legacy_layout);
  EXPECT_TRUE(first.features.text_index());
  EXPECT_EQ(Scalar("SELECT arrayStringConcat(groupArray(name), ',') FROM (SELECT name FROM "
                   "system.tables WHERE database = 'fresh' ORDER BY name)"),
            "kobs_k8s_events,kobs_k8s_events_feed,kobs_k8s_events_feed_mv,kobs_k8s_events_mv,"
            "kobs_schema_migrations,otel_logs,"
            "otel_metrics_exponential_histogram,"
            "otel_metrics_gauge,otel_metrics_histogram,otel_metrics_sum,otel_metrics_summary,"
            "otel_traces,otel_traces_trace_id_ts,otel_traces_trace_id_ts_mv");
  // Re-running is a no-op, and the migrations table records each version once.
  ASSERT_OK_AND_ASSIGN(SchemaState second, EnsureSchema(*store_, o));
  EXPECT_EQ(second.applied, 0);
  EXPECT_EQ(Scalar("SELECT count(), uniqExact(Version) FROM fresh.kobs_schema_migrations"),
            "14\t14");
}

TEST_F(SchemaTest, LogsTableHasTheExporterColumnsAndTtl) {
  SchemaOptions o{.database = "cols", .ttl = std::chrono::hours(72)};
  ASSERT_THAT(EnsureSchema(*store_, o), IsOk());
  EXPECT_EQ(Columns("cols", "otel_logs"),
            "Timestamp DateTime64(9), TraceId String, SpanId String, TraceFlags UInt8, "
            "SeverityText LowCardinality(String), SeverityNumber UInt8, "
            "ServiceName LowCardinality(String), Body String, "
            "ResourceSchemaUrl LowCardinality(String), "
            "ResourceAttributes Map(LowCardinality(String), String), "
            "ScopeSchemaUrl LowCardinality(String), ScopeName String, "
            "ScopeVersion LowCardinality(String), "
            "ScopeAttributes Map(LowCardinality(String), String), "
            "LogAttributes Map(LowCardinality(String), String), EventName String, "
            "__otel_materialized_k8s.cluster.name LowCardinality(String), "
            "__otel_materialized_k8s.container.name LowCardinality(String), "
            "__otel_materialized_k8s.deployment.name LowCardinality(String), "
            "__otel_materialized_k8s.namespace.name LowCardinality(String), "
            "__otel_materialized_k8s.node.name LowCardinality(String), "
            "__otel_materialized_k8s.pod.name LowCardinality(String), "
            "__otel_materialized_k8s.pod.uid LowCardinality(String), "
            "__otel_materialized_deployment.environment.name LowCardinality(String)");
  std::string ddl = Scalar("SELECT create_table_query FROM system.tables WHERE "
                           "database = 'cols' AND name = 'otel_logs'");
  EXPECT_THAT(ddl, HasSubstr("TTL toDateTime(Timestamp) + toIntervalSecond(259200)"));
  EXPECT_THAT(ddl, HasSubstr("TYPE text(tokenizer = "));
  EXPECT_THAT(ddl, HasSubstr("ORDER BY (toStartOfFiveMinutes(Timestamp), ServiceName, Timestamp)"));
  EXPECT_THAT(Columns("cols", "otel_traces"),
              AllOf(HasSubstr("Duration UInt64"), HasSubstr("Events.Timestamp Array(DateTime64(9))"),
                    HasSubstr("Links.TraceId Array(String)"), HasSubstr("StatusCode LowCardinality(String)")));
  EXPECT_THAT(Columns("cols", "otel_metrics_sum"),
              AllOf(HasSubstr("AggregationTemporality Int32"), HasSubstr("IsMonotonic Bool"),
                    HasSubstr("Exemplars.TraceId Array(String)"), HasSubstr("TimeUnix DateTime64(9)")));
  EXPECT_THAT(Columns("cols", "otel_metrics_summary"),
              HasSubstr("ValueAtQuantiles.Quantile Array(Float64)"));
}

TEST_F(SchemaTest, ZeroTtlOmitsTheClause) {
  SchemaOptions o{.database = "nottl", .ttl = std::chrono::seconds(0)};
  ASSERT_THAT(EnsureSchema(*store_, o), IsOk());
  EXPECT_THAT(Scalar("SELECT create_table_query FROM system.tables WHERE database = 'nottl' "
                     "AND name = 'otel_logs'"),
              Not(HasSubstr("TTL")));
}

TEST_F(SchemaTest, RowsWrittenWithLogColumnsRoundTrip) {
  // No TTL: the rows have fixed 2025 timestamps that a TTL merge would drop.
  SchemaOptions o{.database = "rt", .ttl = std::chrono::seconds(0)};
  ASSERT_THAT(EnsureSchema(*store_, o), IsOk());
  auto rows = testing::MakeK8sLogRows(100, 1'764'000'000'000'000'000);
  std::string data;
  for (const auto& r : rows) EncodeLogRow(r, &data);
  ASSERT_THAT(store_->Insert("rt.otel_logs", LogColumns(), "RowBinary", data), IsOk());
  EXPECT_EQ(Scalar("SELECT count(), countIf(`__otel_materialized_k8s.pod.name` != ''), "
                   "min(Timestamp) FROM rt.otel_logs"),
            "100\t100\t2025-11-24 16:00:00.000000000");
  // The trace-id view fills its lookup table.
  ASSERT_THAT(store_->Query("INSERT INTO rt.otel_traces (Timestamp, TraceId, SpanId, SpanName) "
                            "VALUES (now64(9), 'abc', 's1', 'GET'), (now64(9), 'abc', 's2', 'GET')",
                            {}),
              IsOk());
  EXPECT_EQ(Scalar("SELECT count() FROM rt.otel_traces_trace_id_ts WHERE TraceId = 'abc'"), "1");
}

// The DDL of the OTel exporter up to v0.140 (original-system.md §1.2), as the seed created it.
constexpr char kLegacyLogs[] = R"(CREATE TABLE legacy.otel_logs (
  Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)), TimestampTime DateTime DEFAULT toDateTime(Timestamp),
  TraceId String, SpanId String, TraceFlags UInt8, SeverityText LowCardinality(String), SeverityNumber UInt8,
  ServiceName LowCardinality(String), Body String, ResourceSchemaUrl LowCardinality(String),
  ResourceAttributes Map(LowCardinality(String), String), ScopeSchemaUrl LowCardinality(String), ScopeName String,
  ScopeVersion LowCardinality(String), ScopeAttributes Map(LowCardinality(String), String),
  LogAttributes Map(LowCardinality(String), String), EventName String,
  INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
  INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
) ENGINE = MergeTree PARTITION BY toDate(TimestampTime)
PRIMARY KEY (ServiceName, TimestampTime) ORDER BY (ServiceName, TimestampTime, Timestamp)
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1)";

TEST_F(SchemaTest, LegacyLogsLayoutIsDetectedAndKeepsWorking) {
  ASSERT_THAT(store_->Query("CREATE DATABASE legacy", {}), IsOk());
  ASSERT_THAT(store_->Query(kLegacyLogs, {}), IsOk());
  ASSERT_OK_AND_ASSIGN(SchemaState st, EnsureSchema(*store_, {.database = "legacy"}));
  EXPECT_TRUE(st.logs_legacy_layout);
  EXPECT_THAT(Columns("legacy", "otel_logs"), HasSubstr("TimestampTime DateTime"));
  EXPECT_EQ(Scalar("SELECT count() FROM system.tables WHERE database = 'legacy'"), "14");
  // Writers use the same column list for both layouts; TimestampTime fills from its DEFAULT.
  std::string data;
  for (const auto& r : testing::MakeK8sLogRows(10, 1'764'000'000'000'000'000)) {
    EncodeLogRow(r, &data);
  }
  ASSERT_THAT(store_->Insert("legacy.otel_logs", LogColumns(), "RowBinary", data), IsOk());
  EXPECT_EQ(Scalar("SELECT count(), min(TimestampTime) FROM legacy.otel_logs"),
            "10\t2025-11-24 16:00:00");
}

TEST_F(SchemaTest, EventRowsStoredBeforeFeedFieldsAndIsFeedEventReadThem) {
  // A store at version 11 (before FeedFields and IsFeedEvent) with event rows in it.
  SchemaOptions o{.database = "upgrade", .ttl = std::chrono::seconds(0)};
  ASSERT_THAT(store_->Query("CREATE DATABASE upgrade", {}), IsOk());
  ASSERT_THAT(store_->Query("CREATE TABLE upgrade.kobs_schema_migrations (`Version` UInt32, "
                            "`Name` String, `AppliedAt` DateTime64(3) DEFAULT now64(3)) "
                            "ENGINE = MergeTree ORDER BY Version",
                            {}),
              IsOk());
  for (const Migration& m : Migrations(o, ServerFeatures{26, 7})) {
    if (m.version > 11) continue;
    for (const std::string& s : m.statements) ASSERT_THAT(store_->Query(s, {}), IsOk()) << s;
    ASSERT_THAT(store_->Query(fmt::format("INSERT INTO upgrade.kobs_schema_migrations (Version, "
                                          "Name) VALUES ({}, '{}')",
                                          m.version, m.name),
                              {}),
                IsOk());
  }
  const std::string insert =
      "INSERT INTO upgrade.kobs_k8s_events (Timestamp, CompositionId, EventUid, Type, Reason, "
      "Message, ObjectKind, ObjectApiVersion, ObjectNamespace, ObjectName, ObjectUid, "
      "SourceComponent, LastTimestamp) VALUES ('2025-11-24 16:00:00', 'c1', 'u{0}', 'Warning', "
      "'BackOff', 'm{0}', 'Pod', 'v1', 'shop', 'web-{0}', 'pod-uid', 'kubelet', '{1}')";
  ASSERT_THAT(store_->Query(fmt::format(fmt::runtime(insert), 1, ""), {}), IsOk());
  // And a deletion, which the feed does not carry.
  ASSERT_THAT(store_->Query("INSERT INTO upgrade.kobs_k8s_events (Timestamp, CompositionId, "
                            "WatchType, EventUid, Reason) VALUES ('2025-11-24 16:00:00', 'c1', "
                            "'DELETED', 'u0', 'BackOff')",
                            {}),
              IsOk());
  ASSERT_OK_AND_ASSIGN(SchemaState st, EnsureSchema(*store_, o));
  EXPECT_EQ(st.applied, 3);
  EXPECT_EQ(st.current_version, 14);
  // The old row's FeedFields is computed when read; a new row's is stored on insert.
  ASSERT_THAT(store_->Query(fmt::format(fmt::runtime(insert), 2, "2025-11-24T16:00:05Z"), {}), IsOk());
  EXPECT_EQ(Scalar("SELECT arrayStringConcat(FeedFields, '|') FROM upgrade.kobs_k8s_events "
                   "ORDER BY EventUid FORMAT TSV"),
            "|||||BackOff|||2025-11-24T16:00:00Z|\n"
            "v1|Pod|web-1|shop|pod-uid|BackOff|m1|Warning|2025-11-24T16:00:00Z|kubelet\n"
            "v1|Pod|web-2|shop|pod-uid|BackOff|m2|Warning|2025-11-24T16:00:05Z|kubelet");
  // IsFeedEvent likewise, for old and new rows alike.
  EXPECT_EQ(Scalar("SELECT groupArray(IsFeedEvent) FROM (SELECT IsFeedEvent FROM "
                   "upgrade.kobs_k8s_events ORDER BY EventUid)"),
            "[false,true,true]");
  EXPECT_THAT(Scalar("SELECT create_table_query FROM system.tables WHERE database = "
                     "'upgrade' AND name = 'kobs_k8s_events'"),
              HasSubstr("`FeedFields` Array(String) MATERIALIZED [ObjectApiVersion"));
  EXPECT_EQ(Scalar("SELECT compression_codec FROM system.columns WHERE database = 'upgrade' "
                   "AND table = 'kobs_k8s_events' AND name = 'FeedFields'"),
            "CODEC(LZ4)");
  // Not in SELECT *: queries written for the table's columns see what they saw.
  EXPECT_THAT(Scalar("SELECT * FROM upgrade.kobs_k8s_events LIMIT 1 FORMAT JSONEachRow"),
              AllOf(Not(HasSubstr("FeedFields")), Not(HasSubstr("IsFeedEvent"))));
  // The parts stored before migration 14 get the time-ordered projection (a mutation, in the
  // background), and the newest events of the cluster are read from it.
  std::string projected;
  for (int i = 0; i < 100; ++i) {
    projected = Scalar("SELECT count() FROM system.projection_parts WHERE database = 'upgrade' "
                       "AND table = 'kobs_k8s_events' AND name = 'by_time' AND active");
    if (projected == "3") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(projected, "3");  // the two parts stored before the upgrade and the one after
  EXPECT_THAT(Scalar("EXPLAIN projections = 1 SELECT FeedFields FROM upgrade.kobs_k8s_events "
                     "WHERE IsFeedEvent AND Type = 'Warning' AND Timestamp >= '2025-11-24 "
                     "15:00:00' ORDER BY Timestamp DESC LIMIT 200"),
              HasSubstr("by_time"));
  // Read from the projection alone, the old rows as the new.
  EXPECT_EQ(Scalar("SELECT arrayStringConcat(FeedFields, '|') FROM upgrade.kobs_k8s_events "
                   "WHERE IsFeedEvent AND Timestamp >= '2025-11-24 15:00:00' ORDER BY "
                   "Timestamp DESC, FeedFields LIMIT 200 SETTINGS "
                   "force_optimize_projection_name = 'by_time' FORMAT TSV"),
            "v1|Pod|web-1|shop|pod-uid|BackOff|m1|Warning|2025-11-24T16:00:00Z|kubelet\n"
            "v1|Pod|web-2|shop|pod-uid|BackOff|m2|Warning|2025-11-24T16:00:05Z|kubelet");
  // An operator's lightweight DELETE still works, and the newest events no longer show the
  // deleted one (the part it touched is read without the projection).
  ASSERT_THAT(store_->Query("DELETE FROM upgrade.kobs_k8s_events WHERE EventUid = 'u1'", {}),
              IsOk());
  EXPECT_EQ(Scalar("SELECT groupArray(FeedFields[3]) FROM (SELECT FeedFields FROM "
                   "upgrade.kobs_k8s_events WHERE IsFeedEvent AND Timestamp >= '2025-11-24 "
                   "15:00:00' ORDER BY Timestamp DESC LIMIT 200)"),
            "['web-2']");
}

TEST(SchemaDdlTest, ClusterModeUsesReplicatedLocalTablesAndDistributed) {
  SchemaOptions o{.database = "otel", .cluster = "prod"};
  auto migrations = Migrations(o, ServerFeatures{26, 7});
  ASSERT_EQ(migrations.size(), 14u);
  EXPECT_TRUE(migrations[8].statements.empty()) << "Replicated tables deduplicate by default";
  // The typed events table: replicated, filled on each shard from its own otel_logs_local.
  const auto& events = migrations[9].statements;
  ASSERT_EQ(events.size(), 3u);
  EXPECT_THAT(events[0], HasSubstr("`otel`.`kobs_k8s_events_local` ON CLUSTER `prod`"));
  EXPECT_THAT(events[0], HasSubstr("ORDER BY (CompositionId, Timestamp)"));
  EXPECT_THAT(events[1], HasSubstr("TO `otel`.`kobs_k8s_events_local`"));
  EXPECT_THAT(events[1], HasSubstr("FROM `otel`.`otel_logs_local`"));
  EXPECT_THAT(events[2], HasSubstr("Distributed(`prod`, `otel`, `kobs_k8s_events_local`"));
  // The feed: position columns on the storage and the Distributed table, then its own table
  // ordered by position, filled (and stamped) by a view on the events table; no copy on a
  // cluster.
  const auto& feed = migrations[10].statements;
  ASSERT_EQ(feed.size(), 7u);
  EXPECT_THAT(feed[0], HasSubstr("ALTER TABLE `otel`.`kobs_k8s_events_local` ON CLUSTER `prod` "
                                 "ADD COLUMN IF NOT EXISTS `FeedTime`"));
  EXPECT_THAT(feed[2], HasSubstr("ALTER TABLE `otel`.`kobs_k8s_events` ON CLUSTER `prod`"));
  EXPECT_THAT(feed[4], HasSubstr("`otel`.`kobs_k8s_events_feed_local` ON CLUSTER `prod` ("));
  EXPECT_THAT(feed[4], HasSubstr("ORDER BY (FeedTime, FeedKey)"));
  EXPECT_THAT(feed[4], Not(HasSubstr("`Body`")));  // only what the feed sends and filters on
  EXPECT_THAT(feed[5], HasSubstr("SELECT now64(9) AS FeedTime, FeedKey, Timestamp"));
  EXPECT_THAT(feed[5], HasSubstr("FROM `otel`.`kobs_k8s_events_local`"));
  EXPECT_THAT(feed[6], HasSubstr("Distributed(`prod`, `otel`, `kobs_k8s_events_feed_local`"));
  // /events' fields as one column, on the storage and the Distributed table.
  const auto& fields = migrations[11].statements;
  ASSERT_EQ(fields.size(), 2u);
  EXPECT_THAT(fields[0], HasSubstr("ALTER TABLE `otel`.`kobs_k8s_events_local` ON CLUSTER `prod` "
                                   "ADD COLUMN IF NOT EXISTS `FeedFields` Array(String) "
                                   "MATERIALIZED [ObjectApiVersion,"));
  EXPECT_THAT(fields[1], HasSubstr("ALTER TABLE `otel`.`kobs_k8s_events` ON CLUSTER `prod`"));
  // Whether a row is a feed event, as a column: added on both tables, written into the
  // storage table's existing parts; and FeedFields compressed for scattered reads.
  const auto& is_event = migrations[12].statements;
  ASSERT_EQ(is_event.size(), 4u);
  EXPECT_THAT(is_event[0], HasSubstr("ALTER TABLE `otel`.`kobs_k8s_events_local` ON CLUSTER "
                                     "`prod` ADD COLUMN IF NOT EXISTS `IsFeedEvent` Bool "
                                     "MATERIALIZED (Reason != '' AND WatchType != 'DELETED')"));
  EXPECT_THAT(is_event[1], HasSubstr("ALTER TABLE `otel`.`kobs_k8s_events` ON CLUSTER `prod`"));
  EXPECT_EQ(is_event[2], "ALTER TABLE `otel`.`kobs_k8s_events_local` ON CLUSTER `prod` "
                         "MATERIALIZE COLUMN IsFeedEvent");
  EXPECT_EQ(is_event[3], "ALTER TABLE `otel`.`kobs_k8s_events_local` ON CLUSTER `prod` "
                         "MODIFY COLUMN FeedFields CODEC(LZ4)");
  // Events in time order for queries without a composition: on the storage table.
  const auto& by_time = migrations[13].statements;
  ASSERT_EQ(by_time.size(), 3u);
  EXPECT_EQ(by_time[0], "ALTER TABLE `otel`.`kobs_k8s_events_local` ON CLUSTER `prod` MODIFY "
                        "SETTING lightweight_mutation_projection_mode = 'drop'");
  EXPECT_THAT(by_time[1], HasSubstr("ALTER TABLE `otel`.`kobs_k8s_events_local` ON CLUSTER "
                                    "`prod` ADD PROJECTION IF NOT EXISTS by_time (SELECT "));
  EXPECT_THAT(by_time[1], HasSubstr("ORDER BY Timestamp)"));
  EXPECT_EQ(by_time[2], "ALTER TABLE `otel`.`kobs_k8s_events_local` ON CLUSTER `prod` "
                        "MATERIALIZE PROJECTION by_time");
  const auto& logs = migrations[0].statements;
  ASSERT_EQ(logs.size(), 2u);
  EXPECT_THAT(logs[0], HasSubstr("CREATE TABLE IF NOT EXISTS `otel`.`otel_logs_local` ON CLUSTER `prod`"));
  EXPECT_THAT(logs[0], HasSubstr("ReplicatedMergeTree('/clickhouse/tables/{shard}/otel/otel_logs_local', '{replica}')"));
  EXPECT_THAT(logs[1], HasSubstr("ENGINE = Distributed(`prod`, `otel`, `otel_logs_local`, rand())"));
  EXPECT_THAT(migrations[2].statements[0], HasSubstr("ReplicatedAggregatingMergeTree"));
  EXPECT_THAT(migrations[2].statements[1], HasSubstr("FROM `otel`.`otel_traces_local`"));
}

TEST(SchemaDdlTest, OldServersGetBloomFilters) {
  auto migrations = Migrations({}, ServerFeatures{25, 8});
  EXPECT_THAT(migrations[0].statements[0], HasSubstr("bloom_filter(0.001)"));
  EXPECT_THAT(migrations[0].statements[0], HasSubstr("tokenbf_v1(32768, 3, 0)"));
  EXPECT_THAT(migrations[0].statements[0], Not(HasSubstr("TYPE text(")));
}

TEST(SchemaDdlTest, ParsesServerVersions) {
  EXPECT_TRUE(ParseServerVersion("26.7.2.1")->text_index());
  EXPECT_TRUE(ParseServerVersion("26.2.1")->text_index());
  EXPECT_FALSE(ParseServerVersion("26.1.9")->text_index());
  EXPECT_FALSE(ParseServerVersion("18.16.1")->text_index());
  EXPECT_FALSE(ParseServerVersion("garbage").ok());
}

}  // namespace
}  // namespace kobs::store

namespace kobs::store {
namespace {

// What the writer's spool replay relies on: an insert repeating a recent
// insert_deduplication_token is dropped, a new token is not.
TEST_F(SchemaTest, RepeatedInsertWithTheSameTokenIsDeduplicated) {
  ASSERT_THAT(EnsureSchema(*store_, {.database = "dedup", .ttl = std::chrono::seconds(0)}),
              ::kobs::testing::IsOk());
  auto rows = testing::MakeK8sLogRows(50, 1'764'000'000'000'000'000);
  std::string data;
  for (const auto& r : rows) EncodeLogRow(r, &data);
  InsertOptions token{.settings = {{"insert_deduplication_token", "seg1-0"}}};
  for (int i = 0; i < 3; ++i) {
    ASSERT_THAT(store_->Insert("dedup.otel_logs", LogColumns(), "RowBinary", data, token),
                ::kobs::testing::IsOk());
  }
  EXPECT_EQ(Scalar("SELECT count() FROM dedup.otel_logs"), "50");
  InsertOptions other{.settings = {{"insert_deduplication_token", "seg1-1"}}};
  ASSERT_THAT(store_->Insert("dedup.otel_logs", LogColumns(), "RowBinary", data, other),
              ::kobs::testing::IsOk());
  EXPECT_EQ(Scalar("SELECT count() FROM dedup.otel_logs"), "100");
}

}  // namespace
}  // namespace kobs::store
