// Reads feed events: by position from kobs_k8s_events_feed (ordered by position) for the live
// feed and replays, and the newest by event time from kobs_k8s_events (ordered by composition)
// for GET /events. Every query is parameterised and bounded.
// Thread-safe (the Store is); borrows the Store.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "feed/event.h"
#include "store/store.h"

namespace kobs::feed {

using EventPtr = std::shared_ptr<const FeedEvent>;

// Narrows a query; empty fields do not filter.
struct EventFilter {
  // Events of these compositions only.
  std::vector<std::string> composition_ids;
  // Events whose own or whose involved object's namespace is this one.
  std::string namespace_name;
  // "Normal", "Warning".
  std::string type;
  // Event time (Timestamp) at or after this many ns since the epoch; 0: no bound.
  int64_t since_ns = 0;
};

class EventReader {
 public:
  EventReader(store::Store& store, std::string database);

  // Events whose position is after `after` and at most `until` (when set), in position order,
  // at most `limit`. Deleted-event notifications are not events and are left out.
  absl::StatusOr<std::vector<EventPtr>> After(const Position& after,
                                              const std::optional<Position>& until,
                                              const EventFilter& filter, size_t limit);
  // The positions of the events in [from, to] (by (time, key)), at most `limit`, in order. Cheap:
  // no row is decoded.
  absl::StatusOr<std::vector<Position>> PositionsBetween(const Position& from, const Position& to,
                                                         size_t limit);
  // The events at `positions` (frames ignored), in position order.
  absl::StatusOr<std::vector<EventPtr>> At(const std::vector<Position>& positions);
  // The `limit` events with the highest positions, oldest first.
  absl::StatusOr<std::vector<EventPtr>> Newest(size_t limit);
  // The newest events by event time, newest first (GET /events). Only what their JSON says is
  // read (no position, composition or namespace), and they do not become FeedEvents (no
  // frames are rendered). With a `window`, the events of the last `window` are read first,
  // and the older ones only when those are fewer than `limit`: the table is partitioned by
  // day, and each part a query opens adds to its cost, so a busy composition's newest events
  // need not open a week of parts. A query not for given compositions is a scan of its time
  // range rather than a key range: it reads the last 24th of `window` (an hour) first.
  absl::StatusOr<std::vector<EventFields>> Recent(const EventFilter& filter, size_t limit,
                                                  std::chrono::nanoseconds window = {});

 private:
  // A RowBinary query of `columns` of `table`: its rows, as events.
  absl::StatusOr<std::vector<EventPtr>> Run(std::string_view table, std::string_view columns,
                                            const std::string& where,
                                            const std::string& order,
                                            std::vector<store::Param> params, size_t limit);
  // The same query's result, undecoded.
  absl::StatusOr<std::string> Select(std::string_view table, std::string_view columns,
                                     const std::string& where, const std::string& order,
                                     std::vector<store::Param> params, size_t limit);

  store::Store& store_;
  const std::string database_;
};

}  // namespace kobs::feed
