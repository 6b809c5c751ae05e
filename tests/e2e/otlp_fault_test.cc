// Fault tests of OTLP ingest through the kobs binary: nothing acknowledged is lost or stored
// twice across `kill -9` of the server, or across an outage of the ClickHouse it writes to
// (a second kobs process's endpoint in remote mode).
#include <curl/curl.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kobs_process.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "temp_dir.h"

namespace kobs {
namespace {

using testing::KobsServer;
namespace logs_v1 = ::opentelemetry::proto::collector::logs::v1;

size_t Append(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

// POSTs `body` to `url`; returns the HTTP status (0 when the connection failed).
long Post(CURL* curl, const std::string& url, const std::string& body, const char* type) {
  std::string response;
  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 60L);
  curl_slist* h = curl_slist_append(nullptr, type);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
  long status = 0;
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  return status;
}

std::string Query(const std::string& clickhouse_url, const std::string& sql) {
  CURL* curl = curl_easy_init();
  std::string response;
  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, (clickhouse_url + "/").c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, sql.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
  curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  return response;
}

// Waits (up to 60 s) until the server at `api_url` holds nothing in memory or in its spool:
// every acknowledged row is then in its store.
void WaitUntilWritten(const std::string& api_url) {
  CURL* curl = curl_easy_init();
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
       std::chrono::steady_clock::now() < deadline;) {
    std::string metrics;
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, (api_url + "/metrics").c_str());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Append);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &metrics);
    curl_easy_perform(curl);
    if (metrics.find("\nkobs_writer_spool_entries 0\n") != std::string::npos &&
        metrics.find("\nkobs_writer_pending_bytes 0\n") != std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  curl_easy_cleanup(curl);
}

// A request of `n` log records whose bodies are "rec-<first>" .. "rec-<first+n-1>".
std::string Batch(int first, int n) {
  logs_v1::ExportLogsServiceRequest req;
  auto* rl = req.add_resource_logs();
  auto* kv = rl->mutable_resource()->add_attributes();
  kv->set_key("service.name");
  kv->mutable_value()->set_string_value("fault-test");
  auto* sl = rl->add_scope_logs();
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  for (int i = first; i < first + n; ++i) {
    auto* r = sl->add_log_records();
    r->set_time_unix_nano(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count() + i);
    r->mutable_body()->set_string_value(fmt::format("rec-{}", i));
  }
  return req.SerializeAsString();
}

// Sends batches of 100 records to `url` until stopped; remembers which were acknowledged.
class Sender {
 public:
  // Record ids start at `first_id`, so concurrent senders never collide.
  Sender(std::function<std::string()> url, int first_id) : url_(std::move(url)), next_(first_id) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Sender() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::set<int> acked() {
    std::lock_guard lock(mu_);
    return acked_;
  }
  int batches_acked() const { return batches_acked_; }
  int refused() const { return refused_; }

