#include "k8s/kube_config.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "absl/strings/escaping.h"
#include "common/absl_compat.h"
#include "common/config_util.h"

namespace kobs::k8s {
namespace {

namespace fs = std::filesystem;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(fmt::format("cannot read {}", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string TrimRight(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) {
    s.pop_back();
  }
  return s;
}

std::string Str(const YAML::Node& node, const char* key) {
  if (!node.IsMap()) return "";
  for (const auto& kv : node) {
    if (kv.first.as<std::string>() == key && kv.second.IsScalar()) return kv.second.as<std::string>();
  }
  return "";
}

// A named entry (cluster, user or context) with the directory of the file that defined it.
struct Named {
  YAML::Node body;
  fs::path dir;
};

// "<field>-data" base64 wins over "<field>" (a path relative to the file's directory).
absl::StatusOr<std::string> DataOrFile(const Named& e, const std::string& field,
                                       const std::string& what) {
  const std::string data = Str(e.body, (field + "-data").c_str());
  if (!data.empty()) {
    std::string out;
    if (!absl::Base64Unescape(ToAbsl(data), &out)) {
      return absl::InvalidArgumentError(fmt::format("{}: {}-data is not valid base64", what, field));
    }
    return out;
  }
  const std::string file = Str(e.body, field.c_str());
  if (file.empty()) return std::string();
  fs::path p(file);
  if (p.is_relative()) p = e.dir / p;
  auto content = ReadFile(p.string());
  if (!content.ok()) {
    return absl::InvalidArgumentError(fmt::format("{}: {} {}: {}", what, field, p.string(),
                                                  ToStd(content.status().message())));
  }
  return content;
}

}  // namespace

TokenFile::TokenFile(std::string path, std::chrono::milliseconds recheck)
    : path_(std::move(path)), recheck_(recheck) {}

absl::StatusOr<std::string> TokenFile::Get() {
  absl::MutexLock lock(&mu_);
  const auto now = std::chrono::steady_clock::now();
  if (mtime_ns_ >= 0 && now - checked_ < recheck_) return token_;
  checked_ = now;
  struct stat st;
  if (stat(path_.c_str(), &st) != 0) {
    if (mtime_ns_ >= 0) return token_;  // keep the last good token through a rename dance
    return absl::UnavailableError(fmt::format("cannot read the token file {}", path_));
  }
  const int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  if (mtime == mtime_ns_ && static_cast<uint64_t>(st.st_size) == size_) return token_;
  auto content = ReadFile(path_);
  if (!content.ok()) {
    if (mtime_ns_ >= 0) return token_;
    return content.status();
  }
  token_ = TrimRight(*content);
  mtime_ns_ = mtime;
  size_ = static_cast<uint64_t>(st.st_size);
  return token_;
}

absl::StatusOr<std::string> ClusterConfig::Authorization() const {
  if (token_file != nullptr) {
    auto t = token_file->Get();
    if (!t.ok()) return t.status();
    return "Bearer " + *t;
  }
  if (!token.empty()) return "Bearer " + token;
  if (!username.empty()) {
    return "Basic " + absl::Base64Escape(ToAbsl(username + ":" + password));
  }
  return std::string();
}

std::vector<std::string> DefaultKubeconfigPaths(
    const std::function<const char*(const char*)>& getenv) {
  std::vector<std::string> out;
  if (const char* env = getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    std::string_view rest = env;
    while (!rest.empty()) {
      size_t colon = rest.find(':');
      std::string item(rest.substr(0, colon));
      if (!item.empty()) out.push_back(item);
      rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    }
    return out;
  }
  if (const char* home = getenv("HOME"); home != nullptr) {
    out.push_back(std::string(home) + "/.kube/config");
  }
  return out;
}

absl::StatusOr<ClusterConfig> LoadKubeconfig(const std::vector<std::string>& paths,
                                             const std::string& context) {
  std::map<std::string, Named> clusters, users, contexts;
  std::string current;
  std::vector<std::string> read;
  for (const auto& path : paths) {
    if (!fs::exists(path)) continue;
    YAML::Node root;
    try {
      root = YAML::LoadFile(path);
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(fmt::format("kubeconfig {}: {}", path, e.what()));
    }
    read.push_back(path);
    const fs::path dir = fs::absolute(path).parent_path();
    if (current.empty()) current = Str(root, "current-context");
    for (auto [list, key, into] : {std::tuple{"clusters", "cluster", &clusters},
                                   std::tuple{"users", "user", &users},
                                   std::tuple{"contexts", "context", &contexts}}) {
      const YAML::Node items = Child(root, list);
      if (!items.IsSequence()) continue;
      for (const auto& item : items) {
        const std::string name = Str(item, "name");
        if (name.empty()) continue;
        into->try_emplace(name, Named{Child(item, key), dir});  // the first file wins
      }
    }
  }
  if (read.empty()) {
    return absl::NotFoundError(fmt::format(
        "no kubeconfig found (looked at: {})",
        paths.empty() ? std::string("nothing") : fmt::format("{}", fmt::join(paths, ", "))));
  }
  const std::string use = context.empty() ? current : context;
  if (use.empty()) {
    return absl::InvalidArgumentError("the kubeconfig has no current-context: name a context");
  }
  auto ctx = contexts.find(use);
  if (ctx == contexts.end()) {
    return absl::NotFoundError(fmt::format("context \"{}\" is not in the kubeconfig", use));
  }
  ClusterConfig c;
  c.context = use;
  c.namespace_ = Str(ctx->second.body, "namespace");
  if (c.namespace_.empty()) c.namespace_ = "default";
  const std::string cluster_name = Str(ctx->second.body, "cluster");
  auto cluster = clusters.find(cluster_name);
  if (cluster == clusters.end()) {
    return absl::NotFoundError(
        fmt::format("context \"{}\" names cluster \"{}\", which is not in the kubeconfig", use,
                    cluster_name));
  }
  const Named& cl = cluster->second;
  c.server = Str(cl.body, "server");
  if (c.server.empty()) {
    return absl::InvalidArgumentError(fmt::format("cluster \"{}\" has no server", cluster_name));
  }
  c.insecure_skip_tls_verify = Str(cl.body, "insecure-skip-tls-verify") == "true";
  c.tls_server_name = Str(cl.body, "tls-server-name");
  auto ca = DataOrFile(cl, "certificate-authority", "cluster \"" + cluster_name + "\"");
  if (!ca.ok()) return ca.status();
  c.ca_pem = *ca;
  const std::string user_name = Str(ctx->second.body, "user");
  if (!user_name.empty()) {
    auto user = users.find(user_name);
    if (user == users.end()) {
      return absl::NotFoundError(fmt::format(
          "context \"{}\" names user \"{}\", which is not in the kubeconfig", use, user_name));
    }
    const Named& u = user->second;
    const std::string what = "user \"" + user_name + "\"";
    if (Child(u.body, "exec").IsMap() || Child(u.body, "auth-provider").IsMap()) {
      return absl::UnimplementedError(fmt::format(
          "{} authenticates with an exec or auth-provider plugin, which kobs does not run: use a "
          "token, tokenFile or client certificate",
          what));
    }
    auto cert = DataOrFile(u, "client-certificate", what);
    if (!cert.ok()) return cert.status();
    auto key = DataOrFile(u, "client-key", what);
    if (!key.ok()) return key.status();
    if (cert->empty() != key->empty()) {
      return absl::InvalidArgumentError(
          fmt::format("{} has a client certificate or key but not both", what));
    }
    c.client_cert_pem = *cert;
    c.client_key_pem = *key;
    c.token = Str(u.body, "token");
    if (const std::string tf = Str(u.body, "tokenFile"); !tf.empty() && c.token.empty()) {
      fs::path p(tf);
      if (p.is_relative()) p = u.dir / p;
      c.token_file = std::make_shared<TokenFile>(p.string());
      if (auto t = c.token_file->Get(); !t.ok()) return t.status();
    }
    c.username = Str(u.body, "username");
    c.password = Str(u.body, "password");
  }
  return c;
}

absl::StatusOr<ClusterConfig> InClusterConfig(
    const std::function<const char*(const char*)>& getenv, const std::string& sa_dir) {
  const char* host = getenv("KUBERNETES_SERVICE_HOST");
  const char* port = getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || *host == '\0' || port == nullptr || *port == '\0') {
    return absl::NotFoundError(
        "not running in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set");
  }
  ClusterConfig c;
  const std::string h = host;
  c.server = fmt::format("https://{}:{}", h.find(':') != std::string::npos ? "[" + h + "]" : h,
                         port);
  auto ca = ReadFile(sa_dir + "/ca.crt");
  if (!ca.ok()) return ca.status();
  c.ca_pem = *ca;
  c.token_file = std::make_shared<TokenFile>(sa_dir + "/token");
  if (auto t = c.token_file->Get(); !t.ok()) return t.status();
  auto ns = ReadFile(sa_dir + "/namespace");
  c.namespace_ = ns.ok() ? TrimRight(*ns) : "default";
  return c;
}

}  // namespace kobs::k8s
