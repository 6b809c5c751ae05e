// Composition ids through owner chains: against canned objects (caching, TTLs, bounds, error
// handling) and against the simulated cluster's composition scenario through the real client.
#include "collect/composition_resolver.h"

#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/metrics.h"
#include "k8s/api_status.h"
#include "k8s/client.h"
#include "status_matchers.h"
#include "sim_cluster.h"
#include "temp_dir.h"

namespace kobs::collect {
namespace {

using nlohmann::json;
using ::kobs::testing::IsOk;

json Object(const std::string& kind, const std::string& name, const std::string& uid,
            const json& owner = nullptr, const std::string& label = "") {
  json o = {{"apiVersion", kind == "Pod" ? "v1" : "apps/v1"},
            {"kind", kind},
            {"metadata", {{"name", name}, {"namespace", "ns"}, {"uid", uid}}}};
  if (!owner.is_null()) o["metadata"]["ownerReferences"] = json::array({owner});
  if (!label.empty()) o["metadata"]["labels"] = {{"krateo.io/composition-id", label}};
  return o;
}

json Owner(const std::string& kind, const std::string& name, const std::string& uid) {
  return {{"apiVersion", "apps/v1"}, {"kind", kind}, {"name", name}, {"uid", uid},
          {"controller", true}};
}

class ResolverTest : public ::testing::Test {
 protected:
  ResolverTest() {
    objects_["Pod/web-1"] = Object("Pod", "web-1", "p1", Owner("ReplicaSet", "web-rs", "r1"));
    objects_["ReplicaSet/web-rs"] =
        Object("ReplicaSet", "web-rs", "r1", Owner("Deployment", "web", "d1"));
    objects_["Deployment/web"] = Object("Deployment", "web", "d1", nullptr, "comp-42");
    objects_["Pod/lonely"] = Object("Pod", "lonely", "p2");
  }
  CompositionResolver Make(ResolverOptions options = {}) {
    return CompositionResolver(
        [this](const std::string&, const std::string& kind, const std::string&,
               const std::string& name) -> absl::StatusOr<json> {
          ++fetches_;
          if (!fail_.ok()) return fail_;
          auto it = objects_.find(kind + "/" + name);
          if (it == objects_.end()) return k8s::ApiError("NotFound", 404, name + " not found");
          return it->second;
        },
        options, metrics_, [this] { return now_; });
  }
  static k8s::ObjectReference Ref(const std::string& kind, const std::string& name,
                                  const std::string& uid) {
    return {.api_version = "v1", .kind = kind, .namespace_ = "ns", .name = name, .uid = uid};
  }

