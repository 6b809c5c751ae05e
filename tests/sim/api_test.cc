#include "sim/api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "k8s/api_status.h"
#include "sim/garbage_collector.h"
#include "sim/object_meta.h"
#include "sim/pod_logs.h"
#include "status_matchers.h"

namespace kobs::sim {
namespace {

using ::kobs::testing::IsOk;
using ::kobs::testing::StatusIs;

using ::testing::HasSubstr;
using nlohmann::json;

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = ObjectStore::Open({.history = 50});
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
    api_ = std::make_unique<Api>(*store_, registry_);
    ASSERT_THAT(api_->Create(Type("", "v1", "namespaces"), "", {{"metadata", {{"name", "default"}}}}),
                IsOk());
  }

  const ResourceType& Type(const std::string& group, const std::string& version,
                           const std::string& plural) {
    auto t = registry_.Find(group, version, plural);
    EXPECT_NE(t, nullptr) << plural;
    keep_.push_back(t);
    return *t;
  }
  const ResourceType& Deployments() { return Type("apps", "v1", "deployments"); }
  const ResourceType& ConfigMaps() { return Type("", "v1", "configmaps"); }

  static json Deployment(const std::string& name, int replicas = 1) {
    return {{"apiVersion", "apps/v1"},
            {"kind", "Deployment"},
            {"metadata", {{"name", name}}},
            {"spec",
             {{"replicas", replicas},
              {"selector", {{"matchLabels", {{"app", name}}}}},
              {"template",
               {{"metadata", {{"labels", {{"app", name}}}}},
                {"spec", {{"containers", {{{"name", "c"}, {"image", "img:1"}}}}}}}}}}};
  }

  static std::string Reason(const absl::Status& s) { return k8s::ApiReason(s); }

  ResourceRegistry registry_;
  std::unique_ptr<ObjectStore> store_;
  std::unique_ptr<Api> api_;
  std::vector<std::shared_ptr<const ResourceType>> keep_;
};

TEST_F(ApiTest, CreateFillsInBookkeepingAndRefusesDuplicates) {
  ASSERT_OK_AND_ASSIGN(json d, api_->Create(Deployments(), "default", Deployment("web")));
  EXPECT_EQ(d["metadata"]["generation"], 1);
  EXPECT_EQ(d["metadata"]["namespace"], "default");
  EXPECT_EQ(d["metadata"]["uid"].get<std::string>().size(), 36u);
  EXPECT_FALSE(d["metadata"]["creationTimestamp"].get<std::string>().empty());
  EXPECT_EQ(d["spec"]["strategy"]["type"], "RollingUpdate");
  auto again = api_->Create(Deployments(), "default", Deployment("web"));
  EXPECT_EQ(Reason(again.status()), "AlreadyExists");
  EXPECT_EQ(k8s::ApiCode(again.status()), 409);
  // generateName
  json gen = {{"metadata", {{"generateName", "job-"}}}, {"data", {{"a", "b"}}}};
  ASSERT_OK_AND_ASSIGN(json g, api_->Create(ConfigMaps(), "default", gen));
  EXPECT_THAT(g["metadata"]["name"].get<std::string>(), ::testing::MatchesRegex("job-[a-z0-9]{5}"));
  // Validation and namespaces.
  EXPECT_EQ(Reason(api_->Create(ConfigMaps(), "default", {{"metadata", json::object()}}).status()),
            "Invalid");
  EXPECT_EQ(Reason(api_->Create(ConfigMaps(), "default", {{"metadata", {{"name", "Bad_Name"}}}})
                       .status()),
            "Invalid");
  auto missing_ns = api_->Create(ConfigMaps(), "nope", {{"metadata", {{"name", "x"}}}});
  EXPECT_EQ(Reason(missing_ns.status()), "NotFound");
  EXPECT_THAT(std::string(missing_ns.status().message()), HasSubstr("namespaces \"nope\" not found"));
  auto wrong_kind = api_->Create(ConfigMaps(), "default", {{"kind", "Secret"}, {"metadata", {{"name", "x"}}}});
  EXPECT_EQ(Reason(wrong_kind.status()), "BadRequest");
}

