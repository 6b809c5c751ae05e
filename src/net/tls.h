// Certificate generation for a self-contained test/dev PKI (OpenSSL 3): a self-signed CA and
// leaf certificates it signs, for HTTPS serving (HttpServerOptions::tls_*) and client
// certificate authentication. Everything is PEM text; nothing touches the file system.
// Thread-safe (no shared state).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace kobs::net {

// A certificate and its private key, both PEM ("CERTIFICATE" and PKCS#8 "PRIVATE KEY").
struct KeyPair {
  std::string cert_pem;
  std::string key_pem;
};

// A self-signed CA: EC P-256 key, subject CN `common_name`, basicConstraints CA:TRUE
// (critical), keyUsage keyCertSign + cRLSign + digitalSignature (critical), a subject key
// identifier, random 128-bit serial, valid from 5 minutes ago (clock skew) for `days`.
absl::StatusOr<KeyPair> GenerateCa(std::string_view common_name, int days = 3650);

enum class KeyType {
  kEcP256,   // ECDSA P-256
  kRsa2048,  // RSA 2048, for peers or tests that need RSA
};

struct LeafOptions {
  // Subject CN; for client certificates Kubernetes takes it as the user name. Required.
  std::string common_name;
  // Subject O values; for client certificates Kubernetes takes them as groups
  // (e.g. "system:masters").
  std::vector<std::string> organizations;
  // subjectAltName entries. Go clients (kubectl) check only these, never the CN.
  std::vector<std::string> dns_names;     // "localhost", "*.svc.cluster.local"
  std::vector<std::string> ip_addresses;  // IPv4 or IPv6 text: "127.0.0.1", "::1"
  // extendedKeyUsage serverAuth and/or clientAuth; at least one must be set.
  bool server = true;
  bool client = false;
  int days = 365;
  KeyType key_type = KeyType::kEcP256;
};

// A leaf certificate (CA:FALSE, keyUsage digitalSignature, plus keyEncipherment for RSA keys)
// for a fresh key, signed by `ca` with SHA-256, random 128-bit serial, backdated 5 minutes.
// cert_pem holds the leaf only (append ca.cert_pem to serve a chain). InvalidArgument for bad
// options (empty CN, no usage, unparsable IP address or DNS name) or a `ca` that is not a CA
// or whose key does not match; Internal for OpenSSL failures.
absl::StatusOr<KeyPair> IssueCertificate(const KeyPair& ca, const LeafOptions& options);

}  // namespace kobs::net
