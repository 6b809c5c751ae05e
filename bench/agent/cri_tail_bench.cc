// bench/cri_tail: the node agent's log path.
//  1. Parse throughput: 200 CRI files of realistic lines (JSON and plain lines, ANSI colours,
//     long lines split into P/F parts, Java stack traces) read by the tailer (CRI parse,
//     partial-line joining, multi-line recombination), and again with the rows the agent
//     ships built for each entry (ANSI stripped, severity inferred, attributes). Both as MB/s,
//     lines/s and a ratio against `wc -l` on the same files in the same run (page cache warm
//     for both). Medians of --runs.
//  2. The real processes: `kobs serve` (embedded store) and `kobs agent` tailing --files files
//     that a writer appends to at --rate lines/s for --seconds, with a probe line every 100 ms.
//     Prints the agent's peak and final RSS and the p50/p99 delay from a probe line written to
//     its row being queryable through the ClickHouse endpoint.
//
//   build/bench/agent/cri_tail_bench [--mb N] [--files N] [--runs N] [--rate N] [--seconds N]
// (--seconds 0: the parse throughput only; --rows 0: without building rows)
#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "agent/tailer.h"
#include "collect/pod_logs.h"
#include "common/metrics.h"
#include "k8s/client.h"
#include "k8s/kube_config.h"
#include "sim/sim_server.h"
#include "support/kobs_child.h"
#include "support/stats.h"

namespace {

using kobs::bench::Median;

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using kobs::bench::Client;
using kobs::bench::Escape;

struct Args {
  int mb = 100, files = 200, runs = 3, rate = 2000, seconds = 30, rows = 1;
};

std::string CriTime(std::chrono::system_clock::time_point t) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  std::time_t secs = ns / 1000000000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:09d}Z", tm, ns % 1000000000);
}

// Appends realistic CRI lines for about `bytes` to `out`; returns the lines written.
int64_t Generate(std::mt19937& rng, size_t bytes, std::string* out) {
  static const char* kPaths[] = {"/api/v1/orders", "/healthz", "/api/v1/cart/items", "/login"};
  static const char* kWords[] = {"connection", "request", "cache", "user", "order", "retry",
                                 "timeout", "payment", "upstream", "session"};
  auto t = std::chrono::system_clock::now() - std::chrono::hours(1);
  int64_t lines = 0;
  auto line = [&](const char* stream, char tag, const std::string& text) {
    t += std::chrono::microseconds(rng() % 5000);
    *out += CriTime(t);
    *out += ' ';
    *out += stream;
    *out += ' ';
    *out += tag;
    *out += ' ';
    *out += text;
    *out += '\n';
    ++lines;
  };
  const size_t start = out->size();
  while (out->size() - start < bytes) {
    const unsigned kind = rng() % 100;
    if (kind < 65) {
      line("stdout", 'F',
           fmt::format(R"({{"level":"{}","ts":"2026-12-06T10:00:00.{:03d}Z","logger":"http",)"
                       R"("msg":"handled request","method":"GET","path":"{}","status":{},)"
                       R"("latency_ms":{},"request_id":"{:08x}-{:04x}"}})",
                       rng() % 10 == 0 ? "error" : "info", rng() % 1000, kPaths[rng() % 4],
                       rng() % 10 == 0 ? 500 : 200, rng() % 300, rng(), rng() % 65536));
    } else if (kind < 95) {
      std::string text = rng() % 3 == 0 ? "\x1b[32mINFO\x1b[0m " : "WARN ";
      for (int w = 0; w < 12; ++w) (text += kWords[rng() % 10]) += ' ';
      line(kind < 85 ? "stdout" : "stderr", 'F', text);
    } else if (kind < 97) {
      // A long line the runtime split at 16 KiB.
      std::string big(16384, 'x');
      line("stdout", 'P', big);
      line("stdout", 'F', "tail of a long line");
    } else {
      line("stderr", 'F', "Exception in thread \"main\" java.lang.IllegalStateException: boom");
      for (int f = 0; f < 8; ++f) {
        line("stderr", 'F', fmt::format("\tat com.example.Service.handle(Service.java:{})", 40 + f));
      }
    }
  }
  return lines;
}

struct Corpus {
  std::vector<std::string> paths;
  int64_t lines = 0;
  uint64_t bytes = 0;
};

