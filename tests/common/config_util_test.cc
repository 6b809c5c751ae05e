#include "common/config_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "status_matchers.h"

namespace kobs {
namespace {

using ::kobs::testing::IsOk;
using ::kobs::testing::StatusIs;

TEST(ConfigUtilTest, ParsesDurations) {
  EXPECT_EQ(*ParseDuration("150ms"), std::chrono::milliseconds(150));
  EXPECT_EQ(*ParseDuration("5s"), std::chrono::milliseconds(5000));
  EXPECT_EQ(*ParseDuration("7d"), std::chrono::milliseconds(7LL * 86'400'000));
  EXPECT_EQ(*ParseDuration("2"), std::chrono::milliseconds(2000));
  EXPECT_THAT(ParseDuration("5 parsecs"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseDuration(""), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ConfigUtilTest, ParsesBytesAndBools) {
  EXPECT_EQ(*ParseBytes("64MiB"), 64ull << 20);
  EXPECT_EQ(*ParseBytes("10MB"), 10'000'000ull);
  EXPECT_EQ(*ParseBytes("512"), 512ull);
  EXPECT_FALSE(ParseBytes("lots").ok());
  EXPECT_TRUE(*ParseBool("on"));
  EXPECT_FALSE(*ParseBool("0"));
  EXPECT_FALSE(ParseBool("maybe").ok());
}

TEST(ConfigUtilTest, RejectsUnknownKeysNamingThem) {
  YAML::Node n = YAML::Load("a: 1\nbogus: 2\n");
  absl::Status s = CheckKeys(n, {"a", "b"}, "section");
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("unknown key 'bogus'"));
  EXPECT_THAT(CheckKeys(YAML::Load("a: 1"), {"a"}, "s"), IsOk());
  EXPECT_THAT(CheckKeys(YAML::Node(), {"a"}, "s"), IsOk());
}

TEST(ConfigUtilTest, ReadsTypedValues) {
  YAML::Node n = YAML::Load("s: hi\ni: 12\nb: yes\nd: 3s\nz: 1KiB\nbad: [1]\n");
  std::string s;
  int64_t i = 0;
  bool b = false;
  std::chrono::milliseconds d{0};
  uint64_t z = 0;
  ASSERT_THAT(ReadString(n, "s", &s), IsOk());
  ASSERT_THAT(ReadInt(n, "i", &i), IsOk());
  ASSERT_THAT(ReadBool(n, "b", &b), IsOk());
  ASSERT_THAT(ReadDuration(n, "d", &d), IsOk());
  ASSERT_THAT(ReadBytes(n, "z", &z), IsOk());
  EXPECT_EQ(s, "hi");
  EXPECT_EQ(i, 12);
  EXPECT_TRUE(b);
  EXPECT_EQ(d, std::chrono::milliseconds(3000));
  EXPECT_EQ(z, 1024u);
  EXPECT_FALSE(ReadString(n, "bad", &s).ok());
  EXPECT_FALSE(ReadInt(n, "s", &i).ok());
  std::string untouched = "keep";
  ASSERT_THAT(ReadString(n, "absent", &untouched), IsOk());
  EXPECT_EQ(untouched, "keep");
}

}  // namespace
}  // namespace kobs
