// The event feed against the embedded store: positions stamped by the view, the SSEK8sEvent
// JSON byte for byte, and the hub's delivery (live, replays from memory and from the store,
// slow clients, late rows, two replicas on one store), including a randomized property test.
#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/metrics.h"
#include "embedded_store_suite.h"
#include "feed/event.h"
#include "feed/event_reader.h"
#include "feed/hub.h"
#include "feed_test_util.h"
#include "status_matchers.h"
#include "store/schema.h"

namespace kobs::feed {
namespace {

using ::kobs::testing::IsOk;
using testing::EventRow;
using testing::RecordingStream;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(PositionTest, RoundTripsAndRejectsMalformedIds) {
  Position p{1796601691354231963, 0x07409dba962105f8, 1};
  EXPECT_EQ(p.ToString(), "1796601691354231963-07409dba962105f8-1");
  auto back = Position::Parse(p.ToString());
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back, p);
  EXPECT_LT((Position{5, 9, 1}), (Position{6, 0, 0}));
  EXPECT_LT((Position{5, 9, 0}), (Position{5, 9, 1}));
  for (const char* bad : {"", "1-2-3", "abc-07409dba962105f8-0", "1-07409dba962105f8-2",
                          "1-07409dba962105f8", "-1-07409dba962105f8-0", "1-07409dba962105fz-0",
                          "1-07409dba962105f8-0-0", "99999999999999999999-07409dba962105f8-0"}) {
    EXPECT_FALSE(Position::Parse(bad).ok()) << bad;
  }
}

TEST(EventJsonTest, MatchesTheGoProxyByteForByte) {
  EventFields f;
  f.object_api_version = "v1";
  f.object_kind = "Pod";
  f.object_name = "web-1";
  f.object_namespace = "demo";
  f.object_uid = "u-1";
  f.reason = "BackOff";
  f.message = "a <b> & \"c\"\n\t\x01 \xe2\x80\xa8 \xff é";
  f.type = "Warning";
  f.event_time = "2026-05-28T20:26:40Z";
  f.source_component = "kubelet";
  EXPECT_EQ(SseEventJson(f),
            R"({"metadata":{"name":"web-1","namespace":"demo","uid":"u-1","creationTimestamp":)"
            R"("2026-05-28T20:26:40Z"},"involvedObject":{"apiVersion":"v1","kind":"Pod","name":)"
            R"("web-1","namespace":"demo","uid":"u-1"},"reason":"BackOff","message":"a \u003cb\u003e )"
            R"(\u0026 \"c\"\n\t\u0001 \u2028 \ufffd é","type":"Warning","firstTimestamp":)"
            R"("2026-05-28T20:26:40Z","lastTimestamp":"2026-05-28T20:26:40Z","eventTime":)"
            R"("2026-05-28T20:26:40Z","source":{"component":"kubelet"}})");
  // GET /events appends each event to the array it is writing.
  std::string array = "[{},";
  AppendSseEventJson(f, &array);
  EXPECT_EQ(array, "[{}," + SseEventJson(f));
  FeedEvent e(7, 0xab, f);
  EXPECT_EQ(e.frame(1), nullptr) << "no composition, no composition frame";
  EXPECT_EQ(*e.frame(0), "id: 7-00000000000000ab-0\nevent: krateo\ndata: " + e.json + "\n\n");
}

class FeedTest : public kobs::testing::EmbeddedStoreSuite {
 protected:
  static void SetUpTestSuite() {
    OpenStore();
    ASSERT_THAT(store::EnsureSchema(*store_, {.database = "feed"}), IsOk());
  }

  void SetUp() override {
    ASSERT_THAT(store_->Query("TRUNCATE TABLE feed.otel_logs", {}), IsOk());
    ASSERT_THAT(store_->Query("TRUNCATE TABLE feed.kobs_k8s_events", {}), IsOk());
    ASSERT_THAT(store_->Query("TRUNCATE TABLE feed.kobs_k8s_events_feed", {}), IsOk());
    reader_ = std::make_unique<EventReader>(*store_, "feed");
  }

