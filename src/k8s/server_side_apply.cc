// Server-side apply and update bookkeeping over metadata.managedFields (FieldsV1). Field sets
// are sets of paths of FieldsV1 tokens ("f:spec", "k:{\"name\":\"web\"}", "v:\"x\""); a set
// holds leaves and merge-key list elements, as the API server's sets do.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "common/status_macros.h"
#include "k8s/patch.h"
#include "k8s/patch_internal.h"

namespace kobs::k8s {
namespace {

using nlohmann::json;
using patch_internal::ListKind;
using patch_internal::ListType;
using patch_internal::Short;
using FieldPath = std::vector<std::string>;
using FieldSet = std::set<FieldPath>;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Lists follow the strategic table for built-in kinds and are atomic for everything else.
struct Schema {
  std::string kind;
  bool built_in = false;
  ListType ListAt(const std::vector<std::string>& names) const {
    return built_in ? patch_internal::ListTypeFor(kind, names) : ListType{};
  }
};

// Identity and server-maintained fields that nobody owns.
bool Excluded(const FieldPath& parent, const std::string& key) {
  constexpr std::string_view kMetadata[] = {"name",
                                            "namespace",
                                            "uid",
                                            "resourceVersion",
                                            "generation",
                                            "selfLink",
                                            "creationTimestamp",
                                            "managedFields",
                                            "deletionTimestamp",
                                            "deletionGracePeriodSeconds"};
  if (parent.empty()) return key == "apiVersion" || key == "kind";
  return parent.size() == 1 && parent[0] == "f:metadata" &&
         std::find(std::begin(kMetadata), std::end(kMetadata), key) != std::end(kMetadata);
}

std::vector<std::string> NamesOf(const FieldPath& path) {
  std::vector<std::string> names;
  for (const std::string& token : path) {
    if (token.rfind("f:", 0) == 0) names.push_back(token.substr(2));
  }
  return names;
}

// Adds the fields `value` sets at `path` to `out`.
void Collect(const Schema& schema, const json& value, FieldPath& path,
             std::vector<std::string>& names, FieldSet& out) {
  if (value.is_object()) {
    if (value.empty() && !path.empty()) out.insert(path);
    for (const auto& [key, child] : value.items()) {
      if (Excluded(path, key)) continue;
      path.push_back("f:" + key);
      names.push_back(key);
      Collect(schema, child, path, names, out);
      names.pop_back();
      path.pop_back();
    }
    return;
  }
  if (!value.is_array() || value.empty()) {
    out.insert(path);
    return;
  }
  const ListType type = schema.ListAt(names);
  const std::string key(type.key);
  const bool granular = std::all_of(value.begin(), value.end(), [&](const json& e) {
    return type.kind == ListKind::kSet
               ? !e.is_object() && !e.is_array()
               : type.kind == ListKind::kMap && e.is_object() && e.contains(key);
  });
  if (!granular) {
    out.insert(path);
    return;
  }
  for (const json& e : value) {
    if (type.kind == ListKind::kSet) {
      path.push_back("v:" + Dump(e));
      out.insert(path);
    } else {
      path.push_back("k:" + Dump(json{{key, e[key]}}));
      out.insert(path);
      Collect(schema, e, path, names, out);
    }
    path.pop_back();
  }
}

FieldSet FieldsOf(const Schema& schema, const json& object) {
  FieldSet out;
  FieldPath path;
  std::vector<std::string> names;
  Collect(schema, object, path, names, out);
  out.erase(FieldPath{});
  return out;
}

// Resolves FieldsV1 paths in a document that must not change while the locator is in use.
// List elements are found through an index built on first use, so a lookup is logarithmic
// and tracking a list of n elements costs O(n log n), not O(n^2).
class Locator {
 public:
  explicit Locator(const json& doc) : doc_(doc) {}

