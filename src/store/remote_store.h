// RemoteStore: store::Store on a ClickHouse server's HTTP interface (libcurl). Thread-safe: a
// pool of at most `max_connections` curl handles, each keeping its connection alive between
// requests; callers beyond that wait for a free handle.
//
// Requests: the SQL is the POST body; parameters travel as `param_<name>=` URL parameters (the
// server binds them; nothing is spliced into SQL), settings as `<name>=` URL parameters, plus
// `database=`, `query_id=` (a random UUID when the caller gives none) and `default_format=`
// (so a FORMAT clause in the SQL wins). Inserts put `INSERT ... FORMAT <fmt>` in `query=` and
// the rows in the body; no insert settings are sent, because old servers reject settings they
// do not know (code 115): the server's default applies, which for HTTP is a synchronous insert
// (async_insert=0) unless the server's profile says otherwise.
//
// Timeouts: `connect_timeout` bounds the TCP (and TLS) handshake. `read_timeout` is a limit on
// silence, not on the total: a request fails with DeadlineExceeded when no byte (body or
// header) has moved for that long, checked about once a second, so a long result that keeps
// streaming is never cut off. A query that computes silently for longer, before its first byte
// (the server buffers about 1 MiB of output before it answers), does fail: use a larger
// read_timeout, or the setting send_progress_in_http_headers=1, whose progress headers count as
// activity. Bound total run time with the caller's max_execution_time setting.
//
// Errors: a non-200 answer, or an X-ClickHouse-Exception-Code header (also as a trailer), is
// parsed from the body with ParseClickHouseError; the header's code wins over the body's. A
// failure after a 200 status, once rows have streamed, is detected (best effort) at the end of
// the body, in the last 16 KiB: the `__exception__<tag>` block of 25.11+ servers (tag from
// X-ClickHouse-Exception-Tag), a trailing `"exception": "Code: ..."` member of JSON formats,
// or a last line "Code: N. DB::Exception: ... (version ...)" / "Code: N, e.displayText() =
// DB::Exception: ..." of older servers. The same check runs when the server cuts the
// connection mid-body (24.11+ does, to make the failure visible). The sink has by then
// received the rows before the error, and possibly the error text: callers discard output of
// a failed query. Transport failures are Unavailable (ClickHouse code 210, NETWORK_ERROR) or,
// for timeouts, DeadlineExceeded (209, SOCKET_TIMEOUT); the message names the URL.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/store.h"

namespace YAML {
class Node;
}

namespace kobs::net {
class CurlPool;
}

namespace kobs::store {

struct RemoteStoreOptions {
  // http:// or https:// with host and port, optionally a path prefix (a reverse proxy's); no
  // query string.
  std::string url = "http://127.0.0.1:8123";
  std::string user = "default";
  std::string password;
  // "headers" (X-ClickHouse-User / X-ClickHouse-Key) or "basic" (Authorization: Basic).
  std::string auth_mode = "headers";
  // Default database for unqualified names; empty means the server's (the user's) default.
  std::string database;
  // CA bundle (PEM) to verify an https server with; empty means the system CAs.
  std::string ca_file;
  bool tls_insecure_skip_verify = false;
  std::chrono::milliseconds connect_timeout{5000};
  // Longest silence allowed while waiting for response bytes (see above).
  std::chrono::milliseconds read_timeout{300000};
  // Keep-alive pool size, which is also the most concurrent requests.
  int max_connections = 8;
  // Accept-Encoding: gzip plus enable_http_compression=1.
  bool compress_responses = true;
  // gzip insert bodies (Content-Encoding: gzip).
  bool compress_requests = false;
};

// Reads `store.remote` of the config. Strict: unknown keys and invalid values are errors.
absl::StatusOr<RemoteStoreOptions> ParseRemoteStoreOptions(const YAML::Node& node);

class RemoteStore : public Store {
 public:
  // Validates `options` (URL, auth mode, pool size); does not connect.
  static absl::StatusOr<std::unique_ptr<RemoteStore>> Create(RemoteStoreOptions options);
  ~RemoteStore() override;

  // GET /ping, expecting "Ok.". Unavailable when nothing (or something else) answers.
  absl::Status Ping();

  absl::StatusOr<QueryStats> QueryStream(std::string_view sql, const QueryOptions& options,
                                         const ChunkSink& sink) override;
  absl::StatusOr<QueryStats> Insert(std::string_view table, const std::vector<std::string>& columns,
                                    std::string_view format, std::string_view data,
                                    const InsertOptions& options) override;
  using Store::Insert;
  absl::StatusOr<std::string> ServerVersion() override;
  std::string_view backend() const override { return "remote"; }

  const RemoteStoreOptions& options() const { return options_; }

 private:
  struct Request;

  RemoteStore(RemoteStoreOptions options, std::string base_url);
  absl::StatusOr<QueryStats> Execute(const Request& request, const ChunkSink* sink);

  const RemoteStoreOptions options_;
  // options_.url without a trailing slash.
  const std::string base_url_;
  std::unique_ptr<net::CurlPool> pool_;
};

}  // namespace kobs::store
