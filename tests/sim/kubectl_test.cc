// The real kubectl against the simulated API server: the commands a user runs, over HTTPS
// with the kubeconfig the server writes, checking kubectl's own output.
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/metrics.h"
#include "sim/api.h"
#include "sim/pod_logs.h"
#include "sim/sim_server.h"
#include "status_matchers.h"
#include "temp_dir.h"
#include "kubectl_fixture.h"

namespace kobs::sim {
namespace {

using ::kobs::testing::IsOk;
using ::kobs::testing::StatusIs;

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;

constexpr char kDeployment[] = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        env: [{name: MODE, value: blue}]
)";

constexpr char kPod[] = R"(apiVersion: v1
kind: Pod
metadata:
  name: api-0
  labels: {app: api, tier: backend}
spec:
  containers:
  - {name: main, image: busybox:1.36}
  - {name: sidecar, image: envoy:1.30}
)";

TEST_F(KubectlTest, DiscoveryNamespacesAndVersion) {
  Result r = Kubectl("get namespaces");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, AllOf(HasSubstr("NAME"), HasSubstr("STATUS"), HasSubstr("default"),
                           HasSubstr("kube-system"), HasSubstr("Active")));
  r = Kubectl("api-resources");
  EXPECT_THAT(r.out, AllOf(HasSubstr("deployments"), HasSubstr("deploy"), HasSubstr("apps/v1"),
                           HasSubstr("leases"), HasSubstr("customresourcedefinitions")));
  r = Kubectl("version -o json");
  EXPECT_THAT(r.out, HasSubstr("v1.32.0-kobs-sim"));
}

TEST_F(KubectlTest, ApplyGetPatchScaleRestartDelete) {
  Result r = Kubectl("apply -f -", kDeployment);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("deployment.apps/web created"));
  r = Kubectl("apply -f -", kDeployment);
  EXPECT_THAT(r.out, HasSubstr("deployment.apps/web unchanged"));

  r = Kubectl("get deployments -o wide");
  EXPECT_THAT(r.out, AllOf(HasSubstr("READY"), HasSubstr("UP-TO-DATE"), HasSubstr("IMAGES"),
                           HasSubstr("nginx:1.27"), HasSubstr("app=web")));
  json d = Json("get deployment web");
  EXPECT_EQ(d["spec"]["replicas"], 2);
  EXPECT_EQ(d["metadata"]["generation"], 1);
  EXPECT_FALSE(d["metadata"]["uid"].get<std::string>().empty());

  // Strategic merge (kubectl's default): the container is merged by name, env kept.
  r = Kubectl(R"(patch deployment web -p '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.28"}]}}}}')");
  EXPECT_THAT(r.out, HasSubstr("deployment.apps/web patched"));
  d = Json("get deployment web");
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.28");
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"], "blue");
  EXPECT_EQ(d["metadata"]["generation"], 2);
  // JSON merge patch and JSON patch.
  r = Kubectl(R"(patch deployment web --type merge -p '{"metadata":{"labels":{"team":"a"}}}')");
  EXPECT_EQ(r.code, 0) << r.out;
  r = Kubectl(
      R"(patch deployment web --type json -p '[{"op":"replace","path":"/spec/template/spec/containers/0/env/0/value","value":"green"}]')");
  EXPECT_EQ(r.code, 0) << r.out;
  d = Json("get deployment web");
  EXPECT_EQ(d["metadata"]["labels"]["team"], "a");
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"], "green");
  // A failing JSON patch test is refused (422) and changes nothing.
  r = Kubectl(R"(patch deployment web --type json -p '[{"op":"test","path":"/spec/replicas","value":9}]')");
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("test failed"));

  r = Kubectl("scale deployment web --replicas=5");
  EXPECT_THAT(r.out, HasSubstr("deployment.apps/web scaled"));
  EXPECT_EQ(Json("get deployment web")["spec"]["replicas"], 5);
  r = Kubectl("rollout restart deployment web");
  EXPECT_THAT(r.out, HasSubstr("deployment.apps/web restarted"));
  d = Json("get deployment web");
  EXPECT_TRUE(d["spec"]["template"]["metadata"]["annotations"].contains(
      "kubectl.kubernetes.io/restartedAt"));

  r = Kubectl("get deployment web -o yaml");
  EXPECT_THAT(r.out, AllOf(HasSubstr("kind: Deployment"), HasSubstr("replicas: 5")));

  r = Kubectl("delete deployment web");
  EXPECT_THAT(r.out, HasSubstr("deployment.apps \"web\" deleted"));
  r = Kubectl("get deployment web");
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("Error from server (NotFound): deployments.apps \"web\" not found"));
}