  // The value at the first `count` tokens of `path`, or nullptr.
  const json* Find(const FieldPath& path, size_t count) {
    const json* node = &doc_;
    for (size_t i = 0; i < count && node != nullptr; ++i) {
      const std::string& token = path[i];
      if (token.rfind("f:", 0) == 0) {
        auto it = node->is_object() ? node->find(token.substr(2)) : node->end();
        node = it == node->end() ? nullptr : &*it;
      } else {
        std::optional<size_t> index = Element(*node, token);
        node = index ? &(*node)[*index] : nullptr;
      }
    }
    return node;
  }
  const json* Find(const FieldPath& path) { return Find(path, path.size()); }

  // The position in `array` (inside the document) of the element a list token names.
  std::optional<size_t> Element(const json& array, const std::string& token) {
    if (!array.is_array() || token.size() < 2 || token[1] != ':') return std::nullopt;
    if (token[0] == 'i') {
      const std::string digits = token.substr(2);
      if (digits.empty() || digits.size() > 9 ||
          !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
      }
      const size_t i = std::stoul(digits);
      return i < array.size() ? std::optional<size_t>(i) : std::nullopt;
    }
    if (token[0] != 'k' && token[0] != 'v') return std::nullopt;
    const json wanted = json::parse(token.substr(2), nullptr, false);
    if (wanted.is_discarded()) return std::nullopt;
    if (token[0] == 'k' && (!wanted.is_object() || wanted.empty())) return std::nullopt;
    if (token[0] == 'k' && wanted.size() > 1) return Scan(array, wanted);
    // Index whole elements for "v:", or the values of the one key field for "k:".
    const std::string field = token[0] == 'k' ? wanted.begin().key() : std::string();
    auto [index, fresh] = index_.try_emplace({&array, token.substr(0, 1) + field});
    if (fresh) {
      for (size_t i = 0; i < array.size(); ++i) {
        const json& e = array[i];
        if (token[0] == 'v') {
          index->second.emplace(e, i);
        } else if (auto it = e.is_object() ? e.find(field) : e.end(); it != e.end()) {
          index->second.emplace(*it, i);
        }
      }
    }
    auto found = index->second.find(token[0] == 'k' ? wanted.begin().value() : wanted);
    return found == index->second.end() ? std::nullopt : std::optional<size_t>(found->second);
  }

 private:
  // Elements with several key fields (written by another implementation) are searched.
  static std::optional<size_t> Scan(const json& array, const json& key) {
    for (size_t i = 0; i < array.size(); ++i) {
      const json& e = array[i];
      bool match = e.is_object();
      for (auto it = key.begin(); match && it != key.end(); ++it) {
        auto field = e.find(it.key());
        match = field != e.end() && *field == it.value();
      }
      if (match) return i;
    }
    return std::nullopt;
  }

  const json& doc_;
  std::map<std::pair<const json*, std::string>, std::map<json, size_t>> index_;
};

// Removes the fields at `paths` from `doc`. Everything is located first; then containers
// change deepest first, so none has moved (by an erase in its parent array) when its turn comes.
void RemoveAll(json& doc, const std::vector<FieldPath>& paths) {
  struct Removals {
    size_t depth = 0;
    std::set<std::string> keys;
    std::set<size_t> indices;
  };
  std::map<json*, Removals> by_container;
  Locator locator(doc);
  for (const FieldPath& path : paths) {
    if (path.empty()) continue;
    json* container = const_cast<json*>(locator.Find(path, path.size() - 1));
    if (container == nullptr) continue;
    Removals& r = by_container[container];
    r.depth = path.size();
    const std::string& last = path.back();
    if (last.rfind("f:", 0) == 0) {
      if (container->is_object()) r.keys.insert(last.substr(2));
    } else if (std::optional<size_t> index = locator.Element(*container, last)) {
      r.indices.insert(*index);
    }
  }
  std::vector<std::pair<json*, Removals*>> order;
  for (auto& [container, r] : by_container) order.emplace_back(container, &r);
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.second->depth > b.second->depth; });
  for (auto& [container, r] : order) {
    for (const std::string& key : r->keys) container->erase(key);
    if (r->indices.empty()) continue;
    json kept = json::array();
    for (size_t i = 0; i < container->size(); ++i) {
      if (r->indices.count(i) == 0) kept.push_back(std::move((*container)[i]));
    }
    *container = std::move(kept);
  }
}

