#include "sim/object_store.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "common/absl_compat.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace kobs::sim {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kSnapshot = "snapshot.json";
constexpr const char* kJournal = "journal.jsonl";

const char* TypeName(Change::Type t) {
  switch (t) {
    case Change::Type::kAdded:
      return "ADDED";
    case Change::Type::kModified:
      return "MODIFIED";
    case Change::Type::kDeleted:
      return "DELETED";
  }
  return "";
}

json ToJson(const Change& c) {
  return {{"rv", c.rv},         {"type", TypeName(c.type)}, {"storage", c.storage},
          {"ns", c.ns},         {"name", c.name},           {"object", c.object},
          {"previous", c.previous}};
}

absl::StatusOr<Change> FromJson(const json& j) {
  if (!j.is_object() || !j.contains("rv") || !j["rv"].is_number_unsigned() ||
      !j.contains("type") || !j["type"].is_string() || !j.contains("storage") ||
      !j["storage"].is_string() || !j.contains("ns") || !j["ns"].is_string() ||
      !j.contains("name") || !j["name"].is_string() || !j.contains("object")) {
    return absl::DataLossError("malformed journal entry");
  }
  Change c;
  c.rv = j["rv"].get<uint64_t>();
  std::string type = j["type"].get<std::string>();
  c.type = type == "ADDED"      ? Change::Type::kAdded
           : type == "MODIFIED" ? Change::Type::kModified
                                : Change::Type::kDeleted;
  c.storage = j["storage"].get<std::string>();
  c.ns = j["ns"].get<std::string>();
  c.name = j["name"].get<std::string>();
  c.object = j["object"];
  if (j.contains("previous")) c.previous = j["previous"];
  return c;
}

// Orders like the (namespace, name) map keys: NUL sorts before every name character.
std::string ListKey(const std::string& ns, const std::string& name) {
  return ns + std::string(1, '\0') + name;
}

bool OwnedBy(const json& obj, const std::string& uid) {
  auto meta = obj.find("metadata");
  if (meta == obj.end() || !meta->is_object()) return false;
  auto refs = meta->find("ownerReferences");
  if (refs == meta->end() || !refs->is_array()) return false;
  for (const json& r : *refs) {
    if (r.is_object() && r.contains("uid") && r["uid"] == uid) return true;
  }
  return false;
}

absl::Status WriteFileAtomically(const fs::path& path, const std::string& data) {
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << data;
    out.flush();
    if (!out) return absl::InternalError(fmt::format("writing {} failed", tmp.string()));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return absl::InternalError(fmt::format("rename {}: {}", path.string(), ec.message()));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ObjectStore>> ObjectStore::Open(StoreOptions options) {
  if (options.history < 1) return absl::InvalidArgumentError("history must be at least 1");
  std::unique_ptr<ObjectStore> store(new ObjectStore(std::move(options)));
  if (!store->options_.dir.empty()) KOBS_RETURN_IF_ERROR(store->Load());
  return store;
}

ObjectStore::~ObjectStore() {
  Close();
  absl::MutexLock lock(&mu_);
  if (journal_ != nullptr) std::fclose(journal_);
}

absl::Status ObjectStore::Load() {
  absl::MutexLock lock(&mu_);
  fs::path dir = options_.dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(fmt::format("state dir {}: {}", dir.string(), ec.message()));
  if (fs::exists(dir / kSnapshot)) {
    std::ifstream in(dir / kSnapshot, std::ios::binary);
    json snap = json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!snap.is_object() || !snap.contains("rv") || !snap["rv"].is_number_unsigned() ||
        !snap.contains("objects") || !snap["objects"].is_array()) {
      return absl::DataLossError(fmt::format("{} is not a kobs sim snapshot",
                                             (dir / kSnapshot).string()));
    }
    rv_ = snap["rv"].get<uint64_t>();
    if (snap.contains("compacted_rv") && snap["compacted_rv"].is_number_unsigned()) {
      compacted_rv_ = snap["compacted_rv"].get<uint64_t>();
    }
    for (const json& o : snap["objects"]) {
      if (!o.is_object() || !o.contains("storage") || !o["storage"].is_string() ||
          !o.contains("ns") || !o["ns"].is_string() || !o.contains("name") ||
          !o["name"].is_string() || !o.contains("object")) {
        return absl::DataLossError("snapshot: malformed object entry");
      }
      objects_[o["storage"].get<std::string>()][{o["ns"].get<std::string>(),
                                                 o["name"].get<std::string>()}] = o["object"];
    }
  }
  fs::path journal_path = dir / kJournal;
  uint64_t good_bytes = 0;
  if (fs::exists(journal_path)) {
    std::ifstream in(journal_path, std::ios::binary);
    std::string line;
    const uint64_t snapshot_rv = rv_;
    while (std::getline(in, line)) {
      if (in.eof()) break;  // no newline: a torn last write
      json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
      absl::StatusOr<Change> c = FromJson(j);
      if (!c.ok()) break;
      good_bytes += line.size() + 1;
      auto change = std::make_shared<const Change>(*std::move(c));
      if (change->rv > snapshot_rv) {
        Apply(*change);
        rv_ = change->rv;
      }
      if (change->rv > compacted_rv_) Remember(change);
      ++journal_entries_;
    }
    if (good_bytes != fs::file_size(journal_path)) {
      Log(Logger("sim"), spdlog::level::warn, "journal has a torn tail; dropping it",
          {{"path", journal_path.string()}});
      fs::resize_file(journal_path, good_bytes);
    }
  }
  if (!history_.empty()) compacted_rv_ = std::max(compacted_rv_, history_.front()->rv - 1);
  else compacted_rv_ = rv_;
  journal_ = std::fopen(journal_path.c_str(), "ab");
  if (journal_ == nullptr) {
    return absl::InternalError(fmt::format("open {}: {}", journal_path.string(), strerror(errno)));
  }
  return absl::OkStatus();
}

