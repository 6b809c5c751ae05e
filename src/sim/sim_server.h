// `kobs sim`: the simulated Kubernetes API server, put together. It keeps everything in one
// working directory: the state (snapshot + journal, so the cluster survives a restart), a
// private PKI (a CA, the serving certificate for localhost/127.0.0.1/::1, an admin client
// certificate), the bearer token, and a kubeconfig that kubectl and kobs use as they are.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kobs {
class MetricsRegistry;
}

namespace kobs::sim {

class Api;
class PodLogs;
class ScenarioRunner;

struct SimOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 6443;  // 0 picks a free port
  bool tls = true;       // false: plain HTTP (the kubeconfig then says http://)
  // Working directory: state/, pki/, token and kubeconfig live here.
  std::string dir = "kobs-sim";
  bool persist = true;   // false: state in memory only
  // Where to write the kubeconfig ("" = <dir>/kubeconfig).
  std::string kubeconfig;
  // The bearer token ("" = generate one at first start and keep it in <dir>/token; with
  // tls false, "" means no authentication, since kubectl sends no token over plain HTTP).
  std::string token;
  size_t history = 10000;  // changes kept for watch resume
  std::chrono::milliseconds bookmark_interval{std::chrono::seconds(60)};
  int max_requests = 64;   // concurrent requests, watches included
  // Run the controllers, scheduler and kubelet (false: a bare API server whose objects
  // change only when clients change them).
  bool controllers = true;
  std::string node_name = "sim-node-1";
  // Time acceleration for simulated durations (back-offs, pulls, probes, log rates, memory
  // growth): 10 runs them 10x faster.
  double time_factor = 1.0;
  // Where the kubelet writes container logs in CRI format ("" = <dir>/pods; "-" = nowhere).
  std::string log_dir;
  // The simulated node's memory (bytes); MemoryPressure follows the containers' profiles.
  int64_t node_memory = int64_t{8} << 30;
  // Scenarios to play from the start (built-in names or files; scenario.h). They run at
  // every start: applies are idempotent, Helm steps add revisions.
  std::vector<std::string> scenarios;
  // Images that fail to pull (a reference, or a repository for all of its tags); tags that
  // contain "nonexistent" always do.
  std::vector<std::string> missing_images;
};

class SimServer {
 public:
  static absl::StatusOr<std::unique_ptr<SimServer>> Create(SimOptions options,
                                                           MetricsRegistry& metrics);
  ~SimServer();

  absl::Status Start();
  void Stop();

  uint16_t port() const;
  const std::string& kubeconfig_path() const;
  const std::string& token() const;
  // "https://127.0.0.1:6443"
  std::string server_url() const;
  const std::string& ca_pem() const;

  Api& api();
  PodLogs& logs();
  // Where container log files go ("" when not written).
  const std::string& log_dir() const;
  // Plays scenarios (those of the options from Start; more through RunStep).
  ScenarioRunner& scenarios();

 private:
  struct Impl;
  explicit SimServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kobs::sim
