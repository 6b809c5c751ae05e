// The REST mapper on real discovery documents (legacy /api/v1 and /apis/apps/v1, and the
// aggregated /apis list), plus a custom resource that appears later.
#include "k8s/rest_mapper.h"

#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "status_matchers.h"

namespace kobs::k8s {
namespace {

using ::kobs::testing::IsOk;
using ::testing::Contains;
using ::testing::HasSubstr;

std::string Testdata(const std::string& name) {
  std::ifstream in(std::string(KOBS_K8S_TESTDATA) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_FALSE(ss.str().empty()) << name;
  return ss.str();
}

class RestMapperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_THAT(m_.AddResourceList(Testdata("discovery_api__v1.json")), IsOk());
    ASSERT_THAT(m_.AddAggregated(Testdata("discovery_aggregated_v2.json")), IsOk());
  }
  RestMapper m_;
};

TEST_F(RestMapperTest, MapsKindsToResourcesWithScopeVerbsAndSubresources) {
  auto pod = m_.ForKind("", "v1", "Pod");
  ASSERT_THAT(pod, IsOk());
  EXPECT_EQ(pod->resource, "pods");
  EXPECT_TRUE(pod->namespaced);
  EXPECT_THAT(pod->verbs, Contains("watch"));
  EXPECT_THAT(pod->subresources, Contains("log"));
  EXPECT_THAT(pod->subresources, Contains("status"));
  EXPECT_EQ(pod->Path("shop", "api-0"), "/api/v1/namespaces/shop/pods/api-0");
  auto node = m_.ForKind("", "", "Node");
  ASSERT_THAT(node, IsOk());
  EXPECT_FALSE(node->namespaced);
  EXPECT_EQ(node->Path("ignored", "n1"), "/api/v1/nodes/n1");
  auto deploy = m_.ForKind("apps", "", "Deployment");
  ASSERT_THAT(deploy, IsOk());
  EXPECT_EQ(deploy->api_version(), "apps/v1");
  EXPECT_EQ(deploy->Path("shop"), "/apis/apps/v1/namespaces/shop/deployments");
  EXPECT_THAT(deploy->subresources, Contains("scale"));
  auto lease = m_.ForKind("coordination.k8s.io", "v1", "Lease");
  ASSERT_THAT(lease, IsOk());
  EXPECT_EQ(lease->resource, "leases");
  auto events = m_.ForKind("events.k8s.io", "", "Event");
  ASSERT_THAT(events, IsOk());
  EXPECT_EQ(events->resource, "events");
  EXPECT_EQ(m_.ForKind("apps", "v9", "Deployment").status().code(), absl::StatusCode::kNotFound);
  // The legacy form of the same group/version replaces what aggregated discovery said.
  ASSERT_THAT(m_.AddResourceList(Testdata("discovery_apis__apps__v1.json")), IsOk());
  auto again = m_.ForKind("apps", "v1", "Deployment");
  ASSERT_THAT(again, IsOk());
  EXPECT_THAT(again->subresources, Contains("scale"));
  EXPECT_THAT(again->short_names, Contains("deploy"));
}

TEST_F(RestMapperTest, ResolvesTheNamesKubectlTakes) {
  for (const char* n : {"pods", "pod", "po", "Pod"}) {
    auto r = m_.ForName(n);
    ASSERT_THAT(r, IsOk()) << n;
    EXPECT_EQ(r->resource, "pods") << n;
  }
  EXPECT_EQ(m_.ForName("deploy")->group, "apps");
  EXPECT_EQ(m_.ForName("deployments.apps")->resource, "deployments");
  EXPECT_EQ(m_.ForName("deployments.v1.apps")->version, "v1");
  // "events" is in core and events.k8s.io: core wins, as in kubectl; the group picks the other.
  EXPECT_EQ(m_.ForName("events")->group, "");
  EXPECT_EQ(m_.ForName("events.events.k8s.io")->group, "events.k8s.io");
  EXPECT_THAT(m_.ForName("compositions").status().message(),
              HasSubstr("doesn't have a resource type \"compositions\""));
}

TEST_F(RestMapperTest, LearnsCustomResourcesFromALaterDiscovery) {
  EXPECT_FALSE(m_.ForKind("composition.krateo.io", "", "FireworksApp").ok());
  ASSERT_THAT(m_.AddResourceList(R"({"kind":"APIResourceList","groupVersion":"composition.krateo.io/v1-2-0",
    "resources":[{"name":"fireworksapps","singularName":"fireworksapp","namespaced":true,
    "kind":"FireworksApp","verbs":["get","list","watch"],"shortNames":["fwa"]},
    {"name":"fireworksapps/status","namespaced":true,"kind":"FireworksApp","verbs":["get"]}]})"),
              IsOk());
  auto crd = m_.ForKind("composition.krateo.io", "", "FireworksApp");
  ASSERT_THAT(crd, IsOk());
  EXPECT_EQ(crd->Path("demo", "fw1"),
            "/apis/composition.krateo.io/v1-2-0/namespaces/demo/fireworksapps/fw1");
  EXPECT_EQ(crd->subresources, std::vector<std::string>{"status"});
  EXPECT_EQ(m_.ForName("fwa")->kind, "FireworksApp");
}

TEST(RestMapperErrors, RefusesDocumentsOfTheWrongShape) {
  RestMapper m;
  EXPECT_FALSE(m.AddResourceList("[]").ok());
  EXPECT_THAT(m.AddResourceList(R"({"resources":[]})").message(), HasSubstr("groupVersion"));
  EXPECT_THAT(m.AddAggregated(R"({"kind":"APIGroupList"})").message(),
              HasSubstr("APIGroupDiscoveryList"));
  // Odd shapes inside are skipped, never thrown on.
  EXPECT_THAT(m.AddAggregated(R"({"kind":"APIGroupDiscoveryList","items":[1,"x",{"versions":7},
    {"metadata":{"name":"g"},"versions":[{"version":"v1","resources":[{"resource":"rs",
    "scope":"Namespaced","subresources":[3]}]}]}]})"),
              IsOk());
  EXPECT_EQ(m.resources().size(), 1u);
}

}  // namespace
}  // namespace kobs::k8s