TEST_F(ApiTest, OptimisticConcurrencyGenerationAndStatus) {
  ASSERT_OK_AND_ASSIGN(json d, api_->Create(Deployments(), "default", Deployment("web")));
  json stale = d;
  d["spec"]["replicas"] = 3;
  ASSERT_OK_AND_ASSIGN(json updated, api_->Update(Deployments(), "default", "web", d));
  EXPECT_EQ(updated["metadata"]["generation"], 2);
  stale["spec"]["replicas"] = 4;
  auto conflict = api_->Update(Deployments(), "default", "web", stale);
  EXPECT_EQ(Reason(conflict.status()), "Conflict");
  EXPECT_THAT(std::string(conflict.status().message()),
              HasSubstr("the object has been modified"));
  // Status goes through the status subresource only, and does not bump the generation.
  json with_status = updated;
  with_status["status"] = {{"readyReplicas", 3}};
  ASSERT_OK_AND_ASSIGN(json main, api_->Update(Deployments(), "default", "web", with_status));
  EXPECT_FALSE(main["status"].contains("readyReplicas"));
  main["status"] = {{"readyReplicas", 3}};
  main["spec"]["replicas"] = 100;  // ignored by the status subresource
  ASSERT_OK_AND_ASSIGN(json st, api_->Update(Deployments(), "default", "web", main, "status"));
  EXPECT_EQ(st["spec"]["replicas"], 3);
  EXPECT_EQ(st["status"]["readyReplicas"], 3);
  EXPECT_EQ(st["metadata"]["generation"], 2);
  // A no-op update writes nothing.
  uint64_t rv = store_->resource_version();
  ASSERT_THAT(api_->Update(Deployments(), "default", "web", st), IsOk());
  EXPECT_EQ(store_->resource_version(), rv);
}

TEST_F(ApiTest, PatchTypesAndScale) {
  ASSERT_THAT(api_->Create(Deployments(), "default", Deployment("web")), IsOk());
  ASSERT_OK_AND_ASSIGN(
      json p, api_->Patch(Deployments(), "default", "web", k8s::PatchType::kStrategicMergePatch,
                          R"({"spec":{"template":{"spec":{"containers":[{"name":"c","image":"img:2"}]}}}})"));
  EXPECT_EQ(p["spec"]["template"]["spec"]["containers"].size(), 1u);
  EXPECT_EQ(p["spec"]["template"]["spec"]["containers"][0]["image"], "img:2");
  ASSERT_OK_AND_ASSIGN(p, api_->Patch(Deployments(), "default", "web", k8s::PatchType::kMergePatch,
                                      R"({"metadata":{"labels":{"x":"y"}}})"));
  EXPECT_EQ(p["metadata"]["labels"]["x"], "y");
  auto failed = api_->Patch(Deployments(), "default", "web", k8s::PatchType::kJsonPatch,
                            R"([{"op":"test","path":"/spec/replicas","value":7}])");
  EXPECT_EQ(k8s::ApiCode(failed.status()), 422);
  EXPECT_EQ(Reason(api_->Patch(Deployments(), "default", "web", k8s::PatchType::kMergePatch, "{")
                       .status()),
            "BadRequest");
  // Server-side apply creates, then updates, and records the manager.
  ASSERT_OK_AND_ASSIGN(
      json applied,
      api_->Patch(ConfigMaps(), "default", "cfg", k8s::PatchType::kApplyPatch,
                  "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: '1'\n", "",
                  {.field_manager = "kobs"}));
  EXPECT_EQ(applied["data"]["a"], "1");
  ASSERT_TRUE(applied["metadata"].contains("managedFields"));
  EXPECT_EQ(applied["metadata"]["managedFields"][0]["manager"], "kobs");
  // Scale.
  ASSERT_OK_AND_ASSIGN(json scale, api_->GetScale(Deployments(), "default", "web"));
  EXPECT_EQ(scale["kind"], "Scale");
  EXPECT_EQ(scale["spec"]["replicas"], 1);
  EXPECT_EQ(scale["status"]["selector"], "app=web");
  ASSERT_OK_AND_ASSIGN(scale, api_->PatchScale(Deployments(), "default", "web",
                                               k8s::PatchType::kMergePatch,
                                               R"({"spec":{"replicas":4}})"));
  EXPECT_EQ(scale["spec"]["replicas"], 4);
  ASSERT_OK_AND_ASSIGN(json d, api_->Get(Deployments(), "default", "web"));
  EXPECT_EQ(d["spec"]["replicas"], 4);
  scale["metadata"]["resourceVersion"] = "1";
  EXPECT_EQ(Reason(api_->UpdateScale(Deployments(), "default", "web", scale).status()), "Conflict");
}

