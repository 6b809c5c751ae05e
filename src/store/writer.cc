#include "store/writer.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "absl/synchronization/mutex.h"
#include "common/absl_compat.h"
#include "common/config_util.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "store/errors.h"
#include "store/spool.h"

namespace kobs::store {
namespace {

using Clock = std::chrono::steady_clock;

spdlog::logger& log() { return Logger("writer"); }

// One caller's Write(): done when all of its parts are.
struct Ticket {
  size_t remaining = 0;
  absl::Status status;
  bool done = false;
};

struct Batch {
  std::string table;
  const std::vector<std::string>* columns = nullptr;
  std::string data;
  uint64_t rows = 0;
  Clock::time_point first;
  std::vector<std::shared_ptr<Ticket>> tickets;
};

class WriterImpl final : public Writer {
 public:
  WriterImpl(Store& store, WriterOptions options, std::shared_ptr<Spool> spool,
             MetricsRegistry& metrics)
      : store_(store),
        o_(std::move(options)),
        spool_(std::move(spool)),
        metrics_(metrics),
        pending_gauge_(std::make_shared<std::atomic<uint64_t>>(0)) {
    metrics.AddCallbackGauge("kobs_writer_pending_bytes", "Rows held in memory, in bytes.",
                             [p = pending_gauge_] { return static_cast<double>(p->load()); });
    if (spool_ != nullptr) {
      metrics.AddCallbackGauge("kobs_writer_spool_bytes", "Bytes waiting in the spool.",
                               [s = spool_] { return static_cast<double>(s->bytes()); });
      metrics.AddCallbackGauge("kobs_writer_spool_entries", "Batches waiting in the spool.",
                               [s = spool_] { return static_cast<double>(s->entries()); });
      metrics.AddCallbackGauge("kobs_writer_spool_oldest_age_seconds",
                               "Age of the oldest batch in the spool.",
                               [s = spool_] { return s->oldest_age_seconds(); });
    }
    flusher_ = std::thread([this] { FlushLoop(); });
    if (spool_ != nullptr) replayer_ = std::thread([this] { ReplayLoop(); });
  }

  ~WriterImpl() override { Stop(); }

  absl::Status Write(std::vector<TableRows> parts) override {
    uint64_t bytes = 0;
    for (const auto& p : parts) bytes += p.data.size();
    if (parts.empty() || bytes == 0) return absl::OkStatus();
    auto ticket = std::make_shared<Ticket>();
    absl::MutexLock lock(&mu_);
    if (stopping_) return absl::UnavailableError("the writer is shutting down");
    if (pending_bytes_ + bytes > o_.max_pending_bytes) {
      Rejected("memory_full").Inc();
      return absl::ResourceExhaustedError(fmt::format(
          "ingest buffers full ({} bytes pending); retry later", pending_bytes_));
    }
    if (spool_ != nullptr && spool_full_) {
      Rejected("spool_full").Inc();
      return absl::UnavailableError("the store is unavailable and the spool is full; retry later");
    }
    const auto now = Clock::now();
    for (auto& p : parts) {
      if (p.rows == 0) continue;
      std::string key = p.table;
      for (const auto& c : *p.columns) key += '\0' + c;
      Batch& b = batches_[key];
      if (b.rows == 0) {
        b.table = p.table;
        b.columns = p.columns;
        b.first = now;
      }
      if (b.data.empty()) {
        b.data = std::move(p.data);
      } else {
        b.data += p.data;
      }
      b.rows += p.rows;
      b.tickets.push_back(ticket);
      ++ticket->remaining;
    }
    pending_bytes_ += bytes;
    pending_gauge_->store(pending_bytes_);
    wake_.Signal();
    mu_.Await(absl::Condition(+[](Ticket* t) { return t->done; }, ticket.get()));
    return ticket->status;
  }

  void Stop() override {
    {
      absl::MutexLock lock(&mu_);
      if (stopped_) return;
      stopped_ = true;
      stopping_ = true;
      wake_.Signal();
    }
    if (flusher_.joinable()) flusher_.join();
    {
      absl::MutexLock lock(&replay_mu_);
      replay_stop_ = true;
      replay_wake_.Signal();
    }
    if (replayer_.joinable()) replayer_.join();
  }

  uint64_t spool_bytes() const override { return spool_ == nullptr ? 0 : spool_->bytes(); }

 private:
  Counter& Rejected(const std::string& reason) {
    return metrics_.GetCounter("kobs_writer_rejected_writes_total",
                               "Writes refused at once (backpressure), by reason.",
                               {{"reason", reason}});
  }

