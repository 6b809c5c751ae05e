#include "net/tls_context.h"

#include <fmt/format.h>
#include <openssl/err.h>

namespace kobs::net::internal {
namespace {

// TLS 1.2 suites: ECDHE with AEAD only (Mozilla "intermediate"). TLS 1.3 keeps its defaults.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Session resumption with client verification needs a context id (else OpenSSL fails resumed
// handshakes); sessions never cross contexts anyway.
constexpr unsigned char kSessionIdContext[] = "kobs-http";

// Selects "http/1.1" when the client offers it, in any position; otherwise no ALPN at all
// (a client that offers only "h2" then fails or falls back on its own).
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
               unsigned int in_len, void*) {
  static constexpr std::string_view kHttp11 = "http/1.1";
  for (unsigned int i = 0; i < in_len;) {
    const unsigned int len = in[i];
    if (len > in_len - i - 1) break;  // malformed list
    if (std::string_view(reinterpret_cast<const char*>(in + i + 1), len) == kHttp11) {
      *out = in + i + 1;
      *out_len = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

std::string EntryText(const X509_NAME_ENTRY* entry) {
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
  if (n < 0) {
    ERR_clear_error();
    return "";
  }
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

}  // namespace

absl::StatusOr<SslCtxPtr> MakeServerTlsContext(std::string_view cert_pem, std::string_view key_pem,
                                               std::string_view client_ca_pem) {
  if (cert_pem.empty() != key_pem.empty()) {
    return absl::InvalidArgumentError("tls_cert_pem and tls_key_pem must be set together");
  }
  if (cert_pem.empty()) {
    return absl::InvalidArgumentError("tls_client_ca_pem needs tls_cert_pem and tls_key_pem");
  }
  auto certs = ReadCertificates(cert_pem, "tls_cert_pem");
  if (!certs.ok()) return certs.status();
  auto key = ReadPrivateKey(key_pem, "tls_key_pem");
  if (!key.ok()) return key.status();
  if (X509_check_private_key(certs->front().get(), key->get()) != 1) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "tls_key_pem does not match the first certificate of tls_cert_pem");
  }

  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (ctx == nullptr) return OpenSslError(absl::StatusCode::kInternal, "cannot create TLS context");
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_options(
      c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(c, kTls12Ciphers) != 1 ||
      SSL_CTX_set_session_id_context(c, kSessionIdContext, sizeof kSessionIdContext - 1) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "cannot configure TLS context");
  }
  SSL_CTX_set_alpn_select_cb(c, SelectAlpn, nullptr);

  if (SSL_CTX_use_certificate(c, certs->front().get()) != 1) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "tls_cert_pem: certificate refused");
  }
  for (size_t i = 1; i < certs->size(); ++i) {
    if (SSL_CTX_add1_chain_cert(c, (*certs)[i].get()) != 1) {
      return OpenSslError(absl::StatusCode::kInvalidArgument,
                          fmt::format("tls_cert_pem: chain certificate {} refused", i + 1));
    }
  }
  if (SSL_CTX_use_PrivateKey(c, key->get()) != 1 || SSL_CTX_check_private_key(c) != 1) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "tls_key_pem: private key refused");
  }

  if (!client_ca_pem.empty()) {
    auto cas = ReadCertificates(client_ca_pem, "tls_client_ca_pem");
    if (!cas.ok()) return cas.status();
    X509_STORE* store = SSL_CTX_get_cert_store(c);
    for (const X509Ptr& ca : *cas) {
      // The CA's name also goes into CertificateRequest: Go clients send only a certificate
      // whose issuer is listed there.
      if (X509_STORE_add_cert(store, ca.get()) != 1 || SSL_CTX_add_client_CA(c, ca.get()) != 1) {
        return OpenSslError(absl::StatusCode::kInvalidArgument,
                            "tls_client_ca_pem: CA certificate refused");
      }
    }
    // SSL_VERIFY_PEER without FAIL_IF_NO_PEER_CERT: request, verify if given, never require.
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
  }
  return ctx;
}

PeerIdentity VerifiedPeerIdentity(const SSL* ssl) {
  PeerIdentity id;
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return id;
  id.verified = true;
  const X509_NAME* subject = X509_get_subject_name(cert);
  for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) >= 0;) {
    id.common_name = EntryText(X509_NAME_get_entry(subject, i));
  }
  for (int i = -1; (i = X509_NAME_get_index_by_NID(subject, NID_organizationName, i)) >= 0;) {
    id.organizations.push_back(EntryText(X509_NAME_get_entry(subject, i)));
  }
  return id;
}

}  // namespace kobs::net::internal
