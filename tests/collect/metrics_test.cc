// Metrics from the kubelet (real /stats/summary and /pods responses), from /proc (a fake
// proc tree with known contents, and the real one), and from the API's nodes and deployments.
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include <gtest/gtest.h>

#include "collect/cluster_metrics.h"
#include "collect/host_metrics.h"
#include "collect/kubelet_metrics.h"
#include "collect/metric_builder.h"
#include "collect/pod_logs.h"
#include "temp_dir.h"

namespace kobs::collect {
namespace {

using nlohmann::json;
namespace pb = opentelemetry::proto;

json Testdata(const std::string& name) {
  std::ifstream in(std::string(KOBS_COLLECT_TESTDATA) + "/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

std::string Attr(const google::protobuf::RepeatedPtrField<pb::common::v1::KeyValue>& kvs,
                 const std::string& key) {
  for (const auto& kv : kvs) {
    if (kv.key() == key) return kv.value().string_value();
  }
  return "";
}

// The value of `metric` on the resource whose attributes include `where` (and whose data
// point attributes include `point`).
std::optional<double> Value(const MetricsRequest& r, const std::string& metric,
                            const std::map<std::string, std::string>& where,
                            const std::map<std::string, std::string>& point = {}) {
  for (const auto& rm : r.resource_metrics()) {
    bool match = true;
    for (const auto& [k, v] : where) match = match && Attr(rm.resource().attributes(), k) == v;
    // A pod's own resource has no container name.
    if (!match || (where.count("k8s.container.name") == 0 &&
                   !Attr(rm.resource().attributes(), "k8s.container.name").empty())) {
      continue;
    }
    for (const auto& sm : rm.scope_metrics()) {
      for (const auto& m : sm.metrics()) {
        if (m.name() != metric) continue;
        const auto& points = m.has_gauge() ? m.gauge().data_points() : m.sum().data_points();
        for (const auto& p : points) {
          bool ok = true;
          for (const auto& [k, v] : point) ok = ok && Attr(p.attributes(), k) == v;
          if (ok) return p.as_double();
        }
      }
    }
  }
  return std::nullopt;
}

std::string ResourceAttr(const MetricsRequest& r, const std::string& pod, const std::string& key) {
  for (const auto& rm : r.resource_metrics()) {
    if (Attr(rm.resource().attributes(), "k8s.pod.name") == pod) {
      return Attr(rm.resource().attributes(), key);
    }
  }
  return "<no resource>";
}

TEST(KubeletMetricsTest, ReadsTheReceiversOwnFixture) {
  MetricsRequest r;
  MetricBuilder b(&r, "test", 1'700'000'000'000'000'000);
  size_t n = AddKubeletMetrics(Testdata("otelcontrib-kubeletstats-stats-summary.json"),
                               Testdata("otelcontrib-kubeletstats-pods.json"), {}, b);
  EXPECT_GT(n, 250u);
  const std::map<std::string, std::string> pod = {{"k8s.pod.name", "kube-scheduler-minikube"}};
  const std::map<std::string, std::string> container = {
      {"k8s.pod.name", "kube-scheduler-minikube"}, {"k8s.container.name", "kube-scheduler"}};
  EXPECT_DOUBLE_EQ(*Value(r, "k8s.pod.cpu.usage", pod), 3620103e-9);
  EXPECT_DOUBLE_EQ(*Value(r, "k8s.pod.memory.usage", pod), 14290944);
  EXPECT_DOUBLE_EQ(*Value(r, "container.memory.working_set", container), 11640832);
  EXPECT_DOUBLE_EQ(*Value(r, "container.cpu.time", container), 4.560175707);
  // Limits 100m and 1G: usage / limit.
  EXPECT_DOUBLE_EQ(*Value(r, "k8s.container.memory_limit_utilization", container),
                   13701120 / 1e9);
  EXPECT_DOUBLE_EQ(*Value(r, "k8s.container.cpu_limit_utilization", container),
                   3438625e-9 / 0.1);
  EXPECT_DOUBLE_EQ(*Value(r, "k8s.pod.memory_limit_utilization", pod), 14290944 / 1e9);
  EXPECT_FALSE(Value(r, "k8s.container.memory_request_utilization", container).has_value());
  EXPECT_DOUBLE_EQ(*Value(r, "k8s.pod.network.io", pod, {{"direction", "receive"},
                                                          {"interface", "eth0"}}),
                   948305362);
  EXPECT_DOUBLE_EQ(*Value(r, "k8s.node.memory.working_set", {{"k8s.node.name", "minikube"}}),
                   1234567890);
  // A pod the /pods list does not know still gets its identity from the summary.
  EXPECT_EQ(ResourceAttr(r, "coredns-66bff467f8-szddj", "k8s.namespace.name"), "kube-system");
  EXPECT_EQ(ResourceAttr(r, "coredns-66bff467f8-szddj", "k8s.node.name"), "minikube");
  EXPECT_FALSE(Value(r, "k8s.pod.memory_limit_utilization",
                     {{"k8s.pod.name", "coredns-66bff467f8-szddj"}})
                   .has_value());
}

TEST(KubeletMetricsTest, AttributesWorkloadsLabelsRestartsAndCompositions) {
  MetricsRequest r;
  MetricBuilder b(&r, "test", 1'800'000'000'000'000'000);
  KubeletMetricsOptions o;
  o.composition = [](const json& pod) -> std::string {
    return pod["metadata"]["name"].get<std::string>().rfind("e2e-deployment-", 0) == 0 ? "comp-1"
                                                                                       : "";
  };
  AddKubeletMetrics(Testdata("nri-k8s-1.35-kubelet-stats-summary.json"),
                    Testdata("nri-k8s-1.35-kubelet-pods.json"), o, b);
  EXPECT_EQ(ResourceAttr(r, "coredns-7d764666f9-qdcxt", "k8s.deployment.name"), "coredns");
  EXPECT_EQ(ResourceAttr(r, "coredns-7d764666f9-qdcxt", "k8s.replicaset.name"),
            "coredns-7d764666f9");
  EXPECT_EQ(ResourceAttr(r, "coredns-7d764666f9-qdcxt", "k8s.pod.labels.k8s-app"), "kube-dns");
  EXPECT_EQ(ResourceAttr(r, "coredns-7d764666f9-qdcxt", "k8s-app"), "kube-dns");
  EXPECT_EQ(ResourceAttr(r, "coredns-7d764666f9-qdcxt", "krateo.io/composition-id"), "");
  EXPECT_EQ(ResourceAttr(r, "e2e-statefulset-0", "k8s.statefulset.name"), "e2e-statefulset");
  EXPECT_EQ(ResourceAttr(r, "e2e-deployment-79967c5968-8bnn8", "krateo.io/composition-id"),
            "comp-1");
  EXPECT_EQ(ResourceAttr(r, "e2e-deployment-79967c5968-8bnn8", "k8s.node.name"), "datagen-1-35");
  // coredns: memory limit 170Mi, no CPU limit.
  const std::map<std::string, std::string> coredns = {
      {"k8s.pod.name", "coredns-7d764666f9-qdcxt"}, {"k8s.container.name", "coredns"}};
  ASSERT_TRUE(Value(r, "k8s.container.memory_limit_utilization", coredns).has_value());
  EXPECT_GT(*Value(r, "k8s.container.memory_limit_utilization", coredns), 0);
  EXPECT_FALSE(Value(r, "k8s.container.cpu_limit_utilization", coredns).has_value());
  EXPECT_DOUBLE_EQ(*Value(r, "k8s.container.restarts", coredns), 0);
  if (auto v = Value(r, "k8s.container.restarts", {{"k8s.pod.name", "e2e-container-creating"},
                                                   {"k8s.container.name", "alpine"}})) {
    EXPECT_DOUBLE_EQ(*v, 2);
  }
}

TEST(PodLogRowTest, TagsAPodOnceAndEachRowWithItsContainer) {
  json coredns;
  const json pods = Testdata("nri-k8s-1.35-kubelet-pods.json");
  for (const json& p : pods.at("items")) {
    if (p["metadata"]["name"] == "coredns-7d764666f9-qdcxt") coredns = p;
  }
  ASSERT_TRUE(coredns.is_object());
  const agent::ContainerRef ref{.ns = "kube-system", .pod = "coredns-7d764666f9-qdcxt",
                                .uid = coredns["metadata"]["uid"], .container = "coredns",
                                .restart = 2};
  PodTags tags = TagsOf(ref, coredns);
  tags.composition_id = "comp-1";
  EXPECT_EQ(tags.workload, "coredns");
  agent::TailedEntry e{.ref = std::make_shared<const agent::ContainerRef>(ref),
                       .entry = {.time_unix_nano = 7, .stream = agent::Stream::kStderr,
                                 .text = "\x1b[31m[ERROR] plugin/errors: 2 timeout\x1b[0m"}};
  store::LogRow row = PodLogRow(e, tags, "krateo.io/composition-id", "/p/0.log");
  const std::map<std::string, std::string> r(row.resource_attributes.begin(),
                                             row.resource_attributes.end());
  EXPECT_EQ(r.at("k8s.deployment.name"), "coredns");
  EXPECT_EQ(r.at("k8s.replicaset.name"), "coredns-7d764666f9");
  EXPECT_EQ(r.at("k8s-app"), "kube-dns");
  EXPECT_EQ(r.at("k8s.pod.labels.k8s-app"), "kube-dns");
  EXPECT_EQ(r.at("k8s.container.name"), "coredns");
  EXPECT_EQ(r.at("k8s.container.restart_count"), "2");
  EXPECT_EQ(r.at("k8s.node.name"), "datagen-1-35");
  EXPECT_EQ(r.at("service.name"), "coredns");
  EXPECT_TRUE(std::is_sorted(row.resource_attributes.begin(), row.resource_attributes.end()));
  EXPECT_EQ(row.body, "[ERROR] plugin/errors: 2 timeout");
  EXPECT_EQ(row.severity_text, "ERROR");
  EXPECT_EQ(row.service_name, "coredns");
  const std::map<std::string, std::string> l(row.log_attributes.begin(), row.log_attributes.end());
  EXPECT_EQ(l.at("krateo.io/composition-id"), "comp-1");
  EXPECT_EQ(l.at("log.iostream"), "stderr");
  // A pod the API no longer knows: what its path says, the container as the service.
  row = PodLogRow(e, TagsOf(ref, json()), "krateo.io/composition-id", "/p/0.log");
  EXPECT_EQ(row.service_name, "coredns");
  EXPECT_EQ(row.resource_attributes.size(), 6u);  // container, restart, service, ns, pod, uid
}

TEST(KubeletMetricsTest, MalformedInputAddsWhatItCanAndNeverThrows) {
  for (const char* text : {"null", "[]", "{}", R"({"node":7,"pods":{}})",
                           R"({"pods":[{"podRef":7,"containers":[{"cpu":"x"}]}]})",
                           R"({"pods":[{"podRef":{"name":"p"},"containers":[{"name":"c",
                               "memory":{"usageBytes":-1}}]}]})"}) {
    MetricsRequest r;
    MetricBuilder b(&r, "test", 1);
    EXPECT_NO_THROW(AddKubeletMetrics(json::parse(text), json::parse(text), {}, b)) << text;
  }
}

