// An HTTP/1.1 server (Boost.Beast, C++20 coroutines on Asio) that routes requests to blocking
// handlers run on a worker pool. Keep-alive, chunked request/response bodies, gzip request
// decompression and response compression, a body size limit, optional HTTPS with client
// certificates, and per-route metrics (kobs_http_requests_total,
// kobs_http_request_duration_seconds). Thread-safe; Stop() drains.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "net/http.h"

namespace kobs {
class MetricsRegistry;
}

namespace kobs::net {

struct HttpServerOptions {
  // Listen address; port 0 picks a free port (see HttpServer::port()).
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  // Name used in metrics labels and logs, e.g. "api", "clickhouse".
  std::string name = "http";
  // Largest accepted request body after decompression; larger requests get 413.
  uint64_t max_body_bytes = 64ull << 20;
  // Worker threads that run handlers.
  int worker_threads = 4;
  // Idle keep-alive connections are closed after this long.
  std::chrono::milliseconds idle_timeout{60'000};
  // TLS: when cert and key are set the server speaks HTTPS only (TLS 1.2+, ALPN "http/1.1");
  // a plain-HTTP request gets a plain-text 400. PEM text, not paths. The key may be RSA or EC.
  // The TLS handshake must finish within min(idle_timeout, 10 s).
  std::string tls_cert_pem;  // the serving certificate, optionally followed by its chain
  std::string tls_key_pem;   // unencrypted
  // Client CAs (PEM). When set, client certificates are requested but not required (bearer
  // tokens stay usable, as on a Kubernetes API server); one that is presented must verify or
  // the handshake fails, and its identity is in Request::client_cert_*. Empty: none asked.
  std::string tls_client_ca_pem;
  // Formats the body of an error the server answers itself (413 body too large, 415 unknown
  // Content-Encoding, 400 corrupt compression) for a request whose headers were read, so a
  // protocol can answer in its own error format. Unset: text/plain.
  std::function<void(int status, std::string_view message, const Headers& request_headers,
                     std::string* content_type, std::string* body)>
      error_body;
};

class HttpServer {
 public:
  // Binds the listening socket (so port() is known), does not accept yet. InvalidArgument for
  // unusable TLS options (unparsable PEM, key not matching the certificate, key without cert).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Create(HttpServerOptions options,
                                                            MetricsRegistry& metrics);
  virtual ~HttpServer() = default;

  // Routes an exact path ("/ping") or, when `path` ends with '/' and prefix is true, every
  // path under it ("/events/"). The longest match wins; unmatched paths get 404. Register
  // routes before Start().
  virtual void Route(std::string path, Handler handler, bool prefix = false) = 0;

  // Starts accepting on background threads.
  virtual absl::Status Start() = 0;
  // Stops accepting, lets in-flight requests finish (up to `grace`), then closes everything.
  virtual void Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000)) = 0;

  virtual uint16_t port() const = 0;
};

}  // namespace kobs::net