 private:
  void Run() {
    CURL* curl = curl_easy_init();
    int next = next_;
    while (!stop_) {
      long status = Post(curl, url_() + "/v1/logs", Batch(next, 100),
                         "Content-Type: application/x-protobuf");
      if (status == 200) {
        std::lock_guard lock(mu_);
        for (int i = next; i < next + 100; ++i) acked_.insert(i);
        ++batches_acked_;
      } else {
        ++refused_;  // refused or lost: an OTLP sender would retry; we move on
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      next += 100;
    }
    curl_easy_cleanup(curl);
  }

  std::function<std::string()> url_;
  const int next_;
  std::atomic<bool> stop_{false};
  std::atomic<int> batches_acked_{0};
  std::atomic<int> refused_{0};
  std::mutex mu_;
  std::set<int> acked_;
  std::thread thread_;
};

// Every acknowledged record appears exactly once in `clickhouse_url`'s otel_logs.
void ExpectExactlyOnce(const std::string& clickhouse_url, const std::set<int>& acked) {
  std::string rows = Query(clickhouse_url,
                           "SELECT Body, count() FROM otel_logs WHERE ServiceName = 'fault-test' "
                           "GROUP BY Body FORMAT TabSeparated");
  std::map<int, int> counts;
  std::istringstream in(rows);
  std::string body;
  int n;
  while (in >> body >> n) counts[std::atoi(body.c_str() + 4)] = n;
  int missing = 0, duplicated = 0;
  for (int id : acked) {
    auto it = counts.find(id);
    if (it == counts.end()) ++missing;
    else if (it->second != 1) ++duplicated;
  }
  EXPECT_EQ(missing, 0) << "acknowledged records missing after the fault";
  EXPECT_EQ(duplicated, 0) << "acknowledged records stored more than once";
  for (const auto& [id, c] : counts) EXPECT_EQ(c, 1) << "record rec-" << id << " stored " << c << " times";
}

TEST(OtlpFaultTest, Kill9DuringSustainedSendLosesNothingAcknowledged) {
  testing::TempDir dir;
  const std::string data = dir.Sub("data");
  std::set<int> acked;
  {
    KobsServer s(data);
    ASSERT_TRUE(s.ready()) << s.log();
    const std::string url = s.otlp_http_url();
    Sender a([&] { return url; }, 0);
    Sender b([&] { return url; }, 100'000'000);
    std::this_thread::sleep_for(std::chrono::seconds(3));
    EXPECT_EQ(s.Stop(SIGKILL), 128 + SIGKILL);
    a.Stop();
    b.Stop();
    ASSERT_GT(a.batches_acked() + b.batches_acked(), 10) << "the senders barely ran";
    acked = a.acked();
    for (int id : b.acked()) acked.insert(id);
  }
  KobsServer again(data);
  ASSERT_TRUE(again.ready()) << again.log();
  WaitUntilWritten(again.api_url());  // the spool left by the kill is replayed
  // Acknowledged: present exactly once. In flight at the kill: at most once.
  ExpectExactlyOnce(again.clickhouse_url(), acked);
  EXPECT_EQ(again.Stop(SIGTERM), 0);
}

TEST(OtlpFaultTest, RemoteClickHouseOutageIsSpooledAndDrainedExactlyOnce) {
  testing::TempDir dir;
  // A: the "ClickHouse" (a kobs endpoint on a fixed port so it can come back on it).
  const int ch_port = testing::FreePort();
  const std::vector<std::string> a_env = {
      fmt::format("KOBS_CLICKHOUSE_HTTP_LISTEN=127.0.0.1:{}", ch_port), "KOBS_OTLP_HTTP_LISTEN=",
      "KOBS_OTLP_GRPC_LISTEN="};
  auto a = std::make_unique<KobsServer>(dir.Sub("a"), a_env);
  ASSERT_TRUE(a->ready()) << a->log();
  // B: kobs in remote mode writing to A, with a spool.
  KobsServer b(dir.Sub("b"), {fmt::format("CLICKHOUSE_URL=http://127.0.0.1:{}", ch_port),
                              "KOBS_STORE_REMOTE_CONNECT_TIMEOUT=500ms",
                              "KOBS_STORE_WRITER_RETRY_BACKOFF_MAX=1s"});
  ASSERT_TRUE(b.ready()) << b.log();
  const std::string url = b.otlp_http_url();
  Sender sender([&] { return url; }, 0);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const int before_outage = sender.batches_acked();
  ASSERT_EQ(a->Stop(SIGTERM), 0);
  const char* env_outage = std::getenv("KOBS_TEST_OUTAGE_SECONDS");
  const int outage_s = env_outage != nullptr ? std::atoi(env_outage) : 30;
  std::this_thread::sleep_for(std::chrono::seconds(outage_s));
  const int during_outage = sender.batches_acked() - before_outage;
  a = std::make_unique<KobsServer>(dir.Sub("a"), a_env);
  ASSERT_TRUE(a->ready()) << a->log();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  sender.Stop();
  EXPECT_GT(during_outage, 0) << "B should keep acknowledging (into its spool) while A is down";
  // Wait for B's spool to drain into A.
  const auto acked = sender.acked();
  WaitUntilWritten(b.api_url());
  ExpectExactlyOnce(a->clickhouse_url(), acked);
  EXPECT_EQ(b.Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace kobs