// Whether `set` holds `path` or a path under it.
bool Covers(const FieldSet& set, const FieldPath& path) {
  auto it = set.lower_bound(path);
  return it != set.end() && it->size() >= path.size() &&
         std::equal(path.begin(), path.end(), it->begin());
}

// ".spec.containers[name=\"web\"].image", as the API server prints paths.
std::string PathString(const FieldPath& path) {
  std::string out;
  for (const std::string& token : path) {
    const std::string rest = token.substr(std::min<size_t>(2, token.size()));
    if (token.rfind("f:", 0) == 0) {
      out += "." + rest;
    } else if (token.rfind("k:", 0) == 0) {
      const json key = json::parse(rest, nullptr, false);
      std::string fields;
      if (key.is_object()) {
        for (const auto& [k, v] : key.items()) {
          fields += (fields.empty() ? "" : ",") + k + "=" + Short(v);
        }
      }
      out += "[" + fields + "]";
    } else if (token.rfind("v:", 0) == 0) {
      out += "[=" + rest + "]";
    } else {
      out += "[" + rest + "]";
    }
  }
  return out;
}

json ToFieldsV1(const FieldSet& set) {
  json root = json::object();
  for (const FieldPath& path : set) {
    json* node = &root;
    for (const std::string& token : path) node = &(*node)[token];
    if (node->is_null()) *node = json::object();
  }
  for (const FieldPath& path : set) {
    json* node = &root;
    for (const std::string& token : path) node = &(*node)[token];
    if (!node->empty() && !node->contains(".")) (*node)["."] = json::object();
  }
  return root;
}

bool FromFieldsV1(const json& fields, FieldPath& prefix, FieldSet& out) {
  if (!fields.is_object()) return false;
  for (const auto& [token, child] : fields.items()) {
    if (token == ".") {
      if (!prefix.empty()) out.insert(prefix);
      continue;
    }
    if (token.size() < 2 || token[1] != ':' ||
        std::string_view("fkvi").find(token[0]) == std::string_view::npos) {
      return false;
    }
    if (!child.is_object()) return false;
    prefix.push_back(token);
    if (child.empty()) {
      out.insert(prefix);
    } else if (!FromFieldsV1(child, prefix, out)) {
      return false;
    }
    prefix.pop_back();
  }
  return true;
}

struct Entry {
  json raw;  // written back as is when the entry is malformed or unchanged
  bool valid = false;
  bool changed = false;
  std::string manager, operation, api_version, subresource;
  FieldSet fields;
};

