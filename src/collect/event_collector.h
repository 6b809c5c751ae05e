// Collects Kubernetes events into otel_logs (event_rows.h), tagged with composition ids.
//
// A Watcher lists, then watches, events cluster-wide or in one namespace; it resumes from the
// last resourceVersion after drops and lists again after 410 Gone. Its callback only queues:
// a worker resolves composition ids (composition_resolver.h, through the rate-limited client,
// retrying transient failures a few times) and writes rows in batches through the store's
// Writer. What was stored is remembered per event uid (its resourceVersion and a hash of what
// changes between versions: count, timestamps, message, reason, type) in a state file
// written after each successful write, so that a restart, whose first list repeats every
// event, stores only what is new. An update that only bumps count/lastTimestamp is a new row
// (with the new count), as in the original stack; a DELETED notification is a row too.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "collect/composition_resolver.h"
#include "k8s/watch_decoder.h"

namespace kobs {
class Counter;
class Gauge;
class MetricsRegistry;
}  // namespace kobs

namespace kobs::k8s {
class Client;
class Watcher;
}  // namespace kobs::k8s

namespace kobs::store {
class Writer;
}

namespace kobs::collect {

struct EventCollectorOptions {
  std::string namespace_;  // "" = every namespace
  // What was stored, per event uid ("" = memory only: a restart stores the first list again).
  std::string state_path;
  ResolverOptions resolver;
  // Rows are written at least this often, or when this many are waiting.
  std::chrono::milliseconds flush_interval{500};
  size_t max_batch = 2000;
  // Transient resolution failures are retried this many times, this far apart, before the row
  // is written without a composition id (counted).
  int resolve_attempts = 3;
  std::chrono::milliseconds resolve_backoff{1000};
};

class EventCollector {
 public:
  EventCollector(k8s::Client& client, store::Writer& writer, EventCollectorOptions options,
                 MetricsRegistry& metrics);
  ~EventCollector();

  // Loads the state, finds the events resource and starts watching. InvalidArgument or
  // DataLoss for a state file that cannot be read.
  absl::Status Start();
  // Writes what is queued, saves the state, and stops. Idempotent.
  void Stop();

  bool synced() const;
  uint64_t stored() const { return stored_.load(); }
  uint64_t skipped() const { return skipped_.load(); }

 private:
  struct Seen {
    std::string resource_version;
    uint64_t hash = 0;
  };
  void OnEvent(const k8s::WatchEvent& event);
  void Work(std::stop_token stop);
  // Rows for the queued events not already stored; updates `seen_` only after the write.
  absl::Status Flush(std::deque<k8s::WatchEvent>& batch);
  absl::Status LoadState();
  absl::Status SaveState();

  k8s::Client& client_;
  store::Writer& writer_;
  const EventCollectorOptions options_;
  CompositionResolver resolver_;
  Counter& rows_;
  Counter& duplicates_;
  Counter& unresolved_;
  Counter& write_errors_;
  Gauge& queued_;
  std::unique_ptr<k8s::Watcher> watcher_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  std::deque<k8s::WatchEvent> queue_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Seen> seen_;  // worker thread only (and Start/Stop)
  std::atomic<uint64_t> stored_{0}, skipped_{0};
  std::jthread worker_;
};

}  // namespace kobs::collect
