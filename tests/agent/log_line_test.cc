// Container log lines as runtimes write them (tests/agent/testdata holds real samples): CRI and
// Docker parsing, partial-line assembly, multi-line recombination and ANSI stripping.
#include "agent/log_line.h"

#include <fstream>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "status_matchers.h"

namespace kobs::agent {
namespace {

using ::testing::HasSubstr;

std::vector<std::string> ReadLines(const std::string& name) {
  std::ifstream in(std::string(KOBS_AGENT_TESTDATA) + "/" + name);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Every line of a file through the parser, the assembler and the recombiner.
std::vector<Recombiner::Entry> Entries(const std::vector<std::string>& lines) {
  LineAssembler assembler;
  Recombiner recombiner;
  std::vector<Recombiner::Entry> out;
  for (const std::string& l : lines) {
    absl::StatusOr<LogLine> parsed = ParseLogLine(l);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    if (!parsed.ok()) continue;
    if (auto whole = assembler.Add(*std::move(parsed))) {
      for (auto& e : recombiner.Add(*whole)) out.push_back(std::move(e));
    }
  }
  for (auto& w : assembler.Flush()) {
    for (auto& e : recombiner.Add(w)) out.push_back(std::move(e));
  }
  for (auto& e : recombiner.Flush()) out.push_back(std::move(e));
  return out;
}

TEST(LogLineTest, Rfc3339WithGoTrimmedFractionsAndOffsets) {  // common/time_util
  EXPECT_EQ(*ParseRfc3339Nanos("2020-08-19T21:06:24.33754077Z"), 1597871184337540770);
  EXPECT_EQ(*ParseRfc3339Nanos("2020-08-19T21:06:24Z"), 1597871184000000000);
  EXPECT_EQ(*ParseRfc3339Nanos("2020-08-19T23:06:24.5+02:00"), 1597871184500000000);
  EXPECT_FALSE(ParseRfc3339Nanos("2020-08-19 21:06:24Z").ok());
  EXPECT_FALSE(ParseRfc3339Nanos("2020-13-19T21:06:24Z").ok());
  EXPECT_FALSE(ParseRfc3339Nanos("2020-08-19T21:06:24.Z").ok());
  EXPECT_FALSE(ParseRfc3339Nanos("2020-08-19T21:06:24").ok());
}

TEST(LogLineTest, CriLines) {
  ASSERT_OK_AND_ASSIGN(LogLine l, ParseCriLine("2020-08-19T21:06:24.337499838Z stderr F hello world"));
  EXPECT_EQ(l.stream, "stderr");
  EXPECT_FALSE(l.partial);
  EXPECT_EQ(l.text, "hello world");
  ASSERT_OK_AND_ASSIGN(l, ParseCriLine("2020-08-19T21:06:24Z stdout P part"));
  EXPECT_TRUE(l.partial);
  ASSERT_OK_AND_ASSIGN(l, ParseCriLine("2020-08-19T21:06:24Z stdout F"));
  EXPECT_EQ(l.text, "");
  ASSERT_OK_AND_ASSIGN(l, ParseCriLine("2020-08-19T21:06:24Z stdout F:x  two spaces "));
  EXPECT_EQ(l.text, " two spaces ");
  for (const char* bad : {"", "garbage", "2020-08-19T21:06:24Z stdout", "2020-08-19T21:06:24Z stdin F x",
                          "2020-08-19T21:06:24Z stdout X x", "yesterday stdout F x"}) {
    EXPECT_FALSE(ParseCriLine(bad).ok()) << bad;
  }
}

TEST(LogLineTest, CriJavaStackTraceIsOneEntryPerException) {
  std::vector<std::string> lines = ReadLines("cri-java-stacktrace.log");
  ASSERT_EQ(lines.size(), 19u);
  std::vector<Recombiner::Entry> entries = Entries(lines);
  // "hdfsExists: ... error:" then the RemoteException with its 17 frames.
  ASSERT_EQ(entries.size(), 2u) << entries[0].text;
  EXPECT_THAT(entries[0].text, HasSubstr("hdfsExists: invokeMethod"));
  EXPECT_EQ(entries[1].lines, 18u);
  EXPECT_THAT(entries[1].text, HasSubstr("org.apache.hadoop.ipc.RemoteException"));
  EXPECT_THAT(entries[1].text, HasSubstr("\n\tat org.apache.hadoop.ipc.Client.call(Client.java:1475)"));
  EXPECT_EQ(entries[1].stream, "stderr");
  EXPECT_EQ(entries[1].time_unix_nano, 1597871184337540770);
}

TEST(LogLineTest, DockerPartialLinesAreJoined) {
  std::vector<Recombiner::Entry> entries = Entries(ReadLines("fluentbit-dockermode_splitted_line.log"));
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].text, "2020-03-24 Single line");
  EXPECT_EQ(entries[1].text, "2020-03-24 Another single line");
  entries = Entries(ReadLines("fluentbit-dockermode_splitted_multiple_lines.log"));
  ASSERT_EQ(entries.size(), 6u);
  EXPECT_EQ(entries[4].text, "fourth bullet point");
  EXPECT_EQ(entries[3].text, "third bullet point");
}

TEST(LogLineTest, DockerStreamsStayApart) {
  std::vector<Recombiner::Entry> entries = Entries(ReadLines("docker-interleaved.log"));
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].stream, "stderr");
  EXPECT_EQ(entries[0].text, "format_type: stderr");
  EXPECT_EQ(entries[1].stream, "stdout");
  EXPECT_EQ(*ParseRfc3339Nanos("2018-09-17T21:36:50.598656444Z"), entries[1].time_unix_nano);
}