std::string StringAt(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<Entry> ReadEntries(const json& object) {
  std::vector<Entry> entries;
  if (!object.is_object() || !object.contains("metadata")) return entries;
  const json& metadata = object["metadata"];
  if (!metadata.is_object() || !metadata.contains("managedFields")) return entries;
  const json& list = metadata["managedFields"];
  if (!list.is_array()) return entries;
  for (const json& raw : list) {
    Entry e{.raw = raw};
    if (raw.is_object()) {
      e.manager = StringAt(raw, "manager");
      e.operation = StringAt(raw, "operation");
      e.api_version = StringAt(raw, "apiVersion");
      e.subresource = StringAt(raw, "subresource");
      FieldPath prefix;
      e.valid = !e.manager.empty() && !e.operation.empty() &&
                StringAt(raw, "fieldsType") == "FieldsV1" && raw.contains("fieldsV1") &&
                FromFieldsV1(raw["fieldsV1"], prefix, e.fields);
      if (!e.valid) e.fields.clear();
    }
    entries.push_back(std::move(e));
  }
  return entries;
}

// The index of `manager`'s entry for `operation`. Duplicates (which the API server does not
// produce) are folded into the first one and emptied, so they are not written back.
std::optional<size_t> FindEntry(std::vector<Entry>& entries, std::string_view manager,
                                std::string_view operation) {
  std::optional<size_t> found;
  for (size_t i = 0; i < entries.size(); ++i) {
    Entry& e = entries[i];
    if (!e.valid || e.manager != manager || e.operation != operation) continue;
    if (!found) {
      found = i;
      continue;
    }
    entries[*found].fields.insert(e.fields.begin(), e.fields.end());
    entries[*found].changed = true;
    e.fields.clear();
  }
  return found;
}

json NewEntry(const std::string& manager, const char* operation, const json& object,
              std::string_view now, const FieldSet& fields) {
  json e = {{"manager", manager},
            {"operation", operation},
            {"apiVersion", StringAt(object, "apiVersion")},
            {"fieldsType", "FieldsV1"},
            {"fieldsV1", ToFieldsV1(fields)}};
  if (!now.empty()) e["time"] = now;
  return e;
}

absl::Status WriteEntries(json& object, const std::vector<Entry>& entries) {
  json list = json::array();
  for (const Entry& e : entries) {
    if (!e.valid) {
      list.push_back(e.raw);
    } else if (!e.fields.empty()) {
      list.push_back(e.raw);
      if (e.changed) list.back()["fieldsV1"] = ToFieldsV1(e.fields);
    }
  }
  auto metadata = object.find("metadata");
  if (metadata == object.end() || metadata->is_null()) {
    if (list.empty()) return absl::OkStatus();
    metadata = object.emplace("metadata", json::object()).first;
  }
  if (!metadata->is_object()) return absl::InvalidArgumentError("metadata must be an object");
  if (list.empty()) {
    metadata->erase("managedFields");
  } else {
    (*metadata)["managedFields"] = std::move(list);
  }
  return absl::OkStatus();
}

// `applied` without nulls; InvalidArgument for patch directives.
absl::StatusOr<json> StripNulls(const json& value, const std::string& where) {
  if (value.is_array()) {
    json out = json::array();
    for (size_t i = 0; i < value.size(); ++i) {
      KOBS_ASSIGN_OR_RETURN(json e, StripNulls(value[i], fmt::format("{}[{}]", where, i)));
      out.push_back(std::move(e));
    }
    return out;
  }
  if (!value.is_object()) return value;
  json out = json::object();
  for (const auto& [key, child] : value.items()) {
    if (!key.empty() && key[0] == '$') {
      return absl::InvalidArgumentError(fmt::format(
          "server-side apply: directive \"{}\" at {} is not allowed in an applied configuration",
          key, where.empty() ? "." : where));
    }
    if (child.is_null()) continue;
    KOBS_ASSIGN_OR_RETURN(out[key], StripNulls(child, where + "." + key));
  }
  return out;
}

absl::Status Prefixed(const absl::Status& s) {
  return absl::Status(s.code(), fmt::format("server-side apply: {}", std::string(s.message())));
}

std::string ConflictMessage(const std::vector<Entry>& entries,
                            const std::map<size_t, std::vector<FieldPath>>& conflicts) {
  size_t total = 0;
  for (const auto& [i, paths] : conflicts) total += paths.size();
  std::string out = fmt::format("Apply failed with {} conflict{}: ", total, total == 1 ? "" : "s");
  bool first = true;
  for (const auto& [i, paths] : conflicts) {
    const Entry& e = entries[i];
    if (!first) out += "\n";
    first = false;
    out += fmt::format("conflict{} with \"{}\"", paths.size() == 1 ? "" : "s", e.manager);
    if (!e.subresource.empty()) out += fmt::format(" with subresource \"{}\"", e.subresource);
    if (!e.api_version.empty()) out += " using " + e.api_version;
    if (total == 1) {
      out += ": " + PathString(paths[0]);
    } else {
      out += ":";
      for (const FieldPath& p : paths) out += "\n- " + PathString(p);
    }
  }
  return out;
}

absl::StatusOr<json> Apply(const json& live, const json& applied, const ApplyOptions& options) {
  if (options.manager.empty()) {
    return absl::InvalidArgumentError("server-side apply needs a field manager");
  }
  KOBS_RETURN_IF_ERROR(patch_internal::CheckDepth(live, "server-side apply: the live object"));
  KOBS_RETURN_IF_ERROR(patch_internal::CheckDepth(applied, "server-side apply: the configuration"));
  if (!applied.is_object()) {
    return absl::InvalidArgumentError(fmt::format(
        "server-side apply: the configuration must be an object, got a {}", applied.type_name()));
  }
  if (!live.is_null() && !live.is_object()) {
    return absl::InvalidArgumentError("server-side apply: the live object must be an object");
  }
  const std::string api_version = StringAt(applied, "apiVersion");
  const std::string kind = StringAt(applied, "kind");
  if (api_version.empty() || kind.empty()) {
    return absl::InvalidArgumentError(
        "server-side apply: the configuration must set apiVersion and kind");
  }
  for (const char* field : {"apiVersion", "kind"}) {
    const std::string have = StringAt(live, field);
    const std::string want = StringAt(applied, field);
    if (live.is_object() && !have.empty() && have != want) {
      return absl::InvalidArgumentError(fmt::format(
          "server-side apply: the configuration has {} \"{}\" but the object has \"{}\"", field,
          want, have));
    }
  }
  if (applied.contains("metadata")) {
    const json& metadata = applied["metadata"];
    if (!metadata.is_object() && !metadata.is_null()) {
      return absl::InvalidArgumentError("server-side apply: metadata must be an object");
    }
    if (metadata.is_object() && metadata.contains("managedFields") &&
        !metadata["managedFields"].is_null()) {
      return absl::InvalidArgumentError(
          "server-side apply: metadata.managedFields must not be set in an applied configuration");
    }
  }
  KOBS_ASSIGN_OR_RETURN(const json intent, StripNulls(applied, ""));
  const Schema schema{kind, SupportsStrategicMerge(api_version, kind)};

  const json base = live.is_null() ? json::object() : live;
  absl::StatusOr<json> merged =
      schema.built_in ? ApplyStrategicMergePatch(base, intent) : ApplyMergePatch(base, intent);
  if (!merged.ok()) return Prefixed(merged.status());
  json result = *std::move(merged);

  const FieldSet applied_set = FieldsOf(schema, intent);
  std::vector<Entry> entries = ReadEntries(live);
  const std::optional<size_t> mine = FindEntry(entries, options.manager, "Apply");

  // Conflicts: leaves this configuration sets to a value other than the one another manager
  // owns. Maps and merged lists only say that the field exists, so they never conflict.
  std::map<size_t, std::vector<FieldPath>> conflicts;
  Locator in_intent(intent), in_live(live);
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (!e.valid || e.manager == options.manager) continue;
    for (const FieldPath& p : e.fields) {
      if (applied_set.count(p) == 0 || p.back().rfind("k:", 0) == 0) continue;
      const json* want = in_intent.Find(p);
      const json* have = in_live.Find(p);
      if (want == nullptr || have == nullptr || want->is_object()) continue;
      if (want->is_array() && schema.ListAt(NamesOf(p)).kind != ListKind::kAtomic) continue;
      if (*want != *have) conflicts[i].push_back(p);
    }
  }
  if (!conflicts.empty() && !options.force) {
    return absl::AbortedError(ConflictMessage(entries, conflicts));
  }
  for (const auto& [i, paths] : conflicts) {
    for (const FieldPath& p : paths) entries[i].fields.erase(p);
    entries[i].changed = true;
  }

  // Fields this manager applied before and no longer does go, unless someone else has them.
  if (mine) {
    std::vector<FieldPath> dropped;
    for (const FieldPath& p : entries[*mine].fields) {
      if (Covers(applied_set, p)) continue;
      bool owned = false;
      for (size_t i = 0; i < entries.size() && !owned; ++i) {
        owned = i != *mine && entries[i].valid && Covers(entries[i].fields, p);
      }
      if (!owned) dropped.push_back(p);
    }
    RemoveAll(result, dropped);
  }

  Entry entry{.raw = NewEntry(options.manager, "Apply", applied, options.now, applied_set),
              .valid = true,
              .fields = applied_set};
  if (mine) {
    entries[*mine] = std::move(entry);
  } else {
    entries.push_back(std::move(entry));
  }
  KOBS_RETURN_IF_ERROR(WriteEntries(result, entries));
  return result;
}

