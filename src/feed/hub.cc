#include "feed/hub.h"

#include <pthread.h>

#include <algorithm>

#include <fmt/format.h>

#include "common/log.h"
#include "common/metrics.h"

namespace kobs::feed {
namespace {

spdlog::logger& log() { return Logger("feed"); }

constexpr const char* kDisconnectsHelp =
    "SSE clients gone, by reason: client (it left), slow (its buffer was full), shutdown.";

bool EventBefore(const EventPtr& e, const Position& p) {
  return std::tie(e->time_ns, e->key) < std::tie(p.time_ns, p.key);
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct Hub::Client {
  uint64_t id = 0;
  std::shared_ptr<net::StreamWriter> stream;
  Subscription sub;
  // Frames at or before this were sent already or predate the client's Last-Event-ID: a
  // replica whose poller is behind the one the client came from must not send them again.
  Position floor{0, 0, -1};
  // Frames of the rows being accepted, sent as one write when they all are (FlushBatch).
  std::string batch;
  uint64_t batch_frames = 0;

  bool Wants(const FeedEvent& e, int frame) const {
    if (e.frame(frame) == nullptr) return false;
    if (!sub.topics.empty() && sub.topics.count(e.topic(frame)) == 0) return false;
    return WantsNamespace(e);
  }
  bool WantsNamespace(const FeedEvent& e) const {
    const std::string& ns = sub.namespace_name;
    return ns.empty() || e.fields.event_namespace == ns || e.fields.object_namespace == ns;
  }
};

// Lets a stream's close callback reach the hub only while the hub exists.
struct Hub::Lifeline {
  std::mutex mu;
  Hub* hub = nullptr;
};

Hub::Hub(EventReader& reader, HubOptions options, MetricsRegistry& metrics)
    : reader_(reader),
      options_(std::move(options)),
      metrics_(metrics),
      clients_gauge_(metrics.GetGauge("kobs_feed_clients", "Connected SSE clients.")),
      frames_sent_(metrics.GetCounter("kobs_feed_frames_sent_total",
                                      "SSE event frames queued to clients (live and replayed).")),
      events_published_(metrics.GetCounter("kobs_feed_events_total",
                                           "Events the feed published to live clients.")),
      replayed_frames_(metrics.GetCounter("kobs_feed_replayed_frames_total",
                                          "Frames sent to reconnecting clients (Last-Event-ID).")),
      slow_disconnects_(metrics.GetCounter(
          "kobs_feed_disconnects_total", kDisconnectsHelp,
          {{"reason", "slow"}})),
      client_disconnects_(metrics.GetCounter(
          "kobs_feed_disconnects_total", kDisconnectsHelp,
          {{"reason", "client"}})),
      slow_lost_frames_(metrics.GetCounter(
          "kobs_feed_slow_client_frames_total",
          "Frames a slow client did not get before it was disconnected (its reconnect with "
          "Last-Event-ID replays them).")),
      late_events_(metrics.GetCounter(
          "kobs_feed_late_events_total",
          "Events that reached the store after a later-positioned one had been published.")),
      publish_lag_(metrics.GetHistogram(
          "kobs_feed_publish_lag_seconds",
          "From an event's arrival in the store (FeedTime) to its publication to clients.")),
      poll_seconds_(metrics.GetHistogram("kobs_feed_poll_duration_seconds",
                                         "Time of each query for new event rows.")),
      push_delay_(metrics.GetHistogram(
          "kobs_feed_push_delay_seconds",
          "From the completion of an insert of event rows by this process to their frames "
          "queued to the clients (one query and the fan-out).")),
      lifeline_(std::make_shared<Lifeline>()) {
  lifeline_->hub = this;
}

Hub::~Hub() {
  Stop();
  std::lock_guard lock(lifeline_->mu);
  lifeline_->hub = nullptr;
}

absl::Status Hub::Start() {
  auto newest = reader_.Newest(options_.ring_size);
  if (!newest.ok()) return newest.status();
  std::lock_guard lock(mu_);
  if (started_) return absl::FailedPreconditionError("feed hub already started");
  ring_.assign(newest->begin(), newest->end());
  if (!ring_.empty()) {
    cursor_ = ring_.back()->position(kLastFrame);
    // A full ring may have left older events in the store.
    if (ring_.size() == options_.ring_size) covered_from_ = ring_.front()->position(-1);
  }
  started_ = true;
  thread_ = std::thread([this] { Run(); });
  for (size_t i = 1; i < options_.fanout_threads; ++i) {
    fanout_.emplace_back([this] { FanOutLoop(); });
  }
  Log(log(), spdlog::level::info, "event feed started",
      {{"ring_events", std::to_string(ring_.size())}, {"cursor", cursor_.ToString()}});
  return absl::OkStatus();
}

void Hub::Stop() {
  std::map<uint64_t, std::shared_ptr<Client>> clients;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    clients.swap(clients_);
    all_topics_.clear();
    by_topic_.clear();
    clients_gauge_.Set(0);
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard lock(fanout_mu_);
    fanout_stop_ = true;
  }
  fanout_wake_.notify_all();
  for (std::thread& t : fanout_) t.join();
  fanout_.clear();
  for (auto& [id, c] : clients) c->stream->Close();
  metrics_.GetCounter("kobs_feed_disconnects_total", kDisconnectsHelp,
                      {{"reason", "shutdown"}})
      .Inc(static_cast<double>(clients.size()));
}

void Hub::Notify() {
  {
    std::lock_guard lock(mu_);
    if (!notified_) notified_at_ = std::chrono::steady_clock::now();
    notified_ = true;
  }
  wake_.notify_one();
}

bool Hub::running() const {
  std::lock_guard lock(mu_);
  return started_ && !stopping_;
}

bool Hub::HasCapacity() const {
  std::lock_guard lock(mu_);
  return clients_.size() + attaching_ < options_.max_clients;
}

size_t Hub::clients() const {
  std::lock_guard lock(mu_);
  return clients_.size();
}

Position Hub::cursor() const {
  std::lock_guard lock(mu_);
  return cursor_;
}

void Hub::Run() {
  pthread_setname_np(pthread_self(), "kobs-feed");
  using Clock = std::chrono::steady_clock;
  static const auto kKeepalive = std::make_shared<const std::string>(": keepalive\n\n");
  auto next_poll = Clock::now();
  // The look-back for late rows runs twice per settle window (and at least every poll).
  const auto look_back_every = std::max<std::chrono::milliseconds>(options_.poll_interval,
                                                                   options_.settle / 2);
  auto next_look_back = Clock::now();
  auto next_keepalive = Clock::now() + options_.keepalive;
  Clock::time_point last_error_log;
  for (;;) {
    bool poll = false, look_back = false;
    std::optional<Clock::time_point> woken_at;
    {
      std::unique_lock lock(mu_);
      wake_.wait_until(lock, std::min(next_poll, next_keepalive),
                       [this] { return stopping_ || notified_; });
      if (stopping_) return;
      const auto now = Clock::now();
      look_back = now >= next_look_back;
      poll = notified_ || now >= next_poll;
      if (notified_) woken_at = notified_at_;
      notified_ = false;
      if (now >= next_keepalive) {
        std::vector<uint64_t> ids;
        for (const auto& [id, c] : clients_) ids.push_back(id);
        for (uint64_t id : ids) {
          auto it = clients_.find(id);
          if (it != clients_.end()) Deliver(*it->second, kKeepalive);
        }
        next_keepalive = now + options_.keepalive;
      }
    }
    if (!poll) continue;
    absl::Status st = PollNew();
    if (woken_at && st.ok()) {
      push_delay_.Observe(std::chrono::duration<double>(Clock::now() - *woken_at).count());
    }
    if (look_back && st.ok()) st = LookBack();
    if (!st.ok()) {
      metrics_.GetCounter("kobs_feed_poll_errors_total", "Failed polls of the events table.")
          .Inc();
      if (Clock::now() - last_error_log > std::chrono::seconds(10)) {
        last_error_log = Clock::now();
        Log(log(), spdlog::level::warn, "cannot poll the events table; retrying",
            {{"error", std::string(st.message())}});
      }
    }
    // Any poll reads every replica's new rows: the next timed one is due poll_interval later.
    next_poll = Clock::now() + options_.poll_interval;
    if (look_back) next_look_back = Clock::now() + look_back_every;
  }
}

absl::Status Hub::PollNew() {
  Position from;
  {
    std::lock_guard lock(mu_);
    from = cursor_;
  }
  // New rows: everything after the newest position published.
  for (;;) {
    const auto start = std::chrono::steady_clock::now();
    auto rows = reader_.After(from, std::nullopt, {}, options_.page);
    poll_seconds_.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (!rows.ok()) return rows.status();
    Accept(*rows);
    if (rows->size() < options_.page) break;
    from = rows->back()->position(kLastFrame);
  }
  return absl::OkStatus();
}

absl::Status Hub::LookBack() {
  // Late rows: positioned within `settle` before the cursor but not seen when it passed them
  // (another replica's insert that committed after a later one). Positions only, then the
  // rows that are missing.
  Position to, back;
  {
    std::lock_guard lock(mu_);
    to = cursor_;
    back = {to.time_ns - std::chrono::duration_cast<std::chrono::nanoseconds>(options_.settle)
                             .count(),
            0, -1};
    back = std::max(back, covered_from_);
  }
  if (to.time_ns == 0) return absl::OkStatus();
  auto positions = reader_.PositionsBetween(back, to, options_.ring_size);
  if (!positions.ok()) return positions.status();
  std::vector<Position> missing;
  {
    std::lock_guard lock(mu_);
    for (const Position& p : *positions) {
      if (!InRing(p)) missing.push_back(p);
    }
  }
  if (missing.empty()) return absl::OkStatus();
  auto rows = reader_.At(missing);
  if (!rows.ok()) return rows.status();
  Accept(*rows);
  return absl::OkStatus();
}

std::deque<EventPtr>::const_iterator Hub::RingFind(const Position& p) const {
  return std::lower_bound(ring_.begin(), ring_.end(), p, EventBefore);
}

bool Hub::IsAt(std::deque<EventPtr>::const_iterator it, const Position& p) const {
  return it != ring_.end() && (*it)->time_ns == p.time_ns && (*it)->key == p.key;
}

bool Hub::InRing(const Position& p) const { return IsAt(RingFind(p), p); }

void Hub::Accept(const std::vector<EventPtr>& rows) {
  std::lock_guard lock(mu_);
  if (stopping_) return;
  for (const EventPtr& e : rows) {
    const Position last = e->position(kLastFrame);
    if (last <= covered_from_) continue;  // older than anything remembered: seen before
    auto it = RingFind(e->position(0));
    if (IsAt(it, e->position(0))) continue;
    if (it != ring_.end()) late_events_.Inc();  // a later event was published already
    ring_.insert(it, e);
    Publish(e);
    cursor_ = std::max(cursor_, last);
  }
  FlushBatch();
  while (ring_.size() > options_.ring_size) {
    covered_from_ = ring_.front()->position(kLastFrame);
    ring_.pop_front();
  }
}

void Hub::Publish(const EventPtr& e) {
  events_published_.Inc();
  publish_lag_.Observe(static_cast<double>(NowNs() - e->time_ns) / 1e9);
  for (int f = 0; f <= kLastFrame; ++f) {
    if (e->frame(f) == nullptr) continue;
    const Position pos = e->position(f);
    // A client listed under the frame's topic (or every topic) wants the frame, unless it
    // asked for one namespace only.
    auto offer = [&](Client* c) {
      if (pos > c->floor && c->WantsNamespace(*e)) Batch(*c, *e->frame(f));
    };
    for (Client* c : all_topics_) offer(c);
    if (auto t = by_topic_.find(e->topic(f)); t != by_topic_.end()) {
      for (Client* c : t->second) offer(c);
    }
  }
}

void Hub::Batch(Client& c, const std::string& frame) {
  if (c.batch.empty()) batched_.push_back(&c);
  c.batch += frame;
  ++c.batch_frames;
}

void Hub::FlushBatch() {
  struct Write {
    Client* client;
    std::shared_ptr<const std::string> data;
    uint64_t frames;
    bool full = false;  // the client's buffer could not take it
  };
  std::vector<Write> writes;
  writes.reserve(batched_.size());
  for (Client* c : batched_) {
    writes.push_back({c, std::make_shared<const std::string>(std::move(c->batch)),
                      c->batch_frames});
    c->batch.clear();
    c->batch_frames = 0;
  }
  batched_.clear();
  // The threads take the writes in chunks; a poll of one chunk or less is written here.
  constexpr size_t kChunk = 64;
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> sent{0};
  const std::function<void()> job = [&] {
    uint64_t frames = 0;
    for (size_t i; (i = next.fetch_add(kChunk)) < writes.size();) {
      for (size_t j = i; j < std::min(writes.size(), i + kChunk); ++j) {
        Write& w = writes[j];
        if (w.client->stream->buffered_bytes() + w.data->size() > options_.client_buffer_bytes) {
          w.full = true;
        } else if (w.client->stream->Send(std::move(w.data))) {
          frames += w.frames;
        }
      }
    }
    sent.fetch_add(frames);
  };
  if (writes.size() > kChunk) {
    RunFanOut(job);
  } else {
    job();
  }
  frames_sent_.Inc(static_cast<double>(sent.load()));
  for (Write& w : writes) {
    if (!w.full) continue;
    slow_lost_frames_.Inc(static_cast<double>(w.frames));
    DisconnectSlow(*w.client);
  }
}

void Hub::RunFanOut(const std::function<void()>& job) {
  if (fanout_.empty()) {
    job();
    return;
  }
  {
    std::lock_guard lock(fanout_mu_);
    fanout_job_ = &job;
    fanout_pending_ = fanout_.size();
    ++fanout_round_;
  }
  fanout_wake_.notify_all();
  job();
  std::unique_lock lock(fanout_mu_);
  fanout_done_.wait(lock, [this] { return fanout_pending_ == 0; });
  fanout_job_ = nullptr;
}

void Hub::FanOutLoop() {
  pthread_setname_np(pthread_self(), "kobs-feed-out");
  uint64_t seen = 0;
  for (;;) {
    const std::function<void()>* job = nullptr;
    {
      std::unique_lock lock(fanout_mu_);
      fanout_wake_.wait(lock, [&] { return fanout_stop_ || fanout_round_ != seen; });
      if (fanout_stop_) return;
      seen = fanout_round_;
      job = fanout_job_;
    }
    (*job)();
    std::lock_guard lock(fanout_mu_);
    if (--fanout_pending_ == 0) fanout_done_.notify_one();
  }
}

bool Hub::Deliver(Client& c, const std::shared_ptr<const std::string>& frame) {
  if (c.stream->buffered_bytes() + frame->size() > options_.client_buffer_bytes) {
    slow_lost_frames_.Inc();
    DisconnectSlow(c);
    return false;
  }
  if (!c.stream->Send(frame)) return false;  // ended: its close callback unregisters it
  frames_sent_.Inc();
  return true;
}

void Hub::Register(const std::shared_ptr<Client>& c) {
  clients_[c->id] = c;
  if (c->sub.topics.empty()) {
    all_topics_.push_back(c.get());
  } else {
    for (const std::string& t : c->sub.topics) by_topic_[t].push_back(c.get());
  }
  clients_gauge_.Set(static_cast<double>(clients_.size()));
}

void Hub::RemoveLocked(uint64_t id) {
  auto it = clients_.find(id);
  if (it == clients_.end()) return;
  Client* c = it->second.get();
  auto drop = [c](std::vector<Client*>& v) {
    auto at = std::find(v.begin(), v.end(), c);
    if (at == v.end()) return;
    *at = v.back();
    v.pop_back();
  };
  drop(all_topics_);
  for (const std::string& t : c->sub.topics) {
    auto bt = by_topic_.find(t);
    if (bt == by_topic_.end()) continue;
    drop(bt->second);
    if (bt->second.empty()) by_topic_.erase(bt);
  }
  clients_.erase(it);
  clients_gauge_.Set(static_cast<double>(clients_.size()));
}

void Hub::Unregister(uint64_t id) {
  std::lock_guard lock(mu_);
  if (clients_.count(id) == 0) return;  // the hub disconnected it (counted there)
  client_disconnects_.Inc();
  RemoveLocked(id);
}

void Hub::DisconnectSlow(Client& c) {
  slow_disconnects_.Inc();
  Log(log(), spdlog::level::info, "disconnected a client that could not keep up",
      {{"buffered_bytes", std::to_string(c.stream->buffered_bytes())}});
  c.stream->Abort();
  RemoveLocked(c.id);
}

Position Hub::SendAfter(Client& c, const FeedEvent& e, const Position& pos) {
  for (int f = 0; f <= kLastFrame; ++f) {
    if (e.position(f) <= pos || !c.Wants(e, f)) continue;
    if (c.stream->Send(e.frame(f))) {
      frames_sent_.Inc();
      replayed_frames_.Inc();
    }
  }
  return std::max(pos, e.position(kLastFrame));
}

bool Hub::WaitForDrain(const Client& c) const {
  // A client that takes no bytes for this long while being replayed is given up on.
  constexpr auto kPatience = std::chrono::seconds(30);
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (c.stream->buffered_bytes() > options_.client_buffer_bytes / 4) {
    if (c.stream->closed() || std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return !c.stream->closed();
}

absl::Status Hub::Attach(std::shared_ptr<net::StreamWriter> stream, Subscription sub) {
  auto c = std::make_shared<Client>();
  c->stream = std::move(stream);
  c->sub = std::move(sub);
  {
    std::lock_guard lock(mu_);
    if (stopping_ || !started_) {
      c->stream->Close();
      return absl::UnavailableError("the event feed is not running");
    }
    if (clients_.size() + attaching_ >= options_.max_clients) {
      c->stream->Close();
      return absl::ResourceExhaustedError("the event feed is at its client limit");
    }
    c->id = next_id_++;
    ++attaching_;
  }
  c->stream->Send(std::make_shared<const std::string>(
      fmt::format(": connected\n\nretry: {}\n\n", options_.retry.count())));
  c->stream->OnClose([line = lifeline_, id = c->id] {
    std::lock_guard lock(line->mu);
    if (line->hub != nullptr) line->hub->Unregister(id);
  });
  // Done attaching: join the live feed (unless the stream already ended).
  auto finish = [&](bool join) {
    std::lock_guard lock(mu_);
    if (c->sub.after) c->floor = *c->sub.after;
    --attaching_;
    if (join && !stopping_ && !c->stream->closed()) Register(c);
  };
  if (!c->sub.after) {
    finish(true);
    return absl::OkStatus();
  }
  EventFilter filter;
  filter.namespace_name = c->sub.namespace_name;
  if (!c->sub.topics.empty() && c->sub.topics.count(std::string(kAllTopic)) == 0) {
    filter.composition_ids.assign(c->sub.topics.begin(), c->sub.topics.end());
  }
  Position pos = *c->sub.after;
  bool from_store = false;
  for (;;) {
    std::optional<Position> until;
    {
      std::lock_guard lock(mu_);
      if (stopping_ || c->stream->closed()) break;
      if (pos >= covered_from_) {
        auto it = RingFind(pos);
        for (; it != ring_.end(); ++it) {
          pos = SendAfter(*c, **it, pos);
          if (c->stream->buffered_bytes() > options_.client_buffer_bytes / 2) break;
        }
        if (it == ring_.end() || std::next(it) == ring_.end()) {
          --attaching_;
          c->floor = pos;
          if (!c->stream->closed()) Register(c);
          metrics_.GetCounter("kobs_feed_replays_total",
                              "Reconnects served from Last-Event-ID, by where the replay began.",
                              {{"source", from_store ? "store" : "memory"}})
              .Inc();
          return absl::OkStatus();
        }
      } else {
        until = covered_from_;
      }
    }
    if (until) {
      from_store = true;
      auto rows = reader_.After(pos, until, filter, options_.page);
      if (!rows.ok()) {
        finish(false);
        c->stream->Close();
        return rows.status();
      }
      for (const EventPtr& e : *rows) pos = SendAfter(*c, *e, pos);
      if (rows->size() < options_.page) pos = std::max(pos, *until);
    }
    if (!WaitForDrain(*c)) {
      if (!c->stream->closed()) {
        std::lock_guard lock(mu_);
        DisconnectSlow(*c);
      }
      break;
    }
  }
  finish(false);
  c->stream->Close();  // the hub is stopping, or the client left or was too slow
  return absl::OkStatus();
}

}  // namespace kobs::feed