TEST(HostMetricsTest, ReadsAProcTree) {
  kobs::testing::TempDir dir;
  std::filesystem::create_directories(dir.Sub("proc/net"));
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir.Sub("proc/" + name)) << text;
  };
  write("stat", "cpu  300 0 100 600 0 0 0 0 0 0\ncpu0 200 0 50 300 0 0 0 0 0 0\n"
                "cpu1 100 0 50 300 0 0 0 0 0 0\nintr 1 2\n");
  write("loadavg", "0.50 0.25 0.10 1/100 1234\n");
  write("meminfo", "MemTotal: 1000 kB\nMemFree: 200 kB\nBuffers: 100 kB\nCached: 200 kB\n"
                   "SReclaimable: 100 kB\n");
  write("net/dev", "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame "
                   "compressed multicast|bytes packets errs drop fifo colls carrier compressed\n"
                   "    lo: 9 9 0 0 0 0 0 0 9 9 0 0 0 0 0 0\n"
                   "  eth0: 1000 10 1 2 0 0 0 0 500 5 0 0 0 0 0 0\n");
  write("mounts", "/dev/root / ext4 rw 0 0\nproc /proc proc rw 0 0\n");
  MetricsRequest r;
  MetricBuilder b(&r, "test", 1);
  AddHostMetrics({.proc_root = dir.Sub("proc"), .node_name = "n1"}, b);
  const std::map<std::string, std::string> host = {{"host.name", "n1"}, {"k8s.node.name", "n1"}};
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  EXPECT_DOUBLE_EQ(*Value(r, "system.cpu.time", host, {{"cpu", "cpu1"}, {"state", "user"}}),
                   100 / hz);
  EXPECT_FALSE(Value(r, "system.cpu.time", host, {{"cpu", "cpu"}}).has_value());
  EXPECT_DOUBLE_EQ(*Value(r, "system.cpu.load_average.1m", host), 0.5);
  // used = total - free - buffers - (cached + sreclaimable) = 1000 - 200 - 100 - 300 kB
  EXPECT_DOUBLE_EQ(*Value(r, "system.memory.usage", host, {{"state", "used"}}), 400 * 1024);
  EXPECT_DOUBLE_EQ(*Value(r, "system.memory.utilization", host, {{"state", "free"}}), 0.2);
  EXPECT_DOUBLE_EQ(*Value(r, "system.network.io", host, {{"device", "eth0"}, {"direction", "transmit"}}),
                   500);
  EXPECT_DOUBLE_EQ(*Value(r, "system.network.errors", host, {{"device", "eth0"}, {"direction", "receive"}}),
                   1);
  EXPECT_FALSE(Value(r, "system.network.io", host, {{"device", "lo"}}).has_value());
  // statvfs of the real root, under the fake device name.
  EXPECT_TRUE(Value(r, "system.filesystem.utilization", host, {}).has_value());
}

