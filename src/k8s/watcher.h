// An informer-style watch of one resource: lists it (paged), then watches from the list's
// resourceVersion, and keeps the consumer's view complete and free of repeats across failures.
// A stream that ends, drops or stays silent (ClientOptions::watch_idle_timeout) is resumed from
// the last resourceVersion seen (events and bookmarks advance it), after an exponential backoff
// with jitter unless the stream was healthy. When the server no longer has that version (410
// Gone/Expired, as an HTTP answer or an ERROR event) it lists again and delivers the difference
// from what it had delivered as synthetic events: ADDED for new objects, MODIFIED for changed
// ones, DELETED (carrying the last known state, see keep_objects) for vanished ones.
// A thread of its own runs the loop and calls the callbacks, one at a time and in order.
// Stop() aborts a stream at once. The Client must outlive the Watcher.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "k8s/client.h"
#include "k8s/rest_mapper.h"
#include "k8s/watch_decoder.h"

namespace kobs::k8s {

struct WatcherOptions {
  std::string namespace_;  // "": all namespaces (or a cluster-scoped resource)
  std::string label_selector;
  std::string field_selector;
  int64_t page_size = 500;
  // Backoff between failed rounds: doubles from initial to max, each wait drawn from [d/2, d].
  std::chrono::milliseconds initial_backoff{800};
  std::chrono::milliseconds max_backoff{30000};
  // A stream that lasted this long counts as healthy: the next one starts at once and the
  // backoff starts over.
  std::chrono::milliseconds healthy_after{60000};
  // Server-side lifetime of each stream; 0: 5 to 10 minutes at random.
  int64_t watch_timeout_seconds = 0;
  // Keep each object's last state, so a synthetic DELETED carries all of it. Otherwise only
  // apiVersion, kind and metadata (name, namespace, uid, resourceVersion) are kept.
  bool keep_objects = false;
};

class Watcher {
 public:
  // ADDED, MODIFIED or DELETED; never BOOKMARK or ERROR.
  using EventHandler = std::function<void(const WatchEvent&)>;

  Watcher(Client& client, ResourceInfo resource, WatcherOptions options, EventHandler on_event,
          std::function<void()> on_synced = nullptr);
  // Stops.
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // Starts the thread (once). on_synced runs after the first list's events were delivered.
  void Start();
  // Ends the thread and waits for it; no callback runs once it returns. Idempotent. Must not be
  // called from a callback.
  void Stop();

  bool synced() const { return synced_.load(); }
  // Streams started after the first one.
  uint64_t reconnects() const { return reconnects_.load(); }
  // Lists after the first one (each after a 410).
  uint64_t relists() const { return relists_.load(); }
  // Events delivered, synthetic ones included.
  uint64_t events() const { return events_.load(); }
  std::string resource_version() const;
  // The last failure (OK when none yet), for health reporting.
  absl::Status last_error() const;

 private:
  struct Known {
    std::string resource_version;
    nlohmann::json object;  // last state, or a stub (keep_objects)
  };

  void Run(std::stop_token stop);
  // Lists and delivers the difference from `known_`.
  absl::Status Relist();
  // Delivers a live event unless it repeats what was delivered; updates `known_`.
  void Apply(WatchEvent& event);
  void Deliver(const WatchEvent& event);
  void Remember(const std::string& key, const nlohmann::json& object, const std::string& rv);
  void SetResourceVersion(const std::string& rv);
  void SetError(const absl::Status& status);
  std::chrono::milliseconds Backoff(int failures);
  // Sleeps; false when stopped first.
  bool Sleep(std::chrono::milliseconds d, std::stop_token stop);

  Client& client_;
  const ResourceInfo resource_;
  const WatcherOptions options_;
  const EventHandler on_event_;
  const std::function<void()> on_synced_;

  // Only the watcher's thread touches these.
  std::unordered_map<std::string, Known> known_;

  mutable absl::Mutex mu_;
  std::string resource_version_ ABSL_GUARDED_BY(mu_);
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
  std::mutex sleep_mu_;
  std::condition_variable_any sleep_cv_;  // never notified: a stop request wakes it
  std::atomic<bool> synced_{false};
  std::atomic<uint64_t> reconnects_{0}, relists_{0}, events_{0};
  std::jthread thread_;
};

}  // namespace kobs::k8s
