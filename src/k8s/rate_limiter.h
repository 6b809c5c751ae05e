// A token bucket rate limiter (client-go's flowcontrol.NewTokenBucketRateLimiter): `qps` tokens
// per second refill a bucket of `burst`; each request takes one. Wait() reserves a token and
// sleeps until it is due, so concurrent callers are served in arrival order and never spin.
// Thread-safe. The clock is injectable for tests; the default is steady_clock.
#pragma once

#include <chrono>
#include <memory>
#include <stop_token>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace kobs::k8s {

class RateLimiter {
 public:
  using Duration = std::chrono::steady_clock::duration;
  using TimePoint = std::chrono::steady_clock::time_point;

  // Time source and sleeper. Tests pass a fake whose SleepUntil advances its own time.
  class Clock {
   public:
    virtual ~Clock() = default;
    virtual TimePoint Now() = 0;
    // Sleeps until `t` or until `stop` is requested; false when stopped first.
    virtual bool SleepUntil(TimePoint t, std::stop_token stop) = 0;
  };
  // steady_clock and a stop-aware sleep; a process-wide instance.
  static Clock& RealClock();

  // qps <= 0 means unlimited; burst < 1 is taken as 1. `clock` must outlive the limiter.
  explicit RateLimiter(double qps, int burst, Clock& clock = RealClock());

  // Takes a token, sleeping until one is available. Returns false (having taken nothing) when
  // `stop` is requested during the wait.
  bool Wait(std::stop_token stop = {});
  // Takes a token only when one is available now.
  bool TryAcquire();

  double qps() const { return qps_; }
  int burst() const { return burst_; }

 private:
  // Adds the tokens earned since `last_` (at most up to burst_).
  void Refill(TimePoint now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const double qps_;
  const int burst_;
  Clock& clock_;
  absl::Mutex mu_;
  // May go negative: tokens reserved by sleeping Wait() callers.
  double tokens_ ABSL_GUARDED_BY(mu_);
  TimePoint last_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kobs::k8s
