// The dev PKI (GenerateCa/IssueCertificate) checked with OpenSSL's own verifier, and the
// HttpServer over TLS against real clients: libcurl for ordinary HTTPS (verification, client
// certificates, ALPN fallback, streaming) and a raw OpenSSL client for protocol details.
#include "net/tls.h"

#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <curl/curl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/strings/match.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "net/http.h"
#include "net/http_server.h"
#include "net/openssl_util.h"
#include "loopback_socket.h"
#include "status_matchers.h"

namespace kobs::net {
namespace {

using ::kobs::testing::IsOk;
using ::kobs::testing::StatusIs;
using ::testing::HasSubstr;

internal::X509Ptr ParseCert(const std::string& pem) {
  auto certs = internal::ReadCertificates(pem, "test certificate");
  EXPECT_THAT(certs, IsOk());
  return certs.ok() ? std::move(certs->front()) : nullptr;
}

// The subject entries of `cert` for `nid`, in order.
std::vector<std::string> SubjectEntries(X509* cert, int nid) {
  std::vector<std::string> out;
  const X509_NAME* name = X509_get_subject_name(cert);
  for (int i = -1; (i = X509_NAME_get_index_by_NID(name, nid, i)) >= 0;) {
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     ASN1_STRING_length(data));
  }
  return out;
}

// `openssl verify -CAfile ca -purpose <purpose>` through the API: "" when `leaf` verifies.
std::string VerifyChain(const KeyPair& ca, const KeyPair& leaf, int purpose) {
  auto ca_cert = ParseCert(ca.cert_pem);
  auto leaf_cert = ParseCert(leaf.cert_pem);
  std::unique_ptr<X509_STORE, internal::OpenSslDeleter<X509_STORE_free>> store(X509_STORE_new());
  std::unique_ptr<X509_STORE_CTX, internal::OpenSslDeleter<X509_STORE_CTX_free>> ctx(
      X509_STORE_CTX_new());
  X509_STORE_add_cert(store.get(), ca_cert.get());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf_cert.get(), nullptr);
  X509_STORE_CTX_set_purpose(ctx.get(), purpose);
  if (X509_verify_cert(ctx.get()) == 1) return "";
  return X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
}

