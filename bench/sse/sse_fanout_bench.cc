// bench/sse_fanout: many concurrent SSE clients on loopback while events are ingested at a
// fixed rate, against `kobs serve` in a child process.
//
// Each client subscribes to one composition's topic (/notifications/<id>); events are spread
// over the compositions and sent as OTLP/HTTP k8s-event log records, so each event reaches
// clients/compositions clients. The clients run on one epoll thread here. Reported: latency
// from the event's arrival in the store (its FeedTime, carried in the frame id) to the frame's
// arrival at the client's socket (the kernel's receive timestamp, SO_TIMESTAMPNS), and to this
// process's read of it (later by the time the one thread spends on the sockets ahead of it);
// from the OTLP send to the client; frames/s delivered against frames/s offered (the
// ceiling); loss and duplicates per client; server CPU and RSS. Then the same scenario again
// with push off and a 3 s poll, the original proxy's design, as the baseline.
//
// Last, GET /events on a table of --events-rows event rows: p50/p99 for one composition's
// newest 50 (the Krateo RESTAction's query), with filters, and cluster-wide.
//
//   sse_fanout_bench [--clients 10000] [--compositions 1000] [--rate 1000] [--seconds 20]
//                    [--baseline-seconds 20] [--events-rows 10000000]
// --seconds 0 skips the SSE phases. SSE_BENCH_ENV="K=V ..." passes settings to the server
// (e.g. KOBS_STORE_WRITER_INSERT_INTERVAL=100ms); SSE_BENCH_METRICS=1 prints its feed and
// store metrics after the push phase.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "support/event_rows.h"
#include "support/kobs_child.h"
#include "support/stats.h"
#include "temp_dir.h"

namespace {

using kobs::bench::BenchComposition;
using kobs::bench::Percentile;

using Clock = std::chrono::steady_clock;
namespace logs_v1 = ::opentelemetry::proto::collector::logs::v1;

struct Args {
  int clients = 10'000;
  int compositions = 1'000;
  int rate = 1'000;
  int seconds = 20;
  int baseline_seconds = 20;
  int64_t events_rows = 10'000'000;  // GET /events phase; 0 skips it
};

int64_t RealNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void SetAttr(google::protobuf::RepeatedPtrField<opentelemetry::proto::common::v1::KeyValue>* kvs,
             const std::string& k, const std::string& v) {
  auto* kv = kvs->Add();
  kv->set_key(k);
  kv->mutable_value()->set_string_value(v);
}

// One SSE connection: the HTTP response (chunked) decoded into SSE lines.
struct Conn {
  int fd = -1;
  int composition = 0;
  bool requested = false;  // the GET was written
  bool connected = false;  // ": connected" seen
  bool headers_done = false;
  std::string raw;      // undecoded bytes
  int64_t chunk_left = -1;  // -1: expecting a chunk-size line
  std::string body;     // decoded, not yet consumed SSE text
  std::string last_id;
  int64_t frames = 0;
  int64_t disorder = 0;  // ids not strictly increasing (duplicates or reordering)
  int64_t frame_id_ns = 0;
  int64_t frame_sent_ns = 0;
};

class Clients {
 public:
  Clients(uint16_t port, int n, int compositions) : port_(port) {
    epfd_ = epoll_create1(0);
    conns_.resize(n);
    for (int i = 0; i < n; ++i) conns_[i].composition = i % compositions;
  }

  ~Clients() {
    for (Conn& c : conns_) {
      if (c.fd >= 0) close(c.fd);
    }
    close(epfd_);
  }
  Clients(const Clients&) = delete;
  Clients& operator=(const Clients&) = delete;

  // Connects every client, in waves so the listen backlog never overflows.
  bool ConnectAll() {
    constexpr int kWave = 500;
    for (size_t start = 0; start < conns_.size(); start += kWave) {
      const size_t end = std::min(conns_.size(), start + kWave);
      for (size_t i = start; i < end; ++i) {
        if (!Open(i)) return false;
      }
      const auto deadline = Clock::now() + std::chrono::seconds(30);
      while (connected_ < static_cast<int64_t>(end)) {
        if (Clock::now() > deadline) {
          std::fprintf(stderr, "only %lld of %zu clients connected\n",
                       static_cast<long long>(connected_), end);
          return false;
        }
        Poll(50);
      }
    }
    return true;
  }

