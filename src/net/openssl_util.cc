#include "net/openssl_util.h"

#include <climits>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>

namespace kobs::net::internal {
namespace {

// Never prompts: an encrypted key fails to load instead of reading a passphrase from the tty.
int NoPassphrase(char*, int, int, void*) { return -1; }

absl::StatusOr<BioPtr> MemoryBio(std::string_view data, std::string_view what) {
  if (data.size() > static_cast<size_t>(INT_MAX)) {
    return absl::InvalidArgumentError(fmt::format("{}: PEM text too large", what));
  }
  BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
  if (bio == nullptr) return OpenSslError(absl::StatusCode::kInternal, what);
  return bio;
}

}  // namespace

std::string OpenSslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL error reported" : out;
}

absl::Status OpenSslError(absl::StatusCode code, std::string_view what) {
  return absl::Status(code, fmt::format("{}: {}", what, OpenSslErrors()));
}

absl::StatusOr<std::vector<X509Ptr>> ReadCertificates(std::string_view pem, std::string_view what) {
  ERR_clear_error();
  auto bio = MemoryBio(pem, what);
  if (!bio.ok()) return bio.status();
  std::vector<X509Ptr> certs;
  for (;;) {
    X509Ptr cert(PEM_read_bio_X509(bio->get(), nullptr, NoPassphrase, nullptr));
    if (cert == nullptr) break;
    certs.push_back(std::move(cert));
  }
  // The loop ends with "no start line" once the input is exhausted; anything else is corrupt.
  const unsigned long last = ERR_peek_last_error();
  if (last != 0 &&
      !(ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE)) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        fmt::format("{}: cannot parse certificate {}", what, certs.size() + 1));
  }
  ERR_clear_error();
  if (certs.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("{}: no PEM certificate (-----BEGIN CERTIFICATE-----) found", what));
  }
  return certs;
}

absl::StatusOr<EvpPkeyPtr> ReadPrivateKey(std::string_view pem, std::string_view what) {
  ERR_clear_error();
  auto bio = MemoryBio(pem, what);
  if (!bio.ok()) return bio.status();
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio->get(), nullptr, NoPassphrase, nullptr));
  if (key == nullptr) {
    if (pem.find("ENCRYPTED") != std::string_view::npos) {
      ERR_clear_error();
      return absl::InvalidArgumentError(
          fmt::format("{}: encrypted private keys are not supported", what));
    }
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        fmt::format("{}: cannot parse PEM private key", what));
  }
  return key;
}

}  // namespace kobs::net::internal
