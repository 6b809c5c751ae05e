#include "store/schema.h"

#include <absl/strings/numbers.h>
#include <absl/strings/str_split.h>
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "common/config_util.h"
#include "common/absl_compat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "store/sql_quote.h"

namespace kobs::store {
namespace {

constexpr char kMigrationsTable[] = "kobs_schema_migrations";

// Builds DDL for one table in single-node or cluster mode.
class Ddl {
 public:
  Ddl(const SchemaOptions& options, const ServerFeatures& features)
      : o_(options), f_(features) {}

  std::string db() const { return QuoteIdentifier(o_.database); }
  std::string on_cluster() const {
    return o_.cluster.empty() ? "" : " ON CLUSTER " + QuoteIdentifier(o_.cluster);
  }
  // Name of the table that holds the data (`x_local` on a cluster).
  std::string storage(const std::string& table) const {
    return o_.cluster.empty() ? table : table + "_local";
  }
  std::string engine(const std::string& table, const std::string& kind = "MergeTree") const {
    if (o_.cluster.empty()) return kind + "()";
    return fmt::format("Replicated{}('/clickhouse/tables/{{shard}}/{}/{}', '{{replica}}')", kind,
                       o_.database, storage(table));
  }
  std::string ttl(const std::string& column) const {
    if (o_.ttl.count() == 0) return "";
    return fmt::format("TTL toDateTime({}) + toIntervalSecond({})", column, o_.ttl.count());
  }
  // Map key/value and trace-id indexes: text indexes on 26.2+, bloom filters before.
  std::string map_index(const std::string& name, const std::string& expr) const {
    return f_.text_index()
               ? fmt::format("INDEX {} {} TYPE text(tokenizer = 'array')", name, expr)
               : fmt::format("INDEX {} {} TYPE bloom_filter(0.01) GRANULARITY 1", name, expr);
  }
  std::string trace_index() const {
    return f_.text_index() ? "INDEX idx_trace_id TraceId TYPE text(tokenizer = 'array')"
                           : "INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1";
  }
  std::string create(const std::string& table, const std::string& body) const {
    return fmt::format("CREATE TABLE IF NOT EXISTS {}.{}{} (\n{}", db(),
                       QuoteIdentifier(storage(table)), on_cluster(), body);
  }
  // The Distributed table named `table` over `table_local`, on a cluster only.
  std::vector<std::string> distributed(const std::string& table) const {
    if (o_.cluster.empty()) return {};
    return {fmt::format(
        "CREATE TABLE IF NOT EXISTS {}.{}{} AS {}.{} ENGINE = Distributed({}, {}, {}, rand())",
        db(), QuoteIdentifier(table), on_cluster(), db(), QuoteIdentifier(storage(table)),
        QuoteIdentifier(o_.cluster), QuoteIdentifier(o_.database),
        QuoteIdentifier(storage(table)))};
  }
  const ServerFeatures& features() const { return f_; }

