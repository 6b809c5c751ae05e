// bench/k8s_watch: how fast events travel from the simulated API server through kobs's watch
// client, and what the client's object cache costs per 10k watched objects.
//
// The server runs in a child process (so the client's memory is measured alone). Per run:
//   1. the child writes --objects ConfigMaps as fast as its in-process API allows: that write
//      rate is the ceiling (no watch can deliver changes faster than they are made);
//   2. the parent's Watcher (HTTPS, JSON, the client's decoder) receives every change; the
//      delivery rate is events received / time from the first write to the last event.
// Then the parent re-lists and keeps --objects objects (Watcher keep_objects) to read the
// client's RSS per 10k objects. Prints medians over --runs and the ratio to the ceiling.
//
//   build/bench/k8s/k8s_watch_bench [--objects 20000] [--runs 3]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "k8s/client.h"
#include "k8s/kube_config.h"
#include "k8s/watcher.h"
#include "sim/api.h"
#include "sim/sim_server.h"
#include "support/sim_child.h"
#include "support/stats.h"

namespace {

using kobs::bench::Median;

using nlohmann::json;
using Clock = std::chrono::steady_clock;

long RssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

// The child: serves the API, and on request (a ConfigMap named "go-<n>" in "bench") writes
// `objects` ConfigMaps into namespace "load-<n>", then reports its write rate in the
// ConfigMap "done-<n>".
[[noreturn]] void Child(const std::string& dir, int objects, int pipe_fd) {
  kobs::MetricsRegistry metrics;
  auto server = kobs::sim::SimServer::Create(
      {.port = 0, .dir = dir, .persist = false, .history = 200000}, metrics);
  if (!server.ok() || !(*server)->Start().ok()) _exit(2);
  kobs::sim::Api& api = (*server)->api();
  auto ns_type = api.registry().Find("", "v1", "namespaces");
  auto cm_type = api.registry().Find("", "v1", "configmaps");
  (void)api.Create(*ns_type, "", {{"metadata", {{"name", "bench"}}}});
  std::string kubeconfig = (*server)->kubeconfig_path();
  (void)!write(pipe_fd, kubeconfig.data(), kubeconfig.size());
  close(pipe_fd);
  uint64_t rv = api.store().resource_version();
  for (int run = 0;; ++run) {
    // Wait for "go-<run>".
    const std::string go = "go-" + std::to_string(run);
    for (;;) {
      auto batch = api.store().ChangesAfter(rv, "/configmaps", std::chrono::seconds(1));
      if (!batch.ok()) _exit(3);
      rv = batch->rv;
      bool found = false;
      for (const auto& c : batch->changes) found |= c->name == go;
      if (found) break;
    }
    const std::string ns = "load-" + std::to_string(run);
    (void)api.Create(*ns_type, "", {{"metadata", {{"name", ns}}}});
    auto start = Clock::now();
    for (int i = 0; i < objects; ++i) {
      json cm = {{"metadata",
                  {{"name", "cm-" + std::to_string(i)},
                   {"labels", {{"app", "bench"}, {"i", std::to_string(i % 100)}}}}},
                 {"data", {{"payload", std::string(200, 'x')}, {"n", std::to_string(i)}}}};
      if (!api.Create(*cm_type, ns, std::move(cm)).ok()) _exit(4);
    }
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    (void)api.Create(*cm_type, "bench",
                     {{"metadata", {{"name", "done-" + std::to_string(run)}}},
                      {"data", {{"writes_per_s", std::to_string(objects / secs)}}}});
    rv = api.store().resource_version();
  }
}

}  // namespace

int main(int argc, char** argv) {
  int objects = 20000, runs = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--objects") == 0) objects = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--runs") == 0) runs = std::atoi(argv[i + 1]);
  }
  kobs::bench::SimChild sim("kobs-watch-bench",
                            [&](const std::string& dir, int fd) { Child(dir, objects, fd); });
  if (sim.client() == nullptr) return 1;
  kobs::k8s::Client* client = sim.client();
  auto cms = client->ResourceByName("configmaps");
  if (!cms.ok()) return 1;

  std::vector<double> delivered, ceiling, ratios;
  for (int run = 0; run < runs; ++run) {
    const std::string ns = "load-" + std::to_string(run);
    std::atomic<int> received{0};
    std::atomic<int64_t> last_ns{0};
    kobs::k8s::Watcher watcher(*client, *cms, {.namespace_ = ns},
                               [&](const kobs::k8s::WatchEvent&) {
                                 received++;
                                 last_ns = Clock::now().time_since_epoch().count();
                               });
    watcher.Start();
    while (!watcher.synced()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    auto start = Clock::now();
    (void)client->Create(*cms, "bench",
                            {{"metadata", {{"name", "go-" + std::to_string(run)}}}});
    while (received < objects) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    double secs = std::chrono::duration<double>(
                      Clock::time_point(Clock::duration(last_ns.load())) - start)
                      .count();
    watcher.Stop();
    absl::StatusOr<json> done;
    for (int i = 0; i < 500; ++i) {
      done = client->Get(*cms, "bench", "done-" + std::to_string(run));
      if (done.ok()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    double writes = done.ok() ? std::atof(done->value("data", json::object())
                                              .value("writes_per_s", "0")
                                              .c_str())
                              : 0;
    double rate = objects / secs;
    delivered.push_back(rate);
    ceiling.push_back(writes);
    ratios.push_back(writes > 0 ? rate / writes : 0);
    std::printf("run %d: delivered %.0f events/s, server write ceiling %.0f/s, ratio %.2f\n", run,
                rate, writes, writes > 0 ? rate / writes : 0);
  }

  // Memory: the client's RSS for a watch that keeps every object.
  long before = RssKb();
  {
    kobs::k8s::Watcher keep(*client, *cms, {.namespace_ = "load-0", .keep_objects = true},
                            [](const kobs::k8s::WatchEvent&) {});
    keep.Start();
    while (!keep.synced()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    long after = RssKb();
    std::printf("objects per run            %10d\n", objects);
    std::printf("delivered events/s (median)%10.0f\n", Median(delivered));
    std::printf("write ceiling/s (median)   %10.0f\n", Median(ceiling));
    std::printf("ratio (median)             %10.2f\n", Median(ratios));
    std::printf("client RSS per 10k objects %10.1f MB (%ld kB for %d kept objects)\n",
                (after - before) / 1024.0 * 10000.0 / objects, after - before, objects);
    keep.Stop();
  }
  return 0;
}
