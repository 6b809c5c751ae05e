// Container log lines as runtimes write them (tests/agent/testdata holds real samples): CRI and
// Docker parsing, partial-line assembly, multi-line recombination and ANSI stripping.
#include "agent/log_line.h"

#include <fstream>
#include <random>
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
  std::string scratch;
  for (const std::string& l : lines) {
    LogLine part;
    absl::Status parsed = ParseLogLine(l, &part, &scratch);
    EXPECT_TRUE(parsed.ok()) << parsed;
    if (!parsed.ok()) continue;
    if (auto whole = assembler.Add(part)) recombiner.Add(*whole, &out);
  }
  for (const auto& w : assembler.Flush()) recombiner.Add(w, &out);
  for (auto& e : recombiner.Flush()) out.push_back(std::move(e));
  return out;
}

// Whole lines of one stream through a recombiner.
void Recombine(Recombiner& r, Stream stream, const std::vector<std::string>& lines,
               std::vector<Recombiner::Entry>* out) {
  for (const std::string& l : lines) r.Add({0, stream, l, false}, out);
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
  LogLine l;
  ASSERT_OK(ParseCriLine("2020-08-19T21:06:24.337499838Z stderr F hello world", &l));
  EXPECT_EQ(l.stream, Stream::kStderr);
  EXPECT_FALSE(l.partial);
  EXPECT_EQ(l.text, "hello world");
  EXPECT_EQ(l.time_unix_nano, 1597871184337499838);
  ASSERT_OK(ParseCriLine("2020-08-19T21:06:24Z stdout P part", &l));
  EXPECT_TRUE(l.partial);
  EXPECT_EQ(l.stream, Stream::kStdout);
  ASSERT_OK(ParseCriLine("2020-08-19T21:06:24Z stdout F", &l));
  EXPECT_EQ(l.text, "");
  ASSERT_OK(ParseCriLine("2020-08-19T21:06:24Z stdout F:x  two spaces \r", &l));
  EXPECT_EQ(l.text, " two spaces ");
  for (const char* bad : {"", "garbage", "2020-08-19T21:06:24Z stdout", "2020-08-19T21:06:24Z stdin F x",
                          "2020-08-19T21:06:24Z stdout X x", "yesterday stdout F x"}) {
    EXPECT_FALSE(ParseCriLine(bad, &l).ok()) << bad;
  }
}

TEST(LogLineTest, DockerLines) {
  LogLine l;
  std::string scratch;
  ASSERT_OK(ParseDockerLine(
      R"({"log":"a \"quoted\" word\n","stream":"stderr","time":"2020-08-19T21:06:24Z"})", &l,
      &scratch));
  EXPECT_EQ(l.text, "a \"quoted\" word");
  EXPECT_EQ(l.stream, Stream::kStderr);
  EXPECT_FALSE(l.partial);
  EXPECT_EQ(l.time_unix_nano, 1597871184000000000);
  ASSERT_OK(ParseDockerLine(R"({"log":"part","stream":"other"})", &l, &scratch));
  EXPECT_TRUE(l.partial);
  EXPECT_EQ(l.stream, Stream::kStdout);
  EXPECT_EQ(l.time_unix_nano, 0);
  EXPECT_FALSE(ParseDockerLine(R"({"stream":"stdout"})", &l, &scratch).ok());
  EXPECT_FALSE(ParseDockerLine(R"({"log":"x","time":"never"})", &l, &scratch).ok());
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
  EXPECT_EQ(entries[1].stream, Stream::kStderr);
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
  EXPECT_EQ(entries[0].stream, Stream::kStderr);
  EXPECT_EQ(entries[0].text, "format_type: stderr");
  EXPECT_EQ(entries[1].stream, Stream::kStdout);
  EXPECT_EQ(*ParseRfc3339Nanos("2018-09-17T21:36:50.598656444Z"), entries[1].time_unix_nano);
}

TEST(LogLineTest, LongLinesAreBoundedAndMarked) {
  LineAssembler a(10);
  EXPECT_FALSE(a.Add({1, Stream::kStdout, true, "0123456"}).has_value());
  auto line = a.Add({2, Stream::kStdout, false, "789abcdef"});
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(line->text, "0123456789");
  EXPECT_TRUE(line->truncated);
  EXPECT_EQ(line->time_unix_nano, 1);
  // A whole line too long by itself is cut too; one within the bound passes as it is.
  line = a.Add({3, Stream::kStdout, false, "0123456789abc"});
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(line->text, "0123456789");
  EXPECT_TRUE(line->truncated);
  const std::string whole = "short";
  line = a.Add({4, Stream::kStdout, false, whole});
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(line->text.data(), whole.data()) << "a whole line is not copied";
  EXPECT_FALSE(line->truncated);
  EXPECT_FALSE(a.Add({5, Stream::kStderr, true, "pending"}).has_value());
  auto rest = a.Flush();
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].text, "pending");
  EXPECT_EQ(rest[0].stream, Stream::kStderr);
}

