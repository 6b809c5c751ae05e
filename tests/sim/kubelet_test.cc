// The simulated kubelet as kubectl and log collectors see it: OOM kills from a container's
// memory profile (and their remedy, a higher limit), probes, generated logs in CRI files,
// the Summary API and node conditions. Time runs 20x faster (the fixture's time factor).
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kubectl_fixture.h"
#include "sim/container_profile.h"

namespace kobs::sim {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;

using KubeletTest = KubectlClusterTest;

constexpr char kLeaky[] = R"(apiVersion: apps/v1
kind: Deployment
metadata: {name: leaky}
spec:
  replicas: 1
  selector: {matchLabels: {app: leaky}}
  template:
    metadata:
      labels: {app: leaky}
      annotations:
        sim.kobs.dev/profile: |
          app: {memory: 40Mi, memoryGrowth: 20Mi}
    spec:
      containers:
      - name: app
        image: registry.example.com/leaky:2.1
        command: ["/app/server"]
        resources:
          limits: {memory: 64Mi}
)";

TEST_F(KubeletTest, MemoryPastTheLimitIsOomKilledUntilTheLimitIsRaised) {
  ASSERT_EQ(Kubectl("apply -f -", kLeaky).code, 0);
  // 40Mi growing 20Mi/s against 64Mi: killed every 1.2 simulated seconds once running.
  std::string out = WaitFor("get pods -l app=leaky", "OOMKilled");
  EXPECT_THAT(out, HasSubstr("OOMKilled"));
  out = WaitFor("get pods -l app=leaky", "CrashLoopBackOff");
  EXPECT_THAT(out, HasSubstr("CrashLoopBackOff"));
  json pods = Json("get pods -l app=leaky");
  ASSERT_EQ(pods["items"].size(), 1u);
  json st = pods["items"][0]["status"]["containerStatuses"][0];
  EXPECT_GE(st["restartCount"].get<int>(), 1);
  EXPECT_EQ(st["lastState"]["terminated"]["reason"], "OOMKilled");
  EXPECT_EQ(st["lastState"]["terminated"]["exitCode"], 137);
  // The node's kernel OOM event, as node-problem-detector reports it.
  json events = Json("get events --field-selector reason=OOMKilling");
  ASSERT_FALSE(events["items"].empty());
  json e = events["items"][0];
  EXPECT_EQ(e["involvedObject"]["kind"], "Node");
  EXPECT_EQ(e["type"], "Warning");
  EXPECT_EQ(e["source"]["component"], "kernel-monitor");
  EXPECT_THAT(e["message"].get<std::string>(),
              AllOf(HasSubstr("Memory cgroup out of memory: Kill process"), HasSubstr("(server)"),
                    HasSubstr("Killed process"), HasSubstr("anon-rss:")));

  // The remedy: a limit above what it uses. The new pod keeps running.
  ASSERT_EQ(Kubectl("patch deployment leaky -p "
                    "'{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{\"sim.kobs.dev/"
                    "profile\":\"app: {memory: 40Mi}\"}},\"spec\":{\"containers\":[{\"name\":"
                    "\"app\",\"resources\":{\"limits\":{\"memory\":\"256Mi\"}}}]}}}}'")
                .code,
            0);
  Result status = Kubectl("rollout status deployment/leaky --timeout=60s");
  EXPECT_EQ(status.code, 0) << status.out;
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // 10 simulated seconds
  pods = Json("get pods -l app=leaky --field-selector status.phase=Running");
  ASSERT_EQ(pods["items"].size(), 1u) << pods.dump();
  json fixed = pods["items"][0]["status"]["containerStatuses"][0];
  EXPECT_EQ(fixed["restartCount"], 0);
  EXPECT_TRUE(fixed["state"].contains("running"));
}

