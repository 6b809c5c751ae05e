// Patch content types, RFC 6902 JSON Patch and RFC 7386 merge patch (with their appendix
// examples), strategic merge patch on built-in kinds, and server-side apply with managedFields.
#include "k8s/patch.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "status_matchers.h"

namespace kobs::k8s {
namespace {

using ::kobs::testing::IsOk;
using ::kobs::testing::StatusIs;
using ::testing::HasSubstr;
using json = nlohmann::json;

json J(const char* text) { return json::parse(text); }

// ---- content types ----

TEST(PatchTypeTest, ParsesTheFourContentTypes) {
  for (PatchType t : {PatchType::kJsonPatch, PatchType::kMergePatch,
                      PatchType::kStrategicMergePatch, PatchType::kApplyPatch}) {
    auto parsed = PatchTypeFromContentType(ContentTypeFor(t));
    ASSERT_THAT(parsed, IsOk());
    EXPECT_EQ(*parsed, t);
  }
  auto with_params = PatchTypeFromContentType(" Application/Merge-Patch+JSON ; charset=utf-8");
  ASSERT_THAT(with_params, IsOk());
  EXPECT_EQ(*with_params, PatchType::kMergePatch);
  EXPECT_EQ(ContentTypeFor(PatchType::kApplyPatch), "application/apply-patch+yaml");
}

TEST(PatchTypeTest, RefusesOtherTypesNamingThem) {
  for (const char* bad : {"application/json", "", "text/plain", "application/apply-patch+json",
                          "application/apply-patch+cbor", "application/json-patch+jsonx"}) {
    auto parsed = PatchTypeFromContentType(bad);
    EXPECT_THAT(parsed, StatusIs(absl::StatusCode::kInvalidArgument)) << bad;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(std::string("\"") + bad + "\""));
  }
  EXPECT_THAT(
      std::string(PatchTypeFromContentType("application/apply-patch+json").status().message()),
      HasSubstr("application/apply-patch+yaml"));
}

// ---- RFC 6902 ----

struct JsonPatchCase {
  const char* name;
  const char* doc;
  const char* patch;
  const char* want;  // nullptr: the patch must fail with `code`
  absl::StatusCode code = absl::StatusCode::kOk;
};

void RunJsonPatchCases(const std::vector<JsonPatchCase>& cases) {
  for (const auto& c : cases) {
    auto got = ApplyJsonPatch(J(c.doc), J(c.patch));
    if (c.want == nullptr) {
      EXPECT_THAT(got, StatusIs(c.code)) << "case " << c.name;
    } else {
      ASSERT_THAT(got, IsOk()) << "case " << c.name;
      EXPECT_EQ(*got, J(c.want)) << "case " << c.name;
    }
  }
}

TEST(JsonPatchTest, Rfc6902AppendixA) {
  // A.13 (duplicate "op" members) is a JSON parsing question: nlohmann keeps the last member.
  RunJsonPatchCases({
      {"A.1", R"({"foo":"bar"})", R"([{"op":"add","path":"/baz","value":"qux"}])",
       R"({"baz":"qux","foo":"bar"})"},
      {"A.2", R"({"foo":["bar","baz"]})", R"([{"op":"add","path":"/foo/1","value":"qux"}])",
       R"({"foo":["bar","qux","baz"]})"},
      {"A.3", R"({"baz":"qux","foo":"bar"})", R"([{"op":"remove","path":"/baz"}])",
       R"({"foo":"bar"})"},
      {"A.4", R"({"foo":["bar","qux","baz"]})", R"([{"op":"remove","path":"/foo/1"}])",
       R"({"foo":["bar","baz"]})"},
      {"A.5", R"({"baz":"qux","foo":"bar"})", R"([{"op":"replace","path":"/baz","value":"boo"}])",
       R"({"baz":"boo","foo":"bar"})"},
      {"A.6", R"({"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}})",
       R"([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}])",
       R"({"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}})"},
      {"A.7", R"({"foo":["all","grass","cows","eat"]})",
       R"([{"op":"move","from":"/foo/1","path":"/foo/3"}])",
       R"({"foo":["all","cows","eat","grass"]})"},
      {"A.8", R"({"baz":"qux","foo":["a",2,"c"]})",
       R"([{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}])",
       R"({"baz":"qux","foo":["a",2,"c"]})"},
      {"A.9", R"({"baz":"qux"})", R"([{"op":"test","path":"/baz","value":"bar"}])", nullptr,
       absl::StatusCode::kFailedPrecondition},
      {"A.10", R"({"foo":"bar"})", R"([{"op":"add","path":"/child","value":{"grandchild":{}}}])",
       R"({"foo":"bar","child":{"grandchild":{}}})"},
      {"A.11", R"({"foo":"bar"})", R"([{"op":"add","path":"/baz","value":"qux","xyz":123}])",
       R"({"foo":"bar","baz":"qux"})"},
      {"A.12", R"({"foo":"bar"})", R"([{"op":"add","path":"/baz/bat","value":"qux"}])", nullptr,
       absl::StatusCode::kFailedPrecondition},
      {"A.14", R"({"/":9,"~1":10})", R"([{"op":"test","path":"/~01","value":10}])",
       R"({"/":9,"~1":10})"},
      {"A.15", R"({"/":9,"~1":10})", R"([{"op":"test","path":"/~01","value":"10"}])", nullptr,
       absl::StatusCode::kFailedPrecondition},
      {"A.16", R"({"foo":["bar"]})", R"([{"op":"add","path":"/foo/-","value":["abc","def"]}])",
       R"({"foo":["bar",["abc","def"]]})"},
  });
}

