// The node's own metrics from /proc and statvfs, named as the Collector's hostmetrics receiver
// names them: system.cpu.time (per CPU and state), system.cpu.load_average.{1m,5m,15m},
// system.memory.usage and .utilization (by state), system.filesystem.usage and .utilization
// (per mounted block device), system.network.io, .packets and .errors (per interface and
// direction). Stateless; reading a file that is missing skips its metrics.
#pragma once

#include <string>

#include "collect/metric_builder.h"

namespace kobs::collect {

struct HostMetricsOptions {
  std::string proc_root = "/proc";  // a node agent in a container mounts the host's here
  // Prefix of the host's root as this process sees it, for statvfs on its mount points.
  std::string host_root;
  std::string node_name;  // k8s.node.name and host.name
};

// Adds one resource (host.name, k8s.node.name) with the host's metrics. Returns the points added.
size_t AddHostMetrics(const HostMetricsOptions& options, MetricBuilder& out);

}  // namespace kobs::collect