  // One insert (one FeedTime) of events `first`..`first + n - 1`.
  void Insert(int first, int n, const std::string& cid, const std::string& ns = "ns1",
              const std::string& watch_type = "ADDED") {
    std::string data;
    for (int i = first; i < first + n; ++i) store::EncodeLogRow(EventRow(i, cid, ns, watch_type), &data);
    ASSERT_THAT(store_->Insert("feed.otel_logs", store::LogColumns(), "RowBinary", data), IsOk());
  }

  std::vector<EventPtr> All() {
    auto all = reader_->After({0, 0, -1}, std::nullopt, {}, 1'000'000);
    EXPECT_THAT(all, IsOk());
    return all.ok() ? *all : std::vector<EventPtr>{};
  }

  // The ids a client with `sub` must get, in order, from what the store holds.
  static std::vector<std::string> Expected(const std::vector<EventPtr>& all,
                                           const Subscription& sub) {
    std::vector<std::string> out;
    for (const EventPtr& e : all) {
      for (int f = 0; f <= kLastFrame; ++f) {
        if (e->frame(f) == nullptr) continue;
        if (sub.after && e->position(f) <= *sub.after) continue;
        if (!sub.topics.empty() && sub.topics.count(e->topic(f)) == 0) continue;
        const std::string& ns = sub.namespace_name;
        if (!ns.empty() && e->fields.event_namespace != ns && e->fields.object_namespace != ns) {
          continue;
        }
        out.push_back(e->position(f).ToString());
      }
    }
    return out;
  }

  static std::vector<std::string> Ids(const RecordingStream& s) {
    std::vector<std::string> out;
    for (const auto& f : s.frames()) out.push_back(f.id);
    return out;
  }

  template <typename Pred>
  static bool WaitFor(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  // Waits until `hub` has published every event in the store.
  bool CaughtUp(const Hub& hub) {
    auto all = All();
    if (all.empty()) return true;
    const Position last = all.back()->position(kLastFrame);
    return WaitFor([&] { return hub.cursor() >= last; });
  }

  static HubOptions FastOptions() {
    HubOptions o;
    o.poll_interval = std::chrono::milliseconds(20);
    o.keepalive = std::chrono::milliseconds(60'000);
    o.ring_size = 8;  // small: replays often come from the store
    o.page = 3;
    return o;
  }

  MetricsRegistry metrics_;
  std::unique_ptr<EventReader> reader_;
};

TEST_F(FeedTest, ViewStampsOrderedPositionsAndTheFeedSkipsDeletions) {
  Insert(0, 3, "comp-a");
  Insert(3, 2, "comp-b", "ns2");
  Insert(5, 1, "comp-b", "ns2", "DELETED");
  auto all = All();
  ASSERT_EQ(all.size(), 5u) << "the DELETED notification is not an event";
  for (size_t i = 1; i < all.size(); ++i) {
    EXPECT_LT(all[i - 1]->position(kLastFrame), all[i]->position(0));
  }
  // One insert, one FeedTime; the second insert is later.
  EXPECT_EQ(all[0]->time_ns, all[2]->time_ns);
  EXPECT_LT(all[2]->time_ns, all[3]->time_ns);
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  EXPECT_LT(std::chrono::nanoseconds(std::chrono::nanoseconds(now).count() - all[4]->time_ns),
            std::chrono::seconds(60))
      << "FeedTime is the arrival time, not the event's";
  EXPECT_EQ(all[3]->fields.composition_id, "comp-b");
  EXPECT_EQ(all[3]->fields.event_namespace, "ns2");
  EXPECT_EQ(all[3]->fields.event_time, "2026-05-28T20:26:40Z");
  // Within one insert the order is FeedKey's, so all[3] is event 3 or 4.
  EXPECT_THAT(all[3]->json, ::testing::ContainsRegex(R"("message":"Back-off \\u003c[34]\\u003e \\u0026 retry")"));
}

TEST_F(FeedTest, PushesEachEventToTheClientsThatAskedForIt) {
  Hub hub(*reader_, FastOptions(), metrics_);
  ASSERT_THAT(hub.Start(), IsOk());
  auto every = std::make_shared<RecordingStream>();
  auto comp_a = std::make_shared<RecordingStream>();
  auto ns2 = std::make_shared<RecordingStream>();
  ASSERT_THAT(hub.Attach(every, {}), IsOk());
  ASSERT_THAT(hub.Attach(comp_a, {.topics = {"comp-a"}}), IsOk());
  ASSERT_THAT(hub.Attach(ns2, {.topics = {"krateo"}, .namespace_name = "ns2"}), IsOk());
  EXPECT_THAT(every->bytes(), ::testing::StartsWith(": connected\n\nretry: 3000\n\n"));
  Insert(0, 2, "comp-a");
  Insert(2, 1, "comp-b", "ns2");
  Insert(3, 1, "");
  hub.Notify();
  ASSERT_TRUE(CaughtUp(hub));
  ASSERT_TRUE(WaitFor([&] { return every->frames().size() == 7; }));
  auto all = All();
  EXPECT_EQ(Ids(*every), Expected(all, {}));
  auto frames = comp_a->frames();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].event, "comp-a");
  EXPECT_EQ(frames[0].id, all[0]->position(1).ToString());
  frames = ns2->frames();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].event, "krateo");
  EXPECT_EQ(frames[0].id, all[2]->position(0).ToString());
  EXPECT_EQ(hub.clients(), 3u);
  every->Abort();
  EXPECT_TRUE(WaitFor([&] { return hub.clients() == 2; }));
}

