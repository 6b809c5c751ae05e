// Kubeconfig and in-cluster configuration, on files written by the tests: contexts, data and
// file fields (relative to the kubeconfig), $KUBECONFIG merging, clear errors, and service
// account token rotation.
#include "k8s/kube_config.h"

#include <fstream>
#include <map>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "status_matchers.h"
#include "temp_dir.h"

namespace kobs::k8s {
namespace {

using ::kobs::testing::IsOk;
using ::testing::HasSubstr;

void Write(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

std::string B64(const std::string& s) { return absl::Base64Escape(s); }

class KubeConfigTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) { return dir_.Sub(name); }
  testing::TempDir dir_;
};

TEST_F(KubeConfigTest, CurrentContextWithDataFields) {
  Write(Path("config"), R"(apiVersion: v1
kind: Config
current-context: sim
clusters:
- name: sim-cluster
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: )" + B64("CA PEM\n") + R"(
    tls-server-name: kobs-sim
users:
- name: admin
  user:
    client-certificate-data: )" + B64("CERT PEM\n") + R"(
    client-key-data: )" + B64("KEY PEM\n") + R"(
contexts:
- name: sim
  context:
    cluster: sim-cluster
    user: admin
    namespace: krateo-system
)");
  auto c = LoadKubeconfig({Path("config")});
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->context, "sim");
  EXPECT_EQ(c->server, "https://127.0.0.1:6443");
  EXPECT_EQ(c->ca_pem, "CA PEM\n");
  EXPECT_EQ(c->tls_server_name, "kobs-sim");
  EXPECT_EQ(c->client_cert_pem, "CERT PEM\n");
  EXPECT_EQ(c->client_key_pem, "KEY PEM\n");
  EXPECT_EQ(c->namespace_, "krateo-system");
  EXPECT_FALSE(c->insecure_skip_tls_verify);
  EXPECT_EQ(*c->Authorization(), "");
}

TEST_F(KubeConfigTest, NamedContextFilesRelativeToTheKubeconfigAndTokens) {
  std::filesystem::create_directories(Path("certs"));
  Write(Path("certs/ca.crt"), "CA FROM FILE");
  Write(Path("token"), "rotating-token\n");
  Write(Path("config"), R"(current-context: a
clusters:
- name: c1
  cluster: {server: "https://a:1", certificate-authority: certs/ca.crt}
- name: c2
  cluster: {server: "https://b:2", insecure-skip-tls-verify: true}
users:
- name: static
  user: {token: s3cret}
- name: filed
  user: {tokenFile: token}
- name: basic
  user: {username: u, password: p}
contexts:
- {name: a, context: {cluster: c1, user: static}}
- {name: b, context: {cluster: c2, user: filed}}
- {name: c, context: {cluster: c2, user: basic}}
)");
  auto a = LoadKubeconfig({Path("config")});
  ASSERT_THAT(a, IsOk());
  EXPECT_EQ(a->ca_pem, "CA FROM FILE");
  EXPECT_EQ(a->namespace_, "default");
  EXPECT_EQ(*a->Authorization(), "Bearer s3cret");
  auto b = LoadKubeconfig({Path("config")}, "b");
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(b->server, "https://b:2");
  EXPECT_TRUE(b->insecure_skip_tls_verify);
  EXPECT_EQ(*b->Authorization(), "Bearer rotating-token");
  auto c = LoadKubeconfig({Path("config")}, "c");
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(*c->Authorization(), "Basic " + B64("u:p"));
}

TEST_F(KubeConfigTest, MergesFilesTheFirstOneWinning) {
  Write(Path("one"), R"(current-context: x
clusters: [{name: k, cluster: {server: "https://first:1"}}]
contexts: [{name: x, context: {cluster: k}}]
)");
  Write(Path("two"), R"(current-context: y
clusters:
- {name: k, cluster: {server: "https://second:2"}}
- {name: only2, cluster: {server: "https://only2:3"}}
contexts: [{name: y, context: {cluster: only2}}]
)");
  auto c = LoadKubeconfig({Path("missing"), Path("one"), Path("two")});
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->server, "https://first:1");
  auto y = LoadKubeconfig({Path("one"), Path("two")}, "y");
  ASSERT_THAT(y, IsOk());
  EXPECT_EQ(y->server, "https://only2:3");
  std::map<std::string, std::string> env = {{"KUBECONFIG", Path("one") + ":" + Path("two")},
                                            {"HOME", "/home/u"}};
  auto get = [&](const char* k) -> const char* {
    auto it = env.find(k);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  EXPECT_EQ(DefaultKubeconfigPaths(get), (std::vector<std::string>{Path("one"), Path("two")}));
  env.erase("KUBECONFIG");
  EXPECT_EQ(DefaultKubeconfigPaths(get), std::vector<std::string>{"/home/u/.kube/config"});
}