TEST(JsonPatchTest, MoreOperations) {
  RunJsonPatchCases({
      {"replace the root", R"({"a":1})", R"([{"op":"replace","path":"","value":[1]}])", "[1]"},
      {"add at the root", R"({"a":1})", R"([{"op":"add","path":"","value":{"b":2}}])",
       R"({"b":2})"},
      {"copy", R"({"a":{"x":1}})", R"([{"op":"copy","from":"/a","path":"/b"}])",
       R"({"a":{"x":1},"b":{"x":1}})"},
      {"move onto itself", R"({"a":1})", R"([{"op":"move","from":"/a","path":"/a"}])",
       R"({"a":1})"},
      {"empty key and slash key", R"({"":1,"a/b":2})",
       R"([{"op":"replace","path":"/","value":3},{"op":"remove","path":"/a~1b"}])", R"({"":3})"},
      {"numbers compare by value", R"({"n":1})", R"([{"op":"test","path":"/n","value":1.0}])",
       R"({"n":1})"},
      {"append to the end", R"({"l":[1]})", R"([{"op":"add","path":"/l/1","value":2}])",
       R"({"l":[1,2]})"},
      {"labels via ~1", R"({"metadata":{"labels":{}}})",
       R"([{"op":"add","path":"/metadata/labels/app.kubernetes.io~1name","value":"web"}])",
       R"({"metadata":{"labels":{"app.kubernetes.io/name":"web"}}})"},
      {"empty patch", R"({"a":1})", "[]", R"({"a":1})"},
  });
}

TEST(JsonPatchTest, ErrorsAreInvalidArgumentOrFailedPrecondition) {
  constexpr auto kBad = absl::StatusCode::kInvalidArgument;
  constexpr auto kFails = absl::StatusCode::kFailedPrecondition;
  RunJsonPatchCases({
      {"patch is an object", "{}", R"({"op":"add"})", nullptr, kBad},
      {"operation is a string", "{}", R"(["add"])", nullptr, kBad},
      {"no op", "{}", R"([{"path":"/a","value":1}])", nullptr, kBad},
      {"op is a number", "{}", R"([{"op":1,"path":"/a"}])", nullptr, kBad},
      {"unknown op", "{}", R"([{"op":"frobnicate","path":"/a"}])", nullptr, kBad},
      {"no path", "{}", R"([{"op":"add","value":1}])", nullptr, kBad},
      {"no value", "{}", R"([{"op":"add","path":"/a"}])", nullptr, kBad},
      {"no from", R"({"a":1})", R"([{"op":"move","path":"/b"}])", nullptr, kBad},
      {"pointer without slash", R"({"a":1})", R"([{"op":"remove","path":"a"}])", nullptr, kBad},
      {"bad escape", R"({"a":1})", R"([{"op":"remove","path":"/~2"}])", nullptr, kBad},
      {"dangling escape", R"({"a":1})", R"([{"op":"remove","path":"/a~"}])", nullptr, kBad},
      {"move into own child", R"({"a":{"b":1}})", R"([{"op":"move","from":"/a","path":"/a/c"}])",
       nullptr, kBad},
      {"remove the document", R"({"a":1})", R"([{"op":"remove","path":""}])", nullptr, kBad},
      {"remove missing", R"({"a":1})", R"([{"op":"remove","path":"/b"}])", nullptr, kFails},
      {"replace missing", R"({"a":1})", R"([{"op":"replace","path":"/b","value":1}])", nullptr,
       kFails},
      {"test missing", R"({"a":1})", R"([{"op":"test","path":"/b","value":1}])", nullptr, kFails},
      {"index past the end", R"({"l":[1]})", R"([{"op":"add","path":"/l/3","value":1}])", nullptr,
       kFails},
      {"leading zero", R"({"l":[1,2]})", R"([{"op":"remove","path":"/l/01"}])", nullptr, kFails},
      {"dash for remove", R"({"l":[1]})", R"([{"op":"remove","path":"/l/-"}])", nullptr, kFails},
      {"negative index", R"({"l":[1]})", R"([{"op":"remove","path":"/l/-1"}])", nullptr, kFails},
      {"huge index", R"({"l":[1]})", R"([{"op":"remove","path":"/l/99999999999999999999999"}])",
       nullptr, kFails},
      {"add into a string", R"({"s":"x"})", R"([{"op":"add","path":"/s/a","value":1}])", nullptr,
       kFails},
      {"copy from missing", R"({"a":1})", R"([{"op":"copy","from":"/b","path":"/c"}])", nullptr,
       kFails},
  });
}

TEST(JsonPatchTest, MessagesNameTheOperation) {
  auto got = ApplyJsonPatch(J(R"({"a":1})"), J(R"([{"op":"test","path":"/a","value":1},
                                                     {"op":"test","path":"/a","value":2}])"));
  ASSERT_THAT(got, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(got.status().message(),
            "json patch operation 1 (test /a): test failed: /a is 1, not 2");
  auto missing = ApplyJsonPatch(J(R"({"a":{}})"), J(R"([{"op":"remove","path":"/a/b/c"}])"));
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("path /a/b/c: member \"b\" does not exist"));
}

json Nested(int levels) {
  json v = 1;
  for (int i = 0; i < levels; ++i) v = json::array({v});
  return v;
}

