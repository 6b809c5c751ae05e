// Label and field selectors: the syntax the API server takes, matching, and errors.
#include "k8s/selector.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "status_matchers.h"

namespace kobs::k8s {
namespace {

using ::kobs::testing::IsOk;
using ::testing::HasSubstr;
using Labels = std::map<std::string, std::string>;

bool Match(const std::string& sel, const Labels& labels) {
  auto s = LabelSelector::Parse(sel);
  EXPECT_THAT(s, IsOk()) << sel;
  return s.ok() && s->Matches(labels);
}

TEST(LabelSelectorTest, EveryOperator) {
  const Labels web = {{"app", "web"}, {"tier", "frontend"}, {"app.kubernetes.io/name", "shop"}};
  EXPECT_TRUE(Match("", web));
  EXPECT_TRUE(Match("app=web", web));
  EXPECT_TRUE(Match("app==web", web));
  EXPECT_FALSE(Match("app=db", web));
  EXPECT_TRUE(Match("app!=db", web));
  EXPECT_TRUE(Match("missing!=x", web)) << "!= holds for an absent label";
  EXPECT_TRUE(Match("tier in (frontend, backend)", web));
  EXPECT_FALSE(Match("tier in (backend)", web));
  EXPECT_TRUE(Match("tier notin (backend)", web));
  EXPECT_TRUE(Match("missing notin (x)", web));
  EXPECT_FALSE(Match("missing in (x)", web));
  EXPECT_TRUE(Match("app", web));
  EXPECT_FALSE(Match("!app", web));
  EXPECT_TRUE(Match("!canary", web));
  EXPECT_TRUE(Match("app.kubernetes.io/name=shop, app=web ,tier", web));
  EXPECT_FALSE(Match("app=web,tier=backend", web)) << "all requirements must hold";
  EXPECT_TRUE(Match("in", {{"in", ""}})) << "a key may be called in";
  EXPECT_TRUE(Match("empty=", {{"empty", ""}}));
}

TEST(LabelSelectorTest, MatchesObjectsAndRoundTrips) {
  nlohmann::json pod = {{"metadata", {{"name", "p"}, {"labels", {{"app", "web"}, {"n", 1}}}}}};
  auto s = LabelSelector::Parse("app in (web,api,web),!n");
  ASSERT_THAT(s, IsOk());
  EXPECT_TRUE(s->Matches(pod)) << "non-string label values are ignored";
  EXPECT_FALSE(s->Matches(nlohmann::json{{"metadata", {{"name", "q"}}}}));
  EXPECT_EQ(s->ToString(), "app in (api,web),!n");
  auto again = LabelSelector::Parse(s->ToString());
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->ToString(), s->ToString());
}

TEST(LabelSelectorTest, ErrorsPointAtTheProblem) {
  for (const char* bad : {"=x", "app=web,", "a in x", "a in (x", "a b", "a/b/c=1", "!",
                          "a/=1", "app=web;tier=x"}) {
    auto s = LabelSelector::Parse(bad);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.status().message(), HasSubstr("invalid selector")) << bad;
  }
}

TEST(FieldSelectorTest, MatchesNestedFields) {
  nlohmann::json event = {{"metadata", {{"name", "e1"}, {"namespace", "shop"}}},
                          {"involvedObject", {{"kind", "Pod"}, {"name", "api-0"}}},
                          {"type", "Warning"},
                          {"count", 3}};
  auto match = [&](const std::string& sel) {
    auto s = FieldSelector::Parse(sel);
    EXPECT_THAT(s, IsOk()) << sel;
    return s.ok() && s->Matches(event);
  };
  EXPECT_TRUE(match(""));
  EXPECT_TRUE(match("metadata.namespace=shop"));
  EXPECT_TRUE(match("involvedObject.kind=Pod,involvedObject.name==api-0"));
  EXPECT_FALSE(match("type!=Warning"));
  EXPECT_TRUE(match("count=3"));
  EXPECT_TRUE(match("spec.nodeName=")) << "a missing field is empty";
  EXPECT_TRUE(match("spec.nodeName!=node-1:x"));
  EXPECT_THAT(FieldSelector::Parse("metadata.name in (a)").status().message(),
              HasSubstr("=, == and != only"));
}

}  // namespace
}  // namespace kobs::k8s
