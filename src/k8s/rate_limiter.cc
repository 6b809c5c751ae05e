#include "k8s/rate_limiter.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>

namespace kobs::k8s {
namespace {

class SteadyClock : public RateLimiter::Clock {
 public:
  RateLimiter::TimePoint Now() override { return std::chrono::steady_clock::now(); }
  bool SleepUntil(RateLimiter::TimePoint t, std::stop_token stop) override {
    std::mutex mu;
    std::condition_variable_any cv;
    std::unique_lock lock(mu);
    cv.wait_until(lock, stop, t, [] { return false; });
    return !stop.stop_requested();
  }
};

}  // namespace

RateLimiter::Clock& RateLimiter::RealClock() {
  static SteadyClock* clock = new SteadyClock();
  return *clock;
}

RateLimiter::RateLimiter(double qps, int burst, Clock& clock)
    : qps_(qps), burst_(std::max(1, burst)), clock_(clock), tokens_(burst_), last_(clock.Now()) {}

void RateLimiter::Refill(TimePoint now) {
  if (now <= last_) return;
  const double earned = std::chrono::duration<double>(now - last_).count() * qps_;
  tokens_ = std::min<double>(burst_, tokens_ + earned);
  last_ = now;
}

bool RateLimiter::TryAcquire() {
  if (qps_ <= 0) return true;
  absl::MutexLock lock(&mu_);
  Refill(clock_.Now());
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

bool RateLimiter::Wait(std::stop_token stop) {
  if (qps_ <= 0) return true;
  TimePoint due;
  {
    absl::MutexLock lock(&mu_);
    const TimePoint now = clock_.Now();
    Refill(now);
    tokens_ -= 1;
    if (tokens_ >= 0) return true;
    // The token this caller reserved is earned once the deficit is paid back.
    due =
        now + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(-tokens_ / qps_));
  }
  if (clock_.SleepUntil(due, stop)) return true;
  // Stopped: give the reservation back so later callers do not wait for it.
  absl::MutexLock lock(&mu_);
  tokens_ = std::min<double>(burst_, tokens_ + 1);
  return false;
}

}  // namespace kobs::k8s
