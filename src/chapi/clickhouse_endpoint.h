// The ClickHouse HTTP interface over a store::Store (https://clickhouse.com/docs/interfaces/http),
// so ClickHouse clients and tools work against kobs's embedded store: `/` (GET and POST,
// query in `query=` and/or the body, FORMAT/default_format, param_*, database, settings),
// `/ping`, `/replicas_status`, and the original stack's predefined `GET /events?composition_id=`.
// GET is read-only as in ClickHouse. Handlers are thread-safe; the Store must outlive this.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "net/http.h"
#include "store/store.h"

namespace YAML {
class Node;
}

namespace kobs {
class MetricsRegistry;
class Counter;
class Histogram;
}  // namespace kobs

namespace kobs::chapi {

struct ClickHouseEndpointOptions {
  // The one user this endpoint accepts (X-ClickHouse-User, basic auth or `user=`).
  std::string user = "default";
  // Its password. Empty: no password, accepted from loopback clients only.
  std::string password;
  // Accept password-less requests from non-loopback clients too (not recommended).
  bool allow_remote_without_password = false;
  // Bytes of output buffered before headers are sent; a result that fits gets an exact
  // X-ClickHouse-Summary and Content-Length, a larger one is streamed (chunked).
  size_t response_buffer_bytes = 1 << 20;
  // Rows returned by the predefined /events handler when `limit` is absent (max 1000).
  int events_default_limit = 50;
};

absl::StatusOr<ClickHouseEndpointOptions> ParseClickHouseEndpointOptions(const YAML::Node& node);

class ClickHouseEndpoint {
 public:
  ClickHouseEndpoint(store::Store& store, ClickHouseEndpointOptions options,
                     MetricsRegistry& metrics);

  // `/` and other paths: run the query.
  void HandleQuery(const net::Request& request, net::ResponseWriter& response);
  // `/ping` and `/replicas_status`: "Ok.\n".
  void HandlePing(const net::Request& request, net::ResponseWriter& response);
  // `/events?composition_id=<uid>[&limit=N]`: the original predefined handler, FORMAT JSON.
  void HandleEvents(const net::Request& request, net::ResponseWriter& response);

 private:
  struct Prepared;
  absl::Status Authenticate(const net::Request& request) const;
  absl::StatusOr<Prepared> Prepare(const net::Request& request) const;
  void Execute(const net::Request& request, Prepared& prepared, net::ResponseWriter& response);
  void SendError(net::ResponseWriter& response, const absl::Status& status,
                 const std::string& query_id);

  store::Store& store_;
  const ClickHouseEndpointOptions options_;
  Counter& queries_ok_;
  Counter& queries_failed_;
  Counter& inserts_ok_;
  Counter& inserts_failed_;
  Histogram& duration_;
};

// The SQL of the original `/events` handler (original-system.md §1.4), with the row limit bound.
extern const char kEventsQuery[];

}  // namespace kobs::chapi