TEST_F(ApiTest, PagingIsConsistentAndExpires) {
  for (int i = 0; i < 7; ++i) {
    ASSERT_THAT(api_->Create(ConfigMaps(), "default",
                             {{"metadata", {{"name", "cm-" + std::to_string(i)},
                                            {"labels", {{"even", i % 2 == 0 ? "y" : "n"}}}}}}),
                IsOk());
  }
  ASSERT_OK_AND_ASSIGN(ListResult page1, api_->List(ConfigMaps(), "default", {.limit = 3}));
  ASSERT_EQ(page1.items.size(), 3u);
  EXPECT_EQ(page1.remaining, 4);
  // A change after the first page does not show in the later pages of the same list.
  ASSERT_THAT(api_->Create(ConfigMaps(), "default", {{"metadata", {{"name", "cm-9"}}}}), IsOk());
  ASSERT_THAT(api_->Delete(ConfigMaps(), "default", "cm-5"), IsOk());
  ASSERT_OK_AND_ASSIGN(ListResult page2,
                       api_->List(ConfigMaps(), "default",
                                  {.limit = 10, .continue_token = page1.continue_token}));
  ASSERT_EQ(page2.items.size(), 4u) << json(page2.items).dump();
  EXPECT_EQ(page2.items[2]["metadata"]["name"], "cm-5");
  EXPECT_EQ(page2.rv, page1.rv);
  EXPECT_TRUE(page2.continue_token.empty());
  // Selectors.
  ASSERT_OK_AND_ASSIGN(ListResult even,
                       api_->List(ConfigMaps(), "default", {.label_selector = "even=y"}));
  EXPECT_EQ(even.items.size(), 4u);  // cm-0, 2, 4, 6
  ASSERT_OK_AND_ASSIGN(ListResult one, api_->List(ConfigMaps(), "default",
                                                  {.field_selector = "metadata.name=cm-1"}));
  EXPECT_EQ(one.items.size(), 1u);
  EXPECT_EQ(Reason(api_->List(ConfigMaps(), "default", {.label_selector = "a in (b"}).status()),
            "BadRequest");
  // Once the history moved past the token's version, the continue is refused with 410.
  for (int i = 0; i < 60; ++i) {
    ASSERT_THAT(api_->Patch(ConfigMaps(), "default", "cm-0", k8s::PatchType::kMergePatch,
                            json{{"data", {{"i", std::to_string(i)}}}}.dump()),
                IsOk());
  }
  auto expired = api_->List(ConfigMaps(), "default",
                            {.limit = 10, .continue_token = page1.continue_token});
  EXPECT_EQ(k8s::ApiCode(expired.status()), 410);
  EXPECT_EQ(Reason(expired.status()), "Expired");
  EXPECT_EQ(Reason(api_->List(ConfigMaps(), "default", {.continue_token = "garbage"}).status()),
            "BadRequest");
}

