// Internal to kobs::net (not part of its public headers): the server side of TLS for
// HttpServer in plain OpenSSL (http_server.cc hands the SSL_CTX to asio::ssl::context). Builds
// the context from HttpServerOptions' PEM fields and reads the identity of a verified client
// certificate. Thread-safe; the returned context is owned by the caller.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <openssl/ssl.h>

#include "absl/status/statusor.h"
#include "net/openssl_util.h"

namespace kobs::net::internal {

// The context for HttpServer::Create, which calls this when any of the three is set.
// TLS 1.2 minimum (AEAD ECDHE suites for 1.2), ALPN selects "http/1.1" (and nothing else, so
// h2-first clients such as Go fall back to HTTP/1.1), renegotiation off. With `client_ca_pem`,
// client certificates are requested but not required: one that is presented must verify
// against those CAs with clientAuth usage, or the handshake fails (Go's
// VerifyClientCertIfGiven); without one the handshake succeeds, so bearer tokens still work.
// InvalidArgument naming the option for unparsable PEM, a key that does not match the
// certificate, a certificate OpenSSL refuses (key too small, weak digest), or a partial setup.
absl::StatusOr<SslCtxPtr> MakeServerTlsContext(std::string_view cert_pem, std::string_view key_pem,
                                               std::string_view client_ca_pem);

struct PeerIdentity {
  bool verified = false;                   // a client certificate was presented and verified
  std::string common_name;                 // the subject CN (the last one, as Go reads it)
  std::vector<std::string> organizations;  // every subject O, in order
};

// The client certificate of the established connection `ssl`, when it was verified.
PeerIdentity VerifiedPeerIdentity(const SSL* ssl);

}  // namespace kobs::net::internal