 private:
  const SchemaOptions& o_;
  const ServerFeatures& f_;
};

std::vector<std::string> Concat(std::vector<std::string> a, std::vector<std::string> b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// otel_logs: the exporter's current layout (anchors.md §A.2, after PR #47720).
Migration LogsMigration(const Ddl& d) {
  std::string materialized;
  for (const char* key : {"k8s.cluster.name", "k8s.container.name", "k8s.deployment.name",
                          "k8s.namespace.name", "k8s.node.name", "k8s.pod.name", "k8s.pod.uid",
                          "deployment.environment.name"}) {
    materialized += fmt::format(
        "  `__otel_materialized_{0}` LowCardinality(String) MATERIALIZED ResourceAttributes['{0}'] "
        "CODEC(ZSTD(1)),\n",
        key);
  }
  std::string body_index = d.features().text_index()
      ? "INDEX idx_lower_body lower(Body) TYPE text(tokenizer = 'splitByNonAlpha')"
      : "INDEX idx_lower_body lower(Body) TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8";
  std::string sql = d.create("otel_logs", fmt::format(R"(  `Timestamp` DateTime64(9) CODEC(Delta(8), ZSTD(1)),
  `TraceId` String CODEC(ZSTD(1)),
  `SpanId` String CODEC(ZSTD(1)),
  `TraceFlags` UInt8,
  `SeverityText` LowCardinality(String) CODEC(ZSTD(1)),
  `SeverityNumber` UInt8,
  `ServiceName` LowCardinality(String) CODEC(ZSTD(1)),
  `Body` String CODEC(ZSTD(1)),
  `ResourceSchemaUrl` LowCardinality(String) CODEC(ZSTD(1)),
  `ResourceAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
  `ScopeSchemaUrl` LowCardinality(String) CODEC(ZSTD(1)),
  `ScopeName` String CODEC(ZSTD(1)),
  `ScopeVersion` LowCardinality(String) CODEC(ZSTD(1)),
  `ScopeAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
  `LogAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
  `EventName` String CODEC(ZSTD(1)),
{}  {},
  {},
  {},
  {},
  {},
  {},
  {},
  {}
) ENGINE = {}
PARTITION BY toDate(Timestamp)
ORDER BY (toStartOfFiveMinutes(Timestamp), ServiceName, Timestamp)
{}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1)",
      materialized, d.trace_index(),
      d.map_index("idx_res_attr_key", "mapKeys(ResourceAttributes)"),
      d.map_index("idx_res_attr_value", "mapValues(ResourceAttributes)"),
      d.map_index("idx_scope_attr_key", "mapKeys(ScopeAttributes)"),
      d.map_index("idx_scope_attr_value", "mapValues(ScopeAttributes)"),
      d.map_index("idx_log_attr_key", "mapKeys(LogAttributes)"),
      d.map_index("idx_log_attr_value", "mapValues(LogAttributes)"), body_index,
      d.engine("otel_logs"), d.ttl("Timestamp")));
  return {1, "otel_logs", Concat({sql}, d.distributed("otel_logs"))};
}

Migration TracesMigration(const Ddl& d) {
  const bool text = d.features().text_index();
  std::string indexes =
      d.trace_index() + ",\n  " +
      d.map_index("idx_res_attr_key", "mapKeys(ResourceAttributes)") + ",\n  " +
      (text ? d.map_index("idx_res_attr_items", "ResourceAttributeItems")
            : d.map_index("idx_res_attr_value", "mapValues(ResourceAttributes)")) +
      ",\n  " + d.map_index("idx_span_attr_key", "mapKeys(SpanAttributes)") + ",\n  " +
      (text ? d.map_index("idx_span_attr_items", "SpanAttributeItems")
            : d.map_index("idx_span_attr_value", "mapValues(SpanAttributes)")) +
      ",\n  INDEX idx_duration Duration TYPE minmax GRANULARITY 1";
  std::string sql = d.create("otel_traces", fmt::format(R"(  `Timestamp` DateTime64(9) CODEC(Delta(8), ZSTD(1)),
  `TraceId` String CODEC(ZSTD(1)),
  `SpanId` String CODEC(ZSTD(1)),
  `ParentSpanId` String CODEC(ZSTD(1)),
  `TraceState` String CODEC(ZSTD(1)),
  `SpanName` LowCardinality(String) CODEC(ZSTD(1)),
  `SpanKind` LowCardinality(String) CODEC(ZSTD(1)),
  `ServiceName` LowCardinality(String) CODEC(ZSTD(1)),
  `ResourceAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
  `ScopeName` String CODEC(ZSTD(1)),
  `ScopeVersion` String CODEC(ZSTD(1)),
  `SpanAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
  `Duration` UInt64 CODEC(T64, ZSTD(1)),
  `StatusCode` LowCardinality(String) CODEC(ZSTD(1)),
  `StatusMessage` String CODEC(ZSTD(1)),
  `Events` Nested (
    `Timestamp` DateTime64(9),
    `Name` LowCardinality(String),
    `Attributes` Map(LowCardinality(String), String)
  ) CODEC(ZSTD(1)),
  `Links` Nested (
    `TraceId` String,
    `SpanId` String,
    `TraceState` String,
    `Attributes` Map(LowCardinality(String), String)
  ) CODEC(ZSTD(1)),
  `ResourceAttributeItems` Array(String) ALIAS arrayMap(kv -> concat(kv.1, '=', kv.2), CAST(ResourceAttributes, 'Array(Tuple(String, String))')),
  `SpanAttributeItems` Array(String) ALIAS arrayMap(kv -> concat(kv.1, '=', kv.2), CAST(SpanAttributes, 'Array(Tuple(String, String))')),
  {}
) ENGINE = {}
PARTITION BY toDate(Timestamp)
PRIMARY KEY (ServiceName, SpanName, toDateTime(Timestamp))
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp), Timestamp)
{}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1)",
      indexes, d.engine("otel_traces"), d.ttl("Timestamp")));
  return {2, "otel_traces", Concat({sql}, d.distributed("otel_traces"))};
}

Migration TraceIdMigration(const Ddl& d) {
  std::string table = d.create("otel_traces_trace_id_ts", fmt::format(R"(  `TraceId` String CODEC(ZSTD(1)),
  `Start` SimpleAggregateFunction(min, DateTime) CODEC(Delta, ZSTD(1)),
  `End` SimpleAggregateFunction(max, DateTime) CODEC(Delta, ZSTD(1)),
  {}
) ENGINE = {}
PARTITION BY toStartOfWeek(Start)
ORDER BY (TraceId)
{}
SETTINGS index_granularity = 8192)",
      d.trace_index(), d.engine("otel_traces_trace_id_ts", "AggregatingMergeTree"),
      d.ttl("Start")));
  // The view reads the storage table, so on a cluster each shard fills its own lookup table.
  std::string view = fmt::format(
      "CREATE MATERIALIZED VIEW IF NOT EXISTS {0}.{1}{2} TO {0}.{3} AS "
      "SELECT TraceId, min(Timestamp) AS Start, max(Timestamp) AS End FROM {0}.{4} "
      "WHERE TraceId != '' GROUP BY TraceId",
      d.db(), QuoteIdentifier(d.storage("otel_traces_trace_id_ts_mv")), d.on_cluster(),
      QuoteIdentifier(d.storage("otel_traces_trace_id_ts")),
      QuoteIdentifier(d.storage("otel_traces")));
  return {3, "otel_traces_trace_id_ts",
          Concat({table, view}, d.distributed("otel_traces_trace_id_ts"))};
}

// Metric tables share their leading columns (anchors.md §A.2, metrics_*_table.sql).
std::string MetricCommonColumns() {
  return R"(  `ResourceAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
  `ResourceSchemaUrl` String CODEC(ZSTD(1)),
  `ScopeName` String CODEC(ZSTD(1)),
  `ScopeVersion` String CODEC(ZSTD(1)),
  `ScopeAttributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
  `ScopeDroppedAttrCount` UInt32 CODEC(ZSTD(1)),
  `ScopeSchemaUrl` String CODEC(ZSTD(1)),
  `ServiceName` LowCardinality(String) CODEC(ZSTD(1)),
  `MetricName` LowCardinality(String) CODEC(ZSTD(1)),
  `MetricDescription` String CODEC(ZSTD(1)),
  `MetricUnit` String CODEC(ZSTD(1)),
  `Attributes` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
  `StartTimeUnix` DateTime64(9) CODEC(Delta, ZSTD(1)),
  `TimeUnix` DateTime64(9) CODEC(Delta, ZSTD(1)),
)";
}

constexpr char kExemplars[] = R"(  `Exemplars` Nested (
    `FilteredAttributes` Map(LowCardinality(String), String),
    `TimeUnix` DateTime64(9),
    `Value` Float64,
    `SpanId` String,
    `TraceId` String
  ) CODEC(ZSTD(1)),
)";

Migration MetricMigration(const Ddl& d, int version, const std::string& table,
                          const std::string& specific_columns) {
  std::string indexes = d.map_index("idx_res_attr_key", "mapKeys(ResourceAttributes)") + ",\n  " +
                        d.map_index("idx_res_attr_value", "mapValues(ResourceAttributes)") +
                        ",\n  " + d.map_index("idx_scope_attr_key", "mapKeys(ScopeAttributes)") +
                        ",\n  " +
                        d.map_index("idx_scope_attr_value", "mapValues(ScopeAttributes)") +
                        ",\n  " + d.map_index("idx_attr_key", "mapKeys(Attributes)") + ",\n  " +
                        d.map_index("idx_attr_value", "mapValues(Attributes)") +
                        ",\n  INDEX idx_time_minmax TimeUnix TYPE minmax GRANULARITY 1";
  std::string sql = d.create(table, fmt::format(R"({}{}{}  {}
) ENGINE = {}
PARTITION BY toDate(TimeUnix)
ORDER BY (ServiceName, MetricName, toStartOfHour(TimeUnix), cityHash64(Attributes), TimeUnix)
{}
SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1)",
      MetricCommonColumns(), specific_columns, kExemplars, indexes, d.engine(table),
      d.ttl("TimeUnix")));
  return {version, table, Concat({sql}, d.distributed(table))};
}

std::vector<Migration> MetricMigrations(const Ddl& d) {
  return {
      MetricMigration(d, 4, "otel_metrics_gauge", R"(  `Value` Float64 CODEC(ZSTD(1)),
  `Flags` UInt32 CODEC(ZSTD(1)),
)"),
      MetricMigration(d, 5, "otel_metrics_sum", R"(  `Value` Float64 CODEC(ZSTD(1)),
  `Flags` UInt32 CODEC(ZSTD(1)),
  `AggregationTemporality` Int32 CODEC(ZSTD(1)),
  `IsMonotonic` Boolean CODEC(Delta, ZSTD(1)),
)"),
      MetricMigration(d, 6, "otel_metrics_histogram", R"(  `Count` UInt64 CODEC(Delta(8), ZSTD(1)),
  `Sum` Float64 CODEC(ZSTD(1)),
  `BucketCounts` Array(UInt64) CODEC(ZSTD(1)),
  `ExplicitBounds` Array(Float64) CODEC(ZSTD(1)),
  `Flags` UInt32 CODEC(ZSTD(1)),
  `Min` Float64 CODEC(ZSTD(1)),
  `Max` Float64 CODEC(ZSTD(1)),
  `AggregationTemporality` Int32 CODEC(ZSTD(1)),
)"),
      MetricMigration(d, 7, "otel_metrics_exponential_histogram", R"(  `Count` UInt64 CODEC(Delta(8), ZSTD(1)),
  `Sum` Float64 CODEC(ZSTD(1)),
  `Scale` Int32 CODEC(ZSTD(1)),
  `ZeroCount` UInt64 CODEC(ZSTD(1)),
  `PositiveOffset` Int32 CODEC(ZSTD(1)),
  `PositiveBucketCounts` Array(UInt64) CODEC(ZSTD(1)),
  `NegativeOffset` Int32 CODEC(ZSTD(1)),
  `NegativeBucketCounts` Array(UInt64) CODEC(ZSTD(1)),
  `Flags` UInt32 CODEC(ZSTD(1)),
  `Min` Float64 CODEC(ZSTD(1)),
  `Max` Float64 CODEC(ZSTD(1)),
  `AggregationTemporality` Int32 CODEC(ZSTD(1)),
)"),
      MetricMigration(d, 8, "otel_metrics_summary", R"(  `Count` UInt64 CODEC(Delta(8), ZSTD(1)),
  `Sum` Float64 CODEC(ZSTD(1)),
  `ValueAtQuantiles` Nested (
    `Quantile` Float64,
    `Value` Float64
  ) CODEC(ZSTD(1)),
  `Flags` UInt32 CODEC(ZSTD(1)),
)"),
  };
}

// Lets the writer replay a spooled batch exactly once: an insert that repeats the
// insert_deduplication_token of one of the last 1000 inserts is dropped. Replicated tables
// deduplicate by default, so only plain MergeTree tables need it.
Migration DedupMigration(const Ddl& d, bool replicated) {
  std::vector<std::string> statements;
  if (!replicated) {
    for (const char* t : {"otel_logs", "otel_traces", "otel_metrics_gauge", "otel_metrics_sum",
                          "otel_metrics_histogram", "otel_metrics_exponential_histogram",
                          "otel_metrics_summary"}) {
      statements.push_back(fmt::format(
          "ALTER TABLE {}.{} MODIFY SETTING non_replicated_deduplication_window = 1000", d.db(),
          QuoteIdentifier(t)));
    }
  }
  return {9, "insert_deduplication_window", std::move(statements)};
}

// The view that fills kobs_k8s_events from otel_logs. It reads the storage table, so on a
// cluster each shard fills its own.
std::string EventsView(const Ddl& d) {
  auto field = [](const char* path) {
    return fmt::format("JSONExtractString(Body, 'object', {})", path);
  };
  return fmt::format(
      "CREATE MATERIALIZED VIEW IF NOT EXISTS {0}.{1}{2} TO {0}.{3} AS SELECT "
      "Timestamp, LogAttributes['krateo.io/composition-id'] AS CompositionId, "
      "ResourceAttributes['k8s.namespace.name'] AS Namespace, "
      "JSONExtractString(Body, 'type') AS WatchType, "
      "{5} AS EventName, {6} AS EventUid, {7} AS ResourceVersion, {8} AS Type, {9} AS Reason, "
      "{10} AS Message, {11} AS ObjectKind, {12} AS ObjectApiVersion, {13} AS ObjectNamespace, "
      "{14} AS ObjectName, {15} AS ObjectUid, {16} AS FieldPath, {17} AS SourceComponent, "
      "{18} AS SourceHost, toUInt32(greatest(JSONExtractInt(Body, 'object', 'count'), 1)) AS Count, "
      "{19} AS FirstTimestamp, {20} AS LastTimestamp, {21} AS EventTime, Body "
      "FROM {0}.{4} WHERE ResourceAttributes['telemetry.source'] = 'k8s-events'",
      d.db(), QuoteIdentifier(d.storage("kobs_k8s_events_mv")), d.on_cluster(),
      QuoteIdentifier(d.storage("kobs_k8s_events")), QuoteIdentifier(d.storage("otel_logs")),
      field("'metadata', 'name'"), field("'metadata', 'uid'"),
      field("'metadata', 'resourceVersion'"), field("'type'"), field("'reason'"),
      field("'message'"), field("'involvedObject', 'kind'"),
      field("'involvedObject', 'apiVersion'"), field("'involvedObject', 'namespace'"),
      field("'involvedObject', 'name'"), field("'involvedObject', 'uid'"),
      field("'involvedObject', 'fieldPath'"), field("'source', 'component'"),
      field("'source', 'host'"), field("'firstTimestamp'"), field("'lastTimestamp'"),
      field("'eventTime'"));
}

// What an event says, in kobs_k8s_events and kobs_k8s_events_feed.
constexpr std::string_view kEventColumns = R"(  `Type` LowCardinality(String) CODEC(ZSTD(1)),
  `Reason` LowCardinality(String) CODEC(ZSTD(1)),
  `Message` String CODEC(ZSTD(1)),
  `ObjectKind` LowCardinality(String) CODEC(ZSTD(1)),
  `ObjectApiVersion` LowCardinality(String) CODEC(ZSTD(1)),
  `ObjectNamespace` LowCardinality(String) CODEC(ZSTD(1)),
  `ObjectName` String CODEC(ZSTD(1)),
  `ObjectUid` String CODEC(ZSTD(1)),
)";

// kobs_k8s_events: the Kubernetes event rows of otel_logs (the original data model, its Body
// JSON) as typed columns, filled by a materialized view and ordered by composition and time,
// so that one composition's events are a primary-key range instead of a scan with
// JSONExtract. The composition id is LogAttributes['krateo.io/composition-id'].
// Granules of 1024 rows: GET /events reads a composition's newest rows, which lie in one or
// two granules per part, and every row of a granule read is decoded and filtered. With 8192
// rows a query cost 1.3-1.5 ms more on 10M rows (bench/store_query, in-process). Stores
// created with 8192 (this migration before it was changed) keep it: index_granularity cannot
// be altered, and the answers are the same.
Migration EventsMigration(const Ddl& d) {
  std::string table = d.create("kobs_k8s_events", fmt::format(R"(  `Timestamp` DateTime64(9) CODEC(Delta(8), ZSTD(1)),
  `CompositionId` String CODEC(ZSTD(1)),
  `Namespace` LowCardinality(String) CODEC(ZSTD(1)),
  `WatchType` LowCardinality(String) CODEC(ZSTD(1)),
  `EventName` String CODEC(ZSTD(1)),
  `EventUid` String CODEC(ZSTD(1)),
  `ResourceVersion` String CODEC(ZSTD(1)),
{}  `FieldPath` String CODEC(ZSTD(1)),
  `SourceComponent` LowCardinality(String) CODEC(ZSTD(1)),
  `SourceHost` LowCardinality(String) CODEC(ZSTD(1)),
  `Count` UInt32 CODEC(ZSTD(1)),
  `FirstTimestamp` String CODEC(ZSTD(1)),
  `LastTimestamp` String CODEC(ZSTD(1)),
  `EventTime` String CODEC(ZSTD(1)),
  `Body` String CODEC(ZSTD(1)),
  INDEX idx_object_name ObjectName TYPE bloom_filter(0.01) GRANULARITY 1,
  INDEX idx_object_uid ObjectUid TYPE bloom_filter(0.01) GRANULARITY 1,
  INDEX idx_namespace Namespace TYPE set(100) GRANULARITY 1
) ENGINE = {}
PARTITION BY toDate(Timestamp)
ORDER BY (CompositionId, Timestamp)
{}
SETTINGS index_granularity = 1024)",
      kEventColumns, d.engine("kobs_k8s_events"), d.ttl("Timestamp")));
  return {10, "kobs_k8s_events",
          Concat({table, EventsView(d)}, d.distributed("kobs_k8s_events"))};
}

// ALTER TABLE kobs_k8s_events ADD COLUMN for each of `columns`, on the storage table and, on a
// cluster, on the Distributed table over it.
std::vector<std::string> AddEventColumns(const Ddl& d, bool cluster,
                                         const std::vector<std::string>& columns) {
  std::vector<std::string> statements;
  std::vector<std::string> tables = {d.storage("kobs_k8s_events")};
  if (cluster) tables.push_back("kobs_k8s_events");  // the Distributed table
  for (const std::string& t : tables) {
    for (const std::string& column : columns) {
      statements.push_back(fmt::format("ALTER TABLE {}.{}{} ADD COLUMN IF NOT EXISTS {}", d.db(),
                                       QuoteIdentifier(t), d.on_cluster(), column));
    }
  }
  return statements;
}

// kobs_k8s_events_feed, the event feed's table: the rows of kobs_k8s_events ordered by their
// position, so that "rows after this position" is a primary-key range however large the table
// (kobs_k8s_events is ordered by composition, where a time bound prunes nothing).
// - FeedTime: when the row reached the store. The view that fills this table is the last step
//   of an insert and stamps it with now64(9), as close to the commit as a row can say.
// - FeedKey: a hash of the event's identity and content, breaking ties within one insert.
// (FeedTime, FeedKey) orders every row the same way on every replica. kobs_k8s_events gets both
// columns too (there FeedTime is the event's Timestamp), so rows stored before this migration
// are copied at their Timestamp (single node; on a cluster the feed starts with new rows).
// The feed table holds only what the feed sends and filters on: no Body, no skip indexes.
// Every event is written and merged here a second time, so each column costs insert CPU,
// and that CPU is taken from the feed's push on a small machine (bench/sse on two cores: p99
// from about 135 ms to about 100 ms, server CPU about 10 points lower, when the copy of every
// column was dropped).
Migration FeedMigration(const Ddl& d, bool cluster) {
  std::vector<std::string> statements = AddEventColumns(
      d, cluster,
      {"`FeedTime` DateTime64(9) DEFAULT Timestamp CODEC(Delta(8), ZSTD(1))",
       "`FeedKey` UInt64 DEFAULT cityHash64(EventUid, ResourceVersion, WatchType, ObjectUid, "
       "Reason, Message, toUnixTimestamp64Nano(Timestamp))"});
  const std::string events = QuoteIdentifier(d.storage("kobs_k8s_events"));
  const std::string feed = QuoteIdentifier(d.storage("kobs_k8s_events_feed"));
  statements.push_back(d.create("kobs_k8s_events_feed", fmt::format(R"(  `FeedTime` DateTime64(9) CODEC(Delta(8), ZSTD(1)),
  `FeedKey` UInt64,
  `Timestamp` DateTime64(9) CODEC(Delta(8), ZSTD(1)),
  `CompositionId` String CODEC(ZSTD(1)),
  `Namespace` LowCardinality(String) CODEC(ZSTD(1)),
  `WatchType` LowCardinality(String) CODEC(ZSTD(1)),
{}  `SourceComponent` LowCardinality(String) CODEC(ZSTD(1)),
  `LastTimestamp` String CODEC(ZSTD(1)),
  `EventTime` String CODEC(ZSTD(1))
) ENGINE = {}
PARTITION BY toDate(FeedTime)
ORDER BY (FeedTime, FeedKey)
{}
SETTINGS index_granularity = 8192)",
      kEventColumns, d.engine("kobs_k8s_events_feed"), d.ttl("FeedTime"))));
  constexpr const char* kFeedColumns =
      "FeedKey, Timestamp, CompositionId, Namespace, WatchType, Type, Reason, Message, "
      "ObjectKind, ObjectApiVersion, ObjectNamespace, ObjectName, ObjectUid, SourceComponent, "
      "LastTimestamp, EventTime";
  statements.push_back(fmt::format(
      "CREATE MATERIALIZED VIEW IF NOT EXISTS {0}.{1}{2} TO {0}.{3} AS SELECT now64(9) AS "
      "FeedTime, {5} FROM {0}.{4}",
      d.db(), QuoteIdentifier(d.storage("kobs_k8s_events_feed_mv")), d.on_cluster(), feed,
      events, kFeedColumns));
  if (!cluster) {
    statements.push_back(
        fmt::format("INSERT INTO {0}.{1} (FeedTime, {3}) SELECT FeedTime, {3} FROM {0}.{2}",
                    d.db(), feed, events, kFeedColumns));
  }
  return {11, "kobs_k8s_events_feed",
          Concat(std::move(statements), d.distributed("kobs_k8s_events_feed"))};
}

// FeedFields: what GET /events sends of an event (kFeedFieldsExpression), stored as one
// column. /events reads a composition's newest rows lazily, column by column and part by
// part: with one column instead of ten, a query costs about 10 ms of CPU, not 14, on 10M rows
// (bench/sse on two cores: p99 16.5 ms for 50 events). MATERIALIZED: computed on insert, left
// out of SELECT *; rows stored before this migration get it computed when read, until their
// parts are merged.
Migration FeedFieldsMigration(const Ddl& d, bool cluster) {
  return {12, "kobs_k8s_events_feed_fields",
          AddEventColumns(d, cluster,
                          {fmt::format("`FeedFields` Array(String) MATERIALIZED {} CODEC(ZSTD(1))",
                                       kFeedFieldsExpression)})};
}

// What GET /events reads, made cheaper to read (bench/store_query, 10M rows, in-process):
// - IsFeedEvent: kIsFeedEventExpression stored as one byte per row, so that the query filters
//   on one small column instead of decoding Reason and WatchType (about 1 ms of a 6 ms query).
//   MATERIALIZE COLUMN writes it into the parts stored before this migration, in the
//   background; until then it is computed when read.
// - FeedFields compressed with LZ4, not ZSTD: the newest events of the whole cluster or of a
//   namespace are one row here and one there, each in its own granule, and every one of them
//   costs a block decompressed. LZ4 decompresses several times faster, for about half as many
//   bytes again on disk. Parts stored before keep ZSTD until they are merged.
// The events storage table as ALTER TABLE names it: qualified, and ON CLUSTER on a cluster.
std::string AlterEventsStorage(const Ddl& d) {
  return fmt::format("{}.{}{}", d.db(), QuoteIdentifier(d.storage("kobs_k8s_events")),
                     d.on_cluster());
}

Migration FeedReadsMigration(const Ddl& d, bool cluster) {
  std::vector<std::string> statements = AddEventColumns(
      d, cluster,
      {fmt::format("`IsFeedEvent` Bool MATERIALIZED ({})", kIsFeedEventExpression)});
  const std::string events = AlterEventsStorage(d);
  statements.push_back(fmt::format("ALTER TABLE {} MATERIALIZE COLUMN IsFeedEvent", events));
  statements.push_back(fmt::format("ALTER TABLE {} MODIFY COLUMN FeedFields CODEC(LZ4)", events));
  return {13, "kobs_k8s_events_feed_reads", std::move(statements)};
}

// by_time, a projection of kobs_k8s_events ordered by event time: what GET /events reads
// without a composition (the newest events of the cluster or of a namespace, optionally of one
// type) is then the end of a key range. Without it, those queries scanned each day's
// partition, so their cost grew through the day (bench/store_query, 10M rows, at 09:00 UTC:
// p50 14.8 ms, and 5.7 ms with it). ClickHouse chooses it for any query that reads only its
// columns; a composition's queries still read the table's own key range. The price: each
// insert and merge writes these columns twice (about 5 % more insert time), FeedFields
// included. MATERIALIZE PROJECTION builds it for the parts stored before, in the background.
// A lightweight DELETE (an operator's, through the ClickHouse endpoint) would be refused on a
// table with a projection. With `drop` it drops the projection of the parts it touches, which
// are then read from the table until a merge rebuilds it. (`rebuild` leaves the deleted rows
// in the projection on chDB 26.7: measured.)
Migration EventsByTimeMigration(const Ddl& d) {
  const std::string events = AlterEventsStorage(d);
  return {14,
          "kobs_k8s_events_by_time",
          {fmt::format("ALTER TABLE {} MODIFY SETTING lightweight_mutation_projection_mode = "
                       "'drop'",
                       events),
           fmt::format("ALTER TABLE {} ADD PROJECTION IF NOT EXISTS by_time (SELECT Timestamp, "
                       "IsFeedEvent, Type, Namespace, ObjectNamespace, FeedFields ORDER BY "
                       "Timestamp)",
                       events),
           fmt::format("ALTER TABLE {} MATERIALIZE PROJECTION by_time", events)}};
}

}  // namespace

absl::StatusOr<SchemaOptions> ParseSchemaOptions(const YAML::Node& node) {
  SchemaOptions o;
  KOBS_RETURN_IF_ERROR(CheckKeys(node, {"database", "ttl", "cluster"}, "store.schema"));
  KOBS_RETURN_IF_ERROR(ReadString(node, "database", &o.database));
  KOBS_RETURN_IF_ERROR(ReadString(node, "cluster", &o.cluster));
  std::chrono::milliseconds ttl = std::chrono::duration_cast<std::chrono::milliseconds>(o.ttl);
  KOBS_RETURN_IF_ERROR(ReadDuration(node, "ttl", &ttl));
  o.ttl = std::chrono::duration_cast<std::chrono::seconds>(ttl);
  return o;
}

absl::StatusOr<ServerFeatures> ParseServerVersion(std::string_view version) {
  std::vector<absl::string_view> parts = absl::StrSplit(ToAbsl(version), '.');
  ServerFeatures f;
  if (parts.size() < 2 || !absl::SimpleAtoi(parts[0], &f.major) ||
      !absl::SimpleAtoi(parts[1], &f.minor)) {
    return absl::InvalidArgumentError(fmt::format("unrecognised server version '{}'", version));
  }
  return f;
}

std::vector<Migration> Migrations(const SchemaOptions& options, const ServerFeatures& features) {
  Ddl d(options, features);
  std::vector<Migration> out = {LogsMigration(d), TracesMigration(d), TraceIdMigration(d)};
  for (auto& m : MetricMigrations(d)) out.push_back(std::move(m));
  out.push_back(DedupMigration(d, !options.cluster.empty()));
  out.push_back(EventsMigration(d));
  out.push_back(FeedMigration(d, !options.cluster.empty()));
  out.push_back(FeedFieldsMigration(d, !options.cluster.empty()));
  out.push_back(FeedReadsMigration(d, !options.cluster.empty()));
  out.push_back(EventsByTimeMigration(d));
  return out;
}

absl::StatusOr<bool> HasLegacyLogsLayout(Store& store, const std::string& database) {
  auto n = QueryScalar(store,
                       "SELECT count() FROM system.columns WHERE database = {db:String} "
                       "AND table = 'otel_logs' AND name = 'TimestampTime'",
                       {Param::Str("db", database)});
  if (!n.ok()) return n.status();
  return *n != "0";
}

absl::StatusOr<SchemaState> EnsureSchema(Store& store, const SchemaOptions& options) {
  auto& log = Logger("store");
  SchemaState state;
  KOBS_ASSIGN_OR_RETURN(std::string version, store.ServerVersion());
  KOBS_ASSIGN_OR_RETURN(state.features, ParseServerVersion(version));
  Ddl d(options, state.features);
  QueryOptions ddl;
  KOBS_RETURN_IF_ERROR(
      store.Query(fmt::format("CREATE DATABASE IF NOT EXISTS {}{}", d.db(), d.on_cluster()), ddl)
          .status());
  KOBS_RETURN_IF_ERROR(
      store
          .Query(d.create(kMigrationsTable, fmt::format(R"(  `Version` UInt32,
  `Name` String,
  `AppliedAt` DateTime64(3) DEFAULT now64(3)
) ENGINE = {}
ORDER BY Version)",
                                                        d.engine(kMigrationsTable)))
                     + "",
                 ddl)
          .status());
  for (const auto& s : d.distributed(kMigrationsTable)) {
    KOBS_RETURN_IF_ERROR(store.Query(s, ddl).status());
  }
  KOBS_ASSIGN_OR_RETURN(
      std::string applied_text,
      QueryScalar(store, fmt::format("SELECT groupArray(Version) FROM (SELECT DISTINCT Version "
                                     "FROM {}.{} ORDER BY Version) FORMAT TSV",
                                     d.db(), QuoteIdentifier(kMigrationsTable))));
  std::vector<int> applied;
  absl::string_view inner = applied_text;
  if (inner.size() >= 2) inner = inner.substr(1, inner.size() - 2);  // strip [ ]
  for (absl::string_view v : absl::StrSplit(inner, ',', absl::SkipEmpty())) {
    int n;
    if (absl::SimpleAtoi(v, &n)) applied.push_back(n);
  }
  KOBS_ASSIGN_OR_RETURN(state.logs_legacy_layout, HasLegacyLogsLayout(store, options.database));
  if (state.logs_legacy_layout) {
    Log(log, spdlog::level::info, "otel_logs has the legacy layout (TimestampTime); left as it is",
        {{"database", options.database}});
  }
  for (const Migration& m : Migrations(options, state.features)) {
    state.current_version = std::max(state.current_version, m.version);
    if (std::find(applied.begin(), applied.end(), m.version) != applied.end()) continue;
    for (const std::string& stmt : m.statements) {
      auto r = store.Query(stmt, ddl);
      if (!r.ok()) {
        return absl::Status(r.status().code(),
                            fmt::format("schema migration {} ({}): {}", m.version, m.name,
                                        r.status().message()));
      }
    }
    std::string row = fmt::format("{}\t{}\n", m.version, m.name);
    KOBS_RETURN_IF_ERROR(store
                             .Insert(options.database + "." + kMigrationsTable,
                                     {"Version", "Name"}, "TabSeparated", row)
                             .status());
    ++state.applied;
    Log(log, spdlog::level::info, "schema migration applied",
        {{"version", std::to_string(m.version)}, {"name", m.name}});
  }
  return state;
}

}  // namespace kobs::store
