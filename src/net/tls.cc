// Certificates are built with OpenSSL 3's EVP/X509 APIs. Fixed extensions go through
// X509V3_EXT_conf_nid with constant strings; caller-provided names (subject, SANs) are set as
// typed values, never through the config syntax, so a ',' in a name cannot inject extensions.
#include "net/tls.h"

#include <climits>

#include <absl/strings/ascii.h>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "net/openssl_util.h"

namespace kobs::net {
namespace {

using internal::Asn1StringPtr;
using internal::BignumPtr;
using internal::BioPtr;
using internal::EvpPkeyPtr;
using internal::GeneralNamePtr;
using internal::GeneralNamesPtr;
using internal::OpenSslError;
using internal::X509ExtensionPtr;
using internal::X509Ptr;

constexpr long kBackdateSeconds = 5 * 60;
constexpr int kMaxDays = 100 * 366;

absl::Status Internal(std::string_view what) {
  return OpenSslError(absl::StatusCode::kInternal, what);
}

absl::StatusOr<EvpPkeyPtr> GenerateKey(KeyType type) {
  EvpPkeyPtr key(type == KeyType::kRsa2048 ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256"));
  if (key == nullptr) return Internal("cannot generate a private key");
  return key;
}

absl::Status AddNameEntry(X509_NAME* name, const char* field, std::string_view value) {
  if (value.size() > static_cast<size_t>(INT_MAX) ||
      X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value.data()),
                                 static_cast<int>(value.size()), -1, 0) != 1) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        fmt::format("subject {} '{}'", field, value));
  }
  return absl::OkStatus();
}

// A v3 certificate for `key` with a random serial, subject O... CN, validity and no issuer yet.
absl::StatusOr<X509Ptr> NewCertificate(EVP_PKEY* key, std::string_view common_name,
                                       const std::vector<std::string>& organizations, int days) {
  if (common_name.empty()) return absl::InvalidArgumentError("certificate common name is empty");
  if (days <= 0 || days > kMaxDays) {
    return absl::InvalidArgumentError(
        fmt::format("certificate validity of {} days is outside 1..{}", days, kMaxDays));
  }
  X509Ptr cert(X509_new());
  if (cert == nullptr) return Internal("cannot allocate a certificate");
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1) return Internal("certificate version");

  // RFC 5280 4.1.2.2: positive, at most 20 octets. 16 random bytes with the top bit cleared.
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return Internal("cannot draw a random serial");
  serial[0] &= 0x7f;
  BignumPtr bn(BN_bin2bn(serial, sizeof serial, nullptr));
  if (bn == nullptr || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return Internal("certificate serial");
  }

  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kBackdateSeconds) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * 86400) == nullptr) {
    return Internal("certificate validity");
  }
  if (X509_set_pubkey(cert.get(), key) != 1) return Internal("certificate public key");

  X509_NAME* subject = X509_get_subject_name(cert.get());
  for (const std::string& o : organizations) {
    if (absl::Status s = AddNameEntry(subject, "O", o); !s.ok()) return s;
  }
  if (absl::Status s = AddNameEntry(subject, "CN", common_name); !s.ok()) return s;
  return cert;
}

// Adds a fixed extension (`value` in OpenSSL's config syntax; never caller input).
absl::Status AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (ext == nullptr || X509_add_ext(cert, ext.get(), -1) != 1) {
    return Internal(fmt::format("certificate extension {} '{}'", OBJ_nid2sn(nid), value));
  }
  return absl::OkStatus();
}

// A DNS name as a SAN: letters, digits, '-', '_', '.', and '*' for wildcards.
bool ValidDnsName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_' &&
        c != '*') {
      return false;
    }
  }
  return true;
}

absl::Status AddSubjectAltNames(X509* cert, const LeafOptions& options) {
  if (options.dns_names.empty() && options.ip_addresses.empty()) return absl::OkStatus();
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (names == nullptr) return Internal("subjectAltName");
  for (const std::string& dns : options.dns_names) {
    if (!ValidDnsName(dns)) {
      return absl::InvalidArgumentError(fmt::format("invalid DNS name '{}' for a SAN", dns));
    }
    Asn1StringPtr value(ASN1_IA5STRING_new());
    if (value == nullptr ||
        ASN1_STRING_set(value.get(), dns.data(), static_cast<int>(dns.size())) != 1) {
      return Internal("subjectAltName DNS name");
    }
    GeneralNamePtr name(GENERAL_NAME_new());
    if (name == nullptr) return Internal("subjectAltName");
    GENERAL_NAME_set0_value(name.get(), GEN_DNS, value.release());
    if (sk_GENERAL_NAME_push(names.get(), name.get()) == 0) return Internal("subjectAltName");
    name.release();  // owned by `names` now
  }
  for (const std::string& ip : options.ip_addresses) {
    // a2i_IPADDRESS parses IPv4 and IPv6 text into the 4- or 16-byte iPAddress form.
    Asn1StringPtr value(a2i_IPADDRESS(ip.c_str()));
    if (value == nullptr) {
      ERR_clear_error();
      return absl::InvalidArgumentError(
          fmt::format("'{}' is not an IPv4 or IPv6 address for a SAN", ip));
    }
    GeneralNamePtr name(GENERAL_NAME_new());
    if (name == nullptr) return Internal("subjectAltName");
    GENERAL_NAME_set0_value(name.get(), GEN_IPADD, value.release());
    if (sk_GENERAL_NAME_push(names.get(), name.get()) == 0) return Internal("subjectAltName");
    name.release();
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return Internal("subjectAltName");
  }
  return absl::OkStatus();
}