TEST_F(ApiTest, FinalizersPreconditionsAndPropagation) {
  ASSERT_OK_AND_ASSIGN(json cm, api_->Create(ConfigMaps(), "default",
                                             {{"metadata", {{"name", "held"},
                                                            {"finalizers", {"example.com/x"}}}}}));
  auto wrong_uid = api_->Delete(ConfigMaps(), "default", "held", {.precondition_uid = "nope"});
  EXPECT_EQ(Reason(wrong_uid.status()), "Conflict");
  ASSERT_OK_AND_ASSIGN(json marked, api_->Delete(ConfigMaps(), "default", "held"));
  EXPECT_FALSE(marked["metadata"]["deletionTimestamp"].is_null());
  ASSERT_THAT(api_->Get(ConfigMaps(), "default", "held"), IsOk());
  // Removing the last finalizer completes the deletion.
  ASSERT_THAT(api_->Patch(ConfigMaps(), "default", "held", k8s::PatchType::kMergePatch,
                          R"({"metadata":{"finalizers":null}})"),
              IsOk());
  EXPECT_EQ(Reason(api_->Get(ConfigMaps(), "default", "held").status()), "NotFound");

  // Foreground and orphan propagation, carried out by the garbage collector.
  PodLogs logs;
  GarbageCollector gc(*api_, logs);
  auto owned = [&](const std::string& name, const json& owner) {
    return json{{"metadata",
                 {{"name", name},
                  {"ownerReferences",
                   {{{"apiVersion", "apps/v1"}, {"kind", "Deployment"},
                     {"name", owner["metadata"]["name"]}, {"uid", owner["metadata"]["uid"]}}}}}}};
  };
  ASSERT_OK_AND_ASSIGN(json fg, api_->Create(Deployments(), "default", Deployment("fg")));
  ASSERT_THAT(api_->Create(ConfigMaps(), "default", owned("fg-child", fg)), IsOk());
  ASSERT_OK_AND_ASSIGN(json waiting, api_->Delete(Deployments(), "default", "fg",
                                                  {.propagation_policy = "Foreground"}));
  EXPECT_EQ(waiting["metadata"]["finalizers"][0], "foregroundDeletion");
  gc.Sweep();  // deletes the child
  gc.Sweep();  // then releases the owner
  EXPECT_EQ(Reason(api_->Get(ConfigMaps(), "default", "fg-child").status()), "NotFound");
  EXPECT_EQ(Reason(api_->Get(Deployments(), "default", "fg").status()), "NotFound");

  ASSERT_OK_AND_ASSIGN(json orphaner, api_->Create(Deployments(), "default", Deployment("or")));
  ASSERT_THAT(api_->Create(ConfigMaps(), "default", owned("or-child", orphaner)), IsOk());
  ASSERT_THAT(api_->Delete(Deployments(), "default", "or", {.propagation_policy = "Orphan"}),
              IsOk());
  gc.Sweep();
  EXPECT_EQ(Reason(api_->Get(Deployments(), "default", "or").status()), "NotFound");
  ASSERT_OK_AND_ASSIGN(json child, api_->Get(ConfigMaps(), "default", "or-child"));
  EXPECT_FALSE(child["metadata"].contains("ownerReferences") &&
               !child["metadata"]["ownerReferences"].empty());

  ASSERT_OK_AND_ASSIGN(json bg, api_->Create(Deployments(), "default", Deployment("bg")));
  ASSERT_THAT(api_->Create(ConfigMaps(), "default", owned("bg-child", bg)), IsOk());
  ASSERT_THAT(api_->Delete(Deployments(), "default", "bg"), IsOk());
  gc.Sweep();
  EXPECT_EQ(Reason(api_->Get(ConfigMaps(), "default", "bg-child").status()), "NotFound");
}

TEST_F(ApiTest, NamespaceDeletionEmptiesTheNamespaceFirst) {
  const ResourceType& ns = Type("", "v1", "namespaces");
  ASSERT_THAT(api_->Create(ns, "", {{"metadata", {{"name", "shop"}}}}), IsOk());
  ASSERT_THAT(api_->Create(ConfigMaps(), "shop", {{"metadata", {{"name", "a"}}}}), IsOk());
  ASSERT_OK_AND_ASSIGN(json terminating, api_->Delete(ns, "", "shop"));
  EXPECT_EQ(terminating["status"]["phase"], "Terminating");
  EXPECT_EQ(Reason(api_->Create(ConfigMaps(), "shop", {{"metadata", {{"name", "b"}}}}).status()),
            "Forbidden");
  PodLogs logs;
  GarbageCollector gc(*api_, logs);
  gc.Sweep();
  gc.Sweep();
  EXPECT_EQ(Reason(api_->Get(ConfigMaps(), "shop", "a").status()), "NotFound");
  EXPECT_EQ(Reason(api_->Get(ns, "", "shop").status()), "NotFound");
}