  void ObserveInsert(uint64_t rows, Clock::time_point start) {
    metrics_.GetHistogram("kobs_writer_insert_seconds", "Time to insert one batch.")
        .Observe(std::chrono::duration<double>(Clock::now() - start).count());
    metrics_.GetHistogram("kobs_writer_insert_rows", "Rows per insert.", {},
                          {100, 1000, 10000, 50000, 100000, 500000})
        .Observe(static_cast<double>(rows));
  }

  bool Due(const Batch& b, Clock::time_point now) const {
    return b.rows >= o_.max_batch_rows || b.data.size() >= o_.max_batch_bytes ||
           now - b.first >= o_.flush_interval;
  }

  void FlushLoop() {
    absl::MutexLock lock(&mu_);
    while (true) {
      const auto now = Clock::now();
      auto due = batches_.end();
      for (auto it = batches_.begin(); it != batches_.end(); ++it) {
        if (stopping_ || Due(it->second, now)) {
          due = it;
          break;
        }
      }
      if (due != batches_.end()) {
        Batch batch = std::move(due->second);
        batches_.erase(due);
        mu_.Unlock();
        absl::Status status = Flush(batch);
        mu_.Lock();
        pending_bytes_ -= batch.data.size();
        pending_gauge_->store(pending_bytes_);
        for (auto& t : batch.tickets) {
          if (!status.ok() && t->status.ok()) t->status = status;
          if (--t->remaining == 0) t->done = true;
        }
        continue;
      }
      if (stopping_) break;
      auto wait = o_.flush_interval;
      for (const auto& [k, b] : batches_) {
        wait = std::min(wait, std::chrono::duration_cast<std::chrono::milliseconds>(
                                  b.first + o_.flush_interval - now));
      }
      wake_.WaitWithTimeout(&mu_, absl::Milliseconds(std::max<int64_t>(1, wait.count())));
    }
  }

  // Inserts one batch, or spools it: OK means durable.
  absl::Status Flush(const Batch& b) {
    const std::string table_label = b.table;
    metrics_.GetHistogram("kobs_writer_batch_rows",
                          "Rows per acknowledged group (inserted or spooled).", {},
                          {100, 1000, 10000, 50000, 100000, 500000})
        .Observe(static_cast<double>(b.rows));
    const auto start = Clock::now();
    if (spool_ != nullptr && o_.write_ahead) return SpoolBatch(b, "write_ahead");
    if (spool_ != nullptr && !spool_->empty()) return SpoolBatch(b, "spool_not_empty");
    // Direct inserts must not be deduplicated by content: two equal batches are two batches.
    InsertOptions direct{.settings = {{"insert_deduplicate", "0"}}};
    auto r = store_.Insert(b.table, *b.columns, "RowBinary", b.data, direct);
    if (r.ok()) {
      ObserveInsert(b.rows, start);
      metrics_.GetCounter("kobs_writer_rows_total", "Rows made durable, by table and path.",
                          {{"table", table_label}, {"path", "insert"}})
          .Inc(static_cast<double>(b.rows));
      return absl::OkStatus();
    }
    metrics_.GetCounter("kobs_writer_insert_errors_total", "Failed batch inserts.",
                        {{"table", table_label}})
        .Inc();
    if (!IsRetryable(r.status())) {
      Log(log(), spdlog::level::err, "the store refused a batch",
          {{"table", b.table}, {"rows", std::to_string(b.rows)},
           {"error", std::string(ToStd(r.status().message()))}});
      return r.status();
    }
    if (spool_ == nullptr) {
      return absl::UnavailableError(
          fmt::format("the store is unavailable: {}", ToStd(r.status().message())));
    }
    Log(log(), spdlog::level::warn, "insert failed; spooling the batch",
        {{"table", b.table}, {"error", std::string(ToStd(r.status().message()))}});
    return SpoolBatch(b, "store_failed");
  }

  absl::Status SpoolBatch(const Batch& b, const char* why) {
    SpoolEntry e{.table = b.table, .columns = *b.columns, .format = "RowBinary", .rows = b.rows,
                 .data = b.data};
    absl::Status s = spool_->Append(e);
    if (absl::IsResourceExhausted(s)) {
      absl::MutexLock lock(&replay_mu_);
      spool_full_ = true;
      return absl::UnavailableError(fmt::format("the store is unavailable and {}", s.message()));
    }
    if (!s.ok()) return s;
    metrics_.GetCounter("kobs_writer_rows_total", "Rows made durable, by table and path.",
                        {{"table", b.table}, {"path", "spool"}})
        .Inc(static_cast<double>(b.rows));
    metrics_.GetCounter("kobs_writer_spooled_batches_total", "Batches written to the spool.",
                        {{"reason", why}})
        .Inc();
    absl::MutexLock lock(&replay_mu_);
    replay_wake_.Signal();
    return absl::OkStatus();
  }

