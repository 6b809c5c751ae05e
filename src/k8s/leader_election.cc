#include "k8s/leader_election.h"

#include <time.h>

#include <random>

#include <fmt/format.h>

#include "k8s/api_status.h"

namespace kobs::k8s {
namespace {

using json = nlohmann::json;
using std::chrono::steady_clock;

std::string S(const json& o, const char* key) {
  if (!o.is_object()) return "";
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t I(const json& o, const char* key) {
  if (!o.is_object()) return 0;
  auto it = o.find(key);
  return it != o.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

// A MicroTime as the API writes it: "2006-01-02T15:04:05.000000Z".
std::string MicroTime(std::chrono::system_clock::time_point t) {
  const int64_t us =
      std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  const time_t secs = static_cast<time_t>(us / 1000000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us % 1000000);
}

ResourceInfo LeaseResource() {
  ResourceInfo r;
  r.group = "coordination.k8s.io";
  r.version = "v1";
  r.kind = "Lease";
  r.resource = "leases";
  r.singular = "lease";
  r.namespaced = true;
  return r;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LeaderElector>> LeaderElector::Create(
    Client& client, LeaderElectionOptions options) {
  if (options.lease_namespace.empty() || options.lease_name.empty() || options.identity.empty()) {
    return absl::InvalidArgumentError(
        "leader election: lease_namespace, lease_name and identity are required");
  }
  if (options.retry_period.count() <= 0) {
    return absl::InvalidArgumentError("leader election: retry_period must be positive");
  }
  if (options.lease_duration <= options.renew_deadline) {
    return absl::InvalidArgumentError(fmt::format(
        "leader election: lease_duration ({} ms) must be greater than renew_deadline ({} ms)",
        options.lease_duration.count(), options.renew_deadline.count()));
  }
  if (options.renew_deadline.count() <= options.retry_period.count() * 12 / 10) {
    return absl::InvalidArgumentError(fmt::format(
        "leader election: renew_deadline ({} ms) must be greater than 1.2 * retry_period ({} ms)",
        options.renew_deadline.count(), options.retry_period.count()));
  }
  return std::unique_ptr<LeaderElector>(new LeaderElector(client, std::move(options)));
}

LeaderElector::LeaderElector(Client& client, LeaderElectionOptions options)
    : client_(client), options_(std::move(options)), lease_resource_(LeaseResource()) {}

LeaderElector::~LeaderElector() { Stop(); }

void LeaderElector::Start() {
  if (thread_.joinable()) return;
  thread_ = std::jthread([this](std::stop_token stop) { Run(stop); });
}

void LeaderElector::Stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

bool LeaderElector::IsLeader() const {
  absl::MutexLock lock(&mu_);
  return leading_ && steady_clock::now() - renewed_at_ < options_.renew_deadline;
}

std::string LeaderElector::leader() const {
  absl::MutexLock lock(&mu_);
  return leader_;
}

bool LeaderElector::Sleep(std::chrono::milliseconds d, std::stop_token stop) {
  std::unique_lock lock(sleep_mu_);
  sleep_cv_.wait_for(lock, stop, d, [] { return false; });
  return !stop.stop_requested();
}

void LeaderElector::Observe(const json& spec) {
  if (spec == observed_spec_) return;
  const std::string before = S(observed_spec_, "holderIdentity");
  const std::string holder = S(spec, "holderIdentity");
  observed_spec_ = spec;
  observed_time_ = steady_clock::now();
  {
    absl::MutexLock lock(&mu_);
    leader_ = holder;
  }
  if (holder != before && options_.on_new_leader) options_.on_new_leader(holder);
}

LeaderElector::Attempt LeaderElector::TryAcquireOrRenew() {
  const std::string now = MicroTime(std::chrono::system_clock::now());
  const int64_t duration_seconds =
      (options_.lease_duration.count() + 999) / 1000;  // whole seconds, rounded up
  absl::StatusOr<json> lease =
      client_.Get(lease_resource_, options_.lease_namespace, options_.lease_name);
  if (!lease.ok()) {
    if (!absl::IsNotFound(lease.status())) {
      failed_attempts_.fetch_add(1);
      return Attempt::kFailed;
    }
    json fresh = {
        {"apiVersion", "coordination.k8s.io/v1"},
        {"kind", "Lease"},
        {"metadata", {{"name", options_.lease_name}, {"namespace", options_.lease_namespace}}},
        {"spec",
         {{"holderIdentity", options_.identity},
          {"leaseDurationSeconds", duration_seconds},
          {"acquireTime", now},
          {"renewTime", now},
          {"leaseTransitions", 0}}}};
    absl::StatusOr<json> created = client_.Create(lease_resource_, options_.lease_namespace, fresh);
    if (!created.ok()) {  // AlreadyExists: another candidate was first
      failed_attempts_.fetch_add(1);
      return Attempt::kFailed;
    }
    Observe(created->value("spec", json::object()));
    return Attempt::kAcquired;
  }
  json spec =
      lease->contains("spec") && (*lease)["spec"].is_object() ? (*lease)["spec"] : json::object();
  Observe(spec);
  const std::string holder = S(spec, "holderIdentity");
  if (!holder.empty() && holder != options_.identity &&
      steady_clock::now() <
          observed_time_ + std::chrono::seconds(I(spec, "leaseDurationSeconds"))) {
    return Attempt::kHeldByOther;
  }
  const int64_t transitions = I(spec, "leaseTransitions");
  if (holder == options_.identity) {
    if (S(spec, "acquireTime").empty()) spec["acquireTime"] = now;
    spec["leaseTransitions"] = transitions;
  } else {
    spec["acquireTime"] = now;
    spec["leaseTransitions"] = transitions + 1;
  }
  spec["holderIdentity"] = options_.identity;
  spec["leaseDurationSeconds"] = duration_seconds;
  spec["renewTime"] = now;
  (*lease)["spec"] = spec;
  // The update carries the resourceVersion read: a racing candidate gets 409 Conflict.
  absl::StatusOr<json> updated = client_.Update(lease_resource_, options_.lease_namespace, *lease);
  if (!updated.ok()) {
    failed_attempts_.fetch_add(1);
    return Attempt::kFailed;
  }
  Observe(updated->value("spec", json::object()));
  return Attempt::kAcquired;
}

void LeaderElector::Release() {
  absl::StatusOr<json> lease =
      client_.Get(lease_resource_, options_.lease_namespace, options_.lease_name);
  if (!lease.ok() || !lease->contains("spec") || !(*lease)["spec"].is_object()) return;
  json& spec = (*lease)["spec"];
  if (S(spec, "holderIdentity") != options_.identity) return;
  const std::string now = MicroTime(std::chrono::system_clock::now());
  spec["holderIdentity"] = "";
  spec["leaseDurationSeconds"] = 1;
  spec["acquireTime"] = now;
  spec["renewTime"] = now;
  absl::StatusOr<json> updated = client_.Update(lease_resource_, options_.lease_namespace, *lease);
  if (updated.ok()) Observe(updated->value("spec", json::object()));
}

void LeaderElector::Run(std::stop_token stop) {
  std::mt19937_64 rng{std::random_device{}()};
  const int64_t retry_ms = options_.retry_period.count();
  while (!stop.stop_requested()) {
    // Campaign: client-go's JitterUntil waits retry_period plus up to 1.2 times more.
    while (TryAcquireOrRenew() != Attempt::kAcquired) {
      const int64_t jitter = std::uniform_int_distribution<int64_t>(0, retry_ms * 12 / 10)(rng);
      if (!Sleep(std::chrono::milliseconds(retry_ms + jitter), stop)) return;
    }
    auto last_renew = steady_clock::now();
    {
      absl::MutexLock lock(&mu_);
      leading_ = true;
      renewed_at_ = last_renew;
    }
    if (options_.on_started_leading) options_.on_started_leading();
    while (Sleep(options_.retry_period, stop)) {
      const Attempt attempt = TryAcquireOrRenew();
      const auto now = steady_clock::now();
      if (attempt == Attempt::kAcquired) {
        last_renew = now;
        absl::MutexLock lock(&mu_);
        renewed_at_ = now;
        continue;
      }
      if (attempt == Attempt::kHeldByOther || now - last_renew >= options_.renew_deadline) break;
    }
    if (stop.stop_requested() && options_.release_on_stop) Release();
    {
      absl::MutexLock lock(&mu_);
      leading_ = false;
    }
    if (options_.on_stopped_leading) options_.on_stopped_leading();
  }
}

}  // namespace kobs::k8s
