// A simulated cluster for the collection tests: `kobs sim` in-process in a temporary
// directory, playing scenarios, and kobs's client connected to it through its kubeconfig.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/metrics.h"
#include "k8s/client.h"
#include "k8s/kube_config.h"
#include "sim/sim_server.h"
#include "status_matchers.h"
#include "temp_dir.h"

namespace kobs::collect {

struct SimCluster {
  // Call with ASSERT_NO_FATAL_FAILURE.
  void Start(std::vector<std::string> scenarios, double time_factor = 20, size_t history = 10000) {
    auto s = sim::SimServer::Create({.port = 0,
                                     .dir = dir.Sub("sim"),
                                     .history = history,
                                     .time_factor = time_factor,
                                     .scenarios = std::move(scenarios)},
                                    metrics);
    ASSERT_THAT(s, ::kobs::testing::IsOk());
    server = *std::move(s);
    ASSERT_THAT(server->Start(), ::kobs::testing::IsOk());
    auto config = k8s::LoadKubeconfig({server->kubeconfig_path()});
    ASSERT_THAT(config, ::kobs::testing::IsOk());
    auto c = k8s::Client::Create(*config, {.qps = 0});
    ASSERT_THAT(c, ::kobs::testing::IsOk());
    client = *std::move(c);
  }
  ~SimCluster() {
    if (server) server->Stop();
  }

  kobs::testing::TempDir dir;
  MetricsRegistry metrics;
  std::unique_ptr<sim::SimServer> server;
  std::unique_ptr<k8s::Client> client;
};

}  // namespace kobs::collect
