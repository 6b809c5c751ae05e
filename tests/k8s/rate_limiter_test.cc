// The token bucket with a fake clock (burst, refill, reservations, stop) and, briefly, with the
// real one under concurrency.
#include "k8s/rate_limiter.h"

#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kobs::k8s {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;

class FakeClock : public RateLimiter::Clock {
 public:
  RateLimiter::TimePoint Now() override { return now_; }
  bool SleepUntil(RateLimiter::TimePoint t, std::stop_token stop) override {
    if (stop.stop_requested()) return false;
    sleeps_.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(t - now_));
    now_ = std::max(now_, t);
    return true;
  }
  void Advance(RateLimiter::Duration d) { now_ += d; }
  const std::vector<std::chrono::milliseconds>& sleeps() const { return sleeps_; }

 private:
  RateLimiter::TimePoint now_{std::chrono::hours(1)};
  std::vector<std::chrono::milliseconds> sleeps_;
};

TEST(RateLimiterTest, AllowsABurstThenRefillsAtQps) {
  FakeClock clock;
  RateLimiter limiter(/*qps=*/10, /*burst=*/3, clock);
  EXPECT_TRUE(limiter.TryAcquire());
  EXPECT_TRUE(limiter.TryAcquire());
  EXPECT_TRUE(limiter.TryAcquire());
  EXPECT_FALSE(limiter.TryAcquire());
  clock.Advance(50ms);
  EXPECT_FALSE(limiter.TryAcquire());
  clock.Advance(50ms);
  EXPECT_TRUE(limiter.TryAcquire());
  EXPECT_FALSE(limiter.TryAcquire());
  // A long pause refills up to the burst, not beyond.
  clock.Advance(10s);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.TryAcquire()) << i;
  EXPECT_FALSE(limiter.TryAcquire());
}

TEST(RateLimiterTest, WaitReservesTokensInArrivalOrder) {
  FakeClock clock;
  RateLimiter limiter(/*qps=*/10, /*burst=*/1, clock);
  EXPECT_TRUE(limiter.Wait());  // from the burst, no sleep
  EXPECT_TRUE(limiter.Wait());
  EXPECT_TRUE(limiter.Wait());
  EXPECT_THAT(clock.sleeps(), ElementsAre(100ms, 100ms));
  EXPECT_FALSE(limiter.TryAcquire());
}

TEST(RateLimiterTest, ZeroQpsIsUnlimited) {
  FakeClock clock;
  RateLimiter limiter(/*qps=*/0, /*burst=*/1, clock);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limiter.TryAcquire());
  EXPECT_TRUE(limiter.Wait());
  EXPECT_TRUE(clock.sleeps().empty());
}

TEST(RateLimiterTest, AStoppedWaitGivesItsReservationBack) {
  FakeClock clock;
  RateLimiter limiter(/*qps=*/10, /*burst=*/1, clock);
  EXPECT_TRUE(limiter.TryAcquire());
  std::stop_source stop;
  stop.request_stop();
  EXPECT_FALSE(limiter.Wait(stop.get_token()));
  clock.Advance(100ms);
  EXPECT_TRUE(limiter.TryAcquire());  // the stopped waiter did not keep this token
}

TEST(RateLimiterTest, RealClockPacesConcurrentWaiters) {
  RateLimiter limiter(/*qps=*/200, /*burst=*/1);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) limiter.Wait();
    });
  }
  for (auto& t : threads) t.join();
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 90ms);  // 19 tokens beyond the burst at 200/s
  EXPECT_LT(took, 1000ms);
}

TEST(RateLimiterTest, RealClockWaitStopsPromptly) {
  RateLimiter limiter(/*qps=*/1, /*burst=*/1);
  EXPECT_TRUE(limiter.TryAcquire());
  std::stop_source stop;
  std::thread stopper([&] {
    std::this_thread::sleep_for(20ms);
    stop.request_stop();
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(limiter.Wait(stop.get_token()));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
  stopper.join();
}

}  // namespace
}  // namespace kobs::k8s