TEST(JsonPatchTest, BoundsDepthAndCopies) {
  EXPECT_THAT(ApplyJsonPatch(Nested(99), json::array()), IsOk()) << "100 levels are fine";
  EXPECT_THAT(ApplyJsonPatch(Nested(100), json::array()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  json add = {{{"op", "add"}, {"path", "/a"}, {"value", Nested(99)}}};
  EXPECT_THAT(ApplyJsonPatch(json::object(), add), StatusIs(absl::StatusCode::kInvalidArgument))
      << "the result would be 101 levels deep";

  json doc = {{"a", json::array()}};
  for (int i = 0; i < 1000; ++i) doc["a"].push_back(i);
  json doubling = json::array();
  for (int i = 0; i < 30; ++i) {
    doubling.push_back({{"op", "copy"}, {"from", ""}, {"path", "/c" + std::to_string(i)}});
  }
  auto got = ApplyJsonPatch(doc, doubling);
  EXPECT_THAT(got, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("copies more than"));
}

TEST(PatchTest, HostileNestingIsRefusedByEveryFunction) {
  // Built by the (iterative) parser: copying such a value would itself overflow the stack.
  const std::string brackets = std::string(100000, '[') + std::string(100000, ']');
  const json deep = json::parse(brackets);
  const json obj = json::object();
  EXPECT_THAT(ApplyJsonPatch(deep, json::array()), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ApplyMergePatch(obj, deep), StatusIs(absl::StatusCode::kInvalidArgument));
  const json deep_object = json::parse(R"({"a":)" + brackets + "}");
  EXPECT_THAT(ApplyStrategicMergePatch(obj, deep_object),
              StatusIs(absl::StatusCode::kInvalidArgument));
  const json applied =
      json::parse(R"({"apiVersion":"v1","kind":"ConfigMap","data":)" + brackets + "}");
  EXPECT_THAT(ServerSideApply(nullptr, applied, {.manager = "m"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RecordUpdate(nullptr, applied, "m", ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// ---- RFC 7386 ----

TEST(MergePatchTest, Rfc7386AppendixA) {
  const char* cases[][3] = {
      {R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
      {R"({"a":"b"})", R"({"a":null})", R"({})"},
      {R"({"a":"b","b":"c"})", R"({"a":null})", R"({"b":"c"})"},
      {R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})"},
      {R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})"},
      {R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})", R"({"a":{"b":"d"}})"},
      {R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
      {R"(["a","b"])", R"(["c","d"])", R"(["c","d"])"},
      {R"({"a":"b"})", R"(["c"])", R"(["c"])"},
      {R"({"a":"foo"})", "null", "null"},
      {R"({"a":"foo"})", R"("bar")", R"("bar")"},
      {R"({"e":null})", R"({"a":1})", R"({"e":null,"a":1})"},
      {R"([1,2])", R"({"a":"b","c":null})", R"({"a":"b"})"},
      {R"({})", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})"},
  };
  for (const auto& [doc, patch, want] : cases) {
    auto got = ApplyMergePatch(J(doc), J(patch));
    ASSERT_THAT(got, IsOk());
    EXPECT_EQ(*got, J(want)) << "case " << doc << " + " << patch;
  }
}

TEST(MergePatchTest, Rfc7386Section3Example) {
  auto got = ApplyMergePatch(J(R"({"title":"Goodbye!","author":{"givenName":"John",
      "familyName":"Doe"},"tags":["example","sample"],"content":"This will be unchanged"})"),
                             J(R"({"title":"Hello!","phoneNumber":"+01-123-456-7890",
      "author":{"familyName":null},"tags":["example"]})"));
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(*got, J(R"({"title":"Hello!","author":{"givenName":"John"},"tags":["example"],
      "content":"This will be unchanged","phoneNumber":"+01-123-456-7890"})"));
}

// ---- strategic merge ----

class StrategicMergeTest : public ::testing::Test {
 protected:
  // Applies `patch` to the deployment and returns the pod template spec, or fails the test.
  json Patch(const char* patch) {
    auto got = ApplyStrategicMergePatch(deployment_, J(patch));
    EXPECT_THAT(got, IsOk()) << patch;
    return got.ok() ? *got : json();
  }
  static json Names(const json& list) {
    json names = json::array();
    for (const auto& e : list) names.push_back(e["name"]);
    return names;
  }
  absl::Status Fails(const char* patch) {
    return ApplyStrategicMergePatch(deployment_, J(patch)).status();
  }

  json deployment_ = J(R"({
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web", "tier": "fe"},
                 "finalizers": ["a.example.com/x", "b.example.com/y"]},
    "spec": {
      "replicas": 2,
      "selector": {"matchLabels": {"app": "web"}},
      "template": {
        "metadata": {"labels": {"app": "web"}},
        "spec": {
          "containers": [
            {"name": "web", "image": "nginx:1.25",
             "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
             "ports": [{"containerPort": 80, "protocol": "TCP"}]},
            {"name": "sidecar", "image": "envoy:1.28"}],
          "tolerations": [{"key": "k", "operator": "Exists"}],
          "volumes": [{"name": "data", "emptyDir": {}}]}}},
    "status": {"conditions": [{"type": "Available", "status": "True"},
                              {"type": "Progressing", "status": "True"}]}})");
};

TEST_F(StrategicMergeTest, ChangesAContainerImageByName) {
  json got = Patch(R"({"spec":{"template":{"spec":{"containers":[
      {"name":"web","image":"nginx:1.26"}]}}}})");
  const json& containers = got["spec"]["template"]["spec"]["containers"];
  EXPECT_EQ(Names(containers), J(R"(["web","sidecar"])"));
  EXPECT_EQ(containers[0]["image"], "nginx:1.26");
  EXPECT_EQ(containers[0]["env"], deployment_["spec"]["template"]["spec"]["containers"][0]["env"]);
  EXPECT_EQ(containers[1], deployment_["spec"]["template"]["spec"]["containers"][1]);
  EXPECT_EQ(got["spec"]["replicas"], 2);
}

