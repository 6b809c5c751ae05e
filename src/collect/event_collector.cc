#include "collect/event_collector.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "collect/event_rows.h"
#include "common/absl_compat.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "k8s/client.h"
#include "k8s/watcher.h"
#include "store/otel_rows.h"
#include "store/writer.h"

namespace kobs::collect {

using nlohmann::json;

namespace {

// What differs between two versions of an event that a reader cares about.
uint64_t ContentHash(const std::string& type, const json& e) {
  auto field = [&](const char* k) { return e.contains(k) ? e[k].dump() : std::string(); };
  std::string key = type + '\x1f' + field("count") + '\x1f' + field("lastTimestamp") + '\x1f' +
                    field("eventTime") + '\x1f' + field("series") + '\x1f' + field("message") +
                    '\x1f' + field("reason") + '\x1f' + field("type") + '\x1f' + field("note");
  return std::hash<std::string>{}(key);
}

const char* TypeName(k8s::WatchEvent::Type t) {
  switch (t) {
    case k8s::WatchEvent::Type::kAdded: return "ADDED";
    case k8s::WatchEvent::Type::kModified: return "MODIFIED";
    case k8s::WatchEvent::Type::kDeleted: return "DELETED";
    default: return "";
  }
}

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

EventCollector::EventCollector(k8s::Client& client, store::Writer& writer,
                               EventCollectorOptions options, MetricsRegistry& metrics)
    : client_(client),
      writer_(writer),
      options_(std::move(options)),
      resolver_(FetchWith(client), options_.resolver, metrics),
      rows_(metrics.GetCounter("kobs_k8s_event_rows_total", "Kubernetes event rows stored.")),
      duplicates_(metrics.GetCounter(
          "kobs_k8s_event_duplicates_total",
          "Event notifications not stored again (already stored version or content).")),
      unresolved_(metrics.GetCounter(
          "kobs_k8s_event_unresolved_total",
          "Event rows stored without a composition id after transient lookup failures.")),
      write_errors_(metrics.GetCounter("kobs_k8s_event_write_errors_total",
                                       "Failed writes of event rows (retried).")),
      queued_(metrics.GetGauge("kobs_k8s_event_queue", "Event notifications waiting.")) {}

EventCollector::~EventCollector() { Stop(); }

bool EventCollector::synced() const { return watcher_ != nullptr && watcher_->synced(); }

absl::Status EventCollector::LoadState() {
  if (options_.state_path.empty()) return absl::OkStatus();
  std::ifstream in(options_.state_path);
  if (!in) return absl::OkStatus();  // first start
  std::stringstream text;
  text << in.rdbuf();
  json j = json::parse(text.str(), nullptr, false);
  if (!j.is_object() || !j.contains("events") || !j["events"].is_object()) {
    return absl::DataLossError(fmt::format(
        "event collector state {} is corrupt; move it away to store the current events again",
        options_.state_path));
  }
  for (const auto& [uid, v] : j["events"].items()) {
    if (!v.is_object() || !v.contains("rv") || !v["rv"].is_string() || !v.contains("hash") ||
        !v["hash"].is_number_unsigned()) {
      continue;
    }
    seen_[uid] = Seen{v["rv"].get<std::string>(), v["hash"].get<uint64_t>()};
  }
  return absl::OkStatus();
}

absl::Status EventCollector::SaveState() {
  if (options_.state_path.empty()) return absl::OkStatus();
  json events = json::object();
  for (const auto& [uid, s] : seen_) events[uid] = {{"rv", s.resource_version}, {"hash", s.hash}};
  const std::string tmp = options_.state_path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << json{{"events", events}}.dump();
    out.flush();
    if (!out) return absl::InternalError(fmt::format("cannot write {}", tmp));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, options_.state_path, ec);
  if (ec) {
    return absl::InternalError(
        fmt::format("cannot replace {}: {}", options_.state_path, ec.message()));
  }
  return absl::OkStatus();
}

absl::Status EventCollector::Start() {
  KOBS_RETURN_IF_ERROR(LoadState());
  KOBS_ASSIGN_OR_RETURN(k8s::ResourceInfo events, client_.Resource("v1", "Event"));
  worker_ = std::jthread([this](std::stop_token stop) { Work(stop); });
  watcher_ = std::make_unique<k8s::Watcher>(
      client_, events, k8s::WatcherOptions{.namespace_ = options_.namespace_},
      [this](const k8s::WatchEvent& e) { OnEvent(e); });
  watcher_->Start();
  return absl::OkStatus();
}

void EventCollector::Stop() {
  if (watcher_ != nullptr) watcher_->Stop();
  if (worker_.joinable()) {
    worker_.request_stop();
    {
      absl::MutexLock lock(&mu_);
      cv_.SignalAll();
    }
    worker_.join();
  }
}

void EventCollector::OnEvent(const k8s::WatchEvent& event) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(event);
  queued_.Set(static_cast<double>(queue_.size()));
  if (queue_.size() >= options_.max_batch) cv_.Signal();
}