TEST(HostMetricsTest, ReadsThisMachine) {
  MetricsRequest r;
  MetricBuilder b(&r, "test", 1);
  AddHostMetrics({.node_name = "here"}, b);
  const std::map<std::string, std::string> host = {{"host.name", "here"}};
  EXPECT_GT(*Value(r, "system.memory.usage", host, {{"state", "used"}}), 0);
  EXPECT_GT(*Value(r, "system.cpu.time", host, {{"cpu", "cpu0"}, {"state", "idle"}}), 0);
}

TEST(ClusterMetricsTest, NodesDeploymentsAndPods) {
  const json nodes = json::parse(R"({"items":[{"metadata":{"name":"n1","uid":"u1"},"status":{
      "allocatable":{"cpu":"3500m","memory":"8Gi","pods":"110"},
      "conditions":[{"type":"Ready","status":"True"},{"type":"MemoryPressure","status":"False"},
                    {"type":"DiskPressure","status":"Unknown"}]}}]})");
  const json deployments = json::parse(R"({"items":[{"metadata":{"name":"web","namespace":"a",
      "uid":"d1","labels":{"krateo.io/composition-id":"c-9"}},"spec":{"replicas":3},
      "status":{"availableReplicas":2}}]})");
  const json pods = json::parse(R"({"items":[{"metadata":{"name":"p","namespace":"a","uid":"p1"},
      "spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":"500m","memory":"64Mi"}}}]},
      "status":{"phase":"Running","containerStatuses":[{"name":"c","ready":true,"restartCount":4}]}}]})");
  MetricsRequest r;
  MetricBuilder b(&r, "test", 1);
  AddClusterMetrics(nodes, deployments, pods, "krateo.io/composition-id", b);
  const std::map<std::string, std::string> n1 = {{"k8s.node.name", "n1"}};
  EXPECT_EQ(*Value(r, "k8s.node.condition_ready", n1), 1);
  EXPECT_EQ(*Value(r, "k8s.node.condition_memory_pressure", n1), 0);
  EXPECT_EQ(*Value(r, "k8s.node.condition_disk_pressure", n1), -1);
  EXPECT_FALSE(Value(r, "k8s.node.condition_pid_pressure", n1).has_value());
  EXPECT_DOUBLE_EQ(*Value(r, "k8s.node.allocatable_cpu", n1), 3.5);
  EXPECT_DOUBLE_EQ(*Value(r, "k8s.node.allocatable_memory", n1), 8.0 * (1 << 30));
  const std::map<std::string, std::string> web = {{"k8s.deployment.name", "web"},
                                                  {"krateo.io/composition-id", "c-9"}};
  EXPECT_EQ(*Value(r, "k8s.deployment.desired", web), 3);
  EXPECT_EQ(*Value(r, "k8s.deployment.available", web), 2);
  EXPECT_EQ(*Value(r, "k8s.pod.phase", {{"k8s.pod.name", "p"}}), 2);
  const std::map<std::string, std::string> c = {{"k8s.pod.name", "p"}, {"k8s.container.name", "c"}};
  EXPECT_EQ(*Value(r, "k8s.container.ready", c), 1);
  EXPECT_DOUBLE_EQ(*Value(r, "k8s.container.cpu_limit", c), 0.5);
  EXPECT_DOUBLE_EQ(*Value(r, "k8s.container.memory_limit", c), 64.0 * (1 << 20));
  EXPECT_FALSE(Value(r, "k8s.container.memory_request", c).has_value());
}

}  // namespace
}  // namespace kobs::collect
