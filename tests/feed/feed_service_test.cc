// The feed's HTTP surface on a real HttpServer: the original proxy's headers and frames,
// Last-Event-ID (header and query) and its errors, topic filters, auth, the client limit,
// GET /events and its parameters, /health.
#include "feed/feed_service.h"

#include <unistd.h>

#include <chrono>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "common/metrics.h"
#include "embedded_store_suite.h"
#include "feed_test_util.h"
#include "loopback_socket.h"
#include "net/http_server.h"
#include "status_matchers.h"
#include "store/schema.h"

namespace kobs::feed {
namespace {

using ::kobs::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::Not;

// An HTTP/1.1 exchange on a raw socket: sends `request`, reads until `until` appears, the
// server closes, or `timeout` passes.
std::string Exchange(uint16_t port, const std::string& request, std::string_view until = {},
                     std::chrono::milliseconds timeout = std::chrono::milliseconds(600)) {
  int fd = kobs::testing::ConnectLoopback(port, std::chrono::milliseconds(100));
  EXPECT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  std::string out;
  char buf[4096];
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n > 0) out.append(buf, static_cast<size_t>(n));
    if (!until.empty() && out.find(until) != std::string::npos) break;
  }
  close(fd);
  return out;
}

std::string Get(const std::string& target, const std::string& headers = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + headers + "\r\n";
}

class FeedServiceTest : public kobs::testing::EmbeddedStoreSuite {
 protected:
  static void SetUpTestSuite() {
    OpenStore();
    ASSERT_THAT(store::EnsureSchema(*store_, {.database = "svc"}), IsOk());
    std::string data;
    for (int i = 0; i < 6; ++i) {
      store::EncodeLogRow(testing::EventRow(i, i < 4 ? "comp-a" : "comp-b", i % 2 ? "ns2" : "ns1"),
                          &data);
    }
    ASSERT_THAT(store_->Insert("svc.otel_logs", store::LogColumns(), "RowBinary", data), IsOk());
  }

  void Start(FeedOptions o, const std::string& database = "svc") {
    o.hub.poll_interval = std::chrono::milliseconds(20);
    service_ = std::make_unique<FeedService>(*store_, database, o, metrics_);
    auto http = net::HttpServer::Create({.name = "api"}, metrics_);
    ASSERT_THAT(http, IsOk());
    http_ = std::move(*http);
    service_->Register(*http_);
    ASSERT_THAT(http_->Start(), IsOk());
    ASSERT_THAT(service_->Start(), IsOk());
    port_ = http_->port();
  }

  void TearDown() override {
    if (service_) service_->Stop();
    if (http_) http_->Stop();
  }

  MetricsRegistry metrics_;
  std::unique_ptr<FeedService> service_;
  std::unique_ptr<net::HttpServer> http_;
  uint16_t port_ = 0;
};

TEST_F(FeedServiceTest, SpeaksTheOriginalProxysSseAndReplaysFromLastEventId) {
  Start({});
  std::string head = Exchange(port_, Get("/notifications/"), "retry: 3000\n\n");
  for (const char* h : {"HTTP/1.1 200 OK\r\n", "Content-Type: text/event-stream\r\n",
                        "Cache-Control: no-cache\r\n", "Connection: keep-alive\r\n",
                        "Access-Control-Allow-Origin: *\r\n", "X-Accel-Buffering: no\r\n"}) {
    EXPECT_THAT(head, HasSubstr(h));
  }
  EXPECT_THAT(head, HasSubstr(": connected\n\n"));
  // The ids of every stored event, from a replay from the very beginning.
  const std::string zero = "0-0000000000000000-0";
  std::string all = Exchange(port_, Get("/notifications", "Last-Event-ID: " + zero + "\r\n"));
  EXPECT_THAT(all, HasSubstr("event: krateo\ndata: {\"metadata\":"));
  EXPECT_THAT(all, HasSubstr("event: comp-b\n"));
  // Per composition: the path or ?topic=; the query parameter form of Last-Event-ID.
  std::string b = Exchange(port_, Get("/notifications/comp-b?lastEventId=" + zero));
  EXPECT_THAT(b, HasSubstr("event: comp-b\n"));
  EXPECT_THAT(b, Not(HasSubstr("event: krateo")));
  EXPECT_THAT(b, Not(HasSubstr("event: comp-a")));
  std::string ns = Exchange(port_, Get("/notifications/?topic=krateo&namespace=ns2&"
                                       "last_event_id=" + zero));
  EXPECT_THAT(ns, HasSubstr("\"namespace\":\"ns2\""));
  EXPECT_THAT(ns, Not(HasSubstr("\"namespace\":\"ns1\"")));
  // A malformed id is refused with a reason, not ignored.
  std::string bad = Exchange(port_, Get("/notifications/", "Last-Event-ID: 12345\r\n"));
  EXPECT_THAT(bad, HasSubstr("HTTP/1.1 400"));
  EXPECT_THAT(bad, HasSubstr("invalid event id"));
  EXPECT_THAT(Exchange(port_, Get("/health")), HasSubstr("\r\n\r\nok"));
}