TEST_F(ApiTest, CustomResourceDefinitionsInstallTheirTypes) {
  json crd = {{"apiVersion", "apiextensions.k8s.io/v1"},
              {"kind", "CustomResourceDefinition"},
              {"metadata", {{"name", "widgets.example.com"}}},
              {"spec",
               {{"group", "example.com"},
                {"scope", "Namespaced"},
                {"names", {{"kind", "Widget"}, {"plural", "widgets"}}},
                {"versions",
                 {{{"name", "v1"}, {"served", true}, {"storage", true},
                   {"subresources", {{"status", json::object()}}}}}}}}};
  EXPECT_EQ(registry_.Find("example.com", "v1", "widgets"), nullptr);
  ASSERT_OK_AND_ASSIGN(json made, api_->Create(Type("apiextensions.k8s.io", "v1",
                                                    "customresourcedefinitions"),
                                               "", crd));
  EXPECT_EQ(made["status"]["conditions"][1]["type"], "Established");
  auto widgets = registry_.Find("example.com", "v1", "widgets");
  ASSERT_NE(widgets, nullptr);
  ASSERT_OK_AND_ASSIGN(json w, api_->Create(*widgets, "default",
                                            {{"apiVersion", "example.com/v1"},
                                             {"kind", "Widget"},
                                             {"metadata", {{"name", "w1"}}},
                                             {"spec", {{"size", 3}}}}));
  EXPECT_EQ(w["kind"], "Widget");
  json discovery = registry_.Aggregated(false, "v2");
  EXPECT_NE(discovery.dump().find("\"widgets\""), std::string::npos);
  // A bad CRD is refused with the field named.
  json bad = crd;
  bad["metadata"]["name"] = "other.example.com";
  EXPECT_EQ(Reason(api_->Create(Type("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
                                "", bad)
                       .status()),
            "Invalid");
}

TEST_F(ApiTest, ObjectsAreLimitedInSize) {
  json big = {{"metadata", {{"name", "big"}}}, {"data", {{"a", std::string(2 << 20, 'x')}}}};
  auto refused = api_->Create(ConfigMaps(), "default", big);
  EXPECT_EQ(k8s::ApiCode(refused.status()), 413);
  ASSERT_THAT(api_->Create(ConfigMaps(), "default", {{"metadata", {{"name", "small"}}}}), IsOk());
  // A patch that doubles the object until it is too large is refused too.
  auto grown = api_->Patch(ConfigMaps(), "default", "small", k8s::PatchType::kMergePatch,
                           json{{"data", {{"a", std::string(2 << 20, 'y')}}}}.dump());
  EXPECT_EQ(k8s::ApiCode(grown.status()), 413);
}

TEST_F(ApiTest, EventsAreServedInBothApiGroups) {
  const ResourceType& core = Type("", "v1", "events");
  const ResourceType& v1 = Type("events.k8s.io", "v1", "events");
  json e = {{"metadata", {{"name", "e1"}}},
            {"regarding", {{"kind", "Pod"}, {"name", "p"}}},
            {"note", "pulled"},
            {"reason", "Pulled"},
            {"type", "Normal"},
            {"reportingController", "kubelet"},
            {"eventTime", "2026-01-01T00:00:00.000000Z"}};
  ASSERT_OK_AND_ASSIGN(json created, api_->Create(v1, "default", e));
  EXPECT_EQ(created["note"], "pulled");
  ASSERT_OK_AND_ASSIGN(json as_core, api_->Get(core, "default", "e1"));
  EXPECT_EQ(as_core["apiVersion"], "v1");
  EXPECT_EQ(as_core["message"], "pulled");
  EXPECT_EQ(as_core["involvedObject"]["name"], "p");
  EXPECT_EQ(as_core["reportingComponent"], "kubelet");
}

}  // namespace
}  // namespace kobs::sim