Corpus MakeCorpus(const fs::path& root, int files, size_t total_bytes) {
  Corpus c;
  std::mt19937 rng(42);
  for (int i = 0; i < files; ++i) {
    fs::path dir = root / fmt::format("shop_web-{}_{:08x}-0000-4000-8000-{:012x}", i, i, i) / "app";
    fs::create_directories(dir);
    std::string text;
    c.lines += Generate(rng, total_bytes / files, &text);
    c.bytes += text.size();
    std::ofstream(dir / "0.log", std::ios::binary) << text;
    c.paths.push_back((dir / "0.log").string());
  }
  return c;
}

double WcSeconds(const Corpus& c, int64_t* counted) {
  std::string cmd = "wc -l";
  for (const auto& p : c.paths) cmd += " " + p;
  auto start = Clock::now();
  FILE* f = popen(cmd.c_str(), "r");
  char buf[4096];
  std::string out;
  while (size_t n = fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  pclose(f);
  double s = std::chrono::duration<double>(Clock::now() - start).count();
  // The last line is "<total> total".
  size_t end = out.rfind(" total");
  size_t begin = out.rfind('\n', end);
  *counted = std::atoll(out.substr(begin == std::string::npos ? 0 : begin + 1).c_str());
  return s;
}

double TailSeconds(const fs::path& root, const Corpus& c, bool rows, int64_t* entries) {
  std::atomic<int64_t> n{0};
  int64_t sink_bytes = 0;
  const kobs::collect::PodTags tags{.attributes = {{"app", "web"},
                                                   {"k8s.deployment.name", "web"},
                                                   {"k8s.namespace.name", "shop"},
                                                   {"k8s.pod.labels.app", "web"}},
                                    .workload = "web"};
  kobs::agent::Tailer tailer(
      {.root = root.string()},
      [&](std::vector<kobs::agent::TailedEntry>& batch) -> absl::Status {
        for (const auto& e : batch) {
          if (rows) {
            kobs::store::LogRow row = kobs::collect::PodLogRow(
                e, tags, "krateo.io/composition-id", "/var/log/pods/x/app/0.log");
            sink_bytes += static_cast<int64_t>(row.body.size());
          }
        }
        n += static_cast<int64_t>(batch.size());
        return absl::OkStatus();
      });
  if (!tailer.Start().ok()) std::exit(1);
  auto start = Clock::now();
  while (tailer.lines_read() < static_cast<uint64_t>(c.lines)) {
    if (!tailer.Poll().ok()) std::exit(1);
  }
  (void)tailer.Poll(/*flush_entries=*/true);
  *entries = n.load() + (sink_bytes < 0 ? 1 : 0);
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void ParseThroughput(const Args& a) {
  fs::path root = fs::temp_directory_path() / fmt::format("cri-tail-{}", getpid());
  Corpus c = MakeCorpus(root / "pods", a.files, static_cast<size_t>(a.mb) << 20);
  // Each run times wc -l and the tailer back to back; the ratios are per run (the machine's
  // noise hits both alike), their median is printed.
  std::vector<double> wc, tail, rows, tail_ratio, rows_ratio;
  int64_t counted = 0, entries = 0;
  WcSeconds(c, &counted);  // warm the page cache
  for (int r = 0; r < a.runs; ++r) {
    wc.push_back(WcSeconds(c, &counted));
    tail.push_back(TailSeconds(root / "pods", c, false, &entries));
    tail_ratio.push_back(wc.back() / tail.back());
    if (a.rows) {
      rows.push_back(TailSeconds(root / "pods", c, true, &entries));
      rows_ratio.push_back(wc.back() / rows.back());
    }
  }
  const double mb = static_cast<double>(c.bytes) / (1 << 20);
  std::printf("corpus: %d files, %.1f MiB, %lld lines (wc -l: %lld), %lld entries\n", a.files, mb,
              static_cast<long long>(c.lines), static_cast<long long>(counted),
              static_cast<long long>(entries));
  std::printf("wc -l            %8.1f MiB/s %10.0f lines/s\n", mb / Median(wc),
              c.lines / Median(wc));
  std::printf("tailer (parse)   %8.1f MiB/s %10.0f lines/s   ratio vs wc -l %.2f\n",
              mb / Median(tail), c.lines / Median(tail), Median(tail_ratio));
  if (a.rows) {
    std::printf("tailer + rows    %8.1f MiB/s %10.0f lines/s   ratio vs wc -l %.2f\n",
                mb / Median(rows), c.lines / Median(rows), Median(rows_ratio));
  }
  std::error_code ec;
  fs::remove_all(root, ec);
}

void EndToEnd(const Args& a) {
  fs::path root = fs::temp_directory_path() / fmt::format("cri-tail-e2e-{}", getpid());
  fs::create_directories(root / "pods");
  kobs::MetricsRegistry metrics;
  // A bare API server: the agent looks the (unknown) pods up once each.
  auto sim = kobs::sim::SimServer::Create(
      {.port = 0, .dir = (root / "sim").string(), .controllers = false}, metrics);
  if (!sim.ok() || !(*sim)->Start().ok()) {
    std::fprintf(stderr, "the simulated API server did not start\n");
    std::exit(1);
  }
  kobs::bench::Server server = kobs::bench::StartKobs((root / "serve").string());
  // The node's pods exist in the API (the agent lists them once, as on a real node).
  auto config = kobs::k8s::LoadKubeconfig({(*sim)->kubeconfig_path()});
  auto client = config.ok() ? kobs::k8s::Client::Create(*config, {.qps = 0})
                            : absl::StatusOr<std::unique_ptr<kobs::k8s::Client>>(config.status());
  auto ns_kind = client.ok() ? (*client)->Resource("v1", "Namespace")
                             : absl::StatusOr<kobs::k8s::ResourceInfo>(client.status());
  auto pod_kind = client.ok() ? (*client)->Resource("v1", "Pod")
                              : absl::StatusOr<kobs::k8s::ResourceInfo>(client.status());
  if (!ns_kind.ok() || !pod_kind.ok()) {
    std::fprintf(stderr, "cannot reach the simulated API server\n");
    std::exit(1);
  }
  (void)(*client)->Create(*ns_kind, "", {{"apiVersion", "v1"}, {"kind", "Namespace"},
                                         {"metadata", {{"name", "shop"}}}});
  std::vector<std::string> files;
  for (int i = 0; i < a.files; ++i) {
    auto pod = (*client)->Create(
        *pod_kind, "shop",
        {{"apiVersion", "v1"}, {"kind", "Pod"},
         {"metadata", {{"name", fmt::format("web-{}", i)}, {"labels", {{"app", "web"}}}}},
         {"spec", {{"nodeName", "bench-node"},
                   {"containers", {{{"name", "app"}, {"image", "web:1"}}}}}}});
    if (!pod.ok()) {
      std::fprintf(stderr, "cannot create pod web-%d\n", i);
      std::exit(1);
    }
    const std::string uid = (*pod)["metadata"]["uid"].get<std::string>();
    fs::path dir = root / "pods" / fmt::format("shop_web-{}_{}", i, uid) / "app";
    fs::create_directories(dir);
    files.push_back((dir / "0.log").string());
    std::ofstream(files.back()) << "";
  }
  pid_t agent = fork();
  if (agent == 0) {
    setenv("KOBS_AGENT_ENDPOINT", server.otlp.c_str(), 1);
    setenv("KOBS_AGENT_POD_LOGS_DIR", (root / "pods").c_str(), 1);
    setenv("KOBS_AGENT_CHECKPOINT", (root / "offsets.json").c_str(), 1);
    setenv("KOBS_AGENT_BUFFER_DIR", (root / "buffer").c_str(), 1);
    setenv("KOBS_AGENT_LISTEN", "127.0.0.1:0", 1);
    setenv("KOBS_AGENT_NODE_NAME", "bench-node", 1);
    setenv("KOBS_AGENT_KUBELET_METRICS", "false", 1);
    setenv("KOBS_LOG_LEVEL", "warn", 1);
    const std::string kubeconfig = (*sim)->kubeconfig_path();
    const char* bin = std::getenv("KOBS_BIN") ? std::getenv("KOBS_BIN") : KOBS_BIN_PATH;
    execl(bin, bin, "agent", "--kubeconfig", kubeconfig.c_str(), nullptr);
    _exit(127);
  }

  // The writer: --rate lines/s over every file, and a probe line every 100 ms.
  std::atomic<bool> stop{false};
  std::map<int, std::chrono::system_clock::time_point> probes;  // written at
  std::mutex mu;
  int64_t written = 0;
  std::thread writer([&] {
    std::mt19937 rng(7);
    const auto start = Clock::now();
    int probe = 0;
    int64_t n = 0;
    std::vector<int> fds;
    for (const auto& f : files) fds.push_back(open(f.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    while (Clock::now() - start < std::chrono::seconds(a.seconds)) {
      const auto tick = Clock::now();
      for (int i = 0; i < a.rate / 10; ++i, ++n) {
        std::string text;
        Generate(rng, 1, &text);  // one entry (a few lines at most)
        (void)::write(fds[n % fds.size()], text.data(), text.size());
        // Lines as stored: a P part and the F that ends it are one line.
        written += std::count(text.begin(), text.end(), '\n');
        for (size_t at = 0; (at = text.find(" P ", at)) != std::string::npos; at += 3) --written;
      }
      const auto now = std::chrono::system_clock::now();
      std::string p = fmt::format("{} stdout F probe {}\n", CriTime(now), probe);
      (void)::write(fds[rng() % fds.size()], p.data(), p.size());
      ++written;
      {
        std::lock_guard<std::mutex> lock(mu);
        probes[probe++] = now;
      }
      std::this_thread::sleep_until(tick + std::chrono::milliseconds(100));
    }
    for (int fd : fds) close(fd);
  });

  // The poller: probes found in the store.
  std::vector<double> delays;
  std::set<int> seen;
  Client http;
  const std::string query = server.clickhouse + "/?query=" +
                            Escape("SELECT Body FROM otel_logs WHERE Timestamp > now() - 30 "
                                   "AND startsWith(Body, 'probe ') FORMAT TabSeparated");
  long peak_rss = 0;
  const auto deadline = Clock::now() + std::chrono::seconds(a.seconds + 60);
  while (Clock::now() < deadline) {
    std::string out = http.Get(query);
    const auto found = std::chrono::system_clock::now();
    size_t pos = 0;
    while (pos < out.size()) {
      size_t end = out.find('\n', pos);
      if (end == std::string::npos) end = out.size();
      int id = std::atoi(out.c_str() + pos + 6);
      pos = end + 1;
      if (!seen.insert(id).second) continue;
      std::lock_guard<std::mutex> lock(mu);
      if (probes.count(id)) {
        delays.push_back(std::chrono::duration<double, std::milli>(found - probes[id]).count());
      }
    }
    peak_rss = std::max(peak_rss, kobs::bench::PeakRssKb(agent));
    size_t total;
    {
      std::lock_guard<std::mutex> lock(mu);
      total = probes.size();
    }
    if (stop || (Clock::now() > deadline - std::chrono::seconds(60) && seen.size() >= total)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  writer.join();
  const long rss_now = kobs::bench::PeakRssKb(agent, "VmRSS:");
  // Every line arrives (the stored count is the lines the rows hold).
  std::string stored;
  for (int i = 0; i < 300; ++i) {
    stored = http.Get(server.clickhouse + "/?query=" +
                      Escape("SELECT sum(length(splitByChar('\\n', Body))) FROM otel_logs"));
    while (!stored.empty() && stored.back() == '\n') stored.pop_back();
    if (stored == std::to_string(written)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  peak_rss = std::max(peak_rss, kobs::bench::PeakRssKb(agent));
  std::sort(delays.begin(), delays.end());
  auto pct = [&](double p) {
    return delays.empty() ? 0 : delays[std::min(delays.size() - 1, static_cast<size_t>(p * delays.size()))];
  };
  std::printf("agent tailing %d files at %d lines/s for %d s: %lld lines written, %s stored\n",
              a.files, a.rate, a.seconds, static_cast<long long>(written), stored.c_str());
  std::printf("agent RSS: peak %.1f MiB, at the end %.1f MiB\n", peak_rss / 1024.0,
              rss_now / 1024.0);
  std::printf("line written -> queryable: %zu probes, p50 %.0f ms, p99 %.0f ms, max %.0f ms\n",
              delays.size(), pct(0.5), pct(0.99), delays.empty() ? 0 : delays.back());
  kill(agent, SIGTERM);
  waitpid(agent, nullptr, 0);
  kill(server.pid, SIGTERM);
  waitpid(server.pid, nullptr, 0);
  (*sim)->Stop();
  std::error_code ec;
  fs::remove_all(root, ec);
}

}  // namespace

int main(int argc, char** argv) {
  // As `kobs agent` runs: memory freed after a batch stays for the next one (up to 4 MiB).
  mallopt(M_TRIM_THRESHOLD, 4 << 20);
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    int v = std::atoi(argv[i + 1]);
    if (k == "--mb") a.mb = v;
    else if (k == "--files") a.files = v;
    else if (k == "--runs") a.runs = v;
    else if (k == "--rate") a.rate = v;
    else if (k == "--seconds") a.seconds = v;
    else if (k == "--rows") a.rows = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  ParseThroughput(a);
  if (a.seconds > 0) EndToEnd(a);
  return 0;
}