  void Poll(int timeout_ms) {
    epoll_event events[256];
    int n = epoll_wait(epfd_, events, 256, timeout_ms);
    const int64_t now = RealNs();
    for (int i = 0; i < n; ++i) Read(conns_[events[i].data.u32], now);
  }

  void Record(bool on) { recording_ = on; }
  const std::vector<Conn>& conns() const { return conns_; }
  std::vector<double> store_latency_ms, read_latency_ms, send_latency_ms;
  int64_t closed = 0;

 private:
  bool Open(size_t i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      std::perror("socket");
      return false;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 &&
        errno != EINPROGRESS) {
      std::perror("connect");
      return false;
    }
    const int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
    conns_[i].fd = fd;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
    return true;
  }

  void Read(Conn& c, int64_t now) {
    if (!c.requested) {  // the connect completed: send the request
      const std::string req = fmt::format(
          "GET /notifications/{} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n",
          BenchComposition(c.composition));
      if (write(c.fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
        c.requested = true;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.u32 = static_cast<uint32_t>(&c - conns_.data());
        epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
      }
      return;
    }
    // The kernel's receive timestamp of the newest bytes read: when the frame reached this
    // client's socket, whatever this one thread's queue of other sockets to read first.
    int64_t arrival = 0;
    char buf[16384];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
    for (;;) {
      iovec iov{buf, sizeof buf};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      ssize_t n = recvmsg(c.fd, &msg, 0);
      if (n > 0) {
        for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
          if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
            timespec ts;
            std::memcpy(&ts, CMSG_DATA(cm), sizeof ts);
            arrival = std::max<int64_t>(arrival, ts.tv_sec * 1'000'000'000LL + ts.tv_nsec);
          }
        }
        c.raw.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        epoll_ctl(epfd_, EPOLL_CTL_DEL, c.fd, nullptr);
        close(c.fd);
        c.fd = -1;
        ++closed;
      }
      break;
    }
    Decode(c);
    Parse(c, arrival > 0 ? arrival : now, now);
  }

  // Strips the response head and the chunked framing.
  void Decode(Conn& c) {
    if (!c.headers_done) {
      size_t end = c.raw.find("\r\n\r\n");
      if (end == std::string::npos) return;
      c.raw.erase(0, end + 4);
      c.headers_done = true;
    }
    size_t pos = 0;
    for (;;) {
      if (c.chunk_left < 0) {
        size_t eol = c.raw.find("\r\n", pos);
        if (eol == std::string::npos) break;
        c.chunk_left = std::strtoll(c.raw.c_str() + pos, nullptr, 16);
        pos = eol + 2;
      }
      const size_t have = c.raw.size() - pos;
      if (have < static_cast<size_t>(c.chunk_left) + 2) break;
      c.body.append(c.raw, pos, static_cast<size_t>(c.chunk_left));
      pos += static_cast<size_t>(c.chunk_left) + 2;
      c.chunk_left = -1;
    }
    c.raw.erase(0, pos);
  }

  // `arrival`: when the bytes completing a frame reached the socket; `now`: when they were read.
  void Parse(Conn& c, int64_t arrival, int64_t now) {
    size_t start = 0;
    for (size_t eol; (eol = c.body.find('\n', start)) != std::string::npos; start = eol + 1) {
      std::string_view line(c.body.data() + start, eol - start);
      if (line.empty()) {
        if (c.frame_id_ns > 0) {
          ++c.frames;
          if (recording_) {
            store_latency_ms.push_back(static_cast<double>(arrival - c.frame_id_ns) / 1e6);
            read_latency_ms.push_back(static_cast<double>(now - c.frame_id_ns) / 1e6);
            if (c.frame_sent_ns > 0) {
              send_latency_ms.push_back(static_cast<double>(arrival - c.frame_sent_ns) / 1e6);
            }
          }
        }
        c.frame_id_ns = c.frame_sent_ns = 0;
      } else if (line == ": connected") {
        c.connected = true;
        ++connected_;
      } else if (line.rfind("id: ", 0) == 0) {
        std::string id(line.substr(4));
        if (!c.last_id.empty() && !IdLess(c.last_id, id)) ++c.disorder;
        c.last_id = id;
        c.frame_id_ns = std::strtoll(id.c_str(), nullptr, 10);
      } else if (line.rfind("data: ", 0) == 0) {
        size_t s = line.find("sent=");
        if (s != std::string_view::npos) {
          c.frame_sent_ns = std::strtoll(std::string(line.substr(s + 5, 19)).c_str(), nullptr, 10);
        }
      }
    }
    c.body.erase(0, start);
  }