TEST(GenerateCertificateTest, IssuesCaAndLeafThatOpenSslVerifies) {
  auto ca = GenerateCa("kobs test CA", 30);
  ASSERT_THAT(ca, IsOk());
  EXPECT_THAT(ca->cert_pem, HasSubstr("-----BEGIN CERTIFICATE-----"));
  EXPECT_THAT(ca->key_pem, HasSubstr("-----BEGIN PRIVATE KEY-----"));
  auto leaf = IssueCertificate(*ca, {.common_name = "kube-apiserver",
                                     .organizations = {"system:masters", "kobs"},
                                     .dns_names = {"localhost", "*.svc.cluster.local"},
                                     .ip_addresses = {"127.0.0.1", "::1"},
                                     .client = true});
  ASSERT_THAT(leaf, IsOk());

  auto ca_cert = ParseCert(ca->cert_pem);
  auto leaf_cert = ParseCert(leaf->cert_pem);
  ASSERT_NE(ca_cert, nullptr);
  ASSERT_NE(leaf_cert, nullptr);
  // Signatures: the CA signs itself and the leaf.
  EXPECT_EQ(X509_verify(ca_cert.get(), X509_get0_pubkey(ca_cert.get())), 1);
  EXPECT_EQ(X509_verify(leaf_cert.get(), X509_get0_pubkey(ca_cert.get())), 1);
  EXPECT_EQ(X509_verify(leaf_cert.get(), X509_get0_pubkey(leaf_cert.get())), 0);
  ERR_clear_error();
  // Chains for both usages.
  EXPECT_EQ(VerifyChain(*ca, *leaf, X509_PURPOSE_SSL_SERVER), "");
  EXPECT_EQ(VerifyChain(*ca, *leaf, X509_PURPOSE_SSL_CLIENT), "");

  EXPECT_EQ(X509_check_ca(ca_cert.get()), 1);
  EXPECT_EQ(X509_check_ca(leaf_cert.get()), 0);
  EXPECT_EQ(EVP_PKEY_get_base_id(X509_get0_pubkey(ca_cert.get())), EVP_PKEY_EC);
  EXPECT_EQ(SubjectEntries(leaf_cert.get(), NID_commonName),
            std::vector<std::string>{"kube-apiserver"});
  EXPECT_EQ(SubjectEntries(leaf_cert.get(), NID_organizationName),
            (std::vector<std::string>{"system:masters", "kobs"}));
  EXPECT_EQ(X509_check_host(leaf_cert.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(leaf_cert.get(), "api.svc.cluster.local", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(leaf_cert.get(), "example.com", 0, 0, nullptr), 0);
  EXPECT_EQ(X509_check_ip_asc(leaf_cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf_cert.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf_cert.get(), "10.0.0.1", 0), 0);
  const uint32_t eku = X509_get_extended_key_usage(leaf_cert.get());
  EXPECT_TRUE(eku & XKU_SSL_SERVER);
  EXPECT_TRUE(eku & XKU_SSL_CLIENT);

  // Validity: backdated a little, `days` long.
  int days = 0;
  int seconds = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(ca_cert.get()),
                           X509_get0_notAfter(ca_cert.get())),
            1);
  EXPECT_EQ(days, 30);
  EXPECT_EQ(X509_cmp_current_time(X509_get0_notBefore(leaf_cert.get())), -1);

  // Serials are random and positive.
  auto other = IssueCertificate(*ca, {.common_name = "kube-apiserver"});
  ASSERT_THAT(other, IsOk());
  auto other_cert = ParseCert(other->cert_pem);
  const ASN1_INTEGER* serial = X509_get0_serialNumber(leaf_cert.get());
  EXPECT_NE(ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(other_cert.get())), 0);
  std::unique_ptr<BIGNUM, internal::OpenSslDeleter<BN_free>> bn(
      ASN1_INTEGER_to_BN(serial, nullptr));
  EXPECT_FALSE(BN_is_negative(bn.get()));
  EXPECT_GT(BN_num_bits(bn.get()), 64);
}

TEST(GenerateCertificateTest, UsagesAndKeyTypesFollowTheOptions) {
  auto ca = GenerateCa("ca");
  ASSERT_THAT(ca, IsOk());
  auto client = IssueCertificate(
      *ca,
      {.common_name = "alice", .server = false, .client = true, .key_type = KeyType::kRsa2048});
  ASSERT_THAT(client, IsOk());
  EXPECT_EQ(VerifyChain(*ca, *client, X509_PURPOSE_SSL_CLIENT), "");
  EXPECT_NE(VerifyChain(*ca, *client, X509_PURPOSE_SSL_SERVER), "");
  auto cert = ParseCert(client->cert_pem);
  EXPECT_EQ(EVP_PKEY_get_base_id(X509_get0_pubkey(cert.get())), EVP_PKEY_RSA);
  // A leaf cannot issue certificates.
  auto leaf_as_ca = IssueCertificate(*client, {.common_name = "mallory"});
  EXPECT_THAT(leaf_as_ca, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(leaf_as_ca.status().message()), HasSubstr("not a CA"));
}

TEST(GenerateCertificateTest, RejectsBadOptions) {
  auto ca = GenerateCa("ca");
  ASSERT_THAT(ca, IsOk());
  auto other_ca = GenerateCa("other");
  ASSERT_THAT(other_ca, IsOk());
  struct Case {
    std::string name;
    LeafOptions options;
  };
  const std::vector<Case> cases = {
      {"empty cn", {.common_name = ""}},
      {"no usage", {.common_name = "x", .server = false}},
      {"bad ipv4", {.common_name = "x", .ip_addresses = {"127.0.0"}}},
      {"bad ipv6", {.common_name = "x", .ip_addresses = {"::g"}}},
      {"host as ip", {.common_name = "x", .ip_addresses = {"localhost"}}},
      {"bad dns", {.common_name = "x", .dns_names = {"a b"}}},
      {"dns with comma", {.common_name = "x", .dns_names = {"a,IP:1.2.3.4"}}},
      {"zero days", {.common_name = "x", .days = 0}},
      {"cn too long", {.common_name = std::string(65, 'x')}},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(IssueCertificate(*ca, c.options), StatusIs(absl::StatusCode::kInvalidArgument))
        << "case " << c.name;
  }
  EXPECT_THAT(GenerateCa(""), StatusIs(absl::StatusCode::kInvalidArgument));
  KeyPair mismatched{ca->cert_pem, other_ca->key_pem};
  auto r = IssueCertificate(mismatched, {.common_name = "x"});
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("does not match"));
  r = IssueCertificate(KeyPair{"not pem", ca->key_pem}, {.common_name = "x"});
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(ERR_peek_error(), 0u) << "errors left on the OpenSSL queue";
}