  // Inserts the spool's claims in order. On Stop(), drains what the store still takes.
  void ReplayLoop() {
    std::chrono::milliseconds backoff(100);
    while (true) {
      bool stopping;
      {
        absl::MutexLock lock(&replay_mu_);
        stopping = replay_stop_;
        if (spool_->empty()) {
          spool_full_ = false;
          if (stopping) return;
          replay_wake_.WaitWithTimeout(&replay_mu_, absl::Seconds(1));
          continue;
        }
        if (!stopping) {
          if (auto wait = UntilReplayDue(); wait.count() > 0) {
            replay_wake_.WaitWithTimeout(&replay_mu_, absl::Milliseconds(wait.count()));
            continue;
          }
        }
      }
      absl::Status s = ReplayOne();
      if (s.ok()) {
        backoff = std::chrono::milliseconds(100);
        continue;
      }
      if (stopping) {
        Log(log(), spdlog::level::warn, "stopping with rows left in the spool",
            {{"entries", std::to_string(spool_->entries())},
             {"error", std::string(ToStd(s.message()))}});
        return;
      }
      Log(log(), spdlog::level::warn, "spool replay waits for the store",
          {{"error", std::string(ToStd(s.message()))},
           {"retry_in_ms", std::to_string(backoff.count())}});
      absl::MutexLock lock(&replay_mu_);
      if (!replay_stop_) {
        replay_wake_.WaitWithTimeout(&replay_mu_, absl::Milliseconds(backoff.count()));
      }
      backoff = std::min(backoff * 2, o_.retry_backoff_max);
    }
  }

  // With write_ahead, spooled rows wait to be inserted together until they fill a batch or the
  // oldest has waited insert_interval: large parts, few merges. Returns how long to wait yet.
  std::chrono::milliseconds UntilReplayDue() const {
    if (!o_.write_ahead || spool_->bytes() >= o_.max_batch_bytes) {
      return std::chrono::milliseconds(0);
    }
    const auto age = std::chrono::milliseconds(
        static_cast<int64_t>(spool_->oldest_age_seconds() * 1000));
    return std::max(std::chrono::milliseconds(0), o_.insert_interval - age);
  }

  // Inserts the next claim of the spool and releases it; an error means "try again later".
  absl::Status ReplayOne() {
    auto claim = spool_->Claim(o_.max_batch_rows, o_.max_batch_bytes);
    if (!claim.ok()) return claim.status();
    if (!claim->has_value()) return absl::OkStatus();
    const SpoolEntry& e = **claim;
    // The claim id is stable across restarts: a replay of a claim whose insert already went
    // through (crash before Release) is dropped by the store as a duplicate.
    InsertOptions token{.settings = {{"insert_deduplication_token", "kobs-spool-" + e.id}}};
    const auto start = Clock::now();
    auto r = store_.Insert(e.table, e.columns, e.format, e.data, token);
    if (!r.ok() && IsRetryable(r.status())) return r.status();
    if (r.ok()) {
      ObserveInsert(e.rows, start);
      metrics_.GetCounter("kobs_writer_replayed_rows_total",
                          "Rows inserted from the spool.", {{"table", e.table}})
          .Inc(static_cast<double>(e.rows));
    } else {
      Quarantine(e, r.status());
    }
    KOBS_RETURN_IF_ERROR(spool_->Release());
    absl::MutexLock lock(&replay_mu_);
    spool_full_ = false;
    return absl::OkStatus();
  }

  // Keeps a spooled batch the store refuses for good, for a human to look at.
  void Quarantine(const SpoolEntry& e, const absl::Status& s) {
    namespace fs = std::filesystem;
    const std::string dir = o_.spool_dir + "/rejected";
    std::error_code ec;
    fs::create_directories(dir, ec);
    std::ofstream(fmt::format("{}/{}.rowbinary", dir, e.id), std::ios::binary) << e.data;
    Log(log(), spdlog::level::err, "the store refused a spooled batch; kept aside",
        {{"table", e.table}, {"rows", std::to_string(e.rows)}, {"entry", e.id},
         {"file", fmt::format("{}/{}.rowbinary", dir, e.id)},
         {"error", std::string(ToStd(s.message()))}});
    metrics_.GetCounter("kobs_writer_quarantined_batches_total",
                        "Spooled batches the store refused for good (kept in <spool>/rejected).")
        .Inc();
  }