  static bool IdLess(const std::string& a, const std::string& b) {
    // "<ns>-<16 hex>-<frame>": the ns part may differ in length only in theory.
    if (a.size() != b.size()) return a.size() < b.size();
    return a < b;
  }

  uint16_t port_;
  int epfd_;
  std::vector<Conn> conns_;
  int64_t connected_ = 0;
  bool recording_ = false;
};

double ProcessCpuSeconds(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close_paren = stat.rfind(')');
  std::vector<std::string> fields;
  std::string field;
  for (size_t i = close_paren + 2; i <= stat.size(); ++i) {
    if (i == stat.size() || stat[i] == ' ') {
      fields.push_back(field);
      field.clear();
    } else {
      field += stat[i];
    }
  }
  // fields[0] is the state (field 3); utime and stime are fields 14 and 15.
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::stod(fields[11]) + std::stod(fields[12])) / ticks;
}

uint16_t PortOf(const std::string& url) {
  return static_cast<uint16_t>(std::atoi(url.substr(url.rfind(':') + 1).c_str()));
}

struct Result {
  double p50 = 0, p99 = 0, max = 0, send_p50 = 0, send_p99 = 0;
  double read_p50 = 0, read_p99 = 0;  // to this process's read of the socket
  double frames_per_s = 0, offered_per_s = 0;
  int64_t lost = 0, extra = 0, disorder = 0, closed = 0;
  double cpu = 0;
  double client_cpu = 0;  // this process: the clients and the ingester
  long rss_mb = 0, hwm_mb = 0;
};