TEST_F(KubectlTest, PodsLabelSelectorsDescribeAndEvents) {
  ASSERT_EQ(Kubectl("apply -f -", kPod).code, 0);
  Result r = Kubectl("get pods");
  EXPECT_THAT(r.out, AllOf(HasSubstr("READY"), HasSubstr("STATUS"), HasSubstr("RESTARTS"),
                           HasSubstr("api-0"), HasSubstr("0/2"), HasSubstr("Pending")));
  EXPECT_THAT(Kubectl("get pods -l tier=backend").out, HasSubstr("api-0"));
  EXPECT_THAT(Kubectl("get pods -l 'tier in (frontend)'").out, Not(HasSubstr("api-0")));
  EXPECT_THAT(Kubectl("get pods -l '!tier'").out, Not(HasSubstr("api-0")));

  json pod = Json("get pod api-0");
  std::string uid = pod["metadata"]["uid"];
  json event = {{"apiVersion", "v1"},
                {"kind", "Event"},
                {"metadata", {{"name", "api-0.17a"}, {"namespace", "default"}}},
                {"involvedObject",
                 {{"kind", "Pod"}, {"name", "api-0"}, {"namespace", "default"}, {"uid", uid},
                  {"apiVersion", "v1"}}},
                {"reason", "BackOff"},
                {"message", "Back-off restarting failed container main"},
                {"type", "Warning"},
                {"count", 4},
                {"firstTimestamp", "2026-01-01T00:00:00Z"},
                {"lastTimestamp", "2026-01-01T00:01:00Z"},
                {"source", {{"component", "kubelet"}, {"host", "node-1"}}}};
  ASSERT_EQ(Kubectl("create -f -", event.dump()).code, 0);
  r = Kubectl("describe pod api-0");
  EXPECT_THAT(r.out, AllOf(HasSubstr("Name:"), HasSubstr("api-0"), HasSubstr("busybox:1.36"),
                           HasSubstr("BackOff"), HasSubstr("Back-off restarting failed")));
  r = Kubectl("get events");
  EXPECT_THAT(r.out, AllOf(HasSubstr("LAST SEEN"), HasSubstr("REASON"), HasSubstr("OBJECT"),
                           HasSubstr("pod/api-0"), HasSubstr("BackOff")));
  // The events.k8s.io/v1 view of the same event.
  json v1 = Json("get events.v1.events.k8s.io api-0.17a");
  EXPECT_EQ(v1["note"], "Back-off restarting failed container main");
  EXPECT_EQ(v1["regarding"]["name"], "api-0");
  EXPECT_EQ(v1["deprecatedCount"], 4);

  ASSERT_EQ(Kubectl("apply -f -", kDeployment).code, 0);
  r = Kubectl("describe deployment web");
  EXPECT_THAT(r.out, AllOf(HasSubstr("Replicas:"), HasSubstr("nginx:1.27"),
                           HasSubstr("RollingUpdate")));
}

TEST_F(KubectlTest, WatchEventsAsTheyHappen) {
  Result watch;
  std::thread t = Background("get events -w", 4, &watch);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  json event = {{"apiVersion", "v1"},
                {"kind", "Event"},
                {"metadata", {{"name", "w.1"}, {"namespace", "default"}}},
                {"involvedObject", {{"kind", "Pod"}, {"name", "watched"}, {"namespace", "default"}}},
                {"reason", "Unhealthy"},
                {"message", "Liveness probe failed"},
                {"type", "Warning"},
                {"lastTimestamp", "2026-01-01T00:01:00Z"}};
  ASSERT_EQ(Kubectl("create -f -", event.dump()).code, 0);
  t.join();
  EXPECT_THAT(watch.out, AllOf(HasSubstr("Unhealthy"), HasSubstr("pod/watched"),
                               HasSubstr("Liveness probe failed")));
}