TEST_F(FeedServiceTest, ServesEventsWithFiltersAndBoundedLimits) {
  Start({});
  auto body = [this](const std::string& target) {
    std::string r = Exchange(port_, Get(target));
    return r.substr(r.find("\r\n\r\n") + 4);
  };
  auto all = nlohmann::ordered_json::parse(body("/events"));
  ASSERT_TRUE(all.is_array());
  EXPECT_EQ(all.size(), 6u);
  EXPECT_EQ(all[0].begin().key(), "metadata");
  EXPECT_EQ(nlohmann::json::parse(body("/events?composition_id=comp-b")).size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(body("/events/comp-a")).size(), 4u);
  EXPECT_EQ(nlohmann::json::parse(body("/events/comp-a?namespace=ns2&limit=1")).size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(body("/events?type=Normal")).size(), 0u);
  EXPECT_EQ(nlohmann::json::parse(body("/events?since=2000-01-01T00:00:00Z")).size(), 6u);
  EXPECT_EQ(nlohmann::json::parse(body("/events?since=1m")).size(), 6u);
  EXPECT_EQ(nlohmann::json::parse(body("/events?since=2100-01-01T00:00:00Z")).size(), 0u);
  EXPECT_THAT(Exchange(port_, Get("/events?limit=0")), HasSubstr("HTTP/1.1 400"));
  EXPECT_THAT(Exchange(port_, Get("/events?limit=x")), HasSubstr("HTTP/1.1 400"));
  EXPECT_THAT(Exchange(port_, Get("/events?since=yesterday")), HasSubstr("HTTP/1.1 400"));
  EXPECT_THAT(Exchange(port_, Get("/events?limit=999999")),
              HasSubstr("HTTP/1.1 200"));
}

// GET /events reads the recent window first; events before it fill the rest of the limit,
// in event-time order, and the answers are those of one query over everything.
TEST_F(FeedServiceTest, EventsBeforeTheRecentWindowFillTheLimit) {
  ASSERT_THAT(store::EnsureSchema(*store_, {.database = "win"}), IsOk());
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  std::string data;
  for (int i = 0; i < 5; ++i) {
    store::LogRow r = testing::EventRow(100 + i, "comp-w", "ns1");
    // pod-100 and pod-101 in the last minutes, pod-102 five hours ago, pod-103 and pod-104
    // three days ago: across the first hour a scan reads, and the day.
    const auto at = i < 2    ? now - std::chrono::minutes(i + 1)
                    : i == 2 ? now - std::chrono::hours(5)
                             : now - std::chrono::hours(72) - std::chrono::minutes(i);
    r.timestamp_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(at).count();
    store::EncodeLogRow(r, &data);
  }
  ASSERT_THAT(store_->Insert("win.otel_logs", store::LogColumns(), "RowBinary", data), IsOk());
  auto names = [this](const std::string& target) {
    std::string r = Exchange(port_, Get(target));
    auto events = nlohmann::json::parse(r.substr(r.find("\r\n\r\n") + 4));
    std::string out;
    for (const auto& e : events) out += e["involvedObject"]["name"].get<std::string>() + " ";
    return out;
  };
  for (auto window : {std::chrono::milliseconds(std::chrono::hours(24)),
                      std::chrono::milliseconds(0)}) {
    FeedOptions o;
    o.events_recent_window = window;
    Start(o, "win");
    EXPECT_EQ(names("/events/comp-w?limit=2"), "pod-100 pod-101 ");
    EXPECT_EQ(names("/events/comp-w?limit=4"), "pod-100 pod-101 pod-102 pod-103 ");
    EXPECT_EQ(names("/events/comp-w"), "pod-100 pod-101 pod-102 pod-103 pod-104 ");
    EXPECT_EQ(names("/events/comp-w?since=1h"), "pod-100 pod-101 ");
    EXPECT_EQ(names("/events/comp-w?since=100h&limit=3"), "pod-100 pod-101 pod-102 ");
    EXPECT_EQ(names("/events?namespace=ns1&limit=3"), "pod-100 pod-101 pod-102 ");
    EXPECT_EQ(names("/events?limit=2"), "pod-100 pod-101 ");
    EXPECT_EQ(names("/events?limit=4"), "pod-100 pod-101 pod-102 pod-103 ");
    EXPECT_EQ(names("/events"), "pod-100 pod-101 pod-102 pod-103 pod-104 ");
    EXPECT_EQ(names("/events?since=10h"), "pod-100 pod-101 pod-102 ");
    EXPECT_EQ(names("/events?since=30m&limit=9"), "pod-100 pod-101 ");
    TearDown();
    service_.reset();
    http_.reset();
  }
}

