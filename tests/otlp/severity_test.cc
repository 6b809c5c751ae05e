#include "otlp/severity.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <random>
#include <string>
#include <vector>

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

// How JSON levels were read before: from the parsed document. SeverityFromJson now reads the
// fields as the parser meets them; the answers must not change.
std::string FromDocument(std::string_view body) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return "none";
  auto text = [](std::optional<Severity> s) {
    return s ? std::string(s->text) + "/" + std::to_string(s->number) : "none";
  };
  for (const char* key : {"level", "severity", "log.level", "lvl", "loglevel", "severityText"}) {
    auto it = doc.find(key);
    if (it == doc.end()) continue;
    std::optional<Severity> s;
    if (it->is_string()) s = SeverityFromLevel(it->get<std::string>());
    if (it->is_number_integer()) s = SeverityFromLevel(std::to_string(it->get<int64_t>()));
    if (s) return text(s);
  }
  if (auto it = doc.find("log"); it != doc.end() && it->is_object()) {
    if (auto l = it->find("level"); l != it->end() && l->is_string()) {
      return text(SeverityFromLevel(l->get<std::string>()));
    }
  }
  return "none";
}

TEST(SeverityFromJsonTest, ReadsLevelsAsFromTheParsedDocument) {
  // Random objects over the level keys, with every kind of value, duplicates and nesting.
  const std::vector<std::string> keys = {"\"level\"", "\"severity\"", "\"log.level\"",
                                         "\"lvl\"",   "\"loglevel\"", "\"severityText\"",
                                         "\"log\"",   "\"msg\"",      "\"levels\""};
  const std::vector<std::string> values = {
      "\"error\"", "\"WARN\"", "\"i\"", "\"verbose\"", "50", "30", "5", "-1", "1.5", "true",
      "null", "[\"error\"]", "{\"level\":\"debug\"}", "{\"level\":40}",
      "{\"level\":{\"level\":\"error\"}}", "{\"a\":{}, \"level\":\"warn\"}",
      "18446744073709551615"};
  std::mt19937 rng(3);
  for (int n = 0; n < 20000; ++n) {
    std::string body = "{";
    for (int f = static_cast<int>(rng() % 5); f > 0; --f) {
      if (body.size() > 1) body += ',';
      body += keys[rng() % keys.size()] + ":" + values[rng() % values.size()];
    }
    body += rng() % 20 == 0 ? "" : "}";  // sometimes cut short
    auto s = SeverityFromJson(body);
    ASSERT_EQ(s ? std::string(s->text) + "/" + std::to_string(s->number) : "none",
              FromDocument(body))
        << body;
  }
  EXPECT_FALSE(SeverityFromJson("[\"error\"]").has_value());
  EXPECT_FALSE(SeverityFromJson("{\"level\":\"error\"} trailing").has_value());
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
