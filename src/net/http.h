// HTTP request/response types shared by the server and its handlers. No Boost here: handler
// code includes only this header. A Request is owned by the server for the handler's
// duration; a ResponseWriter is valid only inside the handler call.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace kobs::net {

// Case-insensitive header map (names are stored lower-cased).
class Headers {
 public:
  void Add(std::string_view name, std::string_view value);
  // First value of `name`, if present.
  std::optional<std::string_view> Get(std::string_view name) const;
  const std::multimap<std::string, std::string>& all() const { return map_; }

 private:
  std::multimap<std::string, std::string> map_;
};

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // raw request-target, e.g. "/v1/logs?x=1"
  std::string path;    // percent-decoded path without the query string
  // Decoded query parameters in order of appearance (a name may repeat).
  std::vector<std::pair<std::string, std::string>> query;
  Headers headers;
  // The body, already decompressed when Content-Encoding was gzip/deflate (the server then
  // removes that header). Bounded by the server's max body size (413 beyond it).
  std::string body;
  std::string remote_address;  // "127.0.0.1"
  bool remote_is_loopback = false;
  // Whether the request came over TLS (HttpServerOptions::tls_cert_pem).
  bool tls = false;
  // Set when the client presented a certificate that verified against
  // HttpServerOptions::tls_client_ca_pem. As in Kubernetes' x509 authentication, the subject
  // CN names the user and the O values are its groups. Fixed for the connection's lifetime.
  bool client_cert_verified = false;
  std::string client_cert_cn;
  std::vector<std::string> client_cert_orgs;

  // First value of query parameter `name`.
  std::optional<std::string_view> QueryParam(std::string_view name) const;
};

// The body of a response that outlives its handler (server-sent events). Send() queues without
// blocking and may be called from any thread; the queue is unbounded, so the caller bounds it
// with buffered_bytes(). Thread-safe.
class StreamWriter {
 public:
  virtual ~StreamWriter() = default;
  // Queues `data` (shared, not copied) for the socket. False once the stream is closing or has
  // ended: nothing was queued.
  virtual bool Send(std::shared_ptr<const std::string> data) = 0;
  // Bytes queued and not yet accepted by the socket.
  virtual uint64_t buffered_bytes() const = 0;
  // Ends the response once the queued bytes are sent, then closes the connection. Idempotent.
  virtual void Close() = 0;
  // Closes the connection at once, dropping what is queued (a client that cannot keep up).
  virtual void Abort() = 0;
  // Whether the stream is closing or has ended.
  virtual bool closed() const = 0;
  // Runs `fn` once the stream has ended for any reason (client gone, Close, Abort, server
  // stopping); at once, on the caller's thread, if it already has. It runs on a server thread
  // and must not block.
  virtual void OnClose(std::function<void()> fn) = 0;
};

// Writes one response. Status and headers can be set until the first Write(); the first
// Write() (or Finish()) commits them. Without a Content-Length header the body is sent
// chunked, so handlers can stream results of unknown size.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  virtual void SetStatus(int status) = 0;
  virtual void SetHeader(std::string_view name, std::string_view value) = 0;
  // Compresses the body with gzip when the client's Accept-Encoding allows it (the server
  // sets Content-Encoding). Call before the first Write().
  virtual void EnableCompression() = 0;
  // Sends `data`; blocks until the socket accepted it. An error means the client is gone:
  // stop producing output.
  virtual absl::Status Write(std::string_view data) = 0;
  // Ends the response (idempotent; the server calls it after the handler returns).
  virtual absl::Status Finish() = 0;
  virtual bool committed() const = 0;
  virtual int status() const = 0;
  // Commits the status and headers (a Content-Length is dropped) and hands the body to a
  // StreamWriter that lives on after the handler returns. The connection then carries no other
  // request. Null for a HEAD request or once the response is committed.
  virtual std::shared_ptr<StreamWriter> Detach() = 0;
};

// Handles one request. Runs on a worker thread, so it may block (store queries do).
using Handler = std::function<void(const Request&, ResponseWriter&)>;

// Decodes %XX escapes (invalid ones are kept as they are); '+' becomes a space when
// `plus_as_space` (query strings).
std::string PercentDecode(std::string_view in, bool plus_as_space);

// Splits a request-target into its decoded path and query parameters.
void ParseTarget(std::string_view target, std::string* path,
                 std::vector<std::pair<std::string, std::string>>* query);

// Checks an `Authorization: Bearer <token>` header value in constant time. True when `token`
// is empty (no auth configured).
bool BearerTokenMatches(std::string_view authorization, std::string_view token);

// Convenience: sends a whole response with Content-Length.
void Reply(ResponseWriter& w, int status, std::string_view content_type, std::string_view body);

}  // namespace kobs::net
