// The MCP HTTP transports. Streamable HTTP (specification 2025-03-26 and later) at one endpoint:
// POST carries one JSON-RPC message and gets a JSON response (202 for notifications and
// responses); `initialize` opens a session whose id comes back in Mcp-Session-Id and is
// required afterwards (400 without, 404 when unknown or expired); DELETE ends it; GET answers
// 405 (kobs sends no server-initiated messages). MCP-Protocol-Version is checked (400 when
// unsupported), Origin is validated against the allowed list (403), an optional bearer token
// is required (401), and each client address is rate-limited (429).
// The legacy HTTP+SSE transport (2024-11-05; kagent's `protocol: SSE`) at /sse and /messages:
// GET /sse opens an event stream whose first event, `endpoint`, names the URL to POST messages
// to; their responses come back on the stream as `message` events (keep-alive comments every
// 15 s). Each open stream holds one of the server's worker threads. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "mcp/server.h"
#include "net/http.h"
#include "net/http_server.h"

namespace YAML {
class Node;
}

namespace kobs::mcp {

struct McpOptions {
  // Listen address of the MCP server (Streamable HTTP at /mcp); empty disables it.
  std::string listen = "127.0.0.1:8000";
  // When set, requests need `Authorization: Bearer <token>`. Required when `listen` is not a
  // loopback address.
  std::string bearer_token;
  // Origins allowed to call (browsers send Origin); requests without Origin are allowed.
  // Loopback origins (http://localhost, http://127.0.0.1, any port) are always allowed.
  std::vector<std::string> allowed_origins;
  // Sessions idle longer than this are forgotten (the client gets 404 and re-initializes).
  std::chrono::seconds session_idle_timeout{3600};
  // Requests per second each client (remote address) may make, with bursts of `rate_burst`;
  // beyond, 429 with Retry-After. 0 disables the limit.
  double rate_limit = 20;
  double rate_burst = 40;
  // run_select_query limits.
  uint64_t max_result_rows = 1000;
  uint64_t max_result_bytes = 256 * 1024;
  std::chrono::seconds max_execution_time{30};
};

absl::StatusOr<McpOptions> ParseMcpOptions(const YAML::Node& node);

class HttpTransport {
 public:
  HttpTransport(McpServer& server, McpOptions options)
      : server_(server), options_(std::move(options)) {}

  // Routes `path` (normally "/mcp"), /sse and /messages of `http` here.
  void Register(net::HttpServer& http, const std::string& path = "/mcp");

  // Streamable HTTP.
  void Handle(const net::Request& request, net::ResponseWriter& response);
  // Legacy HTTP+SSE: the stream, and the messages of a stream's session.
  void HandleSse(const net::Request& request, net::ResponseWriter& response);
  void HandleMessage(const net::Request& request, net::ResponseWriter& response);

  // Ends the open SSE streams (call before stopping the HTTP server).
  void Shutdown();

  size_t sessions() const;

 private:
  struct Entry {
    Session session;
    std::chrono::steady_clock::time_point last_used;
    absl::Mutex mu;  // one message at a time
    // Legacy SSE sessions: responses waiting for the stream.
    bool legacy = false;
    absl::Mutex out_mu;
    absl::CondVar out_cv;
    std::deque<std::string> outbox ABSL_GUARDED_BY(out_mu);
  };

  // Origin, bearer token, rate limit and protocol version checks; false when `response` has
  // been sent.
  bool Gate(const net::Request& request, net::ResponseWriter& response);
  bool OriginAllowed(std::string_view origin) const;
  // Takes a token from `client`'s bucket; false when it is empty.
  bool Admit(const std::string& client);
  void Post(const net::Request& request, net::ResponseWriter& response);
  void ExpireIdle() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  McpServer& server_;
  const McpOptions options_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Entry>> sessions_ ABSL_GUARDED_BY(mu_);
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point refilled;
  };
  std::map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> stopping_{false};
};

}  // namespace kobs::mcp
