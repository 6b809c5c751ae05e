// StatefulSets, DaemonSets and Jobs in the simulated cluster, through kubectl: the pods they
// own, their status as `kubectl rollout status` and `kubectl wait` read it, and their events.
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kubectl_fixture.h"

namespace kobs::sim {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using nlohmann::json;

using WorkloadTest = KubectlClusterTest;

TEST_F(WorkloadTest, StatefulSetMakesOrderedPodsAndScalesDownFromTheTop) {
  ASSERT_EQ(Kubectl("apply -f -", R"(apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: pg, image: postgres:16}]
)").code,
            0);
  Result r = Kubectl("rollout status statefulset/db --timeout=60s");
  EXPECT_EQ(r.code, 0) << r.out;
  json pods = Json("get pods -l app=db");
  ASSERT_EQ(pods["items"].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    json p = pods["items"][i];
    EXPECT_EQ(p["metadata"]["name"], "db-" + std::to_string(i));
    EXPECT_EQ(p["metadata"]["labels"]["apps.kubernetes.io/pod-index"], std::to_string(i));
    EXPECT_EQ(p["spec"]["hostname"], "db-" + std::to_string(i));
    EXPECT_EQ(p["spec"]["subdomain"], "db");
    EXPECT_EQ(p["metadata"]["ownerReferences"][0]["kind"], "StatefulSet");
  }
  // Created in order: db-0's creation is not after db-1's.
  EXPECT_LE(pods["items"][0]["metadata"]["creationTimestamp"].get<std::string>(),
            pods["items"][1]["metadata"]["creationTimestamp"].get<std::string>());
  EXPECT_THAT(Kubectl("get events --field-selector involvedObject.name=db").out,
              HasSubstr("create Pod db-2 in StatefulSet db successful"));
  ASSERT_EQ(Kubectl("scale statefulset db --replicas=1").code, 0);
  std::string out;
  for (int i = 0; i < 100; ++i) {
    out = Kubectl("get pods -l app=db -o name").out;
    if (out == "pod/db-0\n") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(out, "pod/db-0\n");
  EXPECT_THAT(Kubectl("get statefulset db").out, HasSubstr("1/1"));
}

TEST_F(WorkloadTest, DaemonSetRunsOnePodOnTheNode) {
  ASSERT_EQ(Kubectl("apply -f -", R"(apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: kube-system}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: fluent-bit:3.1}]
)").code,
            0);
  Result r = Kubectl("-n kube-system rollout status daemonset/agent --timeout=60s");
  EXPECT_EQ(r.code, 0) << r.out;
  json pods = Json("-n kube-system get pods -l app=agent");
  ASSERT_EQ(pods["items"].size(), 1u);
  EXPECT_EQ(pods["items"][0]["spec"]["nodeName"], "sim-node-1");
  json ds = Json("-n kube-system get daemonset agent");
  EXPECT_EQ(ds["status"]["numberReady"], 1);
  EXPECT_EQ(ds["status"]["desiredNumberScheduled"], 1);
}

TEST_F(WorkloadTest, JobsCompleteOrFailPastTheirBackoffLimit) {
  ASSERT_EQ(Kubectl("apply -f -", R"(apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  completions: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: busybox:1.36, command: ["sh", "-c", "echo migrated; sleep 1"]}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: broken}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: busybox:1.36, command: ["sh", "-c", "echo 'no db'; exit 42"]}]
)").code,
            0);
  Result r = Kubectl("wait --for=condition=complete job/migrate --timeout=60s");
  EXPECT_EQ(r.code, 0) << r.out;
  json job = Json("get job migrate");
  EXPECT_EQ(job["status"]["succeeded"], 2);
  EXPECT_THAT(Kubectl("get jobs").out, HasSubstr("Complete"));
  r = Kubectl("wait --for=condition=failed job/broken --timeout=60s");
  EXPECT_EQ(r.code, 0) << r.out;
  job = Json("get job broken");
  EXPECT_EQ(job["status"]["failed"], 2);
  EXPECT_THAT(Kubectl("describe job broken").out,
              AllOf(HasSubstr("BackoffLimitExceeded"),
                    HasSubstr("Job has reached the specified backoff limit")));
  json pods = Json("get pods -l job-name=broken");
  ASSERT_EQ(pods["items"].size(), 2u);
  EXPECT_EQ(pods["items"][0]["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
            42);
}

}  // namespace
}  // namespace kobs::sim