TEST_F(KubeConfigTest, ErrorsSayWhatIsWrong) {
  EXPECT_THAT(LoadKubeconfig({Path("nope")}).status().message(), HasSubstr("no kubeconfig found"));
  Write(Path("bad"), "clusters: [unclosed");
  EXPECT_THAT(LoadKubeconfig({Path("bad")}).status().message(), HasSubstr("kubeconfig"));
  Write(Path("c"), R"(current-context: x
clusters: [{name: k, cluster: {server: "https://s:1", certificate-authority: nowhere.crt}}]
users:
- {name: plugin, user: {exec: {command: aws}}}
- {name: half, user: {client-certificate-data: )" + B64("C") + R"(}}
- {name: bad64, user: {client-key-data: "!!!"}}
contexts:
- {name: x, context: {cluster: k}}
- {name: nocluster, context: {cluster: zz}}
- {name: plugin, context: {cluster: k2, user: plugin}}
- {name: nouser, context: {cluster: k2, user: ghost}}
)");
  EXPECT_THAT(LoadKubeconfig({Path("c")}).status().message(), HasSubstr("nowhere.crt"));
  EXPECT_THAT(LoadKubeconfig({Path("c")}, "zz").status().message(),
              HasSubstr("context \"zz\" is not in the kubeconfig"));
  EXPECT_THAT(LoadKubeconfig({Path("c")}, "nocluster").status().message(),
              HasSubstr("names cluster \"zz\""));
  Write(Path("d"), R"(clusters: [{name: k2, cluster: {server: "https://s:2"}}]
users:
- {name: plugin, user: {exec: {command: aws}}}
- {name: half, user: {client-certificate-data: )" + B64("C") + R"(}}
- {name: bad64, user: {client-key-data: "!!!", client-certificate-data: "!!!"}}
contexts:
- {name: plugin, context: {cluster: k2, user: plugin}}
- {name: half, context: {cluster: k2, user: half}}
- {name: bad64, context: {cluster: k2, user: bad64}}
- {name: nouser, context: {cluster: k2, user: ghost}}
)");
  EXPECT_THAT(LoadKubeconfig({Path("d")}).status().message(), HasSubstr("no current-context"));
  auto plugin = LoadKubeconfig({Path("d")}, "plugin");
  EXPECT_EQ(plugin.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(plugin.status().message(), HasSubstr("exec or auth-provider plugin"));
  EXPECT_THAT(LoadKubeconfig({Path("d")}, "half").status().message(), HasSubstr("not both"));
  EXPECT_THAT(LoadKubeconfig({Path("d")}, "bad64").status().message(), HasSubstr("base64"));
  EXPECT_THAT(LoadKubeconfig({Path("d")}, "nouser").status().message(),
              HasSubstr("names user \"ghost\""));
}

TEST_F(KubeConfigTest, InClusterReadsTheServiceAccountAndFollowsTokenRotation) {
  std::map<std::string, std::string> env;
  auto get = [&](const char* k) -> const char* {
    auto it = env.find(k);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  EXPECT_THAT(InClusterConfig(get, dir_.path().string()).status().message(),
              HasSubstr("not running in a pod"));
  env = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}};
  EXPECT_FALSE(InClusterConfig(get, dir_.path().string()).ok()) << "no ca.crt";
  Write(Path("ca.crt"), "CLUSTER CA");
  Write(Path("token"), "first\n");
  Write(Path("namespace"), "krateo-system");
  auto c = InClusterConfig(get, dir_.path().string());
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->server, "https://10.96.0.1:443");
  EXPECT_EQ(c->ca_pem, "CLUSTER CA");
  EXPECT_EQ(c->namespace_, "krateo-system");
  EXPECT_EQ(*c->Authorization(), "Bearer first");
  // The kubelet rotates the token; the new one is picked up (the recheck is 10 s by default,
  // so check with a short-interval reader on the same file).
  TokenFile fast(Path("token"), std::chrono::milliseconds(0));
  EXPECT_EQ(*fast.Get(), "first");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Write(Path("token"), "second-and-longer\n");
  EXPECT_EQ(*fast.Get(), "second-and-longer");
  std::filesystem::remove(Path("token"));
  EXPECT_EQ(*fast.Get(), "second-and-longer") << "kept through a rename window";
  env["KUBERNETES_SERVICE_HOST"] = "fd00::1";
  EXPECT_EQ(InClusterConfig(get, dir_.path().string()).status().code(),
            absl::StatusCode::kUnavailable)
      << "token file gone";
  Write(Path("token"), "third");
  EXPECT_EQ(InClusterConfig(get, dir_.path().string())->server, "https://[fd00::1]:443");
}

}  // namespace
}  // namespace kobs::k8s
