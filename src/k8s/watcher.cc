#include "k8s/watcher.h"

#include <algorithm>
#include <random>
#include <unordered_set>

#include "k8s/api_status.h"

namespace kobs::k8s {
namespace {

using json = nlohmann::json;

std::string S(const json& o, const char* key) {
  if (!o.is_object()) return "";
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

const json& Metadata(const json& o) {
  static const json* const kEmpty = new json(json::object());
  if (!o.is_object()) return *kEmpty;
  auto it = o.find("metadata");
  return it != o.end() && it->is_object() ? *it : *kEmpty;
}

// Objects are known by uid; by namespace/name when a (broken) server sends none.
std::string KeyOf(const json& object) {
  const json& md = Metadata(object);
  std::string uid = S(md, "uid");
  return uid.empty() ? S(md, "namespace") + "/" + S(md, "name") : uid;
}

json Stub(const json& object) {
  const json& md = Metadata(object);
  json metadata = json::object();
  for (const char* key : {"name", "namespace", "uid", "resourceVersion"}) {
    if (auto it = md.find(key); it != md.end() && it->is_string()) metadata[key] = *it;
  }
  json stub = {{"metadata", std::move(metadata)}};
  for (const char* key : {"apiVersion", "kind"}) {
    if (auto it = object.find(key); it != object.end() && it->is_string()) stub[key] = *it;
  }
  return stub;
}

}  // namespace

Watcher::Watcher(Client& client, ResourceInfo resource, WatcherOptions options,
                 EventHandler on_event, std::function<void()> on_synced)
    : client_(client),
      resource_(std::move(resource)),
      options_(std::move(options)),
      on_event_(std::move(on_event)),
      on_synced_(std::move(on_synced)) {}

Watcher::~Watcher() { Stop(); }

void Watcher::Start() {
  if (thread_.joinable()) return;
  thread_ = std::jthread([this](std::stop_token stop) { Run(stop); });
}

void Watcher::Stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

std::string Watcher::resource_version() const {
  absl::MutexLock lock(&mu_);
  return resource_version_;
}

absl::Status Watcher::last_error() const {
  absl::MutexLock lock(&mu_);
  return last_error_;
}

void Watcher::SetResourceVersion(const std::string& rv) {
  absl::MutexLock lock(&mu_);
  resource_version_ = rv;
}

void Watcher::SetError(const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  last_error_ = status;
}

std::chrono::milliseconds Watcher::Backoff(int failures) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  int64_t d = std::max<int64_t>(options_.initial_backoff.count(), 1);
  for (int i = 0; i < failures && d < options_.max_backoff.count(); ++i) d *= 2;
  d = std::min<int64_t>(d, std::max<int64_t>(options_.max_backoff.count(), 1));
  return std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(d / 2, d)(rng));
}

bool Watcher::Sleep(std::chrono::milliseconds d, std::stop_token stop) {
  std::unique_lock lock(sleep_mu_);
  sleep_cv_.wait_for(lock, stop, d, [] { return false; });
  return !stop.stop_requested();
}

void Watcher::Deliver(const WatchEvent& event) {
  events_.fetch_add(1);
  on_event_(event);
}

void Watcher::Remember(const std::string& key, const json& object, const std::string& rv) {
  known_[key] = Known{rv, options_.keep_objects ? object : Stub(object)};
}

void Watcher::Apply(WatchEvent& event) {
  const std::string key = KeyOf(event.object);
  auto it = known_.find(key);
  if (event.type == WatchEvent::Type::kDeleted) {
    if (it == known_.end()) return;  // its deletion was delivered already
    known_.erase(it);
    Deliver(event);
    return;
  }
  if (it != known_.end() && it->second.resource_version == event.resource_version) return;
  // The consumer sees ADDED exactly once per object, MODIFIED after that.
  event.type = it == known_.end() ? WatchEvent::Type::kAdded : WatchEvent::Type::kModified;
  Remember(key, event.object, event.resource_version);
  Deliver(event);
}

absl::Status Watcher::Relist() {
  ListOptions list_options;
  list_options.label_selector = options_.label_selector;
  list_options.field_selector = options_.field_selector;
  absl::StatusOr<json> list =
      client_.ListAll(resource_, options_.namespace_, list_options, options_.page_size);
  if (!list.ok()) return list.status();
  const std::string rv = S(Metadata(*list), "resourceVersion");
  std::unordered_set<std::string> present;
  for (json& item : (*list)["items"]) {
    if (!item.is_object()) continue;
    // List items come without apiVersion and kind; events carry them.
    if (!item.contains("apiVersion")) item["apiVersion"] = resource_.api_version();
    if (!item.contains("kind")) item["kind"] = resource_.kind;
    const std::string key = KeyOf(item);
    const std::string item_rv = S(Metadata(item), "resourceVersion");
    present.insert(key);
    auto it = known_.find(key);
    if (it != known_.end() && it->second.resource_version == item_rv) continue;
    WatchEvent event;
    event.type = it == known_.end() ? WatchEvent::Type::kAdded : WatchEvent::Type::kModified;
    event.resource_version = item_rv;
    Remember(key, item, item_rv);
    event.object = std::move(item);
    Deliver(event);
  }
  for (auto it = known_.begin(); it != known_.end();) {
    if (present.count(it->first) > 0) {
      ++it;
      continue;
    }
    WatchEvent event;
    event.type = WatchEvent::Type::kDeleted;
    event.object = std::move(it->second.object);
    event.resource_version = rv;
    it = known_.erase(it);
    Deliver(event);
  }
  SetResourceVersion(rv);
  return absl::OkStatus();
}

void Watcher::Run(std::stop_token stop) {
  int failures = 0;  // consecutive unhealthy rounds
  bool need_list = true;
  bool first_stream = true;
  while (!stop.stop_requested()) {
    if (need_list) {
      absl::Status listed = Relist();
      if (stop.stop_requested()) return;
      if (!listed.ok()) {
        SetError(listed);
        if (!Sleep(Backoff(failures++), stop)) return;
        continue;
      }
      need_list = false;
      if (!synced_.exchange(true) && on_synced_) on_synced_();
    }
    if (!first_stream) reconnects_.fetch_add(1);
    first_stream = false;
    ListOptions watch_options;
    watch_options.label_selector = options_.label_selector;
    watch_options.field_selector = options_.field_selector;
    watch_options.resource_version = resource_version();
    watch_options.timeout_seconds = options_.watch_timeout_seconds;
    absl::Status event_error;
    const auto started = std::chrono::steady_clock::now();
    absl::Status s = client_.WatchOnce(
        resource_, options_.namespace_, watch_options,
        [&](WatchEvent& event) {
          switch (event.type) {
            case WatchEvent::Type::kBookmark:
              break;
            case WatchEvent::Type::kError:
              event_error = event.error;
              return false;
            default:
              Apply(event);
              break;
          }
          if (!event.resource_version.empty()) SetResourceVersion(event.resource_version);
          return !stop.stop_requested();
        },
        stop);
    if (stop.stop_requested()) return;
    if (s.ok()) s = event_error;
    if (IsGone(s)) {
      // The version to resume from is gone: list again and deliver the difference.
      need_list = true;
      relists_.fetch_add(1);
    }
    if (!s.ok()) SetError(s);
    if (std::chrono::steady_clock::now() - started >= options_.healthy_after) {
      failures = 0;
    } else if (!Sleep(Backoff(failures++), stop)) {
      return;
    }
  }
}

}  // namespace kobs::k8s