// ---------------------------------------------------------------------------------------------
// HttpServer over TLS.

struct CurlResult {
  CURLcode code = CURLE_OK;
  std::string error;
  long status = 0;
  long http_version = 0;
  long connects = 0;
  std::string body;
  std::string headers;
};

size_t Append(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

struct CurlOptions {
  const std::string* ca_pem = nullptr;
  const KeyPair* client_cert = nullptr;
  long http_version = CURL_HTTP_VERSION_1_1;
  bool fresh_connection = false;
};

// One curl handle per client, so connections (and TLS sessions) are reused between calls.
class Client {
 public:
  Client() : curl_(curl_easy_init()) {}
  ~Client() { curl_easy_cleanup(curl_); }

  CurlResult Do(const std::string& url, const CurlOptions& o) {
    CurlResult r;
    char error[CURL_ERROR_SIZE] = {};
    curl_easy_reset(curl_);
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, Append);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, Append);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &r.headers);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(curl_, CURLOPT_HTTP_VERSION, o.http_version);
    if (o.fresh_connection) curl_easy_setopt(curl_, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(curl_, CURLOPT_CAPATH, nullptr);  // only the test CA
    if (o.ca_pem != nullptr) {
      curl_blob ca{const_cast<char*>(o.ca_pem->data()), o.ca_pem->size(), CURL_BLOB_COPY};
      curl_easy_setopt(curl_, CURLOPT_CAINFO_BLOB, &ca);
    }
    if (o.client_cert != nullptr) {
      curl_blob cert{const_cast<char*>(o.client_cert->cert_pem.data()),
                     o.client_cert->cert_pem.size(), CURL_BLOB_COPY};
      curl_blob key{const_cast<char*>(o.client_cert->key_pem.data()), o.client_cert->key_pem.size(),
                    CURL_BLOB_COPY};
      curl_easy_setopt(curl_, CURLOPT_SSLCERT_BLOB, &cert);
      curl_easy_setopt(curl_, CURLOPT_SSLCERTTYPE, "PEM");
      curl_easy_setopt(curl_, CURLOPT_SSLKEY_BLOB, &key);
      curl_easy_setopt(curl_, CURLOPT_SSLKEYTYPE, "PEM");
    }
    r.code = curl_easy_perform(curl_);
    r.error = error[0] != '\0' ? error : curl_easy_strerror(r.code);
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_getinfo(curl_, CURLINFO_HTTP_VERSION, &r.http_version);
    curl_easy_getinfo(curl_, CURLINFO_NUM_CONNECTS, &r.connects);
    return r;
  }

 private:
  CURL* curl_;
};

int ConnectLoopback(uint16_t port) {
  return kobs::testing::ConnectLoopback(port, std::chrono::seconds(5));
}

struct ProbeResult {
  bool connected = false;
  int version = 0;   // TLS1_2_VERSION, ...
  std::string alpn;  // the protocol the server selected, if any
};