  Store& store_;
  const WriterOptions o_;
  const std::shared_ptr<Spool> spool_;
  MetricsRegistry& metrics_;
  const std::shared_ptr<std::atomic<uint64_t>> pending_gauge_;

  absl::Mutex mu_;
  absl::CondVar wake_;
  std::map<std::string, Batch> batches_ ABSL_GUARDED_BY(mu_);
  uint64_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex replay_mu_;
  absl::CondVar replay_wake_;
  bool replay_stop_ ABSL_GUARDED_BY(replay_mu_) = false;
  std::atomic<bool> spool_full_{false};

  std::thread flusher_;
  std::thread replayer_;
};

}  // namespace

bool IsRetryable(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
      return true;
    default:
      break;
  }
  auto code = ClickHouseErrorCode(status);
  if (!code) return false;
  switch (*code) {
    case kTimeoutExceeded:
    case kNetworkError:
    case kSocketTimeout:
    case kAllConnectionTriesFailed:
    case 252:  // TOO_MANY_PARTS
    case 202:  // TOO_MANY_SIMULTANEOUS_QUERIES
    case 241:  // MEMORY_LIMIT_EXCEEDED
    case 242:  // TABLE_IS_READ_ONLY (replica without Keeper)
    case 999:  // KEEPER_EXCEPTION
    case 425:  // SYSTEM_ERROR
      return true;
    default:
      return false;
  }
}

absl::StatusOr<WriterOptions> ParseWriterOptions(const YAML::Node& node) {
  WriterOptions o;
  KOBS_RETURN_IF_ERROR(CheckKeys(node,
                                 {"max_batch_rows", "max_batch_bytes", "flush_interval",
                                  "max_pending_bytes", "spool_dir", "spool_max_bytes",
                                  "retry_backoff_max", "fsync", "write_ahead", "insert_interval"},
                                 "store.writer"));
  int64_t rows = static_cast<int64_t>(o.max_batch_rows);
  KOBS_RETURN_IF_ERROR(ReadInt(node, "max_batch_rows", &rows));
  if (rows < 1) return absl::InvalidArgumentError("store.writer.max_batch_rows must be >= 1");
  o.max_batch_rows = static_cast<uint64_t>(rows);
  KOBS_RETURN_IF_ERROR(ReadBytes(node, "max_batch_bytes", &o.max_batch_bytes));
  KOBS_RETURN_IF_ERROR(ReadDuration(node, "flush_interval", &o.flush_interval));
  KOBS_RETURN_IF_ERROR(ReadBytes(node, "max_pending_bytes", &o.max_pending_bytes));
  KOBS_RETURN_IF_ERROR(ReadString(node, "spool_dir", &o.spool_dir));
  KOBS_RETURN_IF_ERROR(ReadBytes(node, "spool_max_bytes", &o.spool_max_bytes));
  KOBS_RETURN_IF_ERROR(ReadDuration(node, "retry_backoff_max", &o.retry_backoff_max));
  KOBS_RETURN_IF_ERROR(ReadBool(node, "fsync", &o.fsync));
  KOBS_RETURN_IF_ERROR(ReadBool(node, "write_ahead", &o.write_ahead));
  KOBS_RETURN_IF_ERROR(ReadDuration(node, "insert_interval", &o.insert_interval));
  if (o.flush_interval.count() < 1) {
    return absl::InvalidArgumentError("store.writer.flush_interval must be at least 1ms");
  }
  if (o.max_pending_bytes < o.max_batch_bytes) {
    return absl::InvalidArgumentError(
        "store.writer.max_pending_bytes must be at least max_batch_bytes");
  }
  return o;
}

absl::StatusOr<std::unique_ptr<Writer>> Writer::Create(Store& store, WriterOptions options,
                                                       MetricsRegistry& metrics) {
  std::shared_ptr<Spool> spool;
  if (!options.spool_dir.empty()) {
    // Claims do not cross segments: several full batches fit in one.
    auto s = Spool::Open({.dir = options.spool_dir,
                          .max_bytes = options.spool_max_bytes,
                          .fsync = options.fsync,
                          .segment_bytes = std::max<uint64_t>(64ull << 20,
                                                              4 * options.max_batch_bytes)});
    if (!s.ok()) return s.status();
    spool = std::move(*s);
  }
  return std::unique_ptr<Writer>(new WriterImpl(store, std::move(options), spool, metrics));
}

}  // namespace kobs::store