TEST_F(FeedServiceTest, EnforcesTheTokenAndTheClientLimit) {
  FeedOptions o;
  o.bearer_token = "s3cret";
  o.hub.max_clients = 1;
  Start(o);
  EXPECT_THAT(Exchange(port_, Get("/notifications/")), HasSubstr("HTTP/1.1 401"));
  EXPECT_THAT(Exchange(port_, Get("/events")), HasSubstr("HTTP/1.1 401"));
  EXPECT_THAT(Exchange(port_, Get("/events", "Authorization: Bearer s3cret\r\n")),
              HasSubstr("HTTP/1.1 200"));
  // EventSource cannot send headers: the token may come as a query parameter.
  std::thread holder([this] {
    Exchange(port_, Get("/notifications/?access_token=s3cret"), {},
             std::chrono::milliseconds(1500));
  });
  for (int i = 0; i < 200 && service_->hub().clients() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(service_->hub().clients(), 1u);
  std::string full = Exchange(port_, Get("/notifications/", "Authorization: Bearer s3cret\r\n"));
  EXPECT_THAT(full, HasSubstr("HTTP/1.1 503"));
  EXPECT_THAT(full, HasSubstr("Retry-After: 5"));
  // A browser would give up on a 503: it gets a stream that tells it to come back.
  std::string browser = Exchange(
      port_, Get("/notifications/", "Authorization: Bearer s3cret\r\nAccept: text/event-stream\r\n"));
  EXPECT_THAT(browser, HasSubstr("HTTP/1.1 200"));
  EXPECT_THAT(browser, HasSubstr("Content-Type: text/event-stream"));
  EXPECT_THAT(browser, HasSubstr("retry: 5000\n\n"));
  holder.join();
  EXPECT_THAT(metrics_.Render(), HasSubstr("kobs_feed_rejected_total{reason=\"client_limit\"} 2"));
}

TEST(FeedOptionsTest, ParsesAndRejects) {
  YAML::Node n =
      YAML::Load("{keepalive: 10s, client_buffer: 2MiB, max_clients: 5, fanout_threads: 3}");
  auto o = ParseFeedOptions(n);
  ASSERT_THAT(o, IsOk());
  EXPECT_EQ(o->hub.keepalive, std::chrono::seconds(10));
  EXPECT_EQ(o->hub.client_buffer_bytes, 2u << 20);
  EXPECT_EQ(o->hub.max_clients, 5u);
  EXPECT_EQ(o->hub.fanout_threads, 3u);
  EXPECT_FALSE(ParseFeedOptions(YAML::Load("{fanout_threads: 0}")).ok());
  EXPECT_FALSE(ParseFeedOptions(YAML::Load("{unknown: 1}")).ok());
  EXPECT_FALSE(ParseFeedOptions(YAML::Load("{max_clients: 0}")).ok());
  EXPECT_FALSE(ParseFeedOptions(YAML::Load("{keepalive: 10ms}")).ok());
  EXPECT_FALSE(ParseFeedOptions(YAML::Load("{events_default_limit: 5000}")).ok());
  EXPECT_FALSE(ParseFeedOptions(YAML::Load("{events_recent_window: -1s}")).ok());
  EXPECT_EQ(ParseFeedOptions(YAML::Load("{events_recent_window: 0}"))->events_recent_window,
            std::chrono::milliseconds(0));
}

}  // namespace
}  // namespace kobs::feed
