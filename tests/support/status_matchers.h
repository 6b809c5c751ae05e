// gmock matchers for absl::Status / StatusOr: EXPECT_THAT(s, IsOk()),
// EXPECT_THAT(s, StatusIs(absl::StatusCode::kNotFound)), ASSERT_OK_AND_ASSIGN(v, expr).
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kobs::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = ::kobs::testing::GetStatus(arg);
  if (!s.ok()) *result_listener << "status: " << s.ToString();
  return s.ok();
}

MATCHER_P(StatusIs, code, "has status code " + ::testing::PrintToString(code)) {
  const absl::Status& s = ::kobs::testing::GetStatus(arg);
  *result_listener << "status: " << s.ToString();
  return s.code() == code;
}

}  // namespace kobs::testing

#define KOBS_TESTING_CONCAT_(a, b) a##b
#define KOBS_TESTING_CONCAT(a, b) KOBS_TESTING_CONCAT_(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  ASSERT_OK_AND_ASSIGN_IMPL(KOBS_TESTING_CONCAT(statusor_, __LINE__), lhs, rexpr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, rexpr)            \
  auto tmp = (rexpr);                                         \
  ASSERT_TRUE(tmp.ok()) << tmp.status().ToString();           \
  lhs = std::move(tmp).value()
#define ASSERT_OK(expr) ASSERT_THAT((expr), ::kobs::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::kobs::testing::IsOk())