TEST_F(StrategicMergeTest, MergesEnvAndPortsByKey) {
  json got = Patch(R"({"spec":{"template":{"spec":{"containers":[{"name":"web",
      "env":[{"name":"B","value":"20"},{"name":"C","value":"3"}],
      "ports":[{"containerPort":80,"name":"http"}]}]}}}})");
  const json& web = got["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(web["env"], J(R"([{"name":"A","value":"1"},{"name":"B","value":"20"},
                              {"name":"C","value":"3"}])"));
  EXPECT_EQ(web["ports"], J(R"([{"containerPort":80,"protocol":"TCP","name":"http"}])"));
}

TEST_F(StrategicMergeTest, NewElementsGoFirstAsKubeApiserverOrdersThem) {
  json got = Patch(R"({"spec":{"template":{"spec":{"containers":[
      {"name":"debug","image":"busybox"}]}}}})");
  EXPECT_EQ(Names(got["spec"]["template"]["spec"]["containers"]),
            J(R"(["debug","web","sidecar"])"));
}

TEST_F(StrategicMergeTest, PatchDeleteRemovesAContainer) {
  json got = Patch(R"({"spec":{"template":{"spec":{"containers":[
      {"name":"sidecar","$patch":"delete"}]}}}})");
  EXPECT_EQ(Names(got["spec"]["template"]["spec"]["containers"]), J(R"(["web"])"));
}

TEST_F(StrategicMergeTest, PatchReplaceInAListReplacesTheList) {
  json got = Patch(R"({"spec":{"template":{"spec":{"containers":[
      {"$patch":"replace"},{"name":"only","image":"x","env":[{"name":"A","value":null}]}]}}}})");
  EXPECT_EQ(got["spec"]["template"]["spec"]["containers"],
            J(R"([{"name":"only","image":"x","env":[{"name":"A"}]}])"));
}

TEST_F(StrategicMergeTest, PatchDirectivesOnMaps) {
  json got = Patch(R"({"metadata":{"labels":{"$patch":"replace","team":"shop"}}})");
  EXPECT_EQ(got["metadata"]["labels"], J(R"({"team":"shop"})"));
  got = Patch(R"({"status":{"$patch":"delete"}})");
  EXPECT_FALSE(got.contains("status"));
  got = Patch(R"({"metadata":{"$patch":"merge","labels":{"tier":null}}})");
  EXPECT_EQ(got["metadata"]["labels"], J(R"({"app":"web"})"));
}

TEST_F(StrategicMergeTest, NullDeletesAndNewSubtreesAreCleaned) {
  json got = Patch(R"({"spec":{"replicas":null},
      "metadata":{"annotations":{"a":"1","b":null,"c":{"$patch":"delete"}}}})");
  EXPECT_FALSE(got["spec"].contains("replicas"));
  EXPECT_EQ(got["metadata"]["annotations"], J(R"({"a":"1"})"));
}

TEST_F(StrategicMergeTest, FinalizersAreASet) {
  json got = Patch(R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["a.example.com/x"]}})");
  EXPECT_EQ(got["metadata"]["finalizers"], J(R"(["b.example.com/y"])"));
  got = Patch(R"({"metadata":{"finalizers":["b.example.com/y"]}})");
  EXPECT_EQ(got["metadata"]["finalizers"], deployment_["metadata"]["finalizers"]) << "no dups";
  got = Patch(R"({"metadata":{"finalizers":["c.example.com/z"],
                              "$deleteFromPrimitiveList/finalizers":["b.example.com/y"]}})");
  EXPECT_EQ(got["metadata"]["finalizers"], J(R"(["c.example.com/z","a.example.com/x"])"));
}

TEST_F(StrategicMergeTest, RetainKeysClearsOtherFields) {
  json got = Patch(R"({"spec":{"template":{"spec":{"volumes":[
      {"name":"data","$retainKeys":["name","hostPath"],"hostPath":{"path":"/d"}}]}}}})");
  EXPECT_EQ(got["spec"]["template"]["spec"]["volumes"],
            J(R"([{"name":"data","hostPath":{"path":"/d"}}])"));
  absl::Status s = Fails(R"({"spec":{"template":{"spec":{"volumes":[
      {"name":"data","$retainKeys":["name"],"hostPath":{"path":"/d"}}]}}}})");
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(s.message()), HasSubstr("\"hostPath\" is in the patch but not in"));
}

TEST_F(StrategicMergeTest, SetElementOrderReordersTheMergedList) {
  json got = Patch(R"({"spec":{"template":{"spec":{
      "$setElementOrder/containers":[{"name":"sidecar"},{"name":"web"}],
      "containers":[{"name":"web","image":"nginx:1.26"}]}}}})");
  const json& containers = got["spec"]["template"]["spec"]["containers"];
  EXPECT_EQ(Names(containers), J(R"(["sidecar","web"])"));
  EXPECT_EQ(containers[1]["image"], "nginx:1.26");
  got = Patch(R"({"metadata":{"$setElementOrder/finalizers":["b.example.com/y",
                                                              "a.example.com/x"]}})");
  EXPECT_EQ(got["metadata"]["finalizers"], J(R"(["b.example.com/y","a.example.com/x"])"));
  EXPECT_THAT(Fails(R"({"spec":{"template":{"spec":{
      "$setElementOrder/containers":[{"name":"sidecar"}],
      "containers":[{"name":"web","image":"x"}]}}}})"),
              StatusIs(absl::StatusCode::kInvalidArgument))
      << "the order list must name every patched element";
}