TEST(LogLineTest, PartsOfTheTwoStreamsAreJoinedApart) {
  LineAssembler a;
  EXPECT_FALSE(a.Add({1, Stream::kStdout, true, "out-"}).has_value());
  EXPECT_FALSE(a.Add({2, Stream::kStderr, true, "err-"}).has_value());
  auto err = a.Add({3, Stream::kStderr, false, "end"});
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->text, "err-end");
  EXPECT_EQ(err->time_unix_nano, 2);
  auto out = a.Add({4, Stream::kStdout, false, "end"});
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->text, "out-end");
  EXPECT_EQ(out->stream, Stream::kStdout);
}

TEST(LogLineTest, GoPanicsPythonTracebacksAndTheOriginalRule) {
  Recombiner r;
  std::vector<Recombiner::Entry> out;
  Recombine(r, Stream::kStderr,
            {"panic: runtime error: index out of range [3] with length 3", "",
             "goroutine 1 [running]:", "main.main()", "\t/app/main.go:12 +0x1d", "",
             "goroutine 7 [chan receive]:", "main.worker()", "", "exit status 2",
             "Traceback (most recent call last):", "  File \"app.py\", line 3, in <module>",
             "    main()", "ValueError: bad input", "{\"level\":\"info\"", "}", "done"},
            &out);
  for (auto& e : r.Flush()) out.push_back(std::move(e));
  ASSERT_EQ(out.size(), 5u);
  EXPECT_THAT(out[0].text, HasSubstr("goroutine 7 [chan receive]:"));
  EXPECT_EQ(out[1].text, "exit status 2");
  EXPECT_EQ(out[2].lines, 4u);
  EXPECT_THAT(out[2].text, HasSubstr("ValueError: bad input"));
  EXPECT_EQ(out[3].text, "{\"level\":\"info\"\n}");
  EXPECT_EQ(out[4].text, "done");
  EXPECT_EQ(out[4].stream, Stream::kStderr);
}

TEST(LogLineTest, JavaCausedByAndExceptionNamesContinue) {
  Recombiner r;
  std::vector<Recombiner::Entry> out;
  Recombine(r, Stream::kStdout,
            {"2026-12-06 10:00:00.000 ERROR 1 --- [main] c.e.App : failed",
             "java.lang.IllegalStateException: boom", "\tat c.e.App.run(App.java:10)",
             "Caused by: java.io.IOException: disk", "\t... 3 more",
             "2026-12-06 10:00:01.000  INFO 1 --- [main] c.e.App : next"},
            &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].lines, 5u);
  EXPECT_TRUE(r.pending());
  EXPECT_TRUE(r.pending(Stream::kStdout));
  EXPECT_FALSE(r.pending(Stream::kStderr));
}

// The escape grammar StripAnsi follows, a character at a time: the reference for the test
// below (StripAnsi copies the text between escapes in pieces).
std::string StripAnsiReference(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\x1b') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 1 >= s.size()) break;
    size_t j = i + 2;
    if (s[i + 1] == '[') {
      while (j < s.size() && (static_cast<unsigned char>(s[j]) < 0x40 || s[j] > 0x7e)) ++j;
      i = j;
    } else if (s[i + 1] == ']') {
      while (j < s.size() && s[j] != '\a' &&
             !(s[j] == '\x1b' && j + 1 < s.size() && s[j + 1] == '\\')) {
        ++j;
      }
      i = j < s.size() && s[j] == '\x1b' ? j + 1 : j;
    } else {
      j = i + 1;
      while (j < s.size() && s[j] >= 0x20 && s[j] <= 0x2f) ++j;
      i = j;
    }
  }
  return out;
}

TEST(LogLineTest, StripAnsiMatchesTheCharacterByCharacterGrammar) {
  std::mt19937 rng(7);
  const std::string alphabet = std::string("\x1b\x1b\x1b[[]]\a\\m;0(B ab\x7f", 18);
  for (int n = 0; n < 20000; ++n) {
    std::string s(rng() % 24, ' ');
    for (char& c : s) c = alphabet[rng() % alphabet.size()];
    ASSERT_EQ(StripAnsi(s), StripAnsiReference(s)) << ::testing::PrintToString(s);
  }
}

TEST(LogLineTest, AnsiCodesAreStripped) {
  EXPECT_EQ(StripAnsi("\x1b[2m10:00\x1b[0m \x1b[1;31mERROR\x1b[0m boom"), "10:00 ERROR boom");
  EXPECT_EQ(StripAnsi("\x1b]0;title\x07text\x1b(B!"), "text!");
  EXPECT_EQ(StripAnsi("plain"), "plain");
  EXPECT_EQ(StripAnsi("cut \x1b["), "cut ");
}

}  // namespace
}  // namespace kobs::agent