TEST_F(KubectlTest, Logs) {
  ASSERT_EQ(Kubectl("apply -f -", kPod).code, 0);
  for (int i = 1; i <= 5; ++i) {
    server_->logs().Append("default", "api-0", "main", "line " + std::to_string(i));
  }
  server_->logs().Append("default", "api-0", "sidecar", "envoy started");
  Result r = Kubectl("logs api-0 -c main");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "line 1\nline 2\nline 3\nline 4\nline 5\n");
  EXPECT_EQ(Kubectl("logs api-0 -c main --tail=2").out, "line 4\nline 5\n");
  EXPECT_EQ(Kubectl("logs api-0 -c sidecar").out, "envoy started\n");
  EXPECT_THAT(Kubectl("logs api-0 -c main --timestamps --tail=1").out,
              ::testing::MatchesRegex("[0-9-]+T[0-9:.]+Z line 5\n"));
  r = Kubectl("logs api-0 -c nope");
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("container nope is not valid for pod api-0"));
  r = Kubectl("logs api-0 -c main --previous");
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("previous terminated container"));
}

TEST_F(KubectlTest, CustomResourcesAfterTheirDefinition) {
  constexpr char kCrd[] = R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: compositions.core.krateo.io
spec:
  group: core.krateo.io
  scope: Namespaced
  names: {kind: Composition, plural: compositions, singular: composition, shortNames: [comp]}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Ready, type: string, jsonPath: '.status.conditions[0].status'}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
)";
  Result r = Kubectl("apply -f -", kCrd);
  ASSERT_EQ(r.code, 0) << r.out;
  r = Kubectl("apply -f -", R"(apiVersion: core.krateo.io/v1alpha1
kind: Composition
metadata: {name: shop}
spec: {chart: shop, version: 1.0.0}
)");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("composition.core.krateo.io/shop created"));
  r = Kubectl("get comp");
  EXPECT_THAT(r.out, AllOf(HasSubstr("READY"), HasSubstr("shop")));
  r = Kubectl(R"(patch composition shop --type merge -p '{"spec":{"version":"1.1.0"}}')");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(Json("get composition shop")["spec"]["version"], "1.1.0");
  // Strategic merge is refused for custom resources, as on a real server.
  r = Kubectl(R"(patch composition shop --type strategic -p '{"spec":{"version":"2"}}')");
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("is not supported"));
  ASSERT_EQ(Kubectl("delete crd compositions.core.krateo.io").code, 0);
  r = Kubectl("get compositions.core.krateo.io");
  EXPECT_NE(r.code, 0);
}