TEST_F(StrategicMergeTest, ListsWithoutAMergeKeyAreReplaced) {
  json got = Patch(R"({"spec":{"template":{"spec":{"tolerations":[{"key":"other"}],
      "containers":[{"name":"web","envFrom":[{"configMapRef":{"name":"c"}}]}]}}}})");
  EXPECT_EQ(got["spec"]["template"]["spec"]["tolerations"], J(R"([{"key":"other"}])"));
  EXPECT_EQ(got["spec"]["template"]["spec"]["containers"][0]["envFrom"],
            J(R"([{"configMapRef":{"name":"c"}}])"));
}

TEST_F(StrategicMergeTest, ConditionsMergeByType) {
  json got = Patch(R"({"status":{"conditions":[{"type":"Available","status":"False"}]}})");
  EXPECT_EQ(got["status"]["conditions"], J(R"([{"type":"Available","status":"False"},
                                               {"type":"Progressing","status":"True"}])"));
}

TEST_F(StrategicMergeTest, MalformedPatchesAreInvalidArgumentWithThePath) {
  struct Case {
    const char* patch;
    const char* message;
  } cases[] = {
      {R"({"spec":{"template":{"spec":{"containers":[{"image":"x"}]}}}})",
       R"(.spec.template.spec.containers: element 0 has no merge key "name")"},
      {R"({"spec":{"template":{"spec":{"containers":["web"]}}}})", "not an object"},
      {R"({"spec":{"template":{"spec":{"containers":[{"name":"web","$patch":"bogus"}]}}}})",
       "unknown $patch directive"},
      {R"({"spec":{"$foo":1}})", R"(.spec: unknown directive "$foo")"},
      {R"({"spec":{"$patch":7}})", "unknown $patch directive 7"},
      {R"({"metadata":{"finalizers":[{"a":1}]}})", "in a list of primitives"},
      {R"({"metadata":{"$deleteFromPrimitiveList/finalizers":"x"}})", "must be a list"},
      {R"({"metadata":{"$setElementOrder/":[]}})", "names no field"},
      {R"({"metadata":{"$retainKeys":"labels"}})", "$retainKeys must be a list"},
      {R"({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"image":"x"}]}}}})",
       "has no merge key"},
  };
  for (const auto& c : cases) {
    absl::Status s = Fails(c.patch);
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument)) << c.patch;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.message)) << c.patch;
  }
  EXPECT_THAT(ApplyStrategicMergePatch(deployment_, J("[]")),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ApplyStrategicMergePatch(J("[1]"), J("{}")),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(StrategicMergeKindsTest, TableFollowsPathsAndKinds) {
  json pod = J(R"({"apiVersion":"v1","kind":"Pod","spec":{"containers":[
      {"name":"a","image":"1","volumeMounts":[{"mountPath":"/x","name":"v"}]}]}})");
  auto got = ApplyStrategicMergePatch(pod, J(R"({"spec":{"containers":[{"name":"a",
      "volumeMounts":[{"mountPath":"/y","name":"w"}]}]}})"));
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->at("spec")["containers"][0]["volumeMounts"].size(), 2u);

  json cron = J(R"({"apiVersion":"batch/v1","kind":"CronJob","spec":{"jobTemplate":{"spec":
      {"template":{"spec":{"containers":[{"name":"a","image":"1"},
                                         {"name":"b","image":"1"}]}}}}}})");
  got = ApplyStrategicMergePatch(cron, J(R"({"spec":{"jobTemplate":{"spec":{"template":{"spec":
      {"containers":[{"name":"b","image":"2"}]}}}}}})"));
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ((*got)["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"],
            J(R"([{"name":"a","image":"1"},{"name":"b","image":"2"}])"));

  json service = J(R"({"apiVersion":"v1","kind":"Service","spec":{"ports":[
      {"name":"http","port":80},{"name":"https","port":443}]}})");
  got = ApplyStrategicMergePatch(service,
                                 J(R"({"spec":{"ports":[{"port":443,"targetPort":8443}]}})"));
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ((*got)["spec"]["ports"], J(R"([{"name":"http","port":80},
                                           {"name":"https","port":443,"targetPort":8443}])"));

  json widget = J(R"({"apiVersion":"example.com/v1","kind":"Widget","spec":{"ports":[
      {"port":80,"name":"a"}]}})");
  got = ApplyStrategicMergePatch(widget, J(R"({"spec":{"ports":[{"port":81}]}})"));
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ((*got)["spec"]["ports"], J(R"([{"port":81}])")) << "Service's rule needs kind Service";
}

