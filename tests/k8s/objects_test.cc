#include "k8s/objects.h"

#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "status_matchers.h"

namespace kobs::k8s {
namespace {

using ::kobs::testing::IsOk;
using nlohmann::json;

json Load(const std::string& name) {
  std::ifstream in(std::string(KOBS_K8S_TESTDATA) + "/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

TEST(ObjectsTest, DecodesAKubeletPodInCrashLoopBackOff) {
  ASSERT_OK_AND_ASSIGN(Pod pod, DecodePod(Load("nri-k8s-1.34-crashloopbackoff.pod.json")));
  EXPECT_FALSE(pod.metadata.name.empty());
  EXPECT_FALSE(pod.metadata.uid.empty());
  ASSERT_EQ(pod.container_statuses.size(), 1u);
  const ContainerStatus& c = pod.container_statuses[0];
  EXPECT_EQ(c.name, "alpine");
  EXPECT_EQ(c.state, "waiting");
  EXPECT_EQ(c.reason, "CrashLoopBackOff");
  EXPECT_THAT(c.message, ::testing::HasSubstr("back-off 20s restarting failed container=alpine"));
  EXPECT_EQ(c.restart_count, 2);
  EXPECT_EQ(c.last_termination_reason, "Completed");
  EXPECT_EQ(pod.Restarts(), 2);
  EXPECT_EQ(pod.containers, std::vector<std::string>{"alpine"});
}

TEST(ObjectsTest, DecodesAnOomKilledJobPodAndItsController) {
  json list = Load("troubleshoot-oomkilled.podlist.json");
  ASSERT_OK_AND_ASSIGN(Pod pod, DecodePod(list["items"][0]));
  EXPECT_EQ(pod.phase, "Failed");
  EXPECT_EQ(pod.pod_ip, "172.17.0.3");
  ASSERT_EQ(pod.container_statuses.size(), 1u);
  EXPECT_EQ(pod.container_statuses[0].state, "terminated");
  EXPECT_EQ(pod.container_statuses[0].reason, "OOMKilled");
  EXPECT_EQ(pod.container_statuses[0].exit_code, 137);
  const OwnerReference* owner = pod.metadata.Controller();
  ASSERT_NE(owner, nullptr);
  EXPECT_EQ(owner->kind, "Job");
  EXPECT_EQ(owner->name, "oom-kill-job3");
  EXPECT_EQ(owner->uid, "a85295e8-54e4-40a4-aeb0-b47c19f1a69f");
}

TEST(ObjectsTest, DecodesASchedulerEventWithOnlyAnEventTime) {
  json list = Load("fluentbit-minikube-failedscheduling.eventlist.json");
  ASSERT_OK_AND_ASSIGN(Event e, DecodeEvent(list["items"][0]));
  EXPECT_EQ(e.reason, "FailedScheduling");
  EXPECT_EQ(e.type, "Warning");
  EXPECT_EQ(e.involved_object.kind, "Pod");
  EXPECT_EQ(e.involved_object.uid, "ed7de8ff-61fb-40bb-9ecb-55a801a4cd89");
  EXPECT_EQ(e.reporting_component, "default-scheduler");
  EXPECT_EQ(e.first_timestamp, "");
  EXPECT_EQ(e.LastSeen(), "2023-12-24T13:37:16.335172Z");
  EXPECT_EQ(e.count, 1);
}

TEST(ObjectsTest, DecodesTheEventsV1FormAndSeries) {
  json v1 = {{"apiVersion", "events.k8s.io/v1"},
             {"kind", "Event"},
             {"metadata", {{"name", "e"}, {"namespace", "ns"}}},
             {"regarding", {{"kind", "Pod"}, {"name", "p"}}},
             {"note", "Back-off restarting failed container"},
             {"reason", "BackOff"},
             {"reportingController", "kubelet"},
             {"series", {{"count", 7}, {"lastObservedTime", "2026-01-01T00:00:05.000000Z"}}},
             {"deprecatedCount", "not a number"}};
  ASSERT_OK_AND_ASSIGN(Event e, DecodeEvent(v1));
  EXPECT_EQ(e.message, "Back-off restarting failed container");
  EXPECT_EQ(e.involved_object.name, "p");
  EXPECT_EQ(e.reporting_component, "kubelet");
  EXPECT_EQ(e.count, 7);
  EXPECT_EQ(e.LastSeen(), "2026-01-01T00:00:05.000000Z");
}

TEST(ObjectsTest, WrongTypesAreLeftEmptyAndNonObjectsRefused) {
  json odd = {{"metadata", {{"name", 5}, {"labels", {{"a", 1}, {"b", "c"}}}, {"ownerReferences", "x"}}},
              {"spec", {{"holderIdentity", "me"}, {"leaseDurationSeconds", "15"}}}};
  ASSERT_OK_AND_ASSIGN(Lease l, DecodeLease(odd));
  EXPECT_EQ(l.metadata.name, "");
  EXPECT_EQ(l.metadata.labels.size(), 1u);
  EXPECT_EQ(l.holder_identity, "me");
  EXPECT_EQ(l.lease_duration_seconds, 0);
  EXPECT_FALSE(DecodePod(json::array()).ok());
  EXPECT_FALSE(DecodeEvent("text").ok());
  EXPECT_FALSE(DecodeObjectMeta(nullptr).ok());
}

}  // namespace
}  // namespace kobs::k8s
