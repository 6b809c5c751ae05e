// The built-in scenarios, played at 20x, as kubectl shows them; and the remediations that
// must work on them: a higher memory limit ends OOM kills, a Helm-style rollback through the
// API alone restores the release, a deleted crashing pod comes back and crashes again.
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "k8s/helm_release.h"
#include "kubectl_fixture.h"
#include "sim/scenario.h"

namespace kobs::sim {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;

class ScenarioTest : public KubectlClusterTest {
 protected:
  void Play(const std::string& name) {
    scenarios_ = {name};
    KubectlClusterTest::SetUp();
  }
  void SetUp() override {}  // each test plays its scenario
};

TEST_F(ScenarioTest, CrashloopPodIsTheOriginalDemo) {
  Play("crashloop-pod");
  EXPECT_THAT(WaitFor("get pod demo-crashloop", "CrashLoopBackOff"), HasSubstr("CrashLoopBackOff"));
  EXPECT_EQ(Kubectl("logs demo-crashloop --previous").out,
            "Starting demo app...\nFATAL: unhandled exception in main loop\n");
  json events = Json("get events --field-selector involvedObject.name=demo-crashloop");
  std::vector<std::string> reasons;
  for (const json& e : events["items"]) reasons.push_back(e["reason"]);
  EXPECT_THAT(reasons, ::testing::IsSupersetOf({"Scheduled", "Pulled", "Created", "Started",
                                                "BackOff"}));
  EXPECT_THAT(Kubectl("describe events").out,
              AllOf(HasSubstr("Involved Object:"), HasSubstr("demo-crashloop"),
                    HasSubstr("Back-off restarting failed container app")));
  EXPECT_THAT(Kubectl("get events -o wide").out,
              AllOf(HasSubstr("SUBOBJECT"), HasSubstr("spec.containers{app}"),
                    HasSubstr("kubelet, sim-node-1")));
}

TEST_F(ScenarioTest, RollingUpdateRecordsNoWarning) {
  Play("rolling-update");
  // The update lands at T+30s (1.5 s here); wait for the new image to be rolled out.
  std::string image;
  for (int i = 0; i < 100 && image != "nginx:1.26-alpine"; ++i) {
    json d = Json("get deployment healthy");
    if (d.is_object()) image = d["spec"]["template"]["spec"]["containers"][0]["image"];
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(image, "nginx:1.26-alpine");
  Result r = Kubectl("rollout status deployment/healthy --timeout=60s");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_THAT(Kubectl("get events").out, HasSubstr("ScalingReplicaSet"));
  EXPECT_THAT(Kubectl("get events --field-selector type=Warning").out,
              HasSubstr("No resources found"));
  EXPECT_THAT(Kubectl("rollout history deployment/healthy").out, HasSubstr("2 "));
}

TEST_F(ScenarioTest, HelmBadUpgradeFailsAndARollbackThroughTheApiRestoresIt) {
  Play("helm-bad-upgrade");
  // Revision 2 fails after its 30 s wait (T+70s, 3.5 s here).
  std::string out = WaitFor("get secrets -l owner=helm,name=web,status=failed", "sh.helm.release.v1.web.v2");
  ASSERT_THAT(out, HasSubstr("sh.helm.release.v1.web.v2"));
  EXPECT_THAT(Kubectl("get secrets -l owner=helm,name=web,status=deployed").out,
              HasSubstr("sh.helm.release.v1.web.v1"));
  EXPECT_THAT(Kubectl("get secret sh.helm.release.v1.web.v1").out, HasSubstr("helm.sh/release.v1"));
  EXPECT_THAT(WaitFor("get pods", "ImagePullBackOff"), HasSubstr("ImagePullBackOff"));
  auto failed = k8s::DecodeHelmSecret(Json("get secret sh.helm.release.v1.web.v2"));
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ((*failed)["info"]["status"], "failed");
  EXPECT_EQ((*failed)["info"]["description"], "Upgrade \"web\" failed: context deadline exceeded");
  EXPECT_THAT((*failed)["manifest"].get<std::string>(), HasSubstr("nginx:nonexistent-tag"));

  // `helm rollback web 1`, done as Helm does it, with kubectl as the only API client: apply
  // revision 1's manifest, store revision 3 as deployed, mark revision 2 superseded.
  auto good = k8s::DecodeHelmSecret(Json("get secret sh.helm.release.v1.web.v1"));
  ASSERT_TRUE(good.ok()) << good.status();
  Result applied = Kubectl("apply --server-side --force-conflicts --field-manager=helm -f -",
                           (*good)["manifest"].get<std::string>());
  ASSERT_EQ(applied.code, 0) << applied.out;
  json next = *good;
  next["version"] = 3;
  next["info"]["status"] = "deployed";
  next["info"]["description"] = "Rollback to 1";
  ASSERT_EQ(Kubectl("create -f -", k8s::EncodeHelmSecret(next).dump()).code, 0);
  json superseded = *failed;
  superseded["info"]["status"] = "superseded";
  ASSERT_EQ(Kubectl("replace -f -", k8s::EncodeHelmSecret(superseded).dump()).code, 0);

  Result status = Kubectl("rollout status deployment/web-nginx --timeout=60s");
  EXPECT_EQ(status.code, 0) << status.out;
  json pods = Json("get pods -l app.kubernetes.io/instance=web --field-selector status.phase=Running");
  ASSERT_FALSE(pods["items"].empty());
  for (const json& p : pods["items"]) {
    EXPECT_EQ(p["spec"]["containers"][0]["image"], "docker.io/bitnami/nginx:1.27.2");
  }
  auto latest = k8s::DecodeHelmSecret(Json("get secret sh.helm.release.v1.web.v3"));
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ((*latest)["info"]["status"], "deployed");
}

TEST_F(ScenarioTest, OomScenarioEndsWhenTheLimitIsRaised) {
  Play("oom");
  EXPECT_THAT(WaitFor("get pods -l app=memory-hog", "OOMKilled"), HasSubstr("OOMKilled"));
  ASSERT_EQ(Kubectl("set resources deployment memory-hog --limits=memory=256Mi").code, 0);
  Result r = Kubectl("rollout status deployment/memory-hog --timeout=60s");
  EXPECT_EQ(r.code, 0) << r.out;
  // 160Mi at its peak, 20 s simulated after the rollout: still no restart.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  json pods = Json("get pods -l app=memory-hog --field-selector status.phase=Running");
  ASSERT_EQ(pods["items"].size(), 1u);
  EXPECT_EQ(pods["items"][0]["status"]["containerStatuses"][0]["restartCount"], 0);
  EXPECT_EQ(pods["items"][0]["spec"]["containers"][0]["resources"]["limits"]["memory"], "256Mi");
}

TEST_F(ScenarioTest, ConcurrentCrashloopsKeepTheirEventsApart) {
  Play("concurrent-crashloops");
  std::string out;
  for (int i = 0; i < 300; ++i) {
    out = Kubectl("get pods").out;
    size_t first = out.find("CrashLoopBackOff");
    if (first != std::string::npos && out.find("CrashLoopBackOff", first + 1) != std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (const char* pod : {"concurrent-a", "concurrent-b"}) {
    json events = Json(std::string("get events --field-selector involvedObject.name=") + pod);
    ASSERT_FALSE(events["items"].empty());
    for (json e : events["items"]) {
      EXPECT_EQ(e["involvedObject"]["name"], pod);
      EXPECT_THAT(e["message"].get<std::string>(),
                  Not(HasSubstr(std::string(pod) == "concurrent-a" ? "concurrent-b" : "concurrent-a")));
    }
  }
  EXPECT_EQ(Json("get pod concurrent-b")["status"]["containerStatuses"][0]["lastState"]
                ["terminated"]["exitCode"],
            2);
}

TEST_F(ScenarioTest, CompositionCrashloopIsLabelledAndDeletedPodsCrashAgain) {
  Play("composition-crashloop");
  std::string out = WaitFor("-n demo-system get pods", "CrashLoopBackOff");
  ASSERT_THAT(out, HasSubstr("CrashLoopBackOff"));
  json app = Json("-n demo-system get fireworksapps.composition.krateo.io fireworks-demo");
  std::string uid = app["metadata"]["uid"];
  EXPECT_EQ(app["metadata"]["labels"]["krateo.io/composition-id"], uid);
  json d = Json("-n demo-system get deployment fireworks-demo-app");
  EXPECT_EQ(d["metadata"]["labels"]["krateo.io/composition-id"], uid);
  EXPECT_THAT(Kubectl("-n demo-system logs deployment/fireworks-demo-app --previous").out,
              HasSubstr("Error: ENOENT: no such file or directory"));

  // Deleting a crashing pod of the Deployment: a fresh pod, which crashes again.
  json pods = Json("-n demo-system get pods -l app=fireworks-demo");
  ASSERT_FALSE(pods["items"].empty());
  std::string victim = pods["items"][0]["metadata"]["name"];
  Result deleted = Kubectl("-n demo-system delete pod " + victim);
  ASSERT_EQ(deleted.code, 0) << deleted.out;
  std::string fresh;
  for (int i = 0; i < 100 && fresh.empty(); ++i) {
    json now = Json("-n demo-system get pods -l app=fireworks-demo");
    for (const json& p : now["items"]) {
      std::string n = p["metadata"]["name"];
      bool known = n == victim;
      for (const json& old : pods["items"]) known |= old["metadata"]["name"] == n;
      if (!known) fresh = n;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(fresh.empty()) << Kubectl("-n demo-system get pods -o wide").out
                              << Kubectl("-n demo-system get rs").out;
  EXPECT_THAT(WaitFor("-n demo-system get pod " + fresh, "CrashLoopBackOff"),
              HasSubstr("CrashLoopBackOff"));
}

TEST_F(ScenarioTest, BackgroundWorkloadIsHealthyAndTalks) {
  Play("background");
  for (const char* d : {"frontend", "orders", "payments", "worker"}) {
    Result r = Kubectl(std::string("-n shop rollout status deployment/") + d + " --timeout=60s");
    EXPECT_EQ(r.code, 0) << d << ": " << r.out;
  }
  EXPECT_EQ(Kubectl("-n shop rollout status statefulset/cache --timeout=60s").code, 0);
  EXPECT_THAT(Kubectl("-n shop logs deployment/frontend").out, HasSubstr("HTTP/1.1\""));
  EXPECT_THAT(Kubectl("-n shop logs deployment/payments").out, HasSubstr("\"level\":"));
  EXPECT_THAT(Kubectl("get events -A --field-selector type=Warning").out,
              HasSubstr("No resources found"));
}

TEST(ScenarioParseTest, ErrorsNameTheStep) {
  EXPECT_FALSE(ParseScenario("timeline: [{at: 5s}]").ok());
  auto bad = ParseScenario("timeline:\n- at: 5s\n  explode: {}\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), AllOf(HasSubstr("timeline[0]"), HasSubstr("explode")));
  EXPECT_THAT(std::string(ParseScenario("timeline:\n- at: soon\n  apply: {}\n").status().message()),
              HasSubstr("at:"));
  EXPECT_FALSE(ParseScenario("nme: typo").ok());
  EXPECT_FALSE(LoadScenario("no-such-scenario").ok());
  for (const auto& [name, description] : BuiltinScenarios()) {
    auto s = LoadScenario(name);
    EXPECT_TRUE(s.ok()) << name << ": " << s.status();
    EXPECT_FALSE(description.empty());
  }
}

}  // namespace
}  // namespace kobs::sim
