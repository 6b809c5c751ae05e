// Which application ("composition") an object belongs to: the value of a label
// (krateo.io/composition-id by default) on the object, or else on the first owner up its
// ownerReferences chain that has it (Pod -> ReplicaSet -> Deployment -> ... -> Composition),
// for built-in kinds and custom resources alike (the fetch function maps kinds through
// discovery).
//
// Answers are cached by uid: found ids for `positive_ttl`, "none" for `negative_ttl`, at most
// `max_entries` (the oldest go first). Transient failures (timeouts, unavailable, 5xx, rate
// limits) are returned as errors and not cached, so a later lookup tries again. NotFound
// means "none". Forbidden means "none" too, but it is counted and logged once per kind, since
// it means missing RBAC rather than a missing label. Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "k8s/objects.h"

namespace kobs {
class Counter;
class MetricsRegistry;
}  // namespace kobs

namespace kobs::k8s {
class Client;
}

namespace kobs::collect {

struct ResolverOptions {
  std::string label_key = "krateo.io/composition-id";
  std::chrono::milliseconds positive_ttl{std::chrono::minutes(5)};
  std::chrono::milliseconds negative_ttl{std::chrono::seconds(30)};
  size_t max_entries = 100000;
  int max_depth = 8;  // owners followed at most
};

class CompositionResolver {
 public:
  // Gets one object; errors as the client returns them (k8s/api_status.h reasons).
  using Fetch = std::function<absl::StatusOr<nlohmann::json>(
      const std::string& api_version, const std::string& kind, const std::string& ns,
      const std::string& name)>;
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  CompositionResolver(Fetch fetch, ResolverOptions options, MetricsRegistry& metrics,
                      Clock clock = std::chrono::steady_clock::now);

  // The composition id of the referenced object ("" when it has none). Fetches only what the
  // cache does not know.
  // `object`, when the caller has it, is used instead of fetching the referenced object.
  absl::StatusOr<std::string> Resolve(const k8s::ObjectReference& ref,
                                      const nlohmann::json* object = nullptr);
  // The cached answer, if fresh; never fetches.
  std::optional<std::string> Cached(const std::string& uid) const;

  size_t size() const;

 private:
  struct Entry {
    std::string id;
    std::chrono::steady_clock::time_point expires;
    std::list<std::string>::iterator order;
  };
  void Remember(const std::string& uid, const std::string& id) ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<std::string> Lookup(const std::string& uid) const ABSL_LOCKS_EXCLUDED(mu_);

  const Fetch fetch_;
  const ResolverOptions options_;
  const Clock clock_;
  Counter& lookups_;
  Counter& hits_;
  Counter& forbidden_;
  Counter& errors_;
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> cache_ ABSL_GUARDED_BY(mu_);
  std::list<std::string> order_ ABSL_GUARDED_BY(mu_);  // oldest first
  std::set<std::string> forbidden_kinds_ ABSL_GUARDED_BY(mu_);
};

// Fetches through the Kubernetes client: kinds are mapped by discovery (refreshed when a kind
// is unknown, so CRDs installed later work), cluster-scoped kinds ignore the namespace.
CompositionResolver::Fetch FetchWith(k8s::Client& client);

}  // namespace kobs::collect
