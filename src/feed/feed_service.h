// The Krateo frontend's event endpoints, served from kobs_k8s_events:
//   GET /notifications, /notifications/, /notifications/{compositionId}  SSE (the hub)
//   GET /events, /events/{compositionId}                                  JSON array
//   GET /health                                                           200 ok
// Compatible with the original Go proxy (its headers, frames and SSEK8sEvent JSON), plus
// ids and Last-Event-ID replay, server-side topic/namespace filters, bounded client buffers,
// optional bearer-token auth and a connection limit. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "feed/event_reader.h"
#include "feed/hub.h"

namespace YAML {
class Node;
}
namespace kobs {
class MetricsRegistry;
}
namespace kobs::net {
class HttpServer;
struct Request;
class ResponseWriter;
}  // namespace kobs::net

namespace kobs::feed {

struct FeedOptions {
  // Serve the feed on the API listener.
  bool enabled = true;
  HubOptions hub;
  // Poll at once when this process inserts event rows (off: poll_interval only, as the
  // original's 3 s poller did; for comparisons).
  bool push = true;
  // When set, feed requests need `Authorization: Bearer <token>` or `?access_token=<token>`
  // (EventSource cannot send headers).
  std::string bearer_token;
  // Access-Control-Allow-Origin of feed responses; empty: no CORS header.
  std::string cors_origin = "*";
  // GET /events: rows when limit= is absent, and the most it may ask for.
  size_t events_default_limit = 200;
  size_t events_max_limit = 1000;
  // GET /events reads the events of this last stretch of event time first (of its last 24th
  // first, without a composition), and older ones only when those are fewer than the limit
  // (EventReader::Recent); 0: one query over all.
  std::chrono::milliseconds events_recent_window = std::chrono::hours(24);
};

absl::StatusOr<FeedOptions> ParseFeedOptions(const YAML::Node& node);

// GET /events' `since`: RFC 3339, seconds since the epoch, or a duration back from now
// ("15m"); nanoseconds since the epoch.
absl::StatusOr<int64_t> ParseSince(std::string_view text);

class FeedService {
 public:
  FeedService(store::Store& store, std::string database, FeedOptions options,
              MetricsRegistry& metrics);
  ~FeedService();

  // Starts the hub (reads the newest events). Call after the schema is in place.
  absl::Status Start();
  // Closes every stream. Idempotent.
  void Stop();
  // Feed from the store's insert observer: wakes the hub after inserts into otel_logs.
  void OnInsert(std::string_view table);
  // Routes the endpoints above on `http`.
  void Register(net::HttpServer& http);

  Hub& hub() { return hub_; }

 private:
  bool Authorized(const net::Request& rq, net::ResponseWriter& w);
  void CountRejected(std::string_view reason);
  void SetCors(net::ResponseWriter& w) const;
  void HandleNotifications(const net::Request& rq, net::ResponseWriter& w);
  void HandleEvents(const net::Request& rq, net::ResponseWriter& w);

  const FeedOptions options_;
  EventReader reader_;
  Hub hub_;
  MetricsRegistry& metrics_;
};

}  // namespace kobs::feed
