#include "common/time_util.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>

#include <fmt/format.h>

namespace kobs {
namespace {

bool Digits(std::string_view s, size_t at, size_t n, int* out) {
  if (at + n > s.size()) return false;
  int v = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

absl::Status Bad(std::string_view what, std::string_view text) {
  return absl::InvalidArgumentError(
      fmt::format("{}: \"{}\"", what, text.substr(0, std::min<size_t>(text.size(), 80))));
}

}  // namespace

absl::StatusOr<int64_t> ParseRfc3339Nanos(std::string_view t) {
  // The lines of a log share their second: the date and time to the second of the last call
  // on this thread are remembered with their value.
  constexpr size_t kPrefix = 19;  // "2006-01-02T15:04:05"
  thread_local char last_prefix[kPrefix] = {};
  thread_local int64_t last_secs = 0;
  thread_local bool have_last = false;
  int64_t secs = 0;
  if (have_last && t.size() >= kPrefix && std::memcmp(t.data(), last_prefix, kPrefix) == 0) {
    secs = last_secs;
  } else {
    int year, month, day, hour, minute, second;
    if (!Digits(t, 0, 4, &year) || t.size() < 20 || t[4] != '-' || !Digits(t, 5, 2, &month) ||
        t[7] != '-' || !Digits(t, 8, 2, &day) || (t[10] != 'T' && t[10] != 't') ||
        !Digits(t, 11, 2, &hour) || t[13] != ':' || !Digits(t, 14, 2, &minute) ||
        t[16] != ':' || !Digits(t, 17, 2, &second)) {
      return Bad("not an RFC 3339 time", t);
    }
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
        second > 60) {
      return Bad("RFC 3339 time out of range", t);
    }
    // Days since 1970-01-01 of the proleptic Gregorian date, computed over 400-year eras
    // whose years start in March (so that the leap day ends a year). Arithmetic, not
    // timegm(): this runs for every log line.
    const int64_t y = year - (month <= 2 ? 1 : 0);
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t year_of_era = y - era * 400;
    const int64_t day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    const int64_t day_of_era =
        year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    const int64_t days = era * 146097 + day_of_era - 719468;
    secs = days * 86400 + hour * 3600 + minute * 60 + second;
    std::memcpy(last_prefix, t.data(), kPrefix);
    last_secs = secs;
    have_last = true;
  }
  size_t i = kPrefix;
  int64_t nanos = 0;
  if (i < t.size() && t[i] == '.') {
    size_t digits = 0;
    for (++i; i < t.size() && std::isdigit(static_cast<unsigned char>(t[i])); ++i, ++digits) {
      if (digits < 9) nanos = nanos * 10 + (t[i] - '0');
    }
    if (digits == 0) return Bad("empty fraction in time", t);
    for (size_t d = std::min<size_t>(digits, 9); d < 9; ++d) nanos *= 10;
  }
  int64_t offset = 0;
  if (i < t.size() && (t[i] == 'Z' || t[i] == 'z')) {
    ++i;
  } else if (i + 6 == t.size() && (t[i] == '+' || t[i] == '-') && t[i + 3] == ':') {
    int oh, om;
    if (!Digits(t, i + 1, 2, &oh) || !Digits(t, i + 4, 2, &om)) return Bad("bad zone offset", t);
    offset = (t[i] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    i += 6;
  } else {
    return Bad("time without a zone", t);
  }
  if (i != t.size()) return Bad("trailing text after the time", t);
  return (secs - offset) * 1000000000 + nanos;
}

}  // namespace kobs
