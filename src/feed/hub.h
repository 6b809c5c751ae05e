// The event feed's hub: it follows kobs_k8s_events by position and pushes each new event's
// frames to the SSE clients that asked for them.
//
// One thread polls the store for rows after its cursor: at once when this process inserted
// event rows (Notify()), and every poll_interval for rows other replicas inserted. Each poll
// looks back `settle` before the cursor, so a row that reaches the store late is still
// delivered (the ring remembers what was sent, so nothing goes out twice). Recent events stay
// in a ring; a client that reconnects with a Last-Event-ID is replayed from the ring, or from
// the store when it is further behind, then joins the live feed without a gap. The frames of
// one poll go to each client as one write. A client whose buffer fills is disconnected (and
// counted); its browser reconnects from its last id.
// Thread-safe; borrows the reader and the registry.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "feed/event_reader.h"
#include "net/http.h"

namespace kobs {
class MetricsRegistry;
class Counter;
class Gauge;
class Histogram;
}  // namespace kobs

namespace kobs::feed {

struct HubOptions {
  // Recent events kept in memory for replays and duplicate detection.
  size_t ring_size = 10'000;
  // A client whose unsent frames exceed this is disconnected.
  uint64_t client_buffer_bytes = 1ull << 20;
  // Connected clients at most; Attach beyond it fails with ResourceExhausted.
  size_t max_clients = 20'000;
  // A `: keepalive` comment goes to every client this often.
  std::chrono::milliseconds keepalive{25'000};
  // The reconnection delay sent to browsers (`retry:`).
  std::chrono::milliseconds retry{3'000};
  // Rows inserted by other processes are found within this long.
  std::chrono::milliseconds poll_interval{250};
  // How far each poll looks back before the newest position seen.
  std::chrono::milliseconds settle{2'000};
  // Events per store query (polls and replays).
  size_t page = 2'000;
  // Threads writing one poll's frames to the clients' sockets, the poller included: a write
  // costs a system call per client, so a poll reaching thousands of clients is written in
  // parallel.
  size_t fanout_threads = 2;
};

// What a client asked for.
struct Subscription {
  // Topics (`krateo` = every event, else composition ids); empty: every topic.
  std::set<std::string> topics;
  // Only events of this namespace (the event's or its involved object's).
  std::string namespace_name;
  // Replay every frame after this position first (Last-Event-ID).
  std::optional<Position> after;
};

class Hub {
 public:
  Hub(EventReader& reader, HubOptions options, MetricsRegistry& metrics);
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // Loads the newest ring_size events and starts the poller. Fails when the store cannot be
  // read.
  absl::Status Start();
  // Stops polling and closes every client stream. Idempotent.
  void Stop();

  // Rows were inserted into otel_logs by this process: poll now.
  void Notify();

  // Whether the hub has started and not stopped.
  bool running() const;
  // Whether another client can attach (max_clients).
  bool HasCapacity() const;
  // Serves `stream` with `sub`: the preamble, the replay after sub.after (blocking while it
  // reads the store and while the client drains its buffer), then the live feed until the
  // stream ends. Fails when the hub is full or stopped, or a replay query fails (the stream is
  // then closed).
  absl::Status Attach(std::shared_ptr<net::StreamWriter> stream, Subscription sub);

  size_t clients() const;
  // The newest position seen (for tests and /readyz details).
  Position cursor() const;

 private:
  struct Client;
  struct Lifeline;

  void Run();
  // Publishes the rows after the cursor.
  absl::Status PollNew();
  // Publishes late rows: within `settle` before the cursor, not seen when it passed them.
  absl::Status LookBack();
  // Publishes the rows not seen yet (in the ring's order). Takes mu_.
  void Accept(const std::vector<EventPtr>& rows);
  // The first ring event at or after p's event (frames ignored). Requires mu_.
  std::deque<EventPtr>::const_iterator RingFind(const Position& p) const;
  // Whether `it` (from RingFind) is p's event. Requires mu_.
  bool IsAt(std::deque<EventPtr>::const_iterator it, const Position& p) const;
  bool InRing(const Position& p) const;  // requires mu_
  // Adds e's frames to the batches of the clients that want them. Requires mu_.
  void Publish(const EventPtr& e);
  // Appends `frame` to c's batch. Requires mu_.
  void Batch(Client& c, const std::string& frame);
  // Sends each client its batch as one write, on fanout_threads threads (a client whose
  // buffer cannot take it is disconnected). Requires mu_.
  void FlushBatch();
  // Runs `job` here and on every fan-out thread at once; returns when all have.
  void RunFanOut(const std::function<void()>& job);
  void FanOutLoop();
  // Queues `frame` for `c`, or disconnects `c` if its buffer is full. Requires mu_.
  bool Deliver(Client& c, const std::shared_ptr<const std::string>& frame);
  void Register(const std::shared_ptr<Client>& c);  // requires mu_
  void Unregister(uint64_t id);
  void RemoveLocked(uint64_t id);  // requires mu_
  // Disconnects a client whose buffer is full, and counts it. Requires mu_.
  void DisconnectSlow(Client& c);
  // Sends c's frames of `e` after `pos`; returns the position of e's last frame.
  Position SendAfter(Client& c, const FeedEvent& e, const Position& pos);
  bool WaitForDrain(const Client& c) const;

  EventReader& reader_;
  const HubOptions options_;
  MetricsRegistry& metrics_;
  Gauge& clients_gauge_;
  Counter& frames_sent_;
  Counter& events_published_;
  Counter& replayed_frames_;
  Counter& slow_disconnects_;
  Counter& client_disconnects_;
  Counter& slow_lost_frames_;
  Counter& late_events_;
  Histogram& publish_lag_;
  Histogram& poll_seconds_;
  Histogram& push_delay_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool notified_ = false;
  std::chrono::steady_clock::time_point notified_at_;
  bool stopping_ = false;
  bool started_ = false;
  std::deque<EventPtr> ring_;  // ordered by position
  // The ring holds every event positioned after this.
  Position covered_from_{0, 0, -1};
  Position cursor_{0, 0, kLastFrame};
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::shared_ptr<Client>> clients_;
  // The clients of clients_ by topic, and those of every topic.
  std::vector<Client*> all_topics_;
  std::unordered_map<std::string, std::vector<Client*>> by_topic_;
  size_t attaching_ = 0;  // clients still being replayed
  std::vector<Client*> batched_;  // clients with a batch to flush
  std::thread thread_;

  // The fan-out threads (fanout_threads - 1), given one job at a time by the poller.
  std::vector<std::thread> fanout_;
  std::mutex fanout_mu_;
  std::condition_variable fanout_wake_, fanout_done_;
  const std::function<void()>* fanout_job_ = nullptr;  // guarded by fanout_mu_
  uint64_t fanout_round_ = 0;                           // guarded by fanout_mu_
  size_t fanout_pending_ = 0;                           // guarded by fanout_mu_
  bool fanout_stop_ = false;                            // guarded by fanout_mu_
  const std::shared_ptr<Lifeline> lifeline_;
};

}  // namespace kobs::feed
