// Internal to kobs::net (not part of its public headers): unique_ptr owners for OpenSSL
// objects, the OpenSSL error queue as a Status, and PEM parsing shared by the certificate
// generator (tls.cc) and the server's TLS context (tls_context.cc). Thread-safe (OpenSSL's
// error queue is per thread).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kobs::net::internal {

// Deleter calling OpenSSL's `Free` (X509_free, BIO_free, ...).
template <auto Free>
struct OpenSslDeleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};

using BioPtr = std::unique_ptr<BIO, OpenSslDeleter<BIO_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, OpenSslDeleter<BN_free>>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, OpenSslDeleter<X509_EXTENSION_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, OpenSslDeleter<GENERAL_NAME_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, OpenSslDeleter<GENERAL_NAMES_free>>;
using Asn1StringPtr = std::unique_ptr<ASN1_STRING, OpenSslDeleter<ASN1_STRING_free>>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, OpenSslDeleter<SSL_CTX_free>>;

// Drains this thread's OpenSSL error queue into "error; error" (ERR_error_string_n text), or
// "no OpenSSL error reported" when it is empty.
std::string OpenSslErrors();

// `code` status "<what>: <OpenSSL errors>"; drains the error queue.
absl::Status OpenSslError(absl::StatusCode code, std::string_view what);

// Every certificate in `pem`, in order (other PEM blocks are skipped). InvalidArgument naming
// `what` when there is none or one is corrupt.
absl::StatusOr<std::vector<X509Ptr>> ReadCertificates(std::string_view pem, std::string_view what);

// The first private key in `pem` (PKCS#8, or traditional RSA/EC). Encrypted keys are refused
// rather than prompting for a passphrase. InvalidArgument naming `what` on failure.
absl::StatusOr<EvpPkeyPtr> ReadPrivateKey(std::string_view pem, std::string_view what);

}  // namespace kobs::net::internal
