#include "common/yaml_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "status_matchers.h"

namespace kobs {
namespace {

using ::kobs::testing::IsOk;
using ::kobs::testing::StatusIs;
using nlohmann::json;

TEST(YamlJsonTest, ScalarsFollowTheKubernetesReading) {
  ASSERT_OK_AND_ASSIGN(json j, YamlToJson("a: 1\nb: '1'\nc: true\nd: yes\ne: null\nf: 1.5\n"
                                          "g: v1.2\nh: ~\ni: \"true\"\nj: -3\nk: 1e3\n"));
  EXPECT_EQ(j["a"], 1);
  EXPECT_EQ(j["b"], "1");
  EXPECT_EQ(j["c"], true);
  EXPECT_EQ(j["d"], true);
  EXPECT_TRUE(j["e"].is_null());
  EXPECT_EQ(j["f"], 1.5);
  EXPECT_EQ(j["g"], "v1.2");
  EXPECT_TRUE(j["h"].is_null());
  EXPECT_EQ(j["i"], "true");
  EXPECT_EQ(j["j"], -3);
  EXPECT_EQ(j["k"], 1000.0);
}

TEST(YamlJsonTest, JsonIsYamlAndDocumentsSplit) {
  ASSERT_OK_AND_ASSIGN(json j, YamlToJson(R"({"kind":"Pod","spec":{"containers":[{"name":"c"}]}})"));
  EXPECT_EQ(j["spec"]["containers"][0]["name"], "c");
  ASSERT_OK_AND_ASSIGN(auto docs, YamlDocumentsToJson("a: 1\n---\n---\nb: 2\n"));
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[1]["b"], 2);
}

TEST(YamlJsonTest, SyntaxErrorsNameTheLine) {
  auto bad = YamlToJson("a: 1\nb: [unclosed\n");
  EXPECT_THAT(bad, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(bad.status().message()), ::testing::HasSubstr("line 3"));  // yaml-cpp marks where the flow should have ended
  // Lines count across documents.
  auto later = YamlDocumentsToJson("a: 1\n---\nb: 2\nc: [unclosed\n");
  EXPECT_THAT(std::string(later.status().message()), ::testing::HasSubstr("line 5"));
}

TEST(YamlJsonTest, StreamsThatHangYamlCppsLoadAllEnd) {
  // jbeder/yaml-cpp#1040: LoadAll on a lone "," loops forever, allocating (found by fuzzing).
  for (const char* text : {",", "a: 1\n---\n,\n", "- !+(.,.)", "[:", "{:"}) {
    (void)YamlDocumentsToJson(text);
  }
  ASSERT_OK_AND_ASSIGN(auto docs, YamlDocumentsToJson("--- # first\na: 1\n---\t\nb: 2\n"));
  EXPECT_EQ(docs.size(), 2u);
}

TEST(YamlJsonTest, AliasBombsAreRefused) {
  // Each level multiplies by ten: 10^8 strings if expanded.
  std::string bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]\n";
  const char* names = "abcdefgh";
  for (int i = 1; i < 8; ++i) {
    bomb += fmt::format("{0}: &{0} [", names[i]);
    for (int k = 0; k < 10; ++k) bomb += fmt::format("{}*{}", k ? "," : "", names[i - 1]);
    bomb += "]\n";
  }
  auto j = YamlToJson(bomb);
  EXPECT_THAT(j, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(j.status().message()), ::testing::HasSubstr("aliases"));
  // Modest aliasing is fine.
  EXPECT_THAT(YamlToJson("base: &b {x: 1}\nuse: *b\n"), IsOk());
}

}  // namespace
}  // namespace kobs
