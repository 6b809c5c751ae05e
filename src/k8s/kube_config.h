// Where the Kubernetes API is and how to authenticate to it: from kubeconfig files (as
// kubectl reads them: $KUBECONFIG's colon-separated list merged with the first file winning
// for each name, the current context or a named one) or from inside a pod (the service
// account token, CA and namespace, KUBERNETES_SERVICE_HOST/PORT). Certificates and keys are
// returned as PEM text; `*-data` fields are base64-decoded; relative file paths are resolved
// against the kubeconfig that names them, as kubectl does. Exec and auth-provider plugins are
// refused with a clear error.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace kobs::k8s {

// A bearer token read from a file and re-read when the file changes (the kubelet rotates
// projected service account tokens), checked at most once per `recheck`. Thread-safe.
class TokenFile {
 public:
  explicit TokenFile(std::string path,
                     std::chrono::milliseconds recheck = std::chrono::seconds(10));

  // The current token (trailing whitespace removed).
  absl::StatusOr<std::string> Get();
  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  const std::chrono::milliseconds recheck_;
  absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  int64_t mtime_ns_ ABSL_GUARDED_BY(mu_) = -1;
  uint64_t size_ ABSL_GUARDED_BY(mu_) = 0;
  std::chrono::steady_clock::time_point checked_ ABSL_GUARDED_BY(mu_);
};

struct ClusterConfig {
  std::string server;  // https://host:port
  std::string ca_pem;  // empty: the system trust store
  bool insecure_skip_tls_verify = false;
  std::string tls_server_name;
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string token;                       // a static token, or
  std::shared_ptr<TokenFile> token_file;   // one read from a file (may rotate)
  std::string username, password;          // basic auth (rare)
  std::string namespace_;                  // the context's (or the pod's) namespace; "default"
  std::string context;                     // the context used ("" in-cluster)

  // The Authorization header value, or "" for none.
  absl::StatusOr<std::string> Authorization() const;
};

// `paths` are kubeconfig files in precedence order (missing ones are skipped, as kubectl does,
// unless none exists). `context` "" means the current-context.
absl::StatusOr<ClusterConfig> LoadKubeconfig(const std::vector<std::string>& paths,
                                             const std::string& context = "");

// The kubeconfig files kubectl would use: $KUBECONFIG split on ':', else ~/.kube/config.
std::vector<std::string> DefaultKubeconfigPaths(
    const std::function<const char*(const char*)>& getenv);

// The in-cluster configuration; `sa_dir` holds token, ca.crt and namespace.
absl::StatusOr<ClusterConfig> InClusterConfig(
    const std::function<const char*(const char*)>& getenv,
    const std::string& sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

}  // namespace kobs::k8s