TEST(StrategicMergeKindsTest, RootsAndMetadataLists) {
  auto got = ApplyStrategicMergePatch(nullptr, J(R"({"a":{"b":1,"c":null}})"));
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(*got, J(R"({"a":{"b":1}})")) << "a null document counts as {}";
  got = ApplyStrategicMergePatch(J(R"({"a":1})"), J(R"({"$patch":"delete"})"));
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(*got, json::object());
  got = ApplyStrategicMergePatch(J(R"({"a":1})"), J(R"({"$patch":"replace","b":2})"));
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(*got, J(R"({"b":2})"));

  json rs = J(R"({"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"ownerReferences":[
      {"uid":"1","name":"a"},{"uid":"2","name":"b"}]},"spec":{"template":{"spec":{
      "initContainers":[{"name":"init","image":"1"}]}}}})");
  got = ApplyStrategicMergePatch(rs, J(R"({"metadata":{"ownerReferences":[
      {"uid":"2","controller":true},{"uid":"1","$patch":"delete"}]},
      "spec":{"template":{"spec":{"initContainers":[{"name":"init","image":"2"}]}}}})"));
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ((*got)["metadata"]["ownerReferences"],
            J(R"([{"uid":"2","name":"b","controller":true}])"));
  EXPECT_EQ((*got)["spec"]["template"]["spec"]["initContainers"],
            J(R"([{"name":"init","image":"2"}])"));
}

TEST(StrategicMergeKindsTest, SupportsStrategicMergeOnlyForBuiltInKinds) {
  EXPECT_TRUE(SupportsStrategicMerge("apps/v1", "Deployment"));
  EXPECT_TRUE(SupportsStrategicMerge("v1", "Pod"));
  EXPECT_TRUE(SupportsStrategicMerge("v1", "ConfigMap"));
  EXPECT_TRUE(SupportsStrategicMerge("batch/v1", "CronJob"));
  EXPECT_TRUE(SupportsStrategicMerge("networking.k8s.io/v1", "NetworkPolicy"));
  EXPECT_TRUE(SupportsStrategicMerge("policy/v1", "PodDisruptionBudget"));
  EXPECT_TRUE(SupportsStrategicMerge("rbac.authorization.k8s.io/v1", "ClusterRole"));
  EXPECT_TRUE(SupportsStrategicMerge("coordination.k8s.io/v1", "Lease"));
  EXPECT_TRUE(SupportsStrategicMerge("events.k8s.io/v1", "Event"));
  EXPECT_FALSE(SupportsStrategicMerge("example.com/v1", "Widget")) << "custom resource";
  EXPECT_FALSE(SupportsStrategicMerge("monitoring.coreos.com/v1", "ServiceMonitor"));
  EXPECT_FALSE(SupportsStrategicMerge("apps/v1", "Widget"));
  EXPECT_FALSE(SupportsStrategicMerge("v1", "Deployment"));
  EXPECT_FALSE(SupportsStrategicMerge("apps/v1beta1", "Deployment"));
  EXPECT_FALSE(SupportsStrategicMerge("", ""));
}

// ---- server-side apply ----

class ServerSideApplyTest : public ::testing::Test {
 protected:
  static json Config(int replicas, const char* image, const char* labels = R"({"app":"web"})") {
    json c = J(R"({"apiVersion":"apps/v1","kind":"Deployment",
        "metadata":{"name":"web","namespace":"shop"},
        "spec":{"selector":{"matchLabels":{"app":"web"}},
                "template":{"metadata":{"labels":{"app":"web"}},
                            "spec":{"containers":[{"name":"web"}]}}}})");
    c["metadata"]["labels"] = J(labels);
    c["spec"]["replicas"] = replicas;
    c["spec"]["template"]["spec"]["containers"][0]["image"] = image;
    return c;
  }
  static const json* EntryOf(const json& object, const std::string& manager,
                             const std::string& operation) {
    for (const auto& e : object["metadata"]["managedFields"]) {
      if (e["manager"] == manager && e["operation"] == operation) return &e;
    }
    return nullptr;
  }
  json Apply(const json& live, const json& config, const std::string& manager = "kubectl",
             bool force = false) {
    auto got = ServerSideApply(live, config, {.manager = manager, .force = force, .now = now_});
    EXPECT_THAT(got, IsOk());
    return got.ok() ? *got : json();
  }

  std::string now_ = "2024-05-01T10:00:00Z";
};

TEST_F(ServerSideApplyTest, CreateRecordsTheAppliedFields) {
  json got = Apply(nullptr, Config(3, "nginx:1.25"));
  EXPECT_EQ(got["spec"]["replicas"], 3);
  ASSERT_EQ(got["metadata"]["managedFields"].size(), 1u);
  EXPECT_EQ(got["metadata"]["managedFields"][0], J(R"({
      "manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1",
      "time": "2024-05-01T10:00:00Z", "fieldsType": "FieldsV1",
      "fieldsV1": {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {
          "f:replicas": {},
          "f:selector": {"f:matchLabels": {"f:app": {}}},
          "f:template": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {
                ".": {}, "f:image": {}, "f:name": {}}}}}}}})"));
}

