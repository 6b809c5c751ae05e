// KOBS_RETURN_IF_ERROR / KOBS_ASSIGN_OR_RETURN (abseil 20220623 lacks them) and KOBS_CHECK.
// Header-only; safe to include anywhere.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define KOBS_INTERNAL_CONCAT_(a, b) a##b
#define KOBS_INTERNAL_CONCAT(a, b) KOBS_INTERNAL_CONCAT_(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define KOBS_RETURN_IF_ERROR(expr)                   \
  do {                                               \
    ::absl::Status kobs_status_ = (expr);            \
    if (!kobs_status_.ok()) return kobs_status_;     \
  } while (0)

// `lhs` = value of the StatusOr `rexpr`, or returns its status from the enclosing function.
#define KOBS_ASSIGN_OR_RETURN(lhs, rexpr) \
  KOBS_INTERNAL_ASSIGN_OR_RETURN(KOBS_INTERNAL_CONCAT(kobs_statusor_, __LINE__), lhs, rexpr)
#define KOBS_INTERNAL_ASSIGN_OR_RETURN(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                   \
  if (!tmp.ok()) return std::move(tmp).status();        \
  lhs = std::move(tmp).value()

// Release invariant: logs and aborts when `cond` is false. Never use on input.
#define KOBS_CHECK(cond)                                                           \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "KOBS_CHECK failed: %s at %s:%d\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                \
    }                                                                              \
  } while (0)