  std::map<std::string, json> objects_;
  int fetches_ = 0;
  absl::Status fail_;
  std::chrono::steady_clock::time_point now_{};
  MetricsRegistry metrics_;
};

TEST_F(ResolverTest, WalksOwnersAndCachesEveryStep) {
  CompositionResolver r = Make();
  EXPECT_EQ(*r.Resolve(Ref("Pod", "web-1", "p1")), "comp-42");
  EXPECT_EQ(fetches_, 3);
  EXPECT_EQ(*r.Resolve(Ref("Pod", "web-1", "p1")), "comp-42");
  EXPECT_EQ(fetches_, 3);
  // A sibling pod stops at the cached ReplicaSet.
  objects_["Pod/web-2"] = Object("Pod", "web-2", "p3", Owner("ReplicaSet", "web-rs", "r1"));
  EXPECT_EQ(*r.Resolve(Ref("Pod", "web-2", "p3")), "comp-42");
  EXPECT_EQ(fetches_, 4);
  EXPECT_EQ(r.Cached("r1"), "comp-42");
}

TEST_F(ResolverTest, NegativeAndPositiveAnswersExpire) {
  CompositionResolver r = Make();
  EXPECT_EQ(*r.Resolve(Ref("Pod", "lonely", "p2")), "");
  EXPECT_EQ(*r.Resolve(Ref("Pod", "lonely", "p2")), "");
  EXPECT_EQ(fetches_, 1);
  objects_["Pod/lonely"]["metadata"]["labels"] = {{"krateo.io/composition-id", "late"}};
  now_ += std::chrono::seconds(31);  // past the 30 s negative TTL
  EXPECT_EQ(*r.Resolve(Ref("Pod", "lonely", "p2")), "late");
  now_ += std::chrono::minutes(4);
  EXPECT_EQ(*r.Resolve(Ref("Pod", "lonely", "p2")), "late");
  EXPECT_EQ(fetches_, 2);
  now_ += std::chrono::minutes(2);  // past the 5 min positive TTL
  (void)r.Resolve(Ref("Pod", "lonely", "p2"));
  EXPECT_EQ(fetches_, 3);
}

TEST_F(ResolverTest, TransientErrorsAreNotCachedForbiddenAndNotFoundAre) {
  CompositionResolver r = Make();
  fail_ = k8s::ApiError("ServiceUnavailable", 503, "apiserver overloaded");
  EXPECT_FALSE(r.Resolve(Ref("Pod", "web-1", "p1")).ok());
  fail_ = absl::OkStatus();
  EXPECT_EQ(*r.Resolve(Ref("Pod", "web-1", "p1")), "comp-42");

  fail_ = k8s::ApiError("Forbidden", 403, "pods is forbidden");
  EXPECT_EQ(*r.Resolve(Ref("Pod", "other", "p9")), "");
  EXPECT_EQ(*r.Resolve(Ref("Pod", "other2", "p10")), "");
  EXPECT_THAT(metrics_.Render(), ::testing::HasSubstr("kobs_composition_forbidden_total 2"));
  fail_ = absl::OkStatus();
  EXPECT_EQ(*r.Resolve(Ref("Pod", "gone", "p11")), "");
  EXPECT_EQ(r.Cached("p11"), "");
}

TEST_F(ResolverTest, TheCacheIsBounded) {
  CompositionResolver r = Make({.max_entries = 2});
  for (int i = 0; i < 5; ++i) {
    objects_["Pod/p" + std::to_string(i)] = Object("Pod", "p" + std::to_string(i), std::to_string(i));
    (void)r.Resolve(Ref("Pod", "p" + std::to_string(i), std::to_string(i)));
  }
  EXPECT_EQ(r.size(), 2u);
  EXPECT_FALSE(r.Cached("0").has_value());
  EXPECT_TRUE(r.Cached("4").has_value());
}

TEST_F(ResolverTest, AReusedNameIsNotTheSameObject) {
  CompositionResolver r = Make();
  EXPECT_EQ(*r.Resolve(Ref("Pod", "web-1", "stale-uid")), "");
}

TEST(ResolverSimTest, ResolvesTheCompositionScenarioThroughTheClient) {
  SimCluster sim;
  ASSERT_NO_FATAL_FAILURE(sim.Start({"composition-crashloop"}));
  auto& client = sim.client;
  MetricsRegistry metrics;
  CompositionResolver r(FetchWith(*client), {}, metrics);
  auto pods = client->ResourceByName("pods");
  ASSERT_THAT(pods, IsOk());
  // Until the scenario's pods run and its CRD is served. The client's discovery may predate
  // the CRD, and refreshes at most every discovery_refresh_interval (5 s), so the kind is
  // looked up again until it resolves.
  json list;
  absl::StatusOr<k8s::ResourceInfo> apps = absl::NotFoundError("not looked up yet");
  for (int i = 0; i < 150 && (list.empty() || !apps.ok()); ++i) {
    if (list.empty()) {
      auto l = client->List(*pods, "demo-system", {.label_selector = "app=fireworks-demo"});
      if (l.ok()) list = l->items;
    }
    if (!apps.ok()) apps = client->Resource("composition.krateo.io/v1-1-10", "FireworksApp");
    if (list.empty() || !apps.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(list.empty());
  ASSERT_THAT(apps, IsOk());
  auto app = client->Get(*apps, "demo-system", "fireworks-demo");
  ASSERT_THAT(app, IsOk());
  const std::string uid = (*app)["metadata"]["uid"];
  // The pod has no label: Pod -> ReplicaSet -> Deployment (labelled with the composition's uid).
  auto id = r.Resolve({.api_version = "v1",
                       .kind = "Pod",
                       .namespace_ = "demo-system",
                       .name = list[0]["metadata"]["name"],
                       .uid = list[0]["metadata"]["uid"]});
  ASSERT_THAT(id, IsOk());
  EXPECT_EQ(*id, uid);
  // The composition itself, a custom resource.
  id = r.Resolve({.api_version = "composition.krateo.io/v1-1-10",
                  .kind = "FireworksApp",
                  .namespace_ = "demo-system",
                  .name = "fireworks-demo",
                  .uid = uid});
  ASSERT_THAT(id, IsOk());
  EXPECT_EQ(*id, uid);
}

}  // namespace
}  // namespace kobs::collect