absl::StatusOr<json> Update(const json& old_object, const json& new_object,
                            std::string_view manager, std::string_view now) {
  if (manager.empty()) return absl::InvalidArgumentError("update: a field manager is required");
  KOBS_RETURN_IF_ERROR(patch_internal::CheckDepth(old_object, "update: the old object"));
  KOBS_RETURN_IF_ERROR(patch_internal::CheckDepth(new_object, "update: the new object"));
  if (!new_object.is_object() || (!old_object.is_null() && !old_object.is_object())) {
    return absl::InvalidArgumentError("update: the objects must be JSON objects");
  }
  const std::string api_version = StringAt(new_object, "apiVersion");
  const std::string kind = StringAt(new_object, "kind");
  const Schema schema{kind, SupportsStrategicMerge(api_version, kind)};

  FieldSet changed;
  Locator in_old(old_object), in_new(new_object);
  for (const FieldPath& p : FieldsOf(schema, new_object)) {
    const json* before = in_old.Find(p);
    const json* after = in_new.Find(p);
    if (after == nullptr) continue;  // a "v:" token of a string that is not valid UTF-8
    if (before == nullptr || (after->is_object() ? !before->is_object() : *before != *after)) {
      changed.insert(p);
    }
  }

  std::vector<Entry> entries = ReadEntries(old_object);
  const std::optional<size_t> mine = FindEntry(entries, manager, "Update");
  for (size_t i = 0; i < entries.size(); ++i) {
    Entry& e = entries[i];
    if (!e.valid) continue;
    const bool updater = mine == i;
    for (auto it = e.fields.begin(); it != e.fields.end();) {
      const bool lost = (changed.count(*it) > 0 && !updater) || in_new.Find(*it) == nullptr;
      e.changed = e.changed || lost;
      it = lost ? e.fields.erase(it) : std::next(it);
    }
  }
  if (!changed.empty()) {
    FieldSet fields = changed;
    if (mine) fields.insert(entries[*mine].fields.begin(), entries[*mine].fields.end());
    Entry entry{.raw = NewEntry(std::string(manager), "Update", new_object, now, fields),
                .valid = true,
                .fields = std::move(fields)};
    if (mine) {
      entries[*mine] = std::move(entry);
    } else {
      entries.push_back(std::move(entry));
    }
  }
  json result = new_object;
  KOBS_RETURN_IF_ERROR(WriteEntries(result, entries));
  return result;
}

}  // namespace

absl::StatusOr<json> ServerSideApply(const json& live, const json& applied,
                                     const ApplyOptions& options) {
  return patch_internal::NoThrow("server-side apply",
                                 [&] { return Apply(live, applied, options); });
}

absl::StatusOr<json> RecordUpdate(const json& old_object, const json& new_object,
                                  std::string_view manager, std::string_view now) {
  return patch_internal::NoThrow("update",
                                 [&] { return Update(old_object, new_object, manager, now); });
}

}  // namespace kobs::k8s
