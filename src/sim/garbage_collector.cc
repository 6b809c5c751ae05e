#include "sim/garbage_collector.h"

#include "common/absl_compat.h"
#include "common/log.h"
#include "k8s/api_status.h"
#include "sim/object_meta.h"

namespace kobs::sim {
namespace {

using nlohmann::json;

std::string Namespace(const json& obj) { return Str(obj, "metadata", "namespace"); }
std::string Name(const json& obj) { return Str(obj, "metadata", "name"); }

void LogFailure(const absl::Status& s, std::string_view what, const json& obj) {
  if (s.ok() || k8s::ApiReason(s) == "NotFound" || k8s::ApiReason(s) == "Conflict") return;
  Log(Logger("sim"), spdlog::level::warn, "garbage collector write failed",
      {{"action", what}, {"object", Name(obj)}, {"error", std::string(ToStd(s.message()))}});
}

}  // namespace

GarbageCollector::GarbageCollector(Api& api, PodLogs& logs,
                                   std::chrono::milliseconds sweep_interval)
    : api_(api), logs_(logs), sweep_interval_(sweep_interval) {}

GarbageCollector::~GarbageCollector() { Stop(); }

void GarbageCollector::Start() {
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void GarbageCollector::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void GarbageCollector::Run() {
  uint64_t rv = api_.store().resource_version();
  Sweep();
  auto last_sweep = std::chrono::steady_clock::now();
  while (!stop_ && !api_.store().closed()) {
    absl::StatusOr<ObjectStore::Batch> batch =
        api_.store().ChangesAfter(rv, "", std::chrono::milliseconds(200));
    if (!batch.ok()) {
      // Fell behind the history: a sweep finds everything that is due.
      rv = api_.store().resource_version();
      Sweep();
      continue;
    }
    for (const ChangePtr& c : batch->changes) {
      if (stop_) return;
      OnChange(*c);
    }
    rv = batch->rv;
    if (std::chrono::steady_clock::now() - last_sweep >= sweep_interval_) {
      Sweep();
      last_sweep = std::chrono::steady_clock::now();
    }
  }
}

std::shared_ptr<const ResourceType> GarbageCollector::TypeOfStorage(
    const std::string& storage) const {
  std::shared_ptr<const ResourceType> found;
  for (const auto& t : api_.registry().All()) {
    // Prefer the type that owns the storage (core Events over the events.k8s.io view).
    if (t->StorageKey() == storage && (found == nullptr || t->storage_of.empty())) found = t;
  }
  return found;
}

bool GarbageCollector::OwnerExists(const std::string& ns, const json& ref) const {
  auto type = api_.registry().FindKind(Str(ref, "apiVersion"), Str(ref, "kind"));
  if (type == nullptr) return false;
  absl::StatusOr<json> owner = api_.Get(*type, type->namespaced ? ns : "", Str(ref, "name"));
  return owner.ok() && Str(*owner, "metadata", "uid") == Str(ref, "uid");
}

void GarbageCollector::OnChange(const Change& c) {
  auto type = TypeOfStorage(c.storage);
  if (type == nullptr) return;
  if (c.type == Change::Type::kDeleted) {
    if (type->plural == "pods" && type->group.empty()) logs_.Remove(c.ns, c.name);
    const std::string uid = Str(c.object, "metadata", "uid");
    for (const ObjectStore::Key& k : api_.store().Dependents(c.ns, uid)) {
      auto dep_type = TypeOfStorage(k.storage);
      absl::StatusOr<json> dep = api_.store().Get(k.storage, k.ns, k.name);
      if (dep_type != nullptr && dep.ok()) CollectIfOrphaned(*dep_type, *dep);
    }
    // An owner waiting in the foreground for this dependent may now go.
    json refs = AtPath(c.object, ".metadata.ownerReferences");
    if (refs.is_array()) {
      for (const json& ref : refs) {
        auto owner_type = api_.registry().FindKind(Str(ref, "apiVersion"), Str(ref, "kind"));
        if (owner_type == nullptr) continue;
        absl::StatusOr<json> owner =
            api_.Get(*owner_type, owner_type->namespaced ? c.ns : "", Str(ref, "name"));
        if (owner.ok() && !Str(*owner, "metadata", "deletionTimestamp").empty()) {
          Finalize(*owner_type, *owner);
        }
      }
    }
    // The namespace of this object may be waiting to be emptied.
    if (!c.ns.empty()) {
      auto ns_type = api_.registry().Find("", "v1", "namespaces");
      absl::StatusOr<json> ns = api_.Get(*ns_type, "", c.ns);
      if (ns.ok() && !Str(*ns, "metadata", "deletionTimestamp").empty()) Finalize(*ns_type, *ns);
    }
    return;
  }
  if (!Str(c.object, "metadata", "deletionTimestamp").empty()) {
    Finalize(*type, api_.View(*type, c.object));
  }
}

void GarbageCollector::RemoveFinalizer(const ResourceType& type, const json& obj,
                                       const std::string& finalizer) {
  json patch = json::array();
  std::vector<std::string> finalizers = Finalizers(obj);
  for (size_t i = 0; i < finalizers.size(); ++i) {
    if (finalizers[i] != finalizer) continue;
    patch.push_back({{"op", "test"}, {"path", fmt::format("/metadata/finalizers/{}", i)},
                     {"value", finalizer}});
    patch.push_back({{"op", "remove"}, {"path", fmt::format("/metadata/finalizers/{}", i)}});
    break;
  }
  if (patch.empty()) return;
  absl::StatusOr<json> r =
      api_.Patch(type, Namespace(obj), Name(obj), k8s::PatchType::kJsonPatch, patch.dump());
  LogFailure(r.status(), "remove finalizer", obj);
}

void GarbageCollector::Finalize(const ResourceType& type, const json& obj) {
  const std::string ns = Namespace(obj), name = Name(obj), uid = Str(obj, "metadata", "uid");
  std::vector<std::string> finalizers = Finalizers(obj);
  auto has = [&](const char* f) {
    return std::find(finalizers.begin(), finalizers.end(), f) != finalizers.end();
  };
  if (has("orphan")) {
    for (const ObjectStore::Key& k : api_.store().Dependents(ns, uid)) {
      auto dep_type = TypeOfStorage(k.storage);
      if (dep_type == nullptr) continue;
      json patch = json::array();
      absl::StatusOr<json> dep = api_.store().Get(k.storage, k.ns, k.name);
      if (!dep.ok()) continue;
      json refs = AtPath(*dep, ".metadata.ownerReferences");
      for (size_t i = refs.is_array() ? refs.size() : 0; i-- > 0;) {
        if (Str(refs[i], "uid") != uid) continue;
        patch.push_back({{"op", "remove"}, {"path", fmt::format("/metadata/ownerReferences/{}", i)}});
      }
      if (patch.empty()) continue;
      LogFailure(api_.Patch(*dep_type, k.ns, k.name, k8s::PatchType::kJsonPatch, patch.dump())
                     .status(),
                 "orphan dependent", *dep);
    }
    RemoveFinalizer(type, obj, "orphan");
    return;
  }
  if (has("foregroundDeletion")) {
    std::vector<ObjectStore::Key> deps = api_.store().Dependents(ns, uid);
    if (deps.empty()) {
      RemoveFinalizer(type, obj, "foregroundDeletion");
      return;
    }
    for (const ObjectStore::Key& k : deps) {
      auto dep_type = TypeOfStorage(k.storage);
      if (dep_type == nullptr) continue;
      absl::StatusOr<json> dep = api_.store().Get(k.storage, k.ns, k.name);
      if (!dep.ok() || !Str(*dep, "metadata", "deletionTimestamp").empty()) continue;
      LogFailure(api_.Delete(*dep_type, k.ns, k.name, {.propagation_policy = "Foreground"})
                     .status(),
                 "delete dependent", *dep);
    }
    return;
  }
  if (type.group.empty() && type.plural == "namespaces") {
    std::vector<ObjectStore::Key> keys = api_.store().Keys(name);
    for (const ObjectStore::Key& k : keys) {
      auto obj_type = TypeOfStorage(k.storage);
      if (obj_type == nullptr) continue;
      absl::StatusOr<json> o = api_.store().Get(k.storage, k.ns, k.name);
      if (!o.ok() || !Str(*o, "metadata", "deletionTimestamp").empty()) continue;
      LogFailure(api_.Delete(*obj_type, k.ns, k.name).status(), "delete namespace content", *o);
    }
    if (api_.store().Keys(name).empty() && Finalizers(obj).empty()) {
      json patch = {{"spec", {{"finalizers", json::array()}}}};
      LogFailure(
          api_.Patch(type, "", name, k8s::PatchType::kMergePatch, patch.dump()).status(),
          "finalize namespace", obj);
    }
  }
}

void GarbageCollector::CollectIfOrphaned(const ResourceType& type, const json& obj) {
  json refs = AtPath(obj, ".metadata.ownerReferences");
  if (!refs.is_array() || refs.empty()) return;
  if (!Str(obj, "metadata", "deletionTimestamp").empty()) return;
  const std::string ns = Namespace(obj);
  json patch = json::array();
  size_t alive = 0;
  for (size_t i = refs.size(); i-- > 0;) {
    if (OwnerExists(ns, refs[i])) {
      ++alive;
    } else {
      patch.push_back({{"op", "remove"}, {"path", fmt::format("/metadata/ownerReferences/{}", i)}});
    }
  }
  if (alive == 0) {
    LogFailure(api_.Delete(type, ns, Name(obj)).status(), "delete orphan", obj);
  } else if (!patch.empty()) {
    LogFailure(api_.Patch(type, ns, Name(obj), k8s::PatchType::kJsonPatch, patch.dump()).status(),
               "drop dangling owner references", obj);
  }
}

void GarbageCollector::Sweep() {
  for (const auto& type : api_.registry().All()) {
    if (stop_) return;
    if (TypeOfStorage(type->StorageKey()) != type) continue;  // another view of a storage
    absl::StatusOr<ObjectStore::Snapshot> all = api_.store().List(type->StorageKey(), "");
    if (!all.ok()) continue;
    for (const json& stored : all->items) {
      json obj = api_.View(*type, stored);
      if (!Str(obj, "metadata", "deletionTimestamp").empty()) {
        Finalize(*type, obj);
      } else {
        CollectIfOrphaned(*type, obj);
      }
    }
  }
}

}  // namespace kobs::sim
