#include "feed/event_reader.h"

#include <algorithm>
#include <iterator>

#include <fmt/format.h>

#include "store/row_binary.h"
#include "store/schema.h"
#include "store/sql_quote.h"

namespace kobs::feed {
namespace {

// What Decode() reads: the position, the composition and namespace (for filters), and the
// JSON's fields as one array (store::kFeedFieldsExpression).
const std::string& FeedColumns() {
  static const std::string columns = fmt::format(
      "toUnixTimestamp64Nano(FeedTime), FeedKey, CompositionId, Namespace, {}",
      store::kFeedFieldsExpression);
  return columns;
}

// GET /events needs only the JSON's fields, which kobs_k8s_events stores as one column: the
// rows sent are read lazily, column by column and part by part, so one column is much cheaper
// than ten.
constexpr std::string_view kJsonColumns = "toInt64(0), toUInt64(0), '', '', FeedFields";

// The events ordered by feed position (positions, polls, replays); kEventsTable, ordered by
// composition, serves GET /events.
constexpr std::string_view kFeedTable = "kobs_k8s_events_feed";
constexpr std::string_view kEventsTable = "kobs_k8s_events";

// An event notification the feed carries (store::kIsFeedEventExpression): in the feed table,
// and as the events table stores it.
constexpr std::string_view kIsEvent = store::kIsFeedEventExpression;
constexpr std::string_view kIsEventColumn = "IsFeedEvent";

// A RowBinary query in the feed's database. Position reads (the feed table) are small: no
// parallel-read overhead. GET /events reads the newest rows of several parts in key order,
// where parallel streams help.
store::QueryOptions ReadOptions(const std::string& database, std::string_view table,
                                std::vector<store::Param> params) {
  store::QueryOptions o;
  o.format = "RowBinary";
  o.database = database;
  o.params = std::move(params);
  if (table == kFeedTable) o.settings = {{"max_threads", "1"}};
  return o;
}

// Each row of a RowBinary result of FeedColumns() or kJsonColumns, as (time, key, fields).
template <typename F>
absl::Status DecodeEach(std::string_view data, F&& each) {
  store::RowBinaryReader r(data);
  while (!r.done()) {
    int64_t t = 0;
    uint64_t k = 0;
    uint64_t n = 0;
    EventFields f;
    // In store::kFeedFieldsExpression's order.
    std::string* fields[] = {&f.object_api_version, &f.object_kind, &f.object_name,
                             &f.object_namespace,   &f.object_uid,  &f.reason,
                             &f.message,            &f.type,        &f.event_time,
                             &f.source_component};
    static_assert(std::size(fields) == store::kFeedFieldsCount);
    bool ok = r.Int64(&t) && r.UInt64(&k);
    for (std::string* s : {&f.composition_id, &f.event_namespace}) {
      std::string_view v;
      ok = ok && r.String(&v);
      if (ok) s->assign(v);
    }
    ok = ok && r.VarUInt(&n);
    if (ok && n != std::size(fields)) {
      return absl::DataLossError(fmt::format(
          "the events table's FeedFields has {} fields, not {}", n, std::size(fields)));
    }
    for (std::string* s : fields) {
      std::string_view v;
      ok = ok && r.String(&v);
      if (ok) s->assign(v);
    }
    if (!ok) return absl::DataLossError("truncated RowBinary result from the events table");
    each(t, k, std::move(f));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<EventPtr>> Decode(std::string_view data) {
  std::vector<EventPtr> out;
  absl::Status s = DecodeEach(data, [&out](int64_t t, uint64_t k, EventFields&& f) {
    out.push_back(std::make_shared<const FeedEvent>(t, k, std::move(f)));
  });
  if (!s.ok()) return s;
  return out;
}

void AddFilter(const EventFilter& f, std::string* where, std::vector<store::Param>* params) {
  if (f.composition_ids.size() == 1) {
    // Equality fixes the first key column, so ORDER BY Timestamp reads in key order.
    *where += " AND CompositionId = {cid:String}";
    params->push_back(store::Param::Str("cid", f.composition_ids[0]));
  } else if (!f.composition_ids.empty()) {
    *where += " AND CompositionId IN {cids:Array(String)}";
    params->push_back(store::Param::StrArray("cids", f.composition_ids));
  }
  if (!f.namespace_name.empty()) {
    *where += " AND (Namespace = {ns:String} OR ObjectNamespace = {ns:String})";
    params->push_back(store::Param::Str("ns", f.namespace_name));
  }
  if (!f.type.empty()) {
    *where += " AND Type = {type:String}";
    params->push_back(store::Param::Str("type", f.type));
  }
  if (f.since_ns > 0) {
    *where += " AND Timestamp >= fromUnixTimestamp64Nano({since:Int64})";
    params->push_back(store::Param::Raw("since", std::to_string(f.since_ns)));
  }
}

}  // namespace

EventReader::EventReader(store::Store& store, std::string database)
    : store_(store), database_(std::move(database)) {}

absl::StatusOr<std::string> EventReader::Select(std::string_view table,
                                               std::string_view columns,
                                               const std::string& where, const std::string& order,
                                               std::vector<store::Param> params, size_t limit) {
  params.push_back(store::Param::Raw("limit", std::to_string(limit)));
  const store::QueryOptions o = ReadOptions(database_, table, std::move(params));
  const std::string sql = fmt::format("SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT "
                                      "{{limit:UInt64}}",
                                      columns, table, where, order);
  auto r = store_.Query(sql, o);
  if (!r.ok()) return r.status();
  return std::move(r->data);
}

absl::StatusOr<std::vector<EventPtr>> EventReader::Run(std::string_view table,
                                                       std::string_view columns,
                                                       const std::string& where,
                                                       const std::string& order,
                                                       std::vector<store::Param> params,
                                                       size_t limit) {
  auto data = Select(table, columns, where, order, std::move(params), limit);
  if (!data.ok()) return data.status();
  return Decode(*data);
}

absl::StatusOr<std::vector<EventPtr>> EventReader::After(const Position& after,
                                                         const std::optional<Position>& until,
                                                         const EventFilter& filter, size_t limit) {
  // An event is after `after` when its last frame is: the first event returned may be the one
  // `after` is in the middle of.
  std::string where = fmt::format(
      "{} AND FeedTime >= fromUnixTimestamp64Nano({{t:Int64}}) AND "
      "(toUnixTimestamp64Nano(FeedTime), FeedKey) {} ({{t:Int64}}, {{k:UInt64}})",
      kIsEvent, after.frame >= kLastFrame ? ">" : ">=");
  std::vector<store::Param> params = {store::Param::Raw("t", std::to_string(after.time_ns)),
                                      store::Param::Raw("k", std::to_string(after.key))};
  if (until) {
    where += " AND FeedTime <= fromUnixTimestamp64Nano({ut:Int64}) AND "
             "(toUnixTimestamp64Nano(FeedTime), FeedKey) <= ({ut:Int64}, {uk:UInt64})";
    params.push_back(store::Param::Raw("ut", std::to_string(until->time_ns)));
    params.push_back(store::Param::Raw("uk", std::to_string(until->key)));
  }
  AddFilter(filter, &where, &params);
  return Run(kFeedTable, FeedColumns(), where, "FeedTime, FeedKey", std::move(params), limit);
}

absl::StatusOr<std::vector<Position>> EventReader::PositionsBetween(const Position& from,
                                                                   const Position& to,
                                                                   size_t limit) {
  const store::QueryOptions o =
      ReadOptions(database_, kFeedTable,
                  {store::Param::Raw("ft", std::to_string(from.time_ns)),
                   store::Param::Raw("fk", std::to_string(from.key)),
                   store::Param::Raw("tt", std::to_string(to.time_ns)),
                   store::Param::Raw("tk", std::to_string(to.key)),
                   store::Param::Raw("limit", std::to_string(limit))});
  const std::string sql = fmt::format(
      "SELECT toUnixTimestamp64Nano(FeedTime), FeedKey FROM {} WHERE {} AND "
      "FeedTime >= fromUnixTimestamp64Nano({{ft:Int64}}) AND "
      "FeedTime <= fromUnixTimestamp64Nano({{tt:Int64}}) AND "
      "(toUnixTimestamp64Nano(FeedTime), FeedKey) BETWEEN ({{ft:Int64}}, {{fk:UInt64}}) AND "
      "({{tt:Int64}}, {{tk:UInt64}}) ORDER BY FeedTime, FeedKey LIMIT {{limit:UInt64}}",
      kFeedTable, kIsEvent);
  auto r = store_.Query(sql, o);
  if (!r.ok()) return r.status();
  std::vector<Position> out;
  store::RowBinaryReader reader(r->data);
  while (!reader.done()) {
    Position p;
    if (!reader.Int64(&p.time_ns) || !reader.UInt64(&p.key)) {
      return absl::DataLossError("truncated RowBinary result from the events table");
    }
    out.push_back(p);
  }
  return out;
}

absl::StatusOr<std::vector<EventPtr>> EventReader::At(const std::vector<Position>& positions) {
  if (positions.empty()) return std::vector<EventPtr>{};
  std::string list = "[";
  int64_t lo = positions.front().time_ns, hi = lo;
  for (const Position& p : positions) {
    if (list.size() > 1) list += ',';
    list += fmt::format("({},{})", p.time_ns, p.key);
    lo = std::min(lo, p.time_ns);
    hi = std::max(hi, p.time_ns);
  }
  list += ']';
  std::string where = fmt::format(
      "{} AND FeedTime BETWEEN fromUnixTimestamp64Nano({{lo:Int64}}) AND "
      "fromUnixTimestamp64Nano({{hi:Int64}}) AND (toUnixTimestamp64Nano(FeedTime), FeedKey) IN "
      "{{ps:Array(Tuple(Int64, UInt64))}}",
      kIsEvent);
  return Run(kFeedTable, FeedColumns(), where, "FeedTime, FeedKey",
             {store::Param::Raw("lo", std::to_string(lo)),
              store::Param::Raw("hi", std::to_string(hi)), store::Param::Raw("ps", list)},
             positions.size());
}

absl::StatusOr<std::vector<EventPtr>> EventReader::Newest(size_t limit) {
  auto r = Run(kFeedTable, FeedColumns(), std::string(kIsEvent), "FeedTime DESC, FeedKey DESC",
               {}, limit);
  if (r.ok()) std::reverse(r->begin(), r->end());
  return r;
}

absl::StatusOr<std::vector<EventFields>> EventReader::Recent(const EventFilter& filter,
                                                             size_t limit,
                                                             std::chrono::nanoseconds window) {
  std::vector<EventFields> out;
  // By event time only (as the original): one composition's newest rows are then the end of
  // its primary-key range, read in order. Appends at most `n` to `out`.
  auto newest = [&](const EventFilter& f, int64_t before_ns, size_t n) -> absl::Status {
    std::string where(kIsEventColumn);
    std::vector<store::Param> params;
    AddFilter(f, &where, &params);
    if (before_ns > 0) {
      where += " AND Timestamp < fromUnixTimestamp64Nano({before:Int64})";
      params.push_back(store::Param::Raw("before", std::to_string(before_ns)));
    }
    auto data =
        Select(kEventsTable, kJsonColumns, where, "Timestamp DESC", std::move(params), n);
    if (!data.ok()) return data.status();
    return DecodeEach(*data, [&out](int64_t, uint64_t, EventFields&& e) {
      out.push_back(std::move(e));
    });
  };
  // Newest time range first, each step reading only what the ones before did not cover, and
  // older ranges only while the limit is not reached: the last `window` (a day), and before it,
  // for a query that is not one composition's key range but a scan of the range, its last
  // 24th (an hour).
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  std::vector<int64_t> starts;
  if (window.count() > 0) {
    if (filter.composition_ids.empty()) starts.push_back(now - window.count() / 24);
    starts.push_back(now - window.count());
  }
  int64_t before = 0;  // where the previous step began (0: no step yet)
  for (const int64_t start : starts) {
    if (start <= filter.since_ns) break;
    EventFilter step = filter;
    step.since_ns = start;
    if (absl::Status s = newest(step, before, limit - out.size()); !s.ok()) return s;
    if (out.size() >= limit) return out;
    before = start;
  }
  if (absl::Status s = newest(filter, before, limit - out.size()); !s.ok()) return s;
  return out;
}

}  // namespace kobs::feed