absl::Status EventCollector::Flush(std::deque<k8s::WatchEvent>& batch) {
  store::TableRows part{.table = "otel_logs", .columns = &store::LogColumns()};
  std::map<std::string, Seen> updates;
  std::vector<std::string> deleted;
  uint64_t skipped = 0;
  for (const k8s::WatchEvent& e : batch) {
    const json& obj = e.object;
    const std::string type = TypeName(e.type);
    if (type.empty() || !obj.is_object()) continue;
    absl::StatusOr<k8s::Event> ev = k8s::DecodeEvent(obj);
    if (!ev.ok()) continue;
    const std::string& uid = ev->metadata.uid;
    const uint64_t hash = ContentHash(type == "DELETED" ? type : "", obj);
    const Seen* prev = nullptr;
    if (auto u = updates.find(uid); u != updates.end()) {
      prev = &u->second;
    } else if (auto k = seen_.find(uid); k != seen_.end()) {
      prev = &k->second;
    }
    if (type != "DELETED" && prev != nullptr &&
        (prev->resource_version == ev->metadata.resource_version || prev->hash == hash)) {
      ++skipped;
      continue;
    }
    // The composition id, retrying transient failures; never blocks the watch.
    std::string id;
    for (int attempt = 0;; ++attempt) {
      absl::StatusOr<std::string> r = resolver_.Resolve(ev->involved_object);
      if (r.ok()) {
        id = *r;
        break;
      }
      if (attempt + 1 >= options_.resolve_attempts) {
        unresolved_.Inc();
        break;
      }
      std::this_thread::sleep_for(options_.resolve_backoff);
    }
    store::EncodeLogRow(EventToLogRow(type, obj, id, options_.resolver.label_key, NowNanos()),
                        &part.data);
    ++part.rows;
    if (type == "DELETED") {
      deleted.push_back(uid);
      updates.erase(uid);
    } else {
      updates[uid] = Seen{ev->metadata.resource_version, hash};
    }
  }
  if (part.rows > 0) {
    std::vector<store::TableRows> parts;
    parts.push_back(std::move(part));
    const uint64_t n = parts[0].rows;
    KOBS_RETURN_IF_ERROR(writer_.Write(std::move(parts)));
    rows_.Inc(static_cast<double>(n));
    stored_ += n;
  }
  for (auto& [uid, s] : updates) seen_[uid] = s;
  for (const std::string& uid : deleted) seen_.erase(uid);
  duplicates_.Inc(static_cast<double>(skipped));
  skipped_ += skipped;
  batch.clear();
  return SaveState();
}

void EventCollector::Work(std::stop_token stop) {
  std::deque<k8s::WatchEvent> batch;
  for (;;) {
    bool stopping = stop.stop_requested();
    {
      absl::MutexLock lock(&mu_);
      if (!stopping && queue_.size() < options_.max_batch) {
        cv_.WaitWithTimeout(&mu_, absl::FromChrono(options_.flush_interval));
      }
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queued_.Set(static_cast<double>(queue_.size()));
    }
    if (!batch.empty()) {
      absl::Status s = Flush(batch);
      if (!s.ok()) {
        // Kept for the next round (the writer spools when the store is down; this is memory
        // or a state file problem).
        write_errors_.Inc();
        Log(Logger("collect"), spdlog::level::warn, "storing event rows failed",
            {{"error", std::string(ToStd(s.message()))}});
        if (stopping) return;
        std::this_thread::sleep_for(std::chrono::seconds(1));
        continue;
      }
    }
    if (stopping) {
      absl::MutexLock lock(&mu_);
      if (queue_.empty()) return;
    }
  }
}

}  // namespace kobs::collect