Result RunPhase(const Args& a, int seconds, bool push) {
  kobs::testing::TempDir dir;
  std::vector<std::pair<std::string, std::string>> env = {
      {"KOBS_FEED_MAX_CLIENTS", std::to_string(a.clients + 100)}};
  // SSE_BENCH_ENV="K=V K=V": more server settings (e.g. KOBS_STORE_WRITER_INSERT_INTERVAL=100ms).
  if (const char* extra = std::getenv("SSE_BENCH_ENV")) {
    std::string all = extra;
    for (size_t p = 0; p < all.size();) {
      size_t end = all.find(' ', p);
      if (end == std::string::npos) end = all.size();
      std::string kv = all.substr(p, end - p);
      if (size_t eq = kv.find('='); eq != std::string::npos) {
        env.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
      }
      p = end + 1;
    }
  }
  if (!push) {
    env.emplace_back("KOBS_FEED_PUSH", "false");
    env.emplace_back("KOBS_FEED_POLL_INTERVAL", "3s");
  }
  kobs::bench::Server server = kobs::bench::StartKobs(dir.path(), env);
  Clients clients(PortOf(server.api), a.clients, a.compositions);
  std::fprintf(stderr, "  connecting %d clients...\n", a.clients);
  if (!clients.ConnectAll()) std::exit(1);
  std::fprintf(stderr, "  %d connected; ingesting %d events/s for %d s\n", a.clients, a.rate,
               seconds);

  std::atomic<bool> ingesting{true};
  std::vector<int64_t> sent(a.compositions, 0);
  std::thread ingest([&] {
    kobs::bench::Client http;
    std::mt19937 rng(7);
    const auto start = Clock::now();
    int64_t seq = 0;
    // Each request carries the events due since the last one, so the rate holds whatever the
    // export latency (a request every 10 ms when exports are fast).
    for (;;) {
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      if (elapsed >= seconds) break;
      const int64_t due = static_cast<int64_t>(elapsed * a.rate);
      if (due <= seq) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      const int per_tick = static_cast<int>(due - seq);
      logs_v1::ExportLogsServiceRequest req;
      auto* rl = req.add_resource_logs();
      SetAttr(rl->mutable_resource()->mutable_attributes(), "telemetry.source", "k8s-events");
      SetAttr(rl->mutable_resource()->mutable_attributes(), "k8s.namespace.name", "bench");
      auto* sl = rl->add_scope_logs();
      const int64_t now = RealNs();
      for (int i = 0; i < per_tick; ++i, ++seq) {  // NOLINT
        const int comp = static_cast<int>(rng() % static_cast<uint32_t>(a.compositions));
        ++sent[comp];
        auto* r = sl->add_log_records();
        r->set_time_unix_nano(static_cast<uint64_t>(now));
        r->mutable_body()->set_string_value(fmt::format(
            R"({{"type":"ADDED","object":{{"kind":"Event","apiVersion":"v1","metadata":{{"name":"bench-{0}","namespace":"bench","uid":"bench-uid-{0}","resourceVersion":"{0}"}},"involvedObject":{{"apiVersion":"v1","kind":"Pod","name":"pod-{1}","namespace":"bench","uid":"pod-uid-{1}"}},"reason":"BenchEvent","message":"seq={0} sent={2}","type":"Normal","source":{{"component":"bench"}}}}}})",
            seq, comp, now));
        SetAttr(r->mutable_attributes(), "krateo.io/composition-id", BenchComposition(comp));
        SetAttr(r->mutable_attributes(), "k8s.resource.name", "events");
      }
      long status = http.Post(server.otlp + "/v1/logs", req.SerializeAsString());
      if (status != 200) std::fprintf(stderr, "  OTLP export answered %ld\n", status);
    }
    ingesting = false;
  });
  const double cpu0 = ProcessCpuSeconds(server.pid);
  const double self0 = ProcessCpuSeconds(getpid());
  const auto t0 = Clock::now();
  clients.Record(true);
  while (ingesting) clients.Poll(10);
  const double ingest_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu1 = ProcessCpuSeconds(server.pid);
  const double self1 = ProcessCpuSeconds(getpid());
  Result r;
  r.rss_mb = kobs::bench::PeakRssKb(server.pid, "VmRSS:") / 1024;
  // Drain: the writer's insert interval, then the poll (3 s in the baseline).
  const auto drain_until = Clock::now() + std::chrono::seconds(push ? 3 : 8);
  while (Clock::now() < drain_until) clients.Poll(10);
  ingest.join();
  r.hwm_mb = kobs::bench::PeakRssKb(server.pid) / 1024;
  int64_t received = 0;
  for (const Conn& c : clients.conns()) {
    received += c.frames;
    const int64_t want = sent[c.composition];
    if (c.frames < want) r.lost += want - c.frames;
    if (c.frames > want) r.extra += c.frames - want;
    r.disorder += c.disorder;
  }
  int64_t offered = 0;
  for (const Conn& c : clients.conns()) offered += sent[c.composition];
  r.closed = clients.closed;
  r.frames_per_s = static_cast<double>(received) / ingest_s;
  r.offered_per_s = static_cast<double>(offered) / ingest_s;
  r.p50 = Percentile(clients.store_latency_ms, 0.5);
  r.p99 = Percentile(clients.store_latency_ms, 0.99);
  r.max = Percentile(clients.store_latency_ms, 1.0);
  r.read_p50 = Percentile(clients.read_latency_ms, 0.5);
  r.read_p99 = Percentile(clients.read_latency_ms, 0.99);
  r.send_p50 = Percentile(clients.send_latency_ms, 0.5);
  r.send_p99 = Percentile(clients.send_latency_ms, 0.99);
  r.cpu = (cpu1 - cpu0) / ingest_s;
  r.client_cpu = (self1 - self0) / ingest_s;
  if (std::getenv("SSE_BENCH_METRICS") != nullptr) {
    std::string metrics = kobs::bench::Client().Get(server.api + "/metrics");
    for (size_t p = 0, e; (e = metrics.find('\n', p)) != std::string::npos; p = e + 1) {
      std::string_view line(metrics.data() + p, e - p);
      if (line.find("_seconds_") != std::string_view::npos && line.find("feed") != std::string_view::npos) {
        std::fprintf(stderr, "  %.*s\n", static_cast<int>(line.size()), line.data());
        continue;
      }
      if (line.find("publish_lag_seconds_") != std::string_view::npos ||
          line.find("kobs_store_insert_duration_seconds_") != std::string_view::npos ||
          line.find("kobs_feed_") == 0) {
        std::fprintf(stderr, "  %.*s\n", static_cast<int>(line.size()), line.data());
      }
    }
  }
  kill(server.pid, SIGTERM);
  waitpid(server.pid, nullptr, 0);
  return r;
}