absl::Status Sign(X509* cert, EVP_PKEY* issuer_key) {
  if (X509_sign(cert, issuer_key, EVP_sha256()) <= 0) return Internal("cannot sign certificate");
  return absl::OkStatus();
}

absl::StatusOr<KeyPair> ToPem(X509* cert, EVP_PKEY* key) {
  KeyPair out;
  BUF_MEM* mem = nullptr;
  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  if (cert_bio == nullptr || PEM_write_bio_X509(cert_bio.get(), cert) != 1) {
    return Internal("cannot write certificate PEM");
  }
  BIO_get_mem_ptr(cert_bio.get(), &mem);
  out.cert_pem.assign(mem->data, mem->length);
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  if (key_bio == nullptr ||
      PEM_write_bio_PrivateKey(key_bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Internal("cannot write private key PEM");
  }
  BIO_get_mem_ptr(key_bio.get(), &mem);
  out.key_pem.assign(mem->data, mem->length);
  return out;
}

}  // namespace

absl::StatusOr<KeyPair> GenerateCa(std::string_view common_name, int days) {
  ERR_clear_error();
  auto key = GenerateKey(KeyType::kEcP256);
  if (!key.ok()) return key.status();
  auto cert = NewCertificate(key->get(), common_name, {}, days);
  if (!cert.ok()) return cert.status();
  X509* x = cert->get();
  if (X509_set_issuer_name(x, X509_get_subject_name(x)) != 1) return Internal("issuer name");
  for (auto [nid, value] :
       {std::pair{NID_basic_constraints, "critical,CA:TRUE"},
        std::pair{NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"},
        std::pair{NID_subject_key_identifier, "hash"}}) {
    if (absl::Status s = AddExtension(x, x, nid, value); !s.ok()) return s;
  }
  if (absl::Status s = Sign(x, key->get()); !s.ok()) return s;
  return ToPem(x, key->get());
}

absl::StatusOr<KeyPair> IssueCertificate(const KeyPair& ca, const LeafOptions& options) {
  if (!options.server && !options.client) {
    return absl::InvalidArgumentError(
        fmt::format("certificate '{}': neither server nor client usage", options.common_name));
  }
  auto ca_certs = internal::ReadCertificates(ca.cert_pem, "ca certificate");
  if (!ca_certs.ok()) return ca_certs.status();
  X509* ca_cert = ca_certs->front().get();
  auto ca_key = internal::ReadPrivateKey(ca.key_pem, "ca key");
  if (!ca_key.ok()) return ca_key.status();
  if (X509_check_private_key(ca_cert, ca_key->get()) != 1) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "ca key does not match the ca certificate");
  }
  if (X509_check_ca(ca_cert) < 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("ca certificate is not a CA (basicConstraints CA:TRUE)");
  }

  ERR_clear_error();
  auto key = GenerateKey(options.key_type);
  if (!key.ok()) return key.status();
  auto cert = NewCertificate(key->get(), options.common_name, options.organizations, options.days);
  if (!cert.ok()) return cert.status();
  X509* x = cert->get();
  if (X509_set_issuer_name(x, X509_get_subject_name(ca_cert)) != 1) {
    return Internal("issuer name");
  }
  std::string usage = "critical,digitalSignature";
  if (options.key_type == KeyType::kRsa2048) usage += ",keyEncipherment";
  std::string eku;
  if (options.server) eku = "serverAuth";
  if (options.client) eku += eku.empty() ? "clientAuth" : ",clientAuth";
  for (auto [nid, value] :
       {std::pair{NID_basic_constraints, "critical,CA:FALSE"},
        std::pair{NID_key_usage, usage.c_str()}, std::pair{NID_ext_key_usage, eku.c_str()},
        std::pair{NID_subject_key_identifier, "hash"},
        std::pair{NID_authority_key_identifier, "keyid:always"}}) {
    if (absl::Status s = AddExtension(x, ca_cert, nid, value); !s.ok()) return s;
  }
  if (absl::Status s = AddSubjectAltNames(x, options); !s.ok()) return s;
  if (absl::Status s = Sign(x, ca_key->get()); !s.ok()) return s;
  return ToPem(x, key->get());
}

}  // namespace kobs::net
