// The OpenTelemetry ClickHouse exporter schema (otel_logs, otel_traces + trace-id lookup,
// otel_metrics_{gauge,sum,histogram,exponential_histogram,summary}), created by versioned,
// idempotent migrations recorded in `kobs_schema_migrations`. Version-aware: text indexes on
// ClickHouse >= 26.2, bloom filters before. A legacy otel_logs (with TimestampTime) is detected
// and left as it is. Stateless functions; the Store does the synchronisation.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "store/store.h"

namespace YAML {
class Node;
}

namespace kobs::store {

struct SchemaOptions {
  // Database holding the tables.
  std::string database = "default";
  // Row retention (TTL on the time column); 0 disables the TTL clause.
  std::chrono::seconds ttl = std::chrono::hours(24 * 7);
  // ClickHouse cluster name: DDL runs ON CLUSTER, tables are Replicated*MergeTree named
  // `<table>_local`, and `<table>` is a Distributed table over them. Empty: single node.
  std::string cluster;
};

absl::StatusOr<SchemaOptions> ParseSchemaOptions(const YAML::Node& node);

// The server features the DDL depends on.
struct ServerFeatures {
  int major = 0;
  int minor = 0;
  bool text_index() const { return major > 26 || (major == 26 && minor >= 2); }
};
absl::StatusOr<ServerFeatures> ParseServerVersion(std::string_view version);

struct Migration {
  int version;
  std::string name;
  // Statements run in order; each is idempotent (IF NOT EXISTS).
  std::vector<std::string> statements;
};

// The fields of an event's SSE JSON (feed/event.h) as one Array(String) over the columns of
// kobs_k8s_events and kobs_k8s_events_feed, in this order: ObjectApiVersion, ObjectKind,
// ObjectName, ObjectNamespace, ObjectUid, Reason, Message, Type, the event time (the original
// proxy's expression: eventTime, else lastTimestamp, else Timestamp) and SourceComponent.
// kobs_k8s_events stores it as FeedFields.
inline constexpr std::string_view kFeedFieldsExpression =
    "[ObjectApiVersion, ObjectKind, ObjectName, ObjectNamespace, ObjectUid, Reason, Message, "
    "Type, coalesce(nullIf(EventTime, ''), nullIf(LastTimestamp, ''), "
    "formatDateTime(toDateTime(Timestamp), '%Y-%m-%dT%H:%i:%SZ', 'UTC')), SourceComponent]";
inline constexpr int kFeedFieldsCount = 10;

// Whether an event row is an event notification the feed and GET /events carry: not a deletion
// (the original sent every DELETED watch notification again), and with a reason (as the
// original). kobs_k8s_events stores it as IsFeedEvent.
inline constexpr std::string_view kIsFeedEventExpression =
    "Reason != '' AND WatchType != 'DELETED'";

// The migrations for `options` on a server with `features`, in version order.
std::vector<Migration> Migrations(const SchemaOptions& options, const ServerFeatures& features);

struct SchemaState {
  ServerFeatures features;
  int applied = 0;              // migrations applied by this call
  int current_version = 0;      // highest recorded version afterwards
  bool logs_legacy_layout = false;  // otel_logs has TimestampTime (exporter <= v0.140)
};

// Applies every migration not yet recorded and reports the resulting state. Safe to call on
// every start and from several processes (statements are idempotent).
absl::StatusOr<SchemaState> EnsureSchema(Store& store, const SchemaOptions& options);

// True when `table` in `database` has the legacy `TimestampTime` column.
absl::StatusOr<bool> HasLegacyLogsLayout(Store& store, const std::string& database);

}  // namespace kobs::store