uint64_t ObjectStore::resource_version() const {
  absl::MutexLock lock(&mu_);
  return rv_;
}

absl::StatusOr<json> ObjectStore::Get(const std::string& storage, const std::string& ns,
                                      const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto s = objects_.find(storage);
  if (s != objects_.end()) {
    auto it = s->second.find({ns, name});
    if (it != s->second.end()) return it->second;
  }
  return absl::NotFoundError(name);
}

absl::StatusOr<ObjectStore::Snapshot> ObjectStore::List(const std::string& storage,
                                                        const std::string& ns, uint64_t rv,
                                                        const std::string& after) const {
  absl::MutexLock lock(&mu_);
  Snapshot snap;
  if (rv == 0 || rv >= rv_) {
    snap.rv = rv_;
    rv = rv_;
  } else if (rv < compacted_rv_) {
    return absl::OutOfRangeError(
        fmt::format("too old resource version: {} ({})", rv, compacted_rv_ + 1));
  } else {
    snap.rv = rv;
  }
  Objects view;
  auto s = objects_.find(storage);
  auto in_scope = [&](const std::pair<std::string, std::string>& k) {
    return (ns.empty() || k.first == ns) && (after.empty() || ListKey(k.first, k.second) > after);
  };
  if (s != objects_.end()) {
    for (const auto& [k, obj] : s->second) {
      if (in_scope(k)) view.emplace(k, obj);
    }
  }
  if (rv < rv_) {
    // Undo the changes after `rv`, newest first.
    for (auto it = history_.rbegin(); it != history_.rend() && (*it)->rv > rv; ++it) {
      const Change& c = **it;
      std::pair<std::string, std::string> k{c.ns, c.name};
      if (c.storage != storage || !in_scope(k)) continue;
      if (c.type == Change::Type::kAdded) {
        view.erase(k);
      } else {
        view[k] = c.previous;
      }
    }
  }
  snap.items.reserve(view.size());
  for (auto& [_, obj] : view) snap.items.push_back(std::move(obj));
  return snap;
}

absl::StatusOr<ChangePtr> ObjectStore::Mutate(const std::string& storage, const std::string& ns,
                                              const std::string& name, const MutateFn& fn) {
  absl::MutexLock lock(&mu_);
  if (closed_) return absl::UnavailableError("the store is closed");
  Objects& objects = objects_[storage];
  auto it = objects.find({ns, name});
  const json* current = it == objects.end() ? nullptr : &it->second;
  KOBS_ASSIGN_OR_RETURN(std::optional<json> next, fn(current));
  if (!next.has_value() && current == nullptr) return ChangePtr();
  if (next.has_value() && current != nullptr && *next == *current) return ChangePtr();
  auto c = std::make_shared<Change>();
  c->rv = rv_ + 1;
  c->storage = storage;
  c->ns = ns;
  c->name = name;
  if (next.has_value()) {
    c->type = current == nullptr ? Change::Type::kAdded : Change::Type::kModified;
    c->object = *std::move(next);
    if (current != nullptr) c->previous = *current;
  } else {
    c->type = Change::Type::kDeleted;
    c->object = *current;
    c->previous = *current;
  }
  if (!c->object.is_object()) return absl::InternalError("stored objects must be JSON objects");
  c->object["metadata"]["resourceVersion"] = std::to_string(c->rv);
  KOBS_RETURN_IF_ERROR(AppendJournal(*c));
  rv_ = c->rv;
  Apply(*c);
  Remember(c);
  if (journal_ != nullptr && journal_entries_ > options_.history + options_.compact_after) {
    if (absl::Status s = WriteSnapshot(); !s.ok()) {
      Log(Logger("sim"), spdlog::level::err, "snapshot failed",
          {{"error", std::string(ToStd(s.message()))}});
    }
  }
  return ChangePtr(std::move(c));
}

