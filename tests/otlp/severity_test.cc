#include "otlp/severity.h"

#include <gtest/gtest.h>

namespace kobs::otlp {
namespace {

std::string Infer(std::string_view body) {
  auto s = InferSeverity(body);
  return s ? std::string(s->text) + "/" + std::to_string(s->number) : "none";
}

TEST(InferSeverityTest, ReadsJsonLevelFields) {
  EXPECT_EQ(Infer(R"({"level":"error","msg":"x"})"), "ERROR/17");
  EXPECT_EQ(Infer(R"(  {"severity":"WARNING"})"), "WARN/13");
  EXPECT_EQ(Infer(R"({"log.level":"debug"})"), "DEBUG/5");
  EXPECT_EQ(Infer(R"({"log":{"level":"info"}})"), "INFO/9");
  EXPECT_EQ(Infer(R"({"level":50,"msg":"pino"})"), "ERROR/17");
  EXPECT_EQ(Infer(R"({"msg":"no level"})"), "none");
  EXPECT_EQ(Infer(R"({"level":"error")"), "ERROR/17") << "broken JSON falls back to text rules";
}

TEST(InferSeverityTest, ReadsTextPrefixes) {
  EXPECT_EQ(Infer("ERROR something failed"), "ERROR/17");
  EXPECT_EQ(Infer("2025-11-25T06:31:12Z [warn] disk almost full"), "WARN/13");
  EXPECT_EQ(Infer("2025-11-25 06:31:12.123 INFO  main - started"), "INFO/9");
  EXPECT_EQ(Infer("panic: runtime error: index out of range"), "FATAL/21");
  EXPECT_EQ(Infer("E1125 06:31:12.123456       1 controller.go:42] sync failed"), "ERROR/17");
  EXPECT_EQ(Infer("I1125 06:31:12.123456       1 main.go:1] hello"), "INFO/9");
  EXPECT_EQ(Infer(R"(ts=2025 level=warn msg="slow")"), "WARN/13");
  EXPECT_EQ(Infer("fatal: not a git repository"), "FATAL/21");
  EXPECT_EQ(Infer("GET /healthz 200 0.3ms"), "none");
  EXPECT_EQ(Infer("the request had no error in it"), "none") << "lower-case words mid-sentence";
  EXPECT_EQ(Infer(""), "none");
}

TEST(SeverityFromLevelTest, MapsNamesAndNumbers) {
  EXPECT_EQ(SeverityFromLevel("Critical")->number, 21);
  EXPECT_EQ(SeverityFromLevel(" W ")->number, 13);
  EXPECT_FALSE(SeverityFromLevel("verbose").has_value());
  EXPECT_EQ(SeverityTextFromNumber(18), "ERROR");
  EXPECT_EQ(SeverityTextFromNumber(0), "");
}

}  // namespace
}  // namespace kobs::otlp