// kobs_feed_events_total from the server's /metrics, or -1.
int64_t FeedEventsTotal(kobs::bench::Client& http, const std::string& api) {
  const std::string metrics = http.Get(api + "/metrics");
  constexpr std::string_view kName = "\nkobs_feed_events_total ";
  const size_t at = metrics.find(kName);
  if (at == std::string::npos) return -1;
  return std::atoll(metrics.c_str() + at + kName.size());
}

// GET /events latency on `rows` stored events over 1000 compositions.
void EventsPhase(int64_t rows) {
  kobs::testing::TempDir dir;
  kobs::bench::Server server = kobs::bench::StartKobs(dir.path());
  kobs::bench::Client http;
  std::fprintf(stderr, "GET /events: storing %lld event rows...\n", static_cast<long long>(rows));
  const auto fill_start = Clock::now();
  // Straight into the typed table, in 1M-row inserts: FeedTime, FeedKey from their defaults.
  // A partition per day of the 6.8 days (support/event_rows.h), each with its parts.
  for (int64_t done = 0; done < rows; done += 1'000'000) {
    const int64_t n = std::min<int64_t>(1'000'000, rows - done);
    const std::string sql = kobs::bench::EventRowsInsertSql("kobs_k8s_events", done, n, rows);
    std::string url = server.clickhouse + "/?query=" + kobs::bench::Escape(sql);
    long status = http.Post(url, "");
    if (status != 200) {
      std::fprintf(stderr, "  insert answered %ld\n", status);
      std::exit(1);
    }
  }
  std::fprintf(stderr, "  stored in %.0f s\n",
               std::chrono::duration<double>(Clock::now() - fill_start).count());
  // Measure the steady state: wait for the inserts' merges to finish.
  const auto merge_deadline = Clock::now() + std::chrono::seconds(180);
  while (Clock::now() < merge_deadline) {
    std::string n = http.Get(server.clickhouse + "/?query=" +
                             kobs::bench::Escape("SELECT count() FROM system.merges"));
    if (n == "0\n") break;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  std::string parts = http.Get(
      server.clickhouse + "/?query=" +
      kobs::bench::Escape("SELECT count(), uniq(partition) FROM system.parts WHERE active AND "
                          "table = 'kobs_k8s_events' FORMAT CSV"));
  if (!parts.empty() && parts.back() == '\n') parts.pop_back();
  std::fprintf(stderr, "  merges done after %.0f s (kobs_k8s_events: parts,partitions %s)\n",
               std::chrono::duration<double>(Clock::now() - fill_start).count(), parts.c_str());
  // The feed publishes every stored row, these too: until it has caught up with them, it
  // takes a core of its own (about 2 min for 10M rows here), which is not the steady state.
  const auto feed_deadline = Clock::now() + std::chrono::seconds(600);
  while (Clock::now() < feed_deadline && FeedEventsTotal(http, server.api) < rows) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  std::fprintf(stderr, "  feed caught up after %.0f s (%lld events published)\n",
               std::chrono::duration<double>(Clock::now() - fill_start).count(),
               static_cast<long long>(FeedEventsTotal(http, server.api)));
  std::mt19937 rng(11);
  auto measure = [&](const char* name, const std::function<std::string()>& target, int n) {
    std::vector<double> ms;
    size_t bytes = 0;
    for (int i = 0; i < n; ++i) {
      const std::string url = server.api + target();
      const auto t = Clock::now();
      bytes += http.Get(url).size();
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
    }
    std::printf("/events %-34s p50 %6.1f ms  p99 %6.1f ms  (%d requests, %zu bytes each)\n",
                name, Percentile(ms, 0.5), Percentile(ms, 0.99), n, bytes / n);
  };
  auto comp = [&] { return BenchComposition(static_cast<int>(rng() % 1000)); };
  measure("floor: /health", [] { return std::string("/health"); }, 200);
  measure("?composition_id=&limit=50", [&] { return "/events?composition_id=" + comp() + "&limit=50"; }, 300);
  measure("/<composition> (200 newest)", [&] { return "/events/" + comp(); }, 300);
  measure("/<composition>?type=Warning&since=1h", [&] { return "/events/" + comp() + "?type=Warning&since=1h"; }, 300);
  measure("cluster-wide (200 newest)", [] { return std::string("/events"); }, 300);
  measure("?namespace=ns-7&limit=50", [] { return std::string("/events?namespace=ns-7&limit=50"); }, 300);
  std::printf("target: p99 < 20 ms on %lld rows\n", static_cast<long long>(rows));
  kill(server.pid, SIGTERM);
  waitpid(server.pid, nullptr, 0);
}

void Print(const char* name, const Result& r) {
  std::printf(
      "%-14s store->client p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms | send->client p50 %7.1f "
      "ms  p99 %7.1f ms\n"
      "%-14s store->read   p50 %7.1f ms  p99 %7.1f ms (when the one client thread got to it)\n"
      "%-14s frames/s %9.0f of %9.0f offered (ratio %.3f)  lost %lld  extra %lld  "
      "out-of-order %lld  closed %lld | server CPU %.0f%%  RSS %ld MB (peak %ld MB) | "
      "clients CPU %.0f%%\n",
      name, r.p50, r.p99, r.max, r.send_p50, r.send_p99, "", r.read_p50, r.read_p99, "",
      r.frames_per_s, r.offered_per_s,
      r.offered_per_s > 0 ? r.frames_per_s / r.offered_per_s : 0.0,
      static_cast<long long>(r.lost), static_cast<long long>(r.extra),
      static_cast<long long>(r.disorder), static_cast<long long>(r.closed), r.cpu * 100,
      r.rss_mb, r.hwm_mb, r.client_cpu * 100);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (k == "--clients") a.clients = v;
    else if (k == "--compositions") a.compositions = v;
    else if (k == "--rate") a.rate = v;
    else if (k == "--seconds") a.seconds = v;
    else if (k == "--baseline-seconds") a.baseline_seconds = v;
    else if (k == "--events-rows") a.events_rows = std::atoll(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (a.clients < 1 || a.compositions < 1 || a.rate < 1 || a.seconds < 0) {
    std::fprintf(stderr, "every option must be positive (--seconds 0 skips the SSE phases)\n");
    return 2;
  }
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < static_cast<rlim_t>(a.clients) + 100) {
    std::fprintf(stderr, "the descriptor limit (%llu) is below --clients\n",
                 static_cast<unsigned long long>(lim.rlim_cur));
    return 2;
  }
  std::printf("sse_fanout: %d clients over %d compositions (%d clients per event), %d events/s\n",
              a.clients, a.compositions, a.clients / a.compositions, a.rate);
  Result push;
  if (a.seconds > 0) {
    std::fprintf(stderr, "push (kobs):\n");
    push = RunPhase(a, a.seconds, true);
    Print("push", push);
  }
  if (a.seconds > 0 && a.baseline_seconds > 0) {
    std::fprintf(stderr, "3 s poll (the original's design):\n");
    Result poll = RunPhase(a, a.baseline_seconds, false);
    Print("3s-poll", poll);
    std::printf("delay ratio (push p50 / poll p50): %.3f; p99: %.3f\n",
                poll.p50 > 0 ? push.p50 / poll.p50 : 0.0, poll.p99 > 0 ? push.p99 / poll.p99 : 0.0);
  }
  std::printf("targets: store->client p99 < 100 ms, no loss, RSS < 500 MB\n");
  if (a.events_rows > 0) EventsPhase(a.events_rows);
  return 0;
}