// A handshake with a raw OpenSSL client that offers `alpn` (wire format) and at most TLS
// version `max_version` (0: any); the chain is verified against `ca_pem`.
ProbeResult TlsProbe(uint16_t port, const std::string& ca_pem, std::string_view alpn,
                     int max_version = 0) {
  ProbeResult result;
  internal::SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (max_version != 0) {
    // Let the client offer old versions, so the refusal is the server's.
    SSL_CTX_set_security_level(ctx.get(), 0);
    SSL_CTX_set_cipher_list(ctx.get(), "ALL:@SECLEVEL=0");
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_VERSION);
    SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  }
  auto cas = internal::ReadCertificates(ca_pem, "ca");
  EXPECT_THAT(cas, IsOk());
  for (const auto& ca : *cas) X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), ca.get());
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  std::unique_ptr<SSL, internal::OpenSslDeleter<SSL_free>> ssl(SSL_new(ctx.get()));
  const int fd = ConnectLoopback(port);
  SSL_set_fd(ssl.get(), fd);
  EXPECT_EQ(SSL_set_alpn_protos(ssl.get(), reinterpret_cast<const unsigned char*>(alpn.data()),
                                static_cast<unsigned>(alpn.size())),
            0);
  if (SSL_connect(ssl.get()) == 1) {
    result.connected = true;
    result.version = SSL_version(ssl.get());
    const unsigned char* selected = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl.get(), &selected, &len);
    result.alpn.assign(reinterpret_cast<const char*>(selected), len);
    SSL_shutdown(ssl.get());
  }
  ERR_clear_error();
  close(fd);
  return result;
}

class HttpsServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new Pki;
    auto must = [](absl::StatusOr<KeyPair> kp) {
      KOBS_CHECK(kp.ok());
      return *std::move(kp);
    };
    pki_->ca = must(GenerateCa("kobs test CA"));
    pki_->server = must(IssueCertificate(
        pki_->ca,
        {.common_name = "kobs", .dns_names = {"localhost"}, .ip_addresses = {"127.0.0.1", "::1"}}));
    pki_->other_ca = must(GenerateCa("unrelated CA"));
    pki_->client_ca = must(GenerateCa("kobs client CA"));
    pki_->alice =
        must(IssueCertificate(pki_->client_ca, {.common_name = "alice",
                                                .organizations = {"system:masters", "dev"},
                                                .server = false,
                                                .client = true}));
    pki_->intruder = must(IssueCertificate(
        pki_->other_ca, {.common_name = "mallory", .server = false, .client = true}));
    pki_->server_only = must(IssueCertificate(pki_->client_ca, {.common_name = "bob"}));
  }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }

  // Starts a TLS server with `options` plus the routes below; base_ is its https:// URL.
  void Start(HttpServerOptions o) {
    o.name = "tls";
    if (o.tls_cert_pem.empty()) o.tls_cert_pem = pki_->server.cert_pem;
    if (o.tls_key_pem.empty()) o.tls_key_pem = pki_->server.key_pem;
    auto s = HttpServer::Create(o, metrics_);
    ASSERT_THAT(s, IsOk());
    server_ = std::move(*s);
    server_->Route("/whoami", [](const Request& rq, ResponseWriter& w) {
      std::string orgs;
      for (const auto& o : rq.client_cert_orgs) orgs += (orgs.empty() ? "" : ",") + o;
      Reply(w, 200, "text/plain",
            std::string(rq.tls ? "tls" : "plain") + " " +
                (rq.client_cert_verified ? "verified" : "anonymous") + " cn=" + rq.client_cert_cn +
                " o=" + orgs);
    });
    server_->Route("/stream", [](const Request& rq, ResponseWriter& w) {
      if (rq.QueryParam("gzip")) w.EnableCompression();
      w.SetHeader("Content-Type", "text/plain");
      for (int i = 0; i < 3; ++i) {
        if (!w.Write(std::string(100000, static_cast<char>('a' + i))).ok()) return;
      }
    });
    ASSERT_THAT(server_->Start(), IsOk());
    base_ = "https://127.0.0.1:" + std::to_string(server_->port());
  }

  // The kobs_http_tls_handshake_failures_total line for `reason`, or "" before there is one.
  std::string HandshakeFailures(std::string_view reason) {
    const std::string prefix = "kobs_http_tls_handshake_failures_total{reason=\"" +
                               std::string(reason) + "\",server=\"tls\"}";
    const std::string text = metrics_.Render();
    size_t at = text.find(prefix);
    return at == std::string::npos ? "" : text.substr(at, text.find('\n', at) - at);
  }

  struct Pki {
    KeyPair ca, server, other_ca, client_ca, alice, intruder, server_only;
  };
  static Pki* pki_;

  MetricsRegistry metrics_;
  std::unique_ptr<HttpServer> server_;
  std::string base_;
};

