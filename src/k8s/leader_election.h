// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection package
// does it: a candidate takes the lease when it is free or expired, and the leader renews it
// every retry_period; updates carry the resourceVersion read, so of two racing candidates one
// gets 409 Conflict and stays a candidate. Expiry is judged by when *this* candidate last saw
// the lease record change (plus the record's leaseDurationSeconds), never by comparing the
// holder's renewTime with the local clock, so clock skew between nodes does not matter.
// A leader that cannot renew within renew_deadline, or sees another holder, stops leading and
// becomes a candidate again. Stop() releases a held lease (holder cleared, duration 1 s) so a
// successor need not wait for it to expire.
// A thread of its own runs the loop and the callbacks, which must return quickly. The Client
// must outlive the elector; its ClientOptions::timeout should be below renew_deadline, since a
// hung request delays the discovery that leadership was lost (IsLeader() is exact regardless).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "k8s/client.h"

namespace kobs::k8s {

struct LeaderElectionOptions {
  std::string lease_namespace;  // required
  std::string lease_name;       // required
  std::string identity;         // required; unique per candidate (pod name, host + random)
  // The defaults are client-go's. lease_duration > renew_deadline > 1.2 * retry_period.
  std::chrono::milliseconds lease_duration{15000};  // written rounded up to whole seconds
  std::chrono::milliseconds renew_deadline{10000};
  std::chrono::milliseconds retry_period{2000};
  bool release_on_stop = true;
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  // The holder this candidate observed changed ("" when the lease was released).
  std::function<void(const std::string& holder)> on_new_leader;
};

class LeaderElector {
 public:
  static absl::StatusOr<std::unique_ptr<LeaderElector>> Create(Client& client,
                                                               LeaderElectionOptions options);
  // Stops.
  ~LeaderElector();

  // Starts campaigning (once).
  void Start();
  // Ends the loop, releasing the lease when leading and release_on_stop (on_stopped_leading
  // runs after that), and waits for it. Idempotent; not from a callback.
  void Stop();

  // Leading and the last successful renewal is younger than renew_deadline.
  bool IsLeader() const;
  // The holder last observed ("" when none).
  std::string leader() const;
  // Lease updates that failed (conflicts included).
  uint64_t failed_attempts() const { return failed_attempts_.load(); }

 private:
  enum class Attempt { kAcquired, kHeldByOther, kFailed };

  LeaderElector(Client& client, LeaderElectionOptions options);
  void Run(std::stop_token stop);
  Attempt TryAcquireOrRenew();
  void Release();
  // Records the lease spec read and when it last changed.
  void Observe(const nlohmann::json& spec);
  bool Sleep(std::chrono::milliseconds d, std::stop_token stop);

  Client& client_;
  const LeaderElectionOptions options_;
  const ResourceInfo lease_resource_;

  // Only the elector's thread touches these.
  nlohmann::json observed_spec_;
  std::chrono::steady_clock::time_point observed_time_;

  mutable absl::Mutex mu_;
  std::string leader_ ABSL_GUARDED_BY(mu_);
  bool leading_ ABSL_GUARDED_BY(mu_) = false;
  std::chrono::steady_clock::time_point renewed_at_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> failed_attempts_{0};
  std::mutex sleep_mu_;
  std::condition_variable_any sleep_cv_;  // never notified: a stop request wakes it
  std::jthread thread_;
};

}  // namespace kobs::k8s