TEST_F(KubeletTest, ProbesClearReadinessAndRestartOnLivenessFailure) {
  ASSERT_EQ(Kubectl("apply -f -", R"(apiVersion: v1
kind: Pod
metadata: {name: probed}
spec:
  containers:
  - name: web
    image: nginx:1.27
    ports: [{name: http, containerPort: 80}]
    readinessProbe:
      exec: {command: ["sh", "-c", "echo 'not ready: cache cold'; exit 1"]}
      periodSeconds: 1
    livenessProbe:
      httpGet: {path: /healthz, port: 8080}
      periodSeconds: 1
      failureThreshold: 2
  - name: ok
    image: nginx:1.27
    ports: [{name: http, containerPort: 80}]
    readinessProbe:
      httpGet: {path: /, port: http}
      periodSeconds: 1
)").code,
            0);
  std::string out = WaitFor("get events --field-selector involvedObject.name=probed", "Killing");
  EXPECT_THAT(out, AllOf(HasSubstr("Unhealthy"), HasSubstr("Readiness probe failed: not ready: "
                                                           "cache cold"),
                         HasSubstr("Container web failed liveness probe, will be restarted")));
  json events = Json("get events --field-selector involvedObject.name=probed,reason=Unhealthy");
  bool liveness = false;
  for (json e : events["items"]) {
    const std::string m = e["message"].get<std::string>();
    if (m.find("Liveness probe failed: Get \"http://10.244.") != std::string::npos) {
      liveness = true;
      EXPECT_THAT(m, AllOf(HasSubstr(":8080/healthz\": dial tcp 10.244."),
                           HasSubstr(":8080: connect: connection refused")));
      EXPECT_EQ(e["type"], "Warning");
      EXPECT_EQ(e["involvedObject"]["fieldPath"], "spec.containers{web}");
    }
  }
  EXPECT_TRUE(liveness) << events.dump(1);
  json pod;
  for (int i = 0; i < 100; ++i) {
    pod = Json("get pod probed");
    if (pod["status"]["containerStatuses"][0]["restartCount"].get<int>() >= 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  json web = pod["status"]["containerStatuses"][0];
  json ok = pod["status"]["containerStatuses"][1];
  EXPECT_GE(web["restartCount"].get<int>(), 1);
  EXPECT_FALSE(web["ready"].get<bool>());
  EXPECT_TRUE(ok["ready"].get<bool>());
  EXPECT_EQ(ok["restartCount"], 0);
  EXPECT_THAT(Kubectl("get pod probed").out, HasSubstr("1/2"));
}

TEST_F(KubeletTest, ProfileLogsReachKubectlAndCriFilesWithLongLinesSplit) {
  std::string long_word(20000, 'x');
  ASSERT_EQ(Kubectl("apply -f -", R"(apiVersion: v1
kind: Pod
metadata:
  name: shop
  annotations:
    sim.kobs.dev/profile: |
      app: {logs: java, logRate: 40, cpu: 250m, memory: 96Mi}
spec:
  containers:
  - name: app
    image: shop:1.0
    command: ["sh", "-c", "echo -e '\\033[32mready\\033[0m'; echo )" +
                                         long_word + R"(; sleep infinity"]
)").code,
            0);
  std::string logs = WaitFor("logs shop", "java.lang.NullPointerException");
  EXPECT_THAT(logs, AllOf(HasSubstr("\x1b[32mready\x1b[0m"), HasSubstr("INFO 1 --- ["),
                          HasSubstr("\tat com.example.shop.OrderService.total(")));

  // The kubelet's file: <dir>/<ns>_<pod>_<uid>/<container>/0.log in CRI format.
  json pod = Json("get pod shop");
  std::string uid = pod["metadata"]["uid"];
  std::string path = server_->log_dir() + "/default_shop_" + uid + "/app/0.log";
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  std::ifstream in(path);
  std::string line;
  std::regex cri(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z stdout [PF] .*$)");
  int lines = 0, partial = 0;
  size_t long_total = 0;
  while (std::getline(in, line)) {
    ++lines;
    EXPECT_TRUE(std::regex_match(line, cri)) << line.substr(0, 200);
    if (line.find(" stdout P ") != std::string::npos) ++partial;
    if (line.find("xxxx") != std::string::npos) long_total += line.size() - 40;
  }
  EXPECT_GT(lines, 10);
  EXPECT_EQ(partial, 1);  // 20000 bytes: one 16 KiB P part, then F
  EXPECT_EQ(long_total, long_word.size());

  // The Summary API through the API server's node proxy.
  json summary =
      json::parse(Kubectl("get --raw /api/v1/nodes/sim-node-1/proxy/stats/summary").out, nullptr,
                  false);
  ASSERT_TRUE(summary.is_object());
  EXPECT_EQ(summary["node"]["nodeName"], "sim-node-1");
  bool found = false;
  for (json p : summary["pods"]) {
    if (p["podRef"]["name"] != "shop") continue;
    found = true;
    json c = p["containers"][0];
    EXPECT_EQ(c["name"], "app");
    EXPECT_EQ(c["cpu"]["usageNanoCores"], 250000000);
    EXPECT_EQ(c["memory"]["workingSetBytes"], 96 << 20);
    EXPECT_GT(c["logs"]["usedBytes"].get<int64_t>(), 20000);
    EXPECT_GT(c["cpu"]["usageCoreNanoSeconds"].get<int64_t>(), 0);
  }
  EXPECT_TRUE(found) << summary.dump(1);
  // The kubelet's /pods.
  json kubelet_pods =
      json::parse(Kubectl("get --raw /api/v1/nodes/sim-node-1/proxy/pods").out, nullptr, false);
  EXPECT_EQ(kubelet_pods["kind"], "PodList");
  EXPECT_THAT(Kubectl("get --raw /api/v1/nodes/other/proxy/stats/summary").out,
              HasSubstr("NotFound"));

  // Deleting the pod removes its log directory.
  ASSERT_EQ(Kubectl("delete pod shop --wait=true").code, 0);
  for (int i = 0; i < 50 && std::filesystem::exists(path); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(KubeletTest, AMistypedProfileIsReportedOnThePod) {
  ASSERT_EQ(Kubectl("apply -f -", R"(apiVersion: v1
kind: Pod
metadata:
  name: typo
  annotations:
    sim.kobs.dev/profile: |
      app: {memroy: 1Gi}
spec:
  containers: [{name: app, image: busybox:1.36, command: ["sleep", "infinity"]}]
)").code,
            0);
  std::string out = WaitFor("get events --field-selector involvedObject.name=typo",
                            "InvalidProfile");
  EXPECT_THAT(out, AllOf(HasSubstr("app.memroy: unknown field"), HasSubstr("sim.kobs.dev/profile")));
  EXPECT_THAT(WaitFor("get pod typo", "Running"), HasSubstr("Running"));
}

class SmallNodeTest : public KubeletTest {
 protected:
  void SetUp() override {
    node_memory_ = int64_t{1} << 30;
    KubeletTest::SetUp();
  }
};

TEST_F(SmallNodeTest, MemoryPressureFollowsWhatContainersUse) {
  auto condition = [&](const std::string& type) {
    json node = Json("get node sim-node-1");
    for (const json& c : node["status"]["conditions"]) {
      if (c["type"] == type) return c["status"].get<std::string>();
    }
    return std::string("absent");
  };
  EXPECT_EQ(condition("MemoryPressure"), "False");
  EXPECT_EQ(condition("Ready"), "True");
  // 1Gi node, 600Mi for the system: 400Mi more leaves less than the 100Mi threshold.
  ASSERT_EQ(Kubectl("apply -f -", R"(apiVersion: v1
kind: Pod
metadata:
  name: hog
  annotations: {sim.kobs.dev/profile: "hog: {memory: 400Mi}"}
spec:
  containers: [{name: hog, image: busybox:1.36, command: ["sleep", "infinity"]}]
)").code,
            0);
  std::string status;
  for (int i = 0; i < 60 && (status = condition("MemoryPressure")) != "True"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(status, "True");
  EXPECT_THAT(Kubectl("describe node sim-node-1").out,
              AllOf(HasSubstr("KubeletHasInsufficientMemory"),
                    HasSubstr("NodeHasInsufficientMemory")));
  ASSERT_EQ(Kubectl("delete pod hog").code, 0);
  for (int i = 0; i < 60 && (status = condition("MemoryPressure")) != "False"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(status, "False");
}

class MissingImageTest : public KubeletTest {
 protected:
  void SetUp() override {
    missing_images_ = {"registry.example.com/private/app"};
    KubeletTest::SetUp();
  }
};

TEST_F(MissingImageTest, ConfiguredImagesFailToPull) {
  ASSERT_EQ(Kubectl("apply -f -", R"(apiVersion: v1
kind: Pod
metadata: {name: private}
spec:
  containers: [{name: app, image: "registry.example.com/private/app:1.0"}]
---
apiVersion: v1
kind: Pod
metadata: {name: public}
spec:
  containers: [{name: app, image: "registry.example.com/public/app:1.0"}]
)").code,
            0);
  EXPECT_THAT(WaitFor("get pod private", "ImagePullBackOff"), HasSubstr("ImagePullBackOff"));
  EXPECT_THAT(WaitFor("get pod public", "Running"), HasSubstr("Running"));
  EXPECT_THAT(Kubectl("get events --field-selector involvedObject.name=private").out,
              AllOf(HasSubstr("Failed to pull image \"registry.example.com/private/app:1.0\""),
                    HasSubstr("Error: ErrImagePull"), HasSubstr("Back-off pulling image")));
}

TEST(ContainerProfileTest, QuantitiesDurationsAndErrors) {
  EXPECT_EQ(*ParseQuantityMilli("250m"), 250);
  EXPECT_EQ(*ParseQuantityMilli("64Mi"), (int64_t{64} << 20) * 1000);
  EXPECT_EQ(*ParseQuantityMilli("1.5G"), int64_t{1500000000} * 1000);
  EXPECT_EQ(*ParseQuantityMilli("2"), 2000);
  EXPECT_EQ(*ParseQuantityMilli("1e3"), 1000000);
  EXPECT_FALSE(ParseQuantityMilli("12Q").ok());
  EXPECT_FALSE(ParseQuantityMilli("").ok());
  EXPECT_FALSE(ParseQuantityMilli("Mi").ok());
  EXPECT_EQ(ParseDuration("1.5s")->count(), 1500);
  EXPECT_EQ(ParseDuration("5m")->count(), 300000);
  EXPECT_EQ(ParseDuration("250ms")->count(), 250);
  EXPECT_FALSE(ParseDuration("soon").ok());

  json pod = {{"metadata",
               {{"annotations",
                 {{"sim.kobs.dev/profile",
                   "'*': {cpu: 100m}\napp: {memory: 1Gi, memoryGrowth: 1Mi, logs: web, "
                   "healthyFor: 30s}\n"}}}}}};
  auto profiles = ParseProfiles(pod);
  ASSERT_TRUE(profiles.ok()) << profiles.status();
  ContainerProfile app = ProfileFor(*profiles, "app");
  EXPECT_EQ(app.memory_bytes, int64_t{1} << 30);
  EXPECT_EQ(app.memory_growth_per_second, 1 << 20);
  EXPECT_EQ(app.log_rate, 1);
  EXPECT_EQ(app.healthy_for->count(), 30000);
  EXPECT_EQ(ProfileFor(*profiles, "sidecar").cpu_millicores, 100);
  std::vector<std::string> web = GenerateLogLines(app, "app", 7);
  ASSERT_EQ(web.size(), 1u);
  EXPECT_THAT(web[0], HasSubstr(" HTTP/1.1\" "));
  for (const char* bad : {"app: {logs: fancy}", "app: [1]", "app: {memory: lots}",
                          "app: {logRate: -1}", "app: {lines: []}", "- a"}) {
    json p = {{"metadata", {{"annotations", {{"sim.kobs.dev/profile", bad}}}}}};
    EXPECT_FALSE(ParseProfiles(p).ok()) << bad;
  }
}

}  // namespace
}  // namespace kobs::sim