HttpsServerTest::Pki* HttpsServerTest::pki_ = nullptr;

TEST_F(HttpsServerTest, ServesVerifiedHttpsAndKeepsConnectionsAlive) {
  Start({});
  Client c;
  CurlOptions o{.ca_pem = &pki_->ca.cert_pem};
  auto r = c.Do(base_ + "/whoami", o);
  ASSERT_EQ(r.code, CURLE_OK) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "tls anonymous cn= o=");
  for (int i = 0; i < 3; ++i) {
    r = c.Do(base_ + "/whoami", o);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.connects, 0) << "request " << i << " opened a new connection";
  }
  // The hostname form is in the certificate too.
  r = c.Do("https://localhost:" + std::to_string(server_->port()) + "/whoami", o);
  EXPECT_EQ(r.code, CURLE_OK) << r.error;
  // Without tls_client_ca_pem no certificate is requested, so none shows up.
  o.client_cert = &pki_->alice;
  r = c.Do(base_ + "/whoami", o);
  EXPECT_EQ(r.body, "tls anonymous cn= o=");
}

TEST_F(HttpsServerTest, ClientsWithTheWrongCaFailVerification) {
  Start({});
  Client c;
  auto r = c.Do(base_ + "/whoami", {.ca_pem = &pki_->other_ca.cert_pem});
  EXPECT_EQ(r.code, CURLE_PEER_FAILED_VERIFICATION) << r.error;
  r = c.Do(base_ + "/whoami", {.ca_pem = &pki_->ca.cert_pem});
  EXPECT_EQ(r.code, CURLE_OK) << r.error;
}

TEST_F(HttpsServerTest, ServesACertificateChain) {
  Start({.tls_cert_pem = pki_->server.cert_pem + pki_->ca.cert_pem});
  Client c;
  auto r = c.Do(base_ + "/whoami", {.ca_pem = &pki_->ca.cert_pem});
  EXPECT_EQ(r.code, CURLE_OK) << r.error;
}

TEST_F(HttpsServerTest, ServesWithAnRsaKey) {
  auto rsa = IssueCertificate(
      pki_->ca,
      {.common_name = "kobs", .ip_addresses = {"127.0.0.1"}, .key_type = KeyType::kRsa2048});
  ASSERT_THAT(rsa, IsOk());
  Start({.tls_cert_pem = rsa->cert_pem, .tls_key_pem = rsa->key_pem});
  Client c;
  auto r = c.Do(base_ + "/whoami", {.ca_pem = &pki_->ca.cert_pem});
  EXPECT_EQ(r.code, CURLE_OK) << r.error;
}

TEST_F(HttpsServerTest, SelectsHttp11ForClientsPreferringH2) {
  Start({});
  // curl offers h2 first (as Go and kubectl do) and must settle on HTTP/1.1.
  Client c;
  auto r = c.Do(base_ + "/whoami",
                {.ca_pem = &pki_->ca.cert_pem, .http_version = CURL_HTTP_VERSION_2TLS});
  ASSERT_EQ(r.code, CURLE_OK) << r.error;
  EXPECT_EQ(r.http_version, CURL_HTTP_VERSION_1_1);

  using namespace std::string_view_literals;
  ProbeResult p = TlsProbe(server_->port(), pki_->ca.cert_pem, "\x02h2\x08http/1.1"sv);
  EXPECT_TRUE(p.connected);
  EXPECT_EQ(p.alpn, "http/1.1");
  p = TlsProbe(server_->port(), pki_->ca.cert_pem, "\x02h2"sv);  // no overlap: no ALPN
  EXPECT_TRUE(p.connected);
  EXPECT_EQ(p.alpn, "");
}

