// Realistic Kubernetes pod-log rows for otel_logs (tests and benchmarks): resource attributes
// as the OTel k8s semantic conventions and the original stack write them, varied bodies.
#pragma once

#include <cstdint>
#include <vector>

#include "store/otel_rows.h"

namespace kobs::testing {

// `n` rows with timestamps from `start_ns` at 1 ms steps; deterministic for a given seed.
std::vector<store::LogRow> MakeK8sLogRows(int n, int64_t start_ns, uint64_t seed = 1);

}  // namespace kobs::testing
