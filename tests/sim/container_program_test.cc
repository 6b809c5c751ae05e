#include "sim/container_program.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "status_matchers.h"

namespace kobs::sim {
namespace {

using K = ProgramStep::Kind;

std::vector<ProgramStep> Parse(std::vector<std::string> command, std::vector<std::string> args = {}) {
  auto p = ParseProgram(command, args);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : std::vector<ProgramStep>{};
}

TEST(ContainerProgramTest, ShellScripts) {
  auto s = Parse({"sh", "-c", "echo \"hello world\"; sleep 2 && echo 'it''s'; exit 4; echo never"});
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0].kind, K::kOutput);
  EXPECT_EQ(s[0].text, "hello world");
  EXPECT_EQ(s[1].kind, K::kSleep);
  EXPECT_EQ(s[1].seconds, 2);
  EXPECT_EQ(s[2].text, "its");
  EXPECT_EQ(s[3].kind, K::kExit);
  EXPECT_EQ(s[3].code, 4);
}

TEST(ContainerProgramTest, EchoEscapesAnsiAndMultipleLines) {
  auto s = Parse({"/bin/sh", "-c", R"(echo -e "\033[31mERROR\033[0m boom\n\tat Main.java:12")"});
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].text, "\x1b[31mERROR\x1b[0m boom");
  EXPECT_EQ(s[1].text, "\tat Main.java:12");
  EXPECT_EQ(s[2].kind, K::kExit);
}

TEST(ContainerProgramTest, DefaultsAndExecForm) {
  EXPECT_EQ(Parse({})[0].kind, K::kForever);
  EXPECT_EQ(Parse({"sleep", "infinity"})[0].kind, K::kForever);
  auto exec = Parse({"echo"}, {"a b", "c"});
  EXPECT_EQ(exec[0].text, "a b c");
  auto server = Parse({"sh", "-c", "echo booting; nginx -g 'daemon off;'"});
  ASSERT_EQ(server.size(), 2u);
  EXPECT_EQ(server[1].kind, K::kForever);
  EXPECT_EQ(Parse({"sh", "-c", "false"})[0].code, 1);
  EXPECT_FALSE(ParseProgram({"sh", "-c", "echo 'unterminated"}, {}).ok());
}

}  // namespace
}  // namespace kobs::sim