TEST_F(HttpsServerTest, RefusesTlsBelow12) {
  Start({});
  using namespace std::string_view_literals;
  ProbeResult p = TlsProbe(server_->port(), pki_->ca.cert_pem, "\x08http/1.1"sv, TLS1_1_VERSION);
  EXPECT_FALSE(p.connected);
  p = TlsProbe(server_->port(), pki_->ca.cert_pem, "\x08http/1.1"sv, TLS1_2_VERSION);
  EXPECT_TRUE(p.connected);
  EXPECT_EQ(p.version, TLS1_2_VERSION);
  p = TlsProbe(server_->port(), pki_->ca.cert_pem, "\x08http/1.1"sv);
  EXPECT_EQ(p.version, TLS1_3_VERSION);
}

TEST_F(HttpsServerTest, AnswersPlainHttpWith400AndKeepsServing) {
  Start({});
  Client c;
  std::string plain_url = "http://127.0.0.1:" + std::to_string(server_->port()) + "/whoami";
  auto r = c.Do(plain_url, {});
  ASSERT_EQ(r.code, CURLE_OK) << r.error;
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body, "client sent an HTTP request to an HTTPS server\n");
  // Bytes that are neither TLS nor HTTP get the same answer and a close.
  const int fd = ConnectLoopback(server_->port());
  ASSERT_EQ(write(fd, "\x01\x02\x03\x04", 4), 4);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, n);
  close(fd);
  EXPECT_THAT(out, HasSubstr("HTTP/1.1 400"));
  r = c.Do(base_ + "/whoami", {.ca_pem = &pki_->ca.cert_pem});
  EXPECT_EQ(r.code, CURLE_OK) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(HandshakeFailures("plaintext"), HasSubstr("} 2"));
}

