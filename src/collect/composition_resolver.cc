#include "collect/composition_resolver.h"

#include <fmt/format.h>

#include "common/absl_compat.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "k8s/api_status.h"
#include "k8s/client.h"

namespace kobs::collect {

using nlohmann::json;

CompositionResolver::CompositionResolver(Fetch fetch, ResolverOptions options,
                                         MetricsRegistry& metrics, Clock clock)
    : fetch_(std::move(fetch)),
      options_(std::move(options)),
      clock_(std::move(clock)),
      lookups_(metrics.GetCounter("kobs_composition_lookups_total",
                                  "Objects fetched to resolve composition ids.")),
      hits_(metrics.GetCounter("kobs_composition_cache_hits_total",
                               "Composition ids answered from the cache.")),
      forbidden_(metrics.GetCounter(
          "kobs_composition_forbidden_total",
          "Lookups refused by RBAC (the answer is taken as no composition).")),
      errors_(metrics.GetCounter("kobs_composition_errors_total",
                                 "Lookups that failed transiently (not cached).")) {}

size_t CompositionResolver::size() const {
  absl::MutexLock lock(&mu_);
  return cache_.size();
}

std::optional<std::string> CompositionResolver::Lookup(const std::string& uid) const {
  absl::MutexLock lock(&mu_);
  auto it = cache_.find(uid);
  if (it == cache_.end() || clock_() >= it->second.expires) return std::nullopt;
  return it->second.id;
}

std::optional<std::string> CompositionResolver::Cached(const std::string& uid) const {
  return Lookup(uid);
}

void CompositionResolver::Remember(const std::string& uid, const std::string& id) {
  if (uid.empty()) return;
  absl::MutexLock lock(&mu_);
  auto ttl = id.empty() ? options_.negative_ttl : options_.positive_ttl;
  auto it = cache_.find(uid);
  if (it != cache_.end()) {
    order_.erase(it->second.order);
    cache_.erase(it);
  }
  order_.push_back(uid);
  cache_[uid] = Entry{id, clock_() + ttl, std::prev(order_.end())};
  while (cache_.size() > options_.max_entries && !order_.empty()) {
    cache_.erase(order_.front());
    order_.pop_front();
  }
}

absl::StatusOr<std::string> CompositionResolver::Resolve(const k8s::ObjectReference& ref,
                                                         const json* object) {
  if (std::optional<std::string> hit = Lookup(ref.uid)) {
    hits_.Inc();
    return *hit;
  }
  // Walk up: the object, then its controller (or first) owner, and so on.
  std::vector<std::string> walked;  // uids seen, to cache the answer for each
  std::string api_version = ref.api_version, kind = ref.kind, name = ref.name;
  std::string uid = ref.uid;
  std::string id;
  for (int depth = 0; depth <= options_.max_depth; ++depth) {
    if (depth > 0) {
      if (std::optional<std::string> hit = Lookup(uid)) {
        id = *hit;
        break;
      }
    }
    absl::StatusOr<json> obj =
        depth == 0 && object != nullptr ? absl::StatusOr<json>(*object) : absl::StatusOr<json>(json());
    if (depth > 0 || object == nullptr) {
      lookups_.Inc();
      obj = fetch_(api_version, kind, ref.namespace_, name);
    }
    if (!obj.ok()) {
      const std::string reason = k8s::ApiReason(obj.status());
      if (reason == "NotFound" || obj.status().code() == absl::StatusCode::kNotFound) break;
      if (reason == "Forbidden" || obj.status().code() == absl::StatusCode::kPermissionDenied) {
        forbidden_.Inc();
        bool first = false;
        {
          absl::MutexLock lock(&mu_);
          first = forbidden_kinds_.insert(api_version + "/" + kind).second;
        }
        if (first) {
          Log(Logger("collect"), spdlog::level::warn,
              "reading objects for composition ids is forbidden; grant get on this kind",
              {{"apiVersion", api_version}, {"kind", kind},
               {"error", std::string(ToStd(obj.status().message()))}});
        }
        break;
      }
      errors_.Inc();
      return obj.status();
    }
    absl::StatusOr<k8s::ObjectMeta> meta = k8s::DecodeObjectMeta(*obj);
    if (!meta.ok()) break;
    // A uid that no longer matches (the name was reused) ends the walk: not this object.
    if (!uid.empty() && !meta->uid.empty() && meta->uid != uid) break;
    walked.push_back(meta->uid);
    auto label = meta->labels.find(options_.label_key);
    if (label != meta->labels.end() && !label->second.empty()) {
      id = label->second;
      break;
    }
    const k8s::OwnerReference* owner = meta->Controller();
    if (owner == nullptr && !meta->owner_references.empty()) owner = &meta->owner_references[0];
    if (owner == nullptr) break;
    api_version = owner->api_version;
    kind = owner->kind;
    name = owner->name;
    uid = owner->uid;
  }
  for (const std::string& u : walked) Remember(u, id);
  if (!ref.uid.empty() && (walked.empty() || walked.front() != ref.uid)) Remember(ref.uid, id);
  return id;
}

CompositionResolver::Fetch FetchWith(k8s::Client& client) {
  return [&client](const std::string& api_version, const std::string& kind, const std::string& ns,
                   const std::string& name) -> absl::StatusOr<json> {
    KOBS_ASSIGN_OR_RETURN(k8s::ResourceInfo info, client.Resource(api_version, kind));
    return client.Get(info, info.namespaced ? ns : "", name);
  };
}

}  // namespace kobs::collect