TEST(LogLineTest, LongLinesAreBoundedAndMarked) {
  LineAssembler a(10);
  EXPECT_FALSE(a.Add({1, "stdout", true, "0123456"}).has_value());
  auto line = a.Add({2, "stdout", false, "789abcdef"});
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(line->text, "0123456789");
  EXPECT_TRUE(line->truncated);
  EXPECT_EQ(line->time_unix_nano, 1);
  EXPECT_FALSE(a.Add({3, "stderr", true, "pending"}).has_value());
  auto rest = a.Flush();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].text, "pending");
}

TEST(LogLineTest, GoPanicsPythonTracebacksAndTheOriginalRule) {
  Recombiner r;
  std::vector<Recombiner::Entry> out;
  auto feed = [&](std::vector<std::string> lines) {
    for (const std::string& l : lines) {
      for (auto& e : r.Add({0, "stderr", l, false})) out.push_back(std::move(e));
    }
  };
  feed({"panic: runtime error: index out of range [3] with length 3", "",
        "goroutine 1 [running]:", "main.main()", "\t/app/main.go:12 +0x1d", "",
        "goroutine 7 [chan receive]:", "main.worker()", "", "exit status 2",
        "Traceback (most recent call last):", "  File \"app.py\", line 3, in <module>",
        "    main()", "ValueError: bad input", "{\"level\":\"info\"", "}", "done"});
  for (auto& e : r.Flush()) out.push_back(std::move(e));
  ASSERT_EQ(out.size(), 5u);
  EXPECT_THAT(out[0].text, HasSubstr("goroutine 7 [chan receive]:"));
  EXPECT_EQ(out[1].text, "exit status 2");
  EXPECT_EQ(out[2].lines, 4u);
  EXPECT_THAT(out[2].text, HasSubstr("ValueError: bad input"));
  EXPECT_EQ(out[3].text, "{\"level\":\"info\"\n}");
  EXPECT_EQ(out[4].text, "done");
}

TEST(LogLineTest, JavaCausedByAndExceptionNamesContinue) {
  Recombiner r;
  std::vector<Recombiner::Entry> out;
  for (const char* l : {"2026-12-06 10:00:00.000 ERROR 1 --- [main] c.e.App : failed",
                        "java.lang.IllegalStateException: boom", "\tat c.e.App.run(App.java:10)",
                        "Caused by: java.io.IOException: disk", "\t... 3 more",
                        "2026-12-06 10:00:01.000  INFO 1 --- [main] c.e.App : next"}) {
    for (auto& e : r.Add({0, "stdout", l, false})) out.push_back(std::move(e));
  }
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].lines, 5u);
  EXPECT_TRUE(r.pending());
}

TEST(LogLineTest, AnsiCodesAreStripped) {
  EXPECT_EQ(StripAnsi("\x1b[2m10:00\x1b[0m \x1b[1;31mERROR\x1b[0m boom"), "10:00 ERROR boom");
  EXPECT_EQ(StripAnsi("\x1b]0;title\x07text\x1b(B!"), "text!");
  EXPECT_EQ(StripAnsi("plain"), "plain");
  EXPECT_EQ(StripAnsi("cut \x1b["), "cut ");
}

}  // namespace
}  // namespace kobs::agent
