// bench/sim_scale: can the simulated cluster carry 1,000 pods and 500 events/s on this machine,
// and in how much memory?
//
// The simulator runs in a child process (as `kobs sim` would: persistent state, CRI log
// files, controllers, kubelet), so its RSS and CPU are its own. The parent, through kobs's
// client over HTTPS:
//   1. creates --deployments Deployments of --pods/--deployments replicas each; every container
//      logs (a web profile) and has a readiness probe that fails every --period seconds, so the
//      kubelet records an `Unhealthy` event (a new Event or a count update) per pod per period:
//      the offered load is pods / period events/s;
//   2. times until every pod is Running;
//   3. watches events cluster-wide for --seconds and counts what arrives (ADDED + MODIFIED),
//      while sampling the child's CPU and RSS.
// It prints the delivered rate, its ratio to the offered load, and the child's peak RSS.
//
//   build/bench/sim/sim_scale_bench [--pods 1000] [--deployments 20] [--period 2] [--seconds 30]
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "common/metrics.h"
#include "k8s/client.h"
#include "support/sim_child.h"
#include "k8s/kube_config.h"
#include "k8s/watcher.h"
#include "sim/sim_server.h"

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

long ProcKb(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::strlen(field));
  }
  return 0;
}

// utime + stime of `pid`, in seconds.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 2));
  std::string f;
  double utime = 0, stime = 0;
  for (int i = 3; rest >> f; ++i) {
    if (i == 14) utime = std::atof(f.c_str());
    if (i == 15) {
      stime = std::atof(f.c_str());
      break;
    }
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

[[noreturn]] void Child(const std::string& dir, int pipe_fd) {
  mallopt(M_ARENA_MAX, 2);  // as `kobs sim` does (src/cli/sim.cc)
  kobs::MetricsRegistry metrics;
  auto server = kobs::sim::SimServer::Create({.port = 0, .dir = dir, .max_requests = 64}, metrics);
  if (!server.ok() || !(*server)->Start().ok()) _exit(2);
  std::string kubeconfig = (*server)->kubeconfig_path();
  (void)!write(pipe_fd, kubeconfig.data(), kubeconfig.size());
  close(pipe_fd);
  for (;;) pause();
}

}  // namespace

int main(int argc, char** argv) {
  int pods = 1000, deployments = 20, period = 2, seconds = 30;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--pods") == 0) pods = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--deployments") == 0) deployments = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--period") == 0) period = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--seconds") == 0) seconds = std::atoi(argv[i + 1]);
  }
  if (pods <= 0 || deployments <= 0 || period <= 0 || seconds <= 0) {
    std::fprintf(stderr, "every option must be positive\n");
    return 2;
  }
  kobs::bench::SimChild sim("kobs-sim-scale",
                            [](const std::string& dir, int fd) { Child(dir, fd); });
  if (sim.client() == nullptr) return 1;
  kobs::k8s::Client* client = sim.client();
  const pid_t child = sim.pid();
  auto deploy_type = client->ResourceByName("deployments");
  auto pod_type = client->ResourceByName("pods");
  auto event_type = client->ResourceByName("events");
  auto ns_type = client->ResourceByName("namespaces");
  if (!deploy_type.ok() || !pod_type.ok() || !event_type.ok() || !ns_type.ok()) return 1;
  (void)client->Create(*ns_type, "", {{"metadata", {{"name", "scale"}}}});

  // 1. The load.
  const double cpu0 = CpuSeconds(child);
  const auto start = Clock::now();
  const int per = (pods + deployments - 1) / deployments;
  for (int d = 0; d < deployments; ++d) {
    int replicas = std::min(per, pods - d * per);
    if (replicas <= 0) break;
    std::string name = "app-" + std::to_string(d);
    json probe = {{"exec", {{"command", {"sh", "-c", "echo 'warming up'; exit 1"}}}},
                  {"periodSeconds", period},
                  {"failureThreshold", 1}};
    json container = {{"name", "app"}, {"image", "nginx:1.27"}, {"readinessProbe", probe}};
    json pod_template = {
        {"metadata",
         {{"labels", {{"app", name}}},
          {"annotations",
           {{"sim.kobs.dev/profile", "app: {logs: web, logRate: 0.2, memory: 20Mi}"}}}}},
        {"spec", {{"containers", json::array({container})}}}};
    json deployment = {{"apiVersion", "apps/v1"},
                       {"kind", "Deployment"},
                       {"metadata", {{"name", name}, {"namespace", "scale"}}},
                       {"spec",
                        {{"replicas", replicas},
                         {"selector", {{"matchLabels", {{"app", name}}}}},
                         {"template", pod_template}}}};
    if (!client->Create(*deploy_type, "scale", deployment).ok()) {
      std::fprintf(stderr, "creating %s failed\n", name.c_str());
        return 1;
    }
  }
  // 2. Every pod running.
  double running_after = -1;
  for (int i = 0; i < 600; ++i) {
    auto list = client->List(*pod_type, "scale", {.field_selector = "status.phase=Running"});
    if (list.ok() && static_cast<int>(list->items.size()) >= pods) {
      running_after = std::chrono::duration<double>(Clock::now() - start).count();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (running_after < 0) {
    std::fprintf(stderr, "not every pod was Running after 5 minutes\n");
    return 1;
  }
  std::printf("pods Running                %8d after %.1f s\n", pods, running_after);

  // 3. Events delivered, CPU and memory.
  std::atomic<int64_t> events{0};
  kobs::k8s::Watcher watcher(*client, *event_type, {},
                             [&](const kobs::k8s::WatchEvent&) { events++; });
  watcher.Start();
  while (!watcher.synced()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const int64_t events0 = events;
  const double cpu1 = CpuSeconds(child);
  const auto t1 = Clock::now();
  long rss_max = 0;
  std::vector<double> rates;
  int64_t last = events0;
  for (int s = 0; s < seconds; ++s) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    int64_t now = events;
    rates.push_back(static_cast<double>(now - last));
    last = now;
    rss_max = std::max(rss_max, ProcKb(child, "VmRSS:"));
  }
  const double window = std::chrono::duration<double>(Clock::now() - t1).count();
  const double cpu2 = CpuSeconds(child);
  watcher.Stop();
  std::sort(rates.begin(), rates.end());
  const double offered = static_cast<double>(pods) / period;
  const double delivered = static_cast<double>(events - events0) / window;
  std::printf("offered events/s            %8.0f (pods / probe period)\n", offered);
  std::printf("delivered events/s (mean)   %8.0f, per-second median %.0f, p10 %.0f\n", delivered,
              rates[rates.size() / 2], rates[rates.size() / 10]);
  std::printf("ratio delivered/offered     %8.2f\n", delivered / offered);
  std::printf("simulator CPU while steady  %8.0f %% of one core (startup: %.0f %%)\n",
              100 * (cpu2 - cpu1) / window, 100 * (cpu1 - cpu0) / running_after);
  std::printf("simulator RSS               %8.0f MB now, %.0f MB max sampled, %.0f MB peak (VmHWM)\n",
              ProcKb(child, "VmRSS:") / 1024.0, rss_max / 1024.0, ProcKb(child, "VmHWM:") / 1024.0);
  return 0;
}