absl::Status ObjectStore::AppendJournal(const Change& c) {
  if (journal_ == nullptr) return absl::OkStatus();
  std::string line = ToJson(c).dump(-1, ' ', false, json::error_handler_t::replace);
  line.push_back('\n');
  if (std::fwrite(line.data(), 1, line.size(), journal_) != line.size() ||
      std::fflush(journal_) != 0) {
    return absl::InternalError(fmt::format("journal write failed: {}", strerror(errno)));
  }
  ++journal_entries_;
  return absl::OkStatus();
}

void ObjectStore::Apply(const Change& c) {
  if (c.type == Change::Type::kDeleted) {
    auto s = objects_.find(c.storage);
    if (s != objects_.end()) s->second.erase({c.ns, c.name});
  } else {
    objects_[c.storage][{c.ns, c.name}] = c.object;
  }
}

void ObjectStore::Remember(ChangePtr c) {
  history_.push_back(std::move(c));
  while (history_.size() > options_.history) {
    compacted_rv_ = history_.front()->rv;
    history_.pop_front();
  }
}

absl::Status ObjectStore::WriteSnapshot() {
  fs::path dir = options_.dir;
  json objects = json::array();
  for (const auto& [storage, objs] : objects_) {
    for (const auto& [k, obj] : objs) {
      objects.push_back({{"storage", storage}, {"ns", k.first}, {"name", k.second},
                         {"object", obj}});
    }
  }
  json snap = {{"rv", rv_}, {"compacted_rv", compacted_rv_}, {"objects", std::move(objects)}};
  KOBS_RETURN_IF_ERROR(WriteFileAtomically(
      dir / kSnapshot, snap.dump(-1, ' ', false, json::error_handler_t::replace)));
  // The journal keeps only the retained history (already folded into the snapshot).
  std::string journal;
  for (const ChangePtr& c : history_) {
    journal += ToJson(*c).dump(-1, ' ', false, json::error_handler_t::replace);
    journal.push_back('\n');
  }
  std::fclose(journal_);
  journal_ = nullptr;
  absl::Status s = WriteFileAtomically(dir / kJournal, journal);
  journal_ = std::fopen((dir / kJournal).c_str(), "ab");
  journal_entries_ = history_.size();
  if (journal_ == nullptr) return absl::InternalError("reopening the journal failed");
  return s;
}

absl::StatusOr<ObjectStore::Batch> ObjectStore::ChangesAfter(uint64_t rv,
                                                             const std::string& storage,
                                                             std::chrono::milliseconds timeout,
                                                             size_t max) const {
  absl::MutexLock lock(&mu_);
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return closed_ || rv_ > rv; };
  mu_.AwaitWithTimeout(absl::Condition(&ready), absl::FromChrono(timeout));
  if (rv < compacted_rv_) {
    return absl::OutOfRangeError(
        fmt::format("too old resource version: {} ({})", rv, compacted_rv_ + 1));
  }
  Batch out;
  out.rv = std::max(rv, rv_);
  auto it = std::upper_bound(history_.begin(), history_.end(), rv,
                             [](uint64_t v, const ChangePtr& c) { return v < c->rv; });
  for (; it != history_.end(); ++it) {
    if (out.changes.size() == max) {
      out.rv = out.changes.back()->rv;
      break;
    }
    if (storage.empty() || (*it)->storage == storage) out.changes.push_back(*it);
  }
  return out;
}

bool ObjectStore::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

std::vector<ObjectStore::Key> ObjectStore::Dependents(const std::string& ns,
                                                      const std::string& uid) const {
  absl::MutexLock lock(&mu_);
  std::vector<Key> out;
  for (const auto& [storage, objs] : objects_) {
    for (const auto& [k, obj] : objs) {
      if ((k.first == ns || k.first.empty()) && OwnedBy(obj, uid)) {
        out.push_back({storage, k.first, k.second});
      }
    }
  }
  return out;
}

std::vector<ObjectStore::Key> ObjectStore::Keys(const std::string& ns) const {
  absl::MutexLock lock(&mu_);
  std::vector<Key> out;
  for (const auto& [storage, objs] : objects_) {
    for (const auto& [k, obj] : objs) {
      if (k.first == ns) out.push_back({storage, k.first, k.second});
    }
  }
  return out;
}

void ObjectStore::Close() {
  absl::MutexLock lock(&mu_);
  if (closed_) return;
  closed_ = true;
  if (journal_ != nullptr) {
    if (absl::Status s = WriteSnapshot(); !s.ok()) {
      Log(Logger("sim"), spdlog::level::err, "final snapshot failed",
          {{"error", std::string(ToStd(s.message()))}});
    }
  }
}

}  // namespace kobs::sim