TEST_F(ServerSideApplyTest, ReapplyUpdatesValuesAndIsStable) {
  json live = Apply(nullptr, Config(3, "nginx:1.25"));
  json updated = Apply(live, Config(3, "nginx:1.26"));
  EXPECT_EQ(updated["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.26");
  EXPECT_EQ(Apply(updated, Config(3, "nginx:1.26")), updated);
}

TEST_F(ServerSideApplyTest, FieldsDroppedFromTheConfigAreRemoved) {
  json live = Apply(nullptr, Config(3, "nginx:1.25", R"({"app":"web","tier":"fe"})"));
  json two = Config(3, "nginx:1.25");
  two["spec"]["template"]["spec"]["containers"].push_back({{"name", "sidecar"}, {"image", "e"}});
  live = Apply(live, two);
  EXPECT_EQ(live["metadata"]["labels"], J(R"({"app":"web"})"));
  EXPECT_EQ(live["spec"]["template"]["spec"]["containers"].size(), 2u);
  live = Apply(live, Config(3, "nginx:1.25"));
  EXPECT_EQ(live["spec"]["template"]["spec"]["containers"],
            J(R"([{"name":"web","image":"nginx:1.25"}])"));
  json no_replicas = Config(3, "nginx:1.25");
  no_replicas["spec"].erase("replicas");
  live = Apply(live, no_replicas);
  EXPECT_FALSE(live["spec"].contains("replicas"));
}

TEST_F(ServerSideApplyTest, FieldsOthersOwnSurviveRemoval) {
  json live = Apply(nullptr, Config(3, "nginx:1.25", R"({"app":"web","tier":"fe"})"));
  live = Apply(live, Config(3, "nginx:1.25", R"({"tier":"fe"})"), "other");  // shares tier
  json edited = live;
  edited["metadata"]["labels"]["team"] = "shop";
  auto updated = RecordUpdate(live, edited, "kubectl-label", now_);
  ASSERT_THAT(updated, IsOk());
  live = Apply(*updated, Config(3, "nginx:1.25"));
  EXPECT_EQ(live["metadata"]["labels"], J(R"({"app":"web","tier":"fe","team":"shop"})"));
  live = Apply(live, Config(3, "nginx:1.25", R"({})"), "other");
  EXPECT_EQ(live["metadata"]["labels"], J(R"({"app":"web","team":"shop"})"))
      << "nobody owns tier any more";
}

TEST_F(ServerSideApplyTest, ConflictWithAnotherManager) {
  auto created = RecordUpdate(nullptr, Config(2, "nginx:1.25"), "kubectl-client-side-apply", now_);
  ASSERT_THAT(created, IsOk());
  auto got = ServerSideApply(*created, Config(3, "nginx:1.25"), {.manager = "kubectl"});
  ASSERT_THAT(got, StatusIs(absl::StatusCode::kAborted));
  EXPECT_EQ(got.status().message(),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using "
            "apps/v1: .spec.replicas");

  got = ServerSideApply(*created, Config(3, "nginx:1.26"), {.manager = "kubectl"});
  ASSERT_THAT(got, StatusIs(absl::StatusCode::kAborted));
  EXPECT_EQ(got.status().message(),
            "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using "
            "apps/v1:\n- .spec.replicas\n- .spec.template.spec.containers[name=\"web\"].image");

  json same = Apply(*created, Config(2, "nginx:1.25"));
  EXPECT_TRUE(EntryOf(same, "kubectl-client-side-apply", "Update")
                  ->at("fieldsV1")["f:spec"]
                  .contains("f:replicas"))
      << "same value: shared ownership";
}

TEST_F(ServerSideApplyTest, ForceTakesOwnership) {
  auto created = RecordUpdate(nullptr, Config(2, "nginx:1.25"), "kubectl-client-side-apply", now_);
  ASSERT_THAT(created, IsOk());
  json got = Apply(*created, Config(3, "nginx:1.25"), "kubectl", /*force=*/true);
  EXPECT_EQ(got["spec"]["replicas"], 3);
  const json* old = EntryOf(got, "kubectl-client-side-apply", "Update");
  ASSERT_NE(old, nullptr);
  EXPECT_FALSE(old->at("fieldsV1")["f:spec"].contains("f:replicas"));
  EXPECT_TRUE(old->at("fieldsV1")["f:spec"].contains("f:template"));
  EXPECT_TRUE(EntryOf(got, "kubectl", "Apply")->at("fieldsV1")["f:spec"].contains("f:replicas"));
}

TEST_F(ServerSideApplyTest, ScaleThenApplyConflicts) {
  json live = Apply(nullptr, Config(3, "nginx:1.25"));
  json scaled = live;
  scaled["spec"]["replicas"] = 5;
  auto recorded = RecordUpdate(live, scaled, "kubectl-scale", "2024-05-01T11:00:00Z");
  ASSERT_THAT(recorded, IsOk());
  const json* scale = EntryOf(*recorded, "kubectl-scale", "Update");
  ASSERT_NE(scale, nullptr);
  EXPECT_EQ(scale->at("fieldsV1"), J(R"({"f:spec":{"f:replicas":{}}})"));
  EXPECT_EQ(scale->at("time"), "2024-05-01T11:00:00Z");
  EXPECT_FALSE(
      EntryOf(*recorded, "kubectl", "Apply")->at("fieldsV1")["f:spec"].contains("f:replicas"));

  auto got = ServerSideApply(*recorded, Config(3, "nginx:1.25"), {.manager = "kubectl"});
  EXPECT_THAT(got, StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(std::string(got.status().message()),
              HasSubstr("conflict with \"kubectl-scale\" using apps/v1: .spec.replicas"));
  json forced = Apply(*recorded, Config(3, "nginx:1.25"), "kubectl", true);
  EXPECT_EQ(forced["spec"]["replicas"], 3);
  EXPECT_EQ(EntryOf(forced, "kubectl-scale", "Update"), nullptr) << "an empty entry goes away";
}

TEST_F(ServerSideApplyTest, CustomResourcesMergeLikeMergePatchWithAtomicLists) {
  json cr = J(R"({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},
                  "spec":{"items":[{"name":"a"}],"size":1}})");
  json live = Apply(nullptr, cr);
  EXPECT_EQ(EntryOf(live, "kubectl", "Apply")->at("fieldsV1"),
            J(R"({"f:spec":{"f:items":{},"f:size":{}}})"));
  cr["spec"]["items"] = J(R"([{"name":"b"}])");
  cr["spec"].erase("size");
  live = Apply(live, cr);
  EXPECT_EQ(live["spec"], J(R"({"items":[{"name":"b"}]})"));
}

TEST_F(ServerSideApplyTest, RefusesBadInput) {
  const json config = Config(1, "x");
  EXPECT_THAT(ServerSideApply(nullptr, config, {.manager = ""}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  json no_kind = config;
  no_kind.erase("kind");
  EXPECT_THAT(ServerSideApply(nullptr, no_kind, {.manager = "m"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  json with_fields = config;
  with_fields["metadata"]["managedFields"] = json::array();
  EXPECT_THAT(ServerSideApply(nullptr, with_fields, {.manager = "m"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  json directive = config;
  directive["spec"]["$patch"] = "replace";
  auto got = ServerSideApply(nullptr, directive, {.manager = "m"});
  EXPECT_THAT(got, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("\"$patch\" at .spec"));
  json pod = J(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"web"}})");
  EXPECT_THAT(ServerSideApply(pod, config, {.manager = "m"}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  json no_key = config;
  no_key["spec"]["template"]["spec"]["containers"][0].erase("name");
  got = ServerSideApply(nullptr, no_key, {.manager = "m"});
  EXPECT_THAT(got, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("no merge key \"name\""));
}

TEST_F(ServerSideApplyTest, NullsInTheConfigCountAsAbsent) {
  json live = Apply(nullptr, Config(3, "nginx:1.25", R"({"app":"web","tier":"fe"})"));
  json config = Config(3, "nginx:1.25", R"({"app":"web","tier":null})");
  live = Apply(live, config);
  EXPECT_EQ(live["metadata"]["labels"], J(R"({"app":"web"})"));
}

TEST_F(ServerSideApplyTest, MalformedManagedFieldsAreKeptAndIgnored) {
  json live = Apply(nullptr, Config(3, "nginx:1.25"));
  live["metadata"]["managedFields"].push_back("garbage");
  live["metadata"]["managedFields"].push_back({{"manager", "x"},
                                               {"operation", "Update"},
                                               {"fieldsType", "FieldsV1"},
                                               {"fieldsV1", {{"bogus", {}}}}});
  json got = Apply(live, Config(4, "nginx:1.25"));
  EXPECT_EQ(got["spec"]["replicas"], 4);
  EXPECT_EQ(got["metadata"]["managedFields"].size(), 3u);
  EXPECT_EQ(got["metadata"]["managedFields"][1], "garbage");
}

TEST(RecordUpdateTest, SurvivesStringsThatAreNotUtf8) {
  // Values built in code (not parsed) may hold any bytes; messages and tokens must cope.
  json object = J(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}})");
  object["metadata"]["finalizers"] = {"\xff\xfe"};
  object["metadata"]["labels"] = {{"\xc3", "\xff"}};
  auto created = RecordUpdate(nullptr, object, "m", "t");
  ASSERT_THAT(created, IsOk());
  json changed = *created;
  changed["metadata"]["labels"]["\xc3"] = "x";
  EXPECT_THAT(RecordUpdate(*created, changed, "n", "t"), IsOk());
  json applied = object;
  applied["metadata"]["labels"]["\xc3"] = "y";
  auto conflict = ServerSideApply(*created, applied, {.manager = "kubectl"});
  EXPECT_THAT(conflict, StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(ServerSideApply(*created, applied, {.manager = "kubectl", .force = true}), IsOk());
  auto failed = ApplyJsonPatch(
      object,
      json::array({{{"op", "test"}, {"path", "/metadata/labels/\xc3"}, {"value", "\xfe"}}}));
  EXPECT_THAT(failed, StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(RecordUpdateTest, CreateOwnsEverythingAndRemovedFieldsAreDropped) {
  json created = J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c",
      "finalizers":["f"]},"data":{"a":"1","b":"2"}})");
  auto got = RecordUpdate(nullptr, created, "kubectl-create", "t1");
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ((*got)["metadata"]["managedFields"], J(R"([{"manager":"kubectl-create",
      "operation":"Update","apiVersion":"v1","time":"t1","fieldsType":"FieldsV1",
      "fieldsV1":{"f:data":{"f:a":{},"f:b":{}},"f:metadata":{"f:finalizers":{"v:\"f\"":{}}}}}])"));

  json edited = *got;
  edited["data"].erase("b");
  edited["data"]["c"] = "3";
  auto again = RecordUpdate(*got, edited, "editor", "t2");
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ((*again)["metadata"]["managedFields"][0]["fieldsV1"],
            J(R"({"f:data":{"f:a":{}},"f:metadata":{"f:finalizers":{"v:\"f\"":{}}}})"));
  EXPECT_EQ((*again)["metadata"]["managedFields"][0]["time"], "t1");
  EXPECT_EQ((*again)["metadata"]["managedFields"][1]["fieldsV1"], J(R"({"f:data":{"f:c":{}}})"));

  auto noop = RecordUpdate(*again, *again, "other", "t3");
  ASSERT_THAT(noop, IsOk());
  EXPECT_EQ(*noop, *again) << "an update that changes nothing records nothing";
  EXPECT_THAT(RecordUpdate(nullptr, json::array(), "m", ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(RecordUpdate(nullptr, created, "", ""), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace kobs::k8s