TEST_F(HttpsServerTest, ClosesConnectionsThatNeverHandshake) {
  Start({.idle_timeout = std::chrono::milliseconds(300)});
  const int fd = ConnectLoopback(server_->port());
  const auto start = std::chrono::steady_clock::now();
  char buf[16];
  EXPECT_EQ(read(fd, buf, sizeof buf), 0);  // closed by the server, not by SO_RCVTIMEO
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  close(fd);
  std::string failures;
  for (int i = 0; i < 200 && failures.empty(); ++i) {
    failures = HandshakeFailures("timeout");
    if (failures.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_THAT(failures, HasSubstr("} 1"));
}

TEST_F(HttpsServerTest, StreamsChunkedAndHttp10ResponsesOverTls) {
  Start({});
  Client c;
  const std::string expected =
      std::string(100000, 'a') + std::string(100000, 'b') + std::string(100000, 'c');
  auto r = c.Do(base_ + "/stream", {.ca_pem = &pki_->ca.cert_pem});
  ASSERT_EQ(r.code, CURLE_OK) << r.error;
  EXPECT_THAT(r.headers, HasSubstr("Transfer-Encoding: chunked"));
  EXPECT_EQ(r.body, expected);
  // HTTP/1.0: the body ends with the connection, after the server's close_notify.
  r = c.Do(base_ + "/stream",
           {.ca_pem = &pki_->ca.cert_pem, .http_version = CURL_HTTP_VERSION_1_0});
  ASSERT_EQ(r.code, CURLE_OK) << r.error;
  EXPECT_THAT(r.headers, ::testing::Not(HasSubstr("chunked")));
  EXPECT_EQ(r.body, expected);
}

TEST_F(HttpsServerTest, ExposesVerifiedClientCertificates) {
  Start({.tls_client_ca_pem = pki_->client_ca.cert_pem});
  Client c;
  CurlOptions o{.ca_pem = &pki_->ca.cert_pem, .client_cert = &pki_->alice};
  auto r = c.Do(base_ + "/whoami", o);
  ASSERT_EQ(r.code, CURLE_OK) << r.error;
  EXPECT_EQ(r.body, "tls verified cn=alice o=system:masters,dev");
  // A resumed session on a new connection keeps the identity.
  o.fresh_connection = true;
  r = c.Do(base_ + "/whoami", o);
  ASSERT_EQ(r.code, CURLE_OK) << r.error;
  EXPECT_EQ(r.connects, 1);
  EXPECT_EQ(r.body, "tls verified cn=alice o=system:masters,dev");

  // Requested, not required: without a certificate the request arrives anonymous (a bearer
  // token could still authenticate it).
  Client anonymous;
  r = anonymous.Do(base_ + "/whoami", {.ca_pem = &pki_->ca.cert_pem});
  ASSERT_EQ(r.code, CURLE_OK) << r.error;
  EXPECT_EQ(r.body, "tls anonymous cn= o=");
}

TEST_F(HttpsServerTest, RefusesClientCertificatesThatDoNotVerify) {
  Start({.tls_client_ca_pem = pki_->client_ca.cert_pem});
  // Signed by a CA the server does not trust.
  Client c;
  auto r = c.Do(base_ + "/whoami", {.ca_pem = &pki_->ca.cert_pem, .client_cert = &pki_->intruder});
  EXPECT_NE(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 0);
  // Signed by the right CA but without clientAuth usage.
  Client c2;
  r = c2.Do(base_ + "/whoami", {.ca_pem = &pki_->ca.cert_pem, .client_cert = &pki_->server_only});
  EXPECT_NE(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 0);
  std::string failures;
  // The server counts a failed handshake after the client has already seen it fail: wait for
  // both to be counted.
  for (int i = 0; i < 400; ++i) {
    failures = HandshakeFailures("failed");
    if (absl::EndsWith(failures, "} 2")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_THAT(failures, ::testing::EndsWith("} 2"));
  Client c3;
  r = c3.Do(base_ + "/whoami", {.ca_pem = &pki_->ca.cert_pem, .client_cert = &pki_->alice});
  EXPECT_EQ(r.code, CURLE_OK) << r.error;
}

// Writes `key` as PKCS#8 encrypted with a passphrase.
std::string EncryptKey(const std::string& key_pem) {
  auto key = internal::ReadPrivateKey(key_pem, "key");
  internal::BioPtr bio(BIO_new(BIO_s_mem()));
  static char pass[] = "secret";
  PEM_write_bio_PKCS8PrivateKey(bio.get(), key->get(), EVP_aes_128_cbc(), pass, 6, nullptr,
                                nullptr);
  BUF_MEM* mem = nullptr;
  BIO_get_mem_ptr(bio.get(), &mem);
  return std::string(mem->data, mem->length);
}

TEST_F(HttpsServerTest, CreateRejectsUnusableTlsOptions) {
  auto other = IssueCertificate(pki_->ca, {.common_name = "other"});
  ASSERT_THAT(other, IsOk());
  struct Case {
    std::string name;
    std::string cert, key, client_ca;
    std::string message;
  };
  const std::string& cert = pki_->server.cert_pem;
  const std::string& key = pki_->server.key_pem;
  std::string corrupt = cert;
  corrupt.erase(corrupt.size() / 2, 8);  // truncates the DER inside
  const std::vector<Case> cases = {
      {"cert without key", cert, "", "", "set together"},
      {"key without cert", "", key, "", "set together"},
      {"client ca alone", "", "", pki_->client_ca.cert_pem, "tls_client_ca_pem needs"},
      {"not pem", "hello", key, "", "tls_cert_pem: no PEM certificate"},
      {"corrupt cert", corrupt, key, "", "tls_cert_pem"},
      {"key is a cert", cert, cert, "", "tls_key_pem"},
      {"mismatched key", cert, other->key_pem, "", "tls_key_pem does not match"},
      {"encrypted key", cert, EncryptKey(key), "", "encrypted"},
      {"bad client ca", cert, key, "junk", "tls_client_ca_pem"},
  };
  for (const Case& c : cases) {
    HttpServerOptions o;
    o.name = "bad";
    o.tls_cert_pem = c.cert;
    o.tls_key_pem = c.key;
    o.tls_client_ca_pem = c.client_ca;
    auto s = HttpServer::Create(o, metrics_);
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument)) << "case " << c.name;
    EXPECT_THAT(std::string(s.status().message()), HasSubstr(c.message)) << "case " << c.name;
  }
}

}  // namespace
}  // namespace kobs::net
