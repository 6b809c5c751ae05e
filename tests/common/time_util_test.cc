// RFC 3339 times: exact nanoseconds, zones, and agreement with the C library's timegm() over
// four centuries of dates (leap years and the year boundaries included).
#include "common/time_util.h"

#include <ctime>
#include <random>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace kobs {
namespace {

TEST(TimeUtilTest, ParsesExactNanosecondsAndZones) {
  EXPECT_EQ(*ParseRfc3339Nanos("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseRfc3339Nanos("2020-04-20T22:52:23.123456789Z"), 1587423143123456789);
  EXPECT_EQ(*ParseRfc3339Nanos("2020-04-20T22:52:23.5Z"), 1587423143500000000);
  EXPECT_EQ(*ParseRfc3339Nanos("2020-04-21T00:52:23+02:00"), 1587423143000000000);
  EXPECT_EQ(*ParseRfc3339Nanos("2024-02-29T12:00:00Z"), 1709208000000000000);
  EXPECT_EQ(*ParseRfc3339Nanos("1969-12-31T23:59:59Z"), -1000000000);
  EXPECT_FALSE(ParseRfc3339Nanos("2020-13-01T00:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339Nanos("2020-01-01 00:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339Nanos("2020-01-01T00:00:00").ok());
}

TEST(TimeUtilTest, ARememberedSecondStillParsesItsFractionAndZone) {
  // The second of the previous call is reused; what follows it is read every time.
  EXPECT_EQ(*ParseRfc3339Nanos("2020-04-20T22:52:23.1Z"), 1587423143100000000);
  EXPECT_EQ(*ParseRfc3339Nanos("2020-04-20T22:52:23.2Z"), 1587423143200000000);
  EXPECT_EQ(*ParseRfc3339Nanos("2020-04-20T22:52:23+01:00"), 1587419543000000000);
  EXPECT_FALSE(ParseRfc3339Nanos("2020-04-20T22:52:23").ok());
  EXPECT_FALSE(ParseRfc3339Nanos("2020-04-20T22:52:23.Z").ok());
  EXPECT_FALSE(ParseRfc3339Nanos("2020-04-20T22:52:23Zjunk").ok());
  // Before any valid time, nothing is remembered: not even a prefix of zero bytes.
  std::thread([] {
    EXPECT_FALSE(ParseRfc3339Nanos(std::string(19, '\0') + "Z").ok());
  }).join();
}

TEST(TimeUtilTest, AgreesWithTimegm) {
  std::mt19937 rng(1);
  for (int i = 0; i < 20000; ++i) {
    std::tm tm{};
    tm.tm_year = 1800 + static_cast<int>(rng() % 400) - 1900;
    tm.tm_mon = static_cast<int>(rng() % 12);
    tm.tm_mday = 1 + static_cast<int>(rng() % 28);
    tm.tm_hour = static_cast<int>(rng() % 24);
    tm.tm_min = static_cast<int>(rng() % 60);
    tm.tm_sec = static_cast<int>(rng() % 60);
    if (i % 7 == 0) tm.tm_mday = tm.tm_mon == 1 ? 29 : 30;  // month ends, Feb 29 in leap years
    char text[40];
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    std::tm copy = tm;
    const int64_t expected = static_cast<int64_t>(timegm(&copy)) * 1000000000;
    EXPECT_EQ(*ParseRfc3339Nanos(text), expected) << text;
  }
}

}  // namespace
}  // namespace kobs