// A poll that reaches more clients than one thread writes alone is shared by the fan-out
// threads: every client still gets exactly its frames, once and in order.
TEST_F(FeedTest, ManyClientsAreWrittenByTheFanOutThreads) {
  HubOptions o = FastOptions();
  o.fanout_threads = 3;
  Hub hub(*reader_, o, metrics_);
  ASSERT_THAT(hub.Start(), IsOk());
  std::vector<std::pair<std::shared_ptr<RecordingStream>, Subscription>> clients;
  for (int i = 0; i < 300; ++i) {
    Subscription sub;
    if (i % 4 != 0) sub.topics = {i % 4 == 1 ? "comp-a" : "comp-b"};
    if (i % 7 == 0) sub.namespace_name = "ns2";
    clients.emplace_back(std::make_shared<RecordingStream>(), sub);
    ASSERT_THAT(hub.Attach(clients.back().first, sub), IsOk());
  }
  Insert(0, 3, "comp-a");
  Insert(3, 2, "comp-b", "ns2");
  hub.Notify();
  ASSERT_TRUE(CaughtUp(hub));
  const auto all = All();
  ASSERT_EQ(all.size(), 5u);
  for (const auto& [stream, sub] : clients) {
    const auto want = Expected(all, sub);
    ASSERT_TRUE(WaitFor([&] { return stream->frames().size() >= want.size(); }));
    EXPECT_EQ(Ids(*stream), want);
  }
  EXPECT_EQ(hub.clients(), 300u);
}

