// The watch-stream decoder and API errors, on real wire samples (tests/k8s/testdata) and on
// the edge cases around them: any chunking, no trailing newline, ERROR events, limits.
#include "k8s/watch_decoder.h"

#include <fstream>
#include <random>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "k8s/api_status.h"
#include "status_matchers.h"

namespace kobs::k8s {
namespace {

using ::kobs::testing::IsOk;
using ::testing::HasSubstr;

std::string Testdata(const std::string& name) {
  std::ifstream in(std::string(KOBS_K8S_TESTDATA) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_FALSE(ss.str().empty()) << name;
  return ss.str();
}

// The body of a raw HTTP/1.1 chunked response (what the HTTP client hands the decoder).
std::string Dechunk(const std::string& http) {
  size_t pos = http.find("\r\n\r\n") + 4;
  std::string body;
  while (true) {
    size_t eol = http.find("\r\n", pos);
    size_t n = std::stoul(http.substr(pos, eol - pos), nullptr, 16);
    if (n == 0) break;
    body += http.substr(eol + 2, n);
    pos = eol + 2 + n + 2;
  }
  return body;
}

std::vector<WatchEvent> DecodeAll(const std::string& body, std::vector<size_t> cuts) {
  WatchDecoder d;
  std::vector<WatchEvent> out;
  size_t at = 0;
  cuts.push_back(body.size());
  for (size_t cut : cuts) {
    EXPECT_THAT(d.Feed(std::string_view(body).substr(at, cut - at), &out), IsOk());
    at = cut;
  }
  EXPECT_THAT(d.Finish(), IsOk());
  return out;
}

TEST(WatchDecoderTest, DecodesARealChunkedWatchWithABookmarkAtAnyChunking) {
  const std::string body = Dechunk(Testdata("client-go-golden-watch-chunked-bookmark.http"));
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<size_t> cuts;
    for (size_t i = 1; i < body.size(); ++i) {
      if (rng() % 13 == 0) cuts.push_back(i);
    }
    auto events = DecodeAll(body, cuts);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].type, WatchEvent::Type::kAdded);
    EXPECT_EQ(events[0].resource_version, "217");
    EXPECT_EQ(events[0].object["metadata"]["name"], "foobar");
    EXPECT_EQ(events[1].type, WatchEvent::Type::kBookmark);
    EXPECT_EQ(events[1].resource_version, "964");
    EXPECT_EQ(events[1].object["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
  }
}

TEST(WatchDecoderTest, AnEventWithoutATrailingNewlineAndBracesInStrings) {
  auto events = DecodeAll(Testdata("fluentbit-minikube-failedmount.watch-event.json"), {});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, WatchEvent::Type::kModified);
  EXPECT_EQ(events[0].object["kind"], "Event");
  EXPECT_EQ(events[0].resource_version, "177158");
  const std::string tricky =
      R"({"type":"ADDED","object":{"metadata":{"name":"a\"}{b","resourceVersion":"5"},"x":["}"]}})"
      R"({"type":"DELETED","object":{"metadata":{"resourceVersion":"6"}}})";
  events = DecodeAll(tricky, {20, 21, 40});
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].object["metadata"]["name"], "a\"}{b");
  EXPECT_EQ(events[1].type, WatchEvent::Type::kDeleted);
}

TEST(WatchDecoderTest, ErrorEventsBecomeStatusesAndGoneIsRecognized) {
  auto events = DecodeAll(
      R"j({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},)j"
      R"j("status":"Failure","message":"too old resource version: 1 (5057)","reason":"Expired",)j"
      R"j("code":410}})j"
      "\n",
      {});
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, WatchEvent::Type::kError);
  EXPECT_TRUE(IsGone(events[0].error));
  EXPECT_EQ(ApiCode(events[0].error), 410);
  EXPECT_EQ(events[0].error.code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(events[0].error.message(), HasSubstr("too old resource version"));
}

TEST(WatchDecoderTest, MalformedStreamsFailClearly) {
  std::vector<WatchEvent> out;
  WatchDecoder a;
  EXPECT_THAT(a.Feed("[1,2]", &out).message(), HasSubstr("expected an event object"));
  WatchDecoder b;
  EXPECT_THAT(b.Feed(R"({"type":"ADDED"})", &out).message(), HasSubstr("lacks a type or an object"));
  WatchDecoder c;
  EXPECT_THAT(c.Feed(R"({"type":"RENAMED","object":{}})", &out).message(),
              HasSubstr("unknown event type"));
  WatchDecoder d;
  EXPECT_THAT(d.Feed(R"({"type":"ADDED","object":{"a":1,}})", &out).message(),
              HasSubstr("not valid JSON"));
  WatchDecoder e(64);
  EXPECT_EQ(e.Feed(std::string("{\"type\":\"ADDED\",\"object\":{\"pad\":\"") + std::string(100, 'x'),
                   &out)
                .code(),
            absl::StatusCode::kResourceExhausted);
  WatchDecoder f;
  ASSERT_THAT(f.Feed(R"({"type":"ADDED","object":{)", &out), IsOk());
  EXPECT_EQ(f.Finish().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(out.empty());
}

TEST(ApiStatusTest, KeepsTheReasonAndCodeOfRealStatusObjects) {
  absl::Status nf = StatusFromResponse(404, Testdata("kubectl-recorded-status-404-notfound.json"));
  EXPECT_EQ(nf.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ApiReason(nf), "NotFound");
  EXPECT_EQ(ApiCode(nf), 404);
  EXPECT_THAT(nf.message(), HasSubstr("services \"missing\" not found"));
  absl::Status inv = StatusFromResponse(422, Testdata("kubectl-recorded-status-422-invalid.json"));
  EXPECT_EQ(inv.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ApiReason(inv), "Invalid");
  EXPECT_THAT(inv.message(), HasSubstr("field is immutable"));
  absl::Status conflict = StatusFromResponse(
      409, R"({"kind":"Status","reason":"Conflict","message":"the object has been modified","code":409})");
  EXPECT_TRUE(IsConflict(conflict));
  EXPECT_EQ(conflict.code(), absl::StatusCode::kAborted);
  // Not a Status (a proxy's page): the HTTP code decides, the body is kept (truncated).
  absl::Status proxy = StatusFromResponse(503, "<html>upstream down</html>");
  EXPECT_EQ(proxy.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ApiReason(proxy), "ServiceUnavailable");
  EXPECT_THAT(proxy.message(), HasSubstr("upstream down"));
  EXPECT_EQ(StatusFromResponse(403, R"({"kind":5})").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(StatusFromResponse(201, "{}").ok());
  EXPECT_EQ(ApiReason(absl::NotFoundError("x")), "");
}

}  // namespace
}  // namespace kobs::k8s