TEST_F(KubectlTest, GarbageCollectionOfOwnedObjects) {
  ASSERT_EQ(Kubectl("apply -f -", kDeployment).code, 0);
  json d = Json("get deployment web");
  json rs = {{"apiVersion", "apps/v1"},
             {"kind", "ReplicaSet"},
             {"metadata",
              {{"name", "web-7d4b9"},
               {"labels", {{"app", "web"}}},
               {"ownerReferences",
                {{{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", "web"},
                  {"uid", d["metadata"]["uid"]}, {"controller", true},
                  {"blockOwnerDeletion", true}}}}}},
             {"spec",
              {{"replicas", 2},
               {"selector", {{"matchLabels", {{"app", "web"}}}}},
               {"template", d["spec"]["template"]}}}};
  ASSERT_EQ(Kubectl("create -f -", rs.dump()).code, 0);
  EXPECT_THAT(Kubectl("get rs").out, HasSubstr("web-7d4b9"));
  // Background propagation (kubectl's default): the owner goes at once, then its dependents.
  ASSERT_EQ(Kubectl("delete deployment web").code, 0);
  std::string out;
  for (int i = 0; i < 50; ++i) {
    out = Kubectl("get rs").out;
    if (out.find("web-7d4b9") == std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_THAT(out, Not(HasSubstr("web-7d4b9")));
}

TEST_F(KubectlTest, AuthenticationAndPlainHttp) {
  Result r = Kubectl("--token=wrong get namespaces");
  EXPECT_NE(r.code, 0);
  // The wording depends on whether kubectl has discovery cached.
  EXPECT_THAT(r.out, ::testing::AnyOf(HasSubstr("provide credentials"), HasSubstr("Unauthorized")));
  // Plain HTTP (kubectl sends no token there): no authentication.
  MetricsRegistry metrics;
  auto plain = SimServer::Create(
      {.port = 0, .tls = false, .dir = dir_.Sub("plain"), .persist = false}, metrics);
  ASSERT_THAT(plain, IsOk());
  ASSERT_THAT((*plain)->Start(), IsOk());
  EXPECT_THAT((*plain)->server_url(), ::testing::StartsWith("http://"));
  FILE* p = popen(("KUBECONFIG=" + (*plain)->kubeconfig_path() + " kubectl get ns 2>&1").c_str(),
                  "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  EXPECT_EQ(pclose(p), 0) << out;
  EXPECT_THAT(out, HasSubstr("kube-system"));
  (*plain)->Stop();
}

TEST_F(KubectlTest, StateSurvivesARestart) {
  ASSERT_EQ(Kubectl("apply -f -", kDeployment).code, 0);
  ASSERT_EQ(Kubectl("apply -f -", "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n").code,
            0);
  json before = Json("get deployment web");
  server_->Stop();
  server_.reset();
  Start();
  json after = Json("get deployment web");
  EXPECT_EQ(after["metadata"]["uid"], before["metadata"]["uid"]);
  EXPECT_EQ(after["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"]);
  EXPECT_THAT(Kubectl("get namespaces").out, HasSubstr("shop"));
  // New writes continue the resourceVersion sequence.
  ASSERT_EQ(Kubectl("scale deployment web --replicas=3").code, 0);
  EXPECT_GT(std::stoull(Json("get deployment web")["metadata"]["resourceVersion"].get<std::string>()),
            std::stoull(before["metadata"]["resourceVersion"].get<std::string>()));
}

}  // namespace
}  // namespace kobs::sim

namespace kobs::sim {
namespace {

// Pod lines of `kubectl get pods -l app=web` whose STATUS column is `status`.
int CountPods(const std::string& out, const std::string& status) {
  int n = 0;
  size_t at = 0;
  while ((at = out.find(" " + status + " ", at)) != std::string::npos) {
    ++n;
    at += status.size();
  }
  return n;
}

TEST_F(KubectlClusterTest, DeploymentRollsOutBreaksAndRollsBack) {
  ASSERT_EQ(Kubectl("apply -f -", kDeployment).code, 0);
  Result r = Kubectl("rollout status deployment/web --timeout=30s");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("deployment \"web\" successfully rolled out"));
  r = Kubectl("get pods -l app=web");
  EXPECT_EQ(CountPods(r.out, "Running"), 2) << r.out;
  EXPECT_THAT(r.out, HasSubstr("1/1"));
  r = Kubectl("get rs");
  EXPECT_THAT(r.out, ::testing::ContainsRegex("web-[a-z0-9]+ +2 +2 +2"));
  r = Kubectl("get events");
  EXPECT_THAT(r.out, AllOf(HasSubstr("ScalingReplicaSet"), HasSubstr("SuccessfulCreate"),
                           HasSubstr("Scheduled"), HasSubstr("Started")));

  // A rollout to an image that does not exist: the new pods cannot pull, the old ones stay.
  r = Kubectl("set image deployment/web nginx=nginx:nonexistent");
  ASSERT_EQ(r.code, 0) << r.out;
  std::string pods;
  for (int i = 0; i < 100; ++i) {
    pods = Kubectl("get pods -l app=web").out;
    if (pods.find("ImagePullBackOff") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_THAT(pods, HasSubstr("ImagePullBackOff"));
  EXPECT_EQ(CountPods(pods, "Running"), 2) << "maxUnavailable 25% of 2 keeps both old pods";
  r = Kubectl("rollout status deployment/web --timeout=2s");
  EXPECT_NE(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("Waiting for deployment \"web\" rollout to finish"));
  EXPECT_THAT(Kubectl("get events --field-selector reason=Failed").out,
              HasSubstr("Error: ErrImagePull"));

  r = Kubectl("rollout undo deployment/web");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("rolled back"));
  r = Kubectl("rollout status deployment/web --timeout=30s");
  ASSERT_EQ(r.code, 0) << r.out;
  for (int i = 0; i < 100; ++i) {
    pods = Kubectl("get pods -l app=web").out;
    if (pods.find("ImagePull") == std::string::npos && pods.find("ErrImage") == std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(CountPods(pods, "Running"), 2) << pods;
  EXPECT_THAT(pods, Not(HasSubstr("ImagePull")));
  json d = Json("get deployment web");
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.27");
  EXPECT_EQ(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "3");
}

TEST_F(KubectlClusterTest, ScaleAndRestartReplacePods) {
  ASSERT_EQ(Kubectl("apply -f -", kDeployment).code, 0);
  ASSERT_EQ(Kubectl("rollout status deployment/web --timeout=30s").code, 0);
  json before = Json("get pods -l app=web");
  ASSERT_EQ(Kubectl("scale deployment web --replicas=4").code, 0);
  ASSERT_EQ(Kubectl("rollout status deployment/web --timeout=30s").code, 0);
  EXPECT_EQ(CountPods(Kubectl("get pods -l app=web").out, "Running"), 4);
  ASSERT_EQ(Kubectl("rollout restart deployment/web").code, 0);
  Result r = Kubectl("rollout status deployment/web --timeout=30s");
  ASSERT_EQ(r.code, 0) << r.out;
  json after;
  for (int i = 0; i < 100; ++i) {
    after = Json("get pods -l app=web");
    if (after["items"].size() == 4) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(after["items"].size(), 4u);
  for (const json& old : before["items"]) {
    for (const json& now : after["items"]) {
      EXPECT_NE(old["metadata"]["name"], now["metadata"]["name"]) << "a pod survived the restart";
    }
  }
  // Deleting a pod of the Deployment gets a fresh one.
  std::string victim = after["items"][0]["metadata"]["name"];
  ASSERT_EQ(Kubectl("delete pod " + victim).code, 0);
  for (int i = 0; i < 100; ++i) {
    if (CountPods(Kubectl("get pods -l app=web").out, "Running") == 4) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  r = Kubectl("get pods -l app=web");
  EXPECT_EQ(CountPods(r.out, "Running"), 4) << r.out;
  EXPECT_THAT(r.out, Not(HasSubstr(victim)));
}

}  // namespace
}  // namespace kobs::sim

namespace kobs::sim {
namespace {

TEST_F(KubectlClusterTest, CrashingPodLoopsWithBackOffAndKeepsItsLogs) {
  ASSERT_EQ(Kubectl("apply -f -", R"(apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  containers:
  - name: app
    image: busybox:1.36
    command: ["sh", "-c", "echo starting; echo 'config missing: /etc/app.yaml'; sleep 2; exit 3"]
)").code,
            0);
  std::string out;
  for (int i = 0; i < 150; ++i) {
    out = Kubectl("get pod crasher").out;
    if (out.find("CrashLoopBackOff") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_THAT(out, HasSubstr("CrashLoopBackOff"));
  // Between an exit and the restart the status shows the termination itself, and lastState
  // only once the container ran again: wait for a status in back-off.
  json pod;
  for (int i = 0; i < 100; ++i) {
    pod = Json("get pod crasher");
    json& cs = pod["status"]["containerStatuses"][0];
    if (cs.contains("lastState") && cs["state"].contains("waiting")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  json st = pod["status"]["containerStatuses"][0];
  ASSERT_TRUE(st.contains("lastState")) << st.dump();
  EXPECT_GE(st["restartCount"].get<int>(), 1);
  EXPECT_EQ(st["lastState"]["terminated"]["exitCode"], 3);
  EXPECT_EQ(st["lastState"]["terminated"]["reason"], "Error");
  EXPECT_THAT(st["state"]["waiting"]["message"].get<std::string>(),
              HasSubstr("restarting failed container=app pod=crasher_default("));
  Result logs = Kubectl("logs crasher --previous");
  EXPECT_EQ(logs.out, "starting\nconfig missing: /etc/app.yaml\n") << logs.out;
  EXPECT_THAT(Kubectl("get events --field-selector involvedObject.name=crasher").out,
              AllOf(HasSubstr("BackOff"), HasSubstr("Back-off restarting failed container app"),
                    HasSubstr("Started")));
}

TEST_F(KubectlClusterTest, CompletedAndFailedPodsWithoutRestart) {
  ASSERT_EQ(Kubectl("apply -f -", R"(apiVersion: v1
kind: Pod
metadata: {name: once}
spec:
  restartPolicy: Never
  containers:
  - {name: job, image: busybox:1.36, command: ["sh", "-c", "echo done"]}
---
apiVersion: v1
kind: Pod
metadata: {name: broken}
spec:
  restartPolicy: Never
  containers:
  - {name: job, image: busybox:1.36, command: ["sh", "-c", "echo 'fatal: no input'; exit 2"]}
)").code,
            0);
  std::string out;
  for (int i = 0; i < 100; ++i) {
    out = Kubectl("get pods").out;
    if (out.find("Completed") != std::string::npos && out.find("Error") != std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_THAT(out, AllOf(HasSubstr("Completed"), HasSubstr("Error")));
  EXPECT_EQ(Json("get pod once")["status"]["phase"], "Succeeded");
  EXPECT_EQ(Json("get pod broken")["status"]["phase"], "Failed");
  EXPECT_EQ(Kubectl("logs broken").out, "fatal: no input\n");
  EXPECT_EQ(Json("get pod broken")["status"]["containerStatuses"][0]["state"]["terminated"]
                ["exitCode"],
            2);
}

}  // namespace
}  // namespace kobs::sim
