// The simulated API server's storage: objects by (storage key, namespace, name), a
// cluster-wide monotonic resourceVersion advanced by every write, and a bounded history of
// changes that watches replay from and that lists at an older resourceVersion are rebuilt
// from (`continue` tokens stay consistent). Optionally persisted in a directory: a snapshot
// plus an append-only journal of changes, so a restarted server resumes at the same
// resourceVersion with its history (watches resume across a restart without gaps).
// The store knows nothing of REST semantics; the API layer decides what a write means.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace kobs::sim {

struct Change {
  enum class Type { kAdded, kModified, kDeleted };
  uint64_t rv = 0;
  Type type = Type::kAdded;
  std::string storage;    // "apps/deployments"
  std::string ns;         // "" for cluster-scoped
  std::string name;
  nlohmann::json object;    // the new object (for kDeleted: the object as it was deleted)
  nlohmann::json previous;  // the object before (null for kAdded)
};
using ChangePtr = std::shared_ptr<const Change>;

struct StoreOptions {
  // Changes kept for watches and consistent lists; older resourceVersions get 410 Gone.
  size_t history = 10000;
  // Directory to persist to ("" keeps everything in memory).
  std::string dir;
  // The journal is folded into a new snapshot when it holds this many changes beyond the
  // retained history.
  size_t compact_after = 20000;
};

class ObjectStore {
 public:
  // Loads the state from options.dir when it holds one.
  static absl::StatusOr<std::unique_ptr<ObjectStore>> Open(StoreOptions options);
  ~ObjectStore();

  uint64_t resource_version() const;

  // The object, or NotFound.
  absl::StatusOr<nlohmann::json> Get(const std::string& storage, const std::string& ns,
                                     const std::string& name) const;

  struct Snapshot {
    uint64_t rv = 0;
    // Sorted by (namespace, name).
    std::vector<nlohmann::json> items;
  };
  // The objects of `storage` in `ns` ("" = every namespace) as they were at `rv` (0: now),
  // with keys after `after` (namespace + '\0' + name, exclusive) only. OutOfRange (410) when `rv` is
  // older than the retained history.
  absl::StatusOr<Snapshot> List(const std::string& storage, const std::string& ns,
                                uint64_t rv = 0, const std::string& after = "") const;

  // Writes one object atomically. `fn` gets the current object (null when absent) and
  // returns the object to store (its metadata.resourceVersion is set here), std::nullopt to
  // delete it, or an error to abort. Returns the change, or null when nothing changed (`fn`
  // returned the current object as it is, or deleted an absent one).
  using MutateFn = std::function<absl::StatusOr<std::optional<nlohmann::json>>(
      const nlohmann::json* current)>;
  absl::StatusOr<ChangePtr> Mutate(const std::string& storage, const std::string& ns,
                                   const std::string& name, const MutateFn& fn);

  struct Batch {
    std::vector<ChangePtr> changes;
    uint64_t rv = 0;  // every change up to this resourceVersion was considered
  };
  // The changes after `rv`, optionally restricted to `storage`, waiting up to `timeout` for
  // one to come. OutOfRange (410) when some changes after `rv` were already dropped; empty
  // on timeout or Close().
  absl::StatusOr<Batch> ChangesAfter(uint64_t rv, const std::string& storage,
                                     std::chrono::milliseconds timeout, size_t max = 1000) const;

  struct Key {
    std::string storage, ns, name;
  };
  // The objects (in `ns` or cluster-scoped) whose ownerReferences name `owner_uid`.
  std::vector<Key> Dependents(const std::string& ns, const std::string& owner_uid) const;
  // Every object in a namespace, for namespace deletion.
  std::vector<Key> Keys(const std::string& ns) const;
  bool closed() const;

  // Ends waits (ChangesAfter returns at once) and writes a final snapshot.
  void Close();

 private:
  explicit ObjectStore(StoreOptions options) : options_(std::move(options)) {}
  absl::Status Load();
  absl::Status AppendJournal(const Change& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WriteSnapshot() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Apply(const Change& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Remember(ChangePtr c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  using Objects = std::map<std::pair<std::string, std::string>, nlohmann::json>;

  const StoreOptions options_;
  mutable absl::Mutex mu_;
  uint64_t rv_ ABSL_GUARDED_BY(mu_) = 0;
  // Changes at or below this resourceVersion are gone from history.
  uint64_t compacted_rv_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, Objects> objects_ ABSL_GUARDED_BY(mu_);
  std::deque<ChangePtr> history_ ABSL_GUARDED_BY(mu_);
  std::FILE* journal_ ABSL_GUARDED_BY(mu_) = nullptr;
  size_t journal_entries_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace kobs::sim