// Random interleavings of ingests, connects (from random Last-Event-IDs, memory or store
// replays), disconnects and reconnects from the last id received: every client gets exactly
// the frames after its id that match its subscription, in order, and a reconnect continues
// where the previous connection stopped.
TEST_F(FeedTest, RandomInterleavingsDeliverExactlyTheRightSequence) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    SetUp();
    Insert(1000, 5, "comp-a");  // history from before the hub started
    Hub hub(*reader_, FastOptions(), metrics_);
    ASSERT_THAT(hub.Start(), IsOk());
    std::mt19937 rng(seed);
    const std::vector<Subscription> kinds = {
        {}, {.topics = {"comp-a"}}, {.topics = {"krateo"}}, {.topics = {"comp-b", "comp-a"}},
        {.namespace_name = "ns2"}};
    struct Session {
      std::shared_ptr<RecordingStream> stream;
      Subscription sub;
    };
    std::vector<Session> sessions;
    int next_event = 0;
    for (int step = 0; step < 50; ++step) {
      const uint32_t r = rng() % 10;
      if (r < 4) {
        const char* cids[] = {"comp-a", "comp-b", ""};
        Insert(next_event, 1 + static_cast<int>(rng() % 3), cids[rng() % 3],
               rng() % 2 ? "ns1" : "ns2");
        next_event += 3;
        if (rng() % 2) hub.Notify();  // else the poller finds it, as on another replica
      } else if (r < 8) {
        Session s{std::make_shared<RecordingStream>(), kinds[rng() % kinds.size()]};
        std::vector<Session*> ended;
        for (auto& o : sessions) {
          if (o.stream->closed()) ended.push_back(&o);
        }
        if (!ended.empty() && rng() % 2) {
          // A reconnect: same subscription, from the last id the browser saw.
          const Session& prev = *ended[rng() % ended.size()];
          s.sub = prev.sub;
          auto got = prev.stream->frames();
          if (!got.empty()) s.sub.after = *Position::Parse(got.back().id);
        } else {
          auto all = All();
          if (all.empty() || rng() % 4 == 0) {
            s.sub.after = Position{0, 0, 0};
          } else {
            const EventPtr& e = all[rng() % all.size()];
            s.sub.after = e->position(static_cast<int>(rng() % 2));
          }
        }
        ASSERT_THAT(hub.Attach(s.stream, s.sub), IsOk());
        sessions.push_back(std::move(s));
      } else if (!sessions.empty()) {
        sessions[rng() % sessions.size()].stream->Abort();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 15));
    }
    ASSERT_TRUE(CaughtUp(hub));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const auto all = All();
    int replays = 0;
    for (size_t i = 0; i < sessions.size(); ++i) {
      SCOPED_TRACE(::testing::Message() << "session " << i);
      const auto expected = Expected(all, sessions[i].sub);
      const auto got = Ids(*sessions[i].stream);
      if (sessions[i].stream->closed()) {
        ASSERT_LE(got.size(), expected.size());
        EXPECT_TRUE(std::equal(got.begin(), got.end(), expected.begin()))
            << "a disconnected client got a prefix of its sequence";
      } else {
        EXPECT_EQ(got, expected);
      }
      if (sessions[i].sub.after && !(sessions[i].sub.after == Position{0, 0, 0})) ++replays;
    }
    EXPECT_GT(replays, 0);
    hub.Stop();
  }
}

TEST_F(FeedTest, ASlowClientIsDisconnectedCountedAndReplaysOnReconnect) {
  HubOptions o = FastOptions();
  o.client_buffer_bytes = 64 * 1024;
  Hub hub(*reader_, o, metrics_);
  ASSERT_THAT(hub.Start(), IsOk());
  auto slow = std::make_shared<RecordingStream>();
  ASSERT_THAT(hub.Attach(slow, {}), IsOk());
  Insert(0, 2, "comp-a");
  hub.Notify();
  ASSERT_TRUE(CaughtUp(hub));
  ASSERT_TRUE(WaitFor([&] { return slow->frames().size() == 4; }));
  slow->buffered = 64 * 1024;  // the client stops reading
  Insert(2, 2, "comp-a");
  hub.Notify();
  ASSERT_TRUE(WaitFor([&] { return slow->closed(); }));
  EXPECT_TRUE(WaitFor([&] { return hub.clients() == 0; }));
  const std::string text = metrics_.Render();
  EXPECT_THAT(text, HasSubstr("kobs_feed_disconnects_total{reason=\"slow\"} 1"));
  // Both events of the insert came in one poll, one batch: their 4 frames were not sent.
  EXPECT_THAT(text, HasSubstr("kobs_feed_slow_client_frames_total 4"));
  // The browser reconnects with its last id and gets the rest.
  auto again = std::make_shared<RecordingStream>();
  ASSERT_THAT(hub.Attach(again, {.after = *Position::Parse(slow->frames().back().id)}), IsOk());
  auto all = All();
  ASSERT_TRUE(WaitFor([&] { return slow->frames().size() + again->frames().size() == 8; }));
  std::vector<std::string> both = Ids(*slow);
  for (const auto& id : Ids(*again)) both.push_back(id);
  EXPECT_EQ(both, Expected(all, {}));
}

TEST_F(FeedTest, ARowThatReachesTheStoreLateIsDeliveredOnce) {
  Hub hub(*reader_, FastOptions(), metrics_);
  ASSERT_THAT(hub.Start(), IsOk());
  auto client = std::make_shared<RecordingStream>();
  ASSERT_THAT(hub.Attach(client, {}), IsOk());
  Insert(0, 1, "comp-a");
  hub.Notify();
  ASSERT_TRUE(CaughtUp(hub));
  // Another replica's insert stamped 500 ms before the newest row but committed after it.
  const int64_t late = hub.cursor().time_ns - 500'000'000;
  ASSERT_THAT(store_->Query(
                  "INSERT INTO feed.kobs_k8s_events_feed (Timestamp, CompositionId, Namespace, "
                  "WatchType, FeedKey, Reason, Message, Type, ObjectName, ObjectNamespace, "
                  "FeedTime) VALUES (now64(9), 'comp-a', 'ns1', 'ADDED', cityHash64('late'), 'Killing', "
                  "'late', 'Normal', 'pod-late', 'ns1', fromUnixTimestamp64Nano(" +
                      std::to_string(late) + "))",
                  {}),
              IsOk());
  ASSERT_TRUE(WaitFor([&] { return client->frames().size() == 4; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // several more polls
  auto frames = client->frames();
  ASSERT_EQ(frames.size(), 4u) << "delivered once, not on every poll";
  EXPECT_THAT(frames[2].data, HasSubstr("\"reason\":\"Killing\""));
  EXPECT_THAT(metrics_.Render(), HasSubstr("kobs_feed_late_events_total 1"));
}

TEST_F(FeedTest, TwoReplicasOnOneStoreServeTheSameFeed) {
  EventReader other_reader(*store_, "feed");
  Hub ingester(*reader_, FastOptions(), metrics_);
  MetricsRegistry other_metrics;
  Hub other(other_reader, FastOptions(), other_metrics);  // never notified: polls only
  ASSERT_THAT(ingester.Start(), IsOk());
  ASSERT_THAT(other.Start(), IsOk());
  auto a = std::make_shared<RecordingStream>();
  auto b = std::make_shared<RecordingStream>();
  ASSERT_THAT(ingester.Attach(a, {.topics = {"comp-b"}}), IsOk());
  ASSERT_THAT(other.Attach(b, {.topics = {"comp-b"}}), IsOk());
  for (int i = 0; i < 5; ++i) {
    Insert(i * 2, 2, i % 2 ? "comp-b" : "comp-a");
    ingester.Notify();
  }
  ASSERT_TRUE(CaughtUp(ingester));
  ASSERT_TRUE(CaughtUp(other));
  ASSERT_TRUE(WaitFor([&] { return b->frames().size() == 4; }));
  EXPECT_EQ(Ids(*a), Ids(*b));
  EXPECT_EQ(Ids(*a), Expected(All(), {.topics = {"comp-b"}}));
}

}  // namespace
}  // namespace kobs::feed
