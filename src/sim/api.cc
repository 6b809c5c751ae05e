#include "sim/api.h"

#include <chrono>
#include <random>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "common/absl_compat.h"
#include "common/status_macros.h"
#include "common/yaml_json.h"
#include "k8s/api_status.h"
#include "k8s/selector.h"
#include "sim/api_errors.h"
#include "sim/object_meta.h"

namespace kobs::sim {

using nlohmann::json;

namespace internal {

std::string ResourceName(const ResourceType& t) {
  return t.group.empty() ? t.plural : t.plural + "." + t.group;
}

absl::Status NotFound(const ResourceType& t, const std::string& name) {
  return k8s::ApiError("NotFound", 404, fmt::format("{} \"{}\" not found", ResourceName(t), name));
}

absl::Status Conflict(const ResourceType& t, const std::string& name, std::string_view why) {
  return k8s::ApiError("Conflict", 409,
                       fmt::format("Operation cannot be fulfilled on {} \"{}\": {}",
                                   ResourceName(t), name, why));
}

absl::Status Invalid(const ResourceType& t, const std::string& name, std::string_view detail) {
  return k8s::ApiError("Invalid", 422,
                       fmt::format("{} \"{}\" is invalid: {}", t.kind, name, detail));
}

absl::Status BadRequest(std::string_view message) {
  return k8s::ApiError("BadRequest", 400, message);
}

absl::StatusOr<json> ParseJson(std::string_view body, std::string_view what) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return BadRequest(fmt::format("{}: the body is not valid JSON", what));
  return j;
}

}  // namespace internal

using internal::BadRequest;
using internal::Conflict;
using internal::Invalid;
using internal::NotFound;
using internal::ResourceName;

namespace {

// A lowercase RFC 1123 subdomain, as most object names must be.
bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return alnum(name.front()) && alnum(name.back());
}

std::string RandomSuffix(size_t n) {
  // The alphabet apiserver's generateName uses (no vowels, no confusable characters).
  static constexpr char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(kAlphabet[rng() % (sizeof(kAlphabet) - 1)]);
  return s;
}

std::string NewUid() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t a = rng(), b = rng();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff,
                     a & 0xffff, b >> 48, b & 0xffffffffffffULL);
}

// About the size of `j` as JSON text, counting no further than `limit`.
size_t ApproxSize(const json& j, size_t limit) {
  size_t n = 0;
  std::vector<const json*> todo = {&j};
  while (!todo.empty() && n <= limit) {
    const json* cur = todo.back();
    todo.pop_back();
    if (cur->is_string()) {
      n += cur->get_ref<const std::string&>().size() + 2;
    } else if (cur->is_object()) {
      for (auto it = cur->begin(); it != cur->end(); ++it) {
        n += it.key().size() + 4;
        todo.push_back(&*it);
      }
    } else if (cur->is_array()) {
      for (const json& v : *cur) todo.push_back(&v);
      n += cur->size() + 2;
    } else {
      n += 8;
    }
  }
  return n;
}

// etcd's limit on one object, which the API server passes on.
constexpr size_t kMaxObjectBytes = 1536 * 1024;

absl::Status CheckSize(const json& obj) {
  if (ApproxSize(obj, kMaxObjectBytes) > kMaxObjectBytes) {
    return k8s::ApiError("RequestEntityTooLarge", 413,
                         fmt::format("etcdserver: request is too large (objects are limited to "
                                     "{} bytes)",
                                     kMaxObjectBytes));
  }
  return absl::OkStatus();
}

// Everything but metadata and status: what a generation counts changes of.
bool SpecChanged(const json& a, const json& b) {
  for (const json* x : {&a, &b}) {
    const json& y = x == &a ? b : a;
    for (auto it = x->begin(); it != x->end(); ++it) {
      const std::string& k = it.key();
      if (k == "metadata" || k == "status" || k == "kind" || k == "apiVersion") continue;
      if (!y.contains(k) || y[k] != it.value()) return true;
    }
  }
  return false;
}

// events.k8s.io/v1 <-> core/v1 field names.
const std::pair<const char*, const char*> kEventFields[] = {
    {"regarding", "involvedObject"},
    {"note", "message"},
    {"reportingController", "reportingComponent"},
    {"deprecatedSource", "source"},
    {"deprecatedFirstTimestamp", "firstTimestamp"},
    {"deprecatedLastTimestamp", "lastTimestamp"},
    {"deprecatedCount", "count"},
};

json RenameFields(json obj, bool to_core) {
  for (const auto& [v1, core] : kEventFields) {
    const char* from = to_core ? v1 : core;
    const char* to = to_core ? core : v1;
    if (auto it = obj.find(from); it != obj.end()) {
      json v = std::move(*it);
      obj.erase(from);
      obj[to] = std::move(v);
    }
  }
  return obj;
}

}  // namespace

std::string NowRfc3339() {
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}",
                     std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
}

std::string NowRfc3339Micro() {
  auto now = std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
  auto secs = std::chrono::floor<std::chrono::seconds>(now);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:06d}Z", secs, (now - secs).count());
}

Api::Api(ObjectStore& store, ResourceRegistry& registry) : store_(store), registry_(registry) {}

json Api::View(const ResourceType& type, json stored) const {
  if (!stored.is_object()) return stored;
  if (type.group == "events.k8s.io") stored = RenameFields(std::move(stored), false);
  stored["apiVersion"] = type.api_version();
  stored["kind"] = type.kind;
  return stored;
}

std::shared_ptr<const ResourceType> Api::TypeOf(const json& object) const {
  return registry_.FindKind(Str(object, "apiVersion"), Str(object, "kind"));
}

absl::StatusOr<json> Api::Get(const ResourceType& type, const std::string& ns,
                              const std::string& name) const {
  absl::StatusOr<json> obj = store_.Get(type.StorageKey(), type.namespaced ? ns : "", name);
  if (!obj.ok()) return NotFound(type, name);
  return View(type, *std::move(obj));
}

absl::StatusOr<ListResult> Api::List(const ResourceType& type, const std::string& ns,
                                     const ListRequest& request) const {
  absl::StatusOr<k8s::LabelSelector> labels = k8s::LabelSelector::Parse(request.label_selector);
  if (!labels.ok()) return BadRequest(fmt::format("unable to parse requirement: {}",
                                                  ToStd(labels.status().message())));
  absl::StatusOr<k8s::FieldSelector> fields = k8s::FieldSelector::Parse(request.field_selector);
  if (!fields.ok()) return BadRequest(fmt::format("invalid field selector: {}",
                                                  ToStd(fields.status().message())));
  uint64_t rv = 0;
  std::string after;
  if (!request.continue_token.empty()) {
    KOBS_ASSIGN_OR_RETURN(ContinueToken token, DecodeContinue(request.continue_token));
    rv = token.rv;
    after = token.after;
  } else if (!request.resource_version.empty() && request.resource_version != "0") {
    if (!absl::SimpleAtoi(request.resource_version, &rv)) {
      return BadRequest(fmt::format("invalid resource version \"{}\"", request.resource_version));
    }
  }
  absl::StatusOr<ObjectStore::Snapshot> snap =
      store_.List(type.StorageKey(), type.namespaced ? ns : "", rv, after);
  if (!snap.ok()) {
    if (!request.continue_token.empty()) {
      return k8s::ApiError(
          "Expired", 410,
          "The provided continue parameter is too old to display a consistent list result. You "
          "can start a new list without the continue parameter.");
    }
    return k8s::ApiError("Expired", 410, ToStd(snap.status().message()));
  }
  ListResult result;
  result.rv = snap->rv;
  int64_t matched = 0;
  std::string last_key;
  for (json& stored : snap->items) {
    json obj = View(type, std::move(stored));
    if (!labels->Matches(obj) || !fields->Matches(obj)) continue;
    if (request.limit > 0 && static_cast<int64_t>(result.items.size()) >= request.limit) {
      ++matched;
      continue;
    }
    last_key = Str(obj, "metadata", "namespace") + std::string(1, '\0') +
               Str(obj, "metadata", "name");
    result.items.push_back(std::move(obj));
  }
  if (matched > 0) {
    result.continue_token = EncodeContinue({snap->rv, last_key});
    result.remaining = matched;
  }
  return result;
}

absl::Status Api::CheckNamespace(const ResourceType& type, const std::string& ns) const {
  if (!type.namespaced) return absl::OkStatus();
  if (ns.empty()) return BadRequest("the namespace of the object is required");
  absl::StatusOr<json> obj = store_.Get("/namespaces", "", ns);
  if (!obj.ok()) {
    return k8s::ApiError("NotFound", 404, fmt::format("namespaces \"{}\" not found", ns));
  }
  if (!Str(*obj, "metadata", "deletionTimestamp").empty()) {
    return k8s::ApiError(
        "Forbidden", 403,
        fmt::format("{} \"{}\" is forbidden: unable to create new content in namespace {} "
                    "because it is being terminated",
                    ResourceName(type), "", ns));
  }
  return absl::OkStatus();
}

absl::StatusOr<json> Api::Create(const ResourceType& type, const std::string& ns, json object,
                                 const WriteRequest& request) {
  if (!object.is_object()) return BadRequest("the body must be a JSON object");
  if (object.contains("apiVersion") && Str(object, "apiVersion") != type.api_version()) {
    return BadRequest(fmt::format(
        "the API version in the data ({}) does not match the expected API version ({})",
        Str(object, "apiVersion"), type.api_version()));
  }
  if (object.contains("kind") && Str(object, "kind") != type.kind) {
    return BadRequest(fmt::format("the kind in the data ({}) does not match the expected kind "
                                  "({})",
                                  Str(object, "kind"), type.kind));
  }
  if (!object.contains("metadata") || !object["metadata"].is_object()) {
    object["metadata"] = json::object();
  }
  json& meta = object["metadata"];
  std::string obj_ns = Str(meta, "namespace");
  if (type.namespaced) {
    if (!obj_ns.empty() && !ns.empty() && obj_ns != ns) {
      return BadRequest("the namespace of the provided object does not match the namespace sent "
                        "on the request");
    }
    if (ns.empty() && obj_ns.empty()) return BadRequest("the namespace of the object is required");
  }
  const std::string target_ns = type.namespaced ? (ns.empty() ? obj_ns : ns) : "";
  KOBS_RETURN_IF_ERROR(CheckNamespace(type, target_ns));
  std::string name = Str(meta, "name");
  const std::string generate = Str(meta, "generateName");
  if (name.empty() && generate.empty()) {
    return Invalid(type, "", "metadata.name: Required value: name or generateName is required");
  }
  if (type.group == "events.k8s.io") object = RenameFields(std::move(object), true);
  std::vector<ResourceType> crd_types;
  if (type.plural == "customresourcedefinitions") {
    absl::StatusOr<std::vector<ResourceType>> types = ResourceRegistry::TypesFromCrd(object);
    if (!types.ok()) return Invalid(type, name, ToStd(types.status().message()));
    crd_types = *std::move(types);
  }
  json stored;
  for (int attempt = 0;; ++attempt) {
    std::string try_name = name.empty() ? generate + RandomSuffix(5) : name;
    if (!ValidName(try_name) && type.plural != "events") {
      return Invalid(type, try_name,
                     fmt::format("metadata.name: Invalid value: \"{}\": a lowercase RFC 1123 "
                                 "subdomain must consist of lower case alphanumeric characters, "
                                 "'-' or '.', and must start and end with an alphanumeric "
                                 "character",
                                 try_name));
    }
    json obj = object;
    json& m = obj["metadata"];
    m["name"] = try_name;
    if (type.namespaced) {
      m["namespace"] = target_ns;
    } else {
      m.erase("namespace");
    }
    m["uid"] = NewUid();
    m["creationTimestamp"] = NowRfc3339();
    m["generation"] = 1;
    m.erase("deletionTimestamp");
    m.erase("deletionGracePeriodSeconds");
    m.erase("resourceVersion");
    obj["apiVersion"] = type.api_version();
    obj["kind"] = type.kind;
    if (type.group == "events.k8s.io") {
      obj["apiVersion"] = "v1";  // stored in the core form
      obj.erase("kind");
      obj["kind"] = "Event";
    }
    ApplyDefaults(type, obj);
    KOBS_RETURN_IF_ERROR(CheckSize(obj));
    if (!request.field_manager.empty()) {
      absl::StatusOr<json> managed =
          k8s::RecordUpdate(json(), obj, request.field_manager, NowRfc3339());
      if (managed.ok()) obj = *std::move(managed);
    }
    if (request.dry_run) return View(type, obj);
    absl::StatusOr<ChangePtr> change =
        store_.Mutate(type.StorageKey(), target_ns, try_name,
                      [&](const json* current) -> absl::StatusOr<std::optional<json>> {
                        if (current != nullptr) {
                          return k8s::ApiError("AlreadyExists", 409,
                                               fmt::format("{} \"{}\" already exists",
                                                           ResourceName(type), try_name));
                        }
                        return std::optional<json>(obj);
                      });
    if (!change.ok()) {
      if (name.empty() && attempt < 8 && k8s::ApiReason(change.status()) == "AlreadyExists") {
        continue;
      }
      return change.status();
    }
    stored = (*change)->object;
    AfterWrite(type, **change);
    break;
  }
  if (!crd_types.empty()) {
    KOBS_RETURN_IF_ERROR(registry_.SetCustom(Str(stored, "metadata", "name"), crd_types));
  }
  return View(type, std::move(stored));
}

absl::StatusOr<json> Api::Write(const ResourceType& type, const std::string& ns,
                                const std::string& name, const std::string& subresource,
                                const WriteRequest& request,
                                const std::function<absl::StatusOr<json>(const json&)>& change) {
  const std::string scoped_ns = type.namespaced ? ns : "";
  json result;
  bool deleted = false;
  absl::StatusOr<ChangePtr> written = store_.Mutate(
      type.StorageKey(), scoped_ns, name,
      [&](const json* current) -> absl::StatusOr<std::optional<json>> {
        if (current == nullptr) return NotFound(type, name);
        json view = View(type, *current);
        KOBS_ASSIGN_OR_RETURN(json next, change(view));
        KOBS_RETURN_IF_ERROR(CheckSize(next));
        if (!next.is_object()) return BadRequest("the body must be a JSON object");
        if (!next.contains("metadata") || !next["metadata"].is_object()) {
          next["metadata"] = json::object();
        }
        json& meta = next["metadata"];
        const json& cur_meta = (*current)["metadata"];
        if (meta.contains("name") && Str(meta, "name") != name) {
          return BadRequest(fmt::format("the name of the object ({}) does not match the name on "
                                        "the URL ({})",
                                        Str(meta, "name"), name));
        }
        std::string want_rv = Str(meta, "resourceVersion");
        if (!want_rv.empty() && want_rv != Str(cur_meta, "resourceVersion")) {
          return Conflict(type, name,
                          "the object has been modified; please apply your changes to the latest "
                          "version and try again");
        }
        if (type.group == "events.k8s.io") next = RenameFields(std::move(next), true);
        json stored;
        if (subresource == "status") {
          stored = *current;
          if (next.contains("status")) {
            stored["status"] = next["status"];
          } else {
            stored.erase("status");
          }
        } else {
          stored = std::move(next);
          if (type.status_subresource) {
            if (current->contains("status")) {
              stored["status"] = (*current)["status"];
            } else {
              stored.erase("status");
            }
          }
          json& m = stored["metadata"];
          m["name"] = name;
          for (const char* keep : {"uid", "creationTimestamp", "deletionTimestamp",
                                   "deletionGracePeriodSeconds", "generation"}) {
            if (cur_meta.contains(keep)) {
              m[keep] = cur_meta[keep];
            } else {
              m.erase(keep);
            }
          }
          if (type.namespaced) m["namespace"] = scoped_ns;
          if (SpecChanged(*current, stored)) {
            json gen = cur_meta.contains("generation") ? cur_meta["generation"] : json(1);
            m["generation"] = (gen.is_number_integer() ? gen.get<int64_t>() : 1) + 1;
          }
        }
        json stored_view = View(type, *current);
        (void)stored_view;
        stored["apiVersion"] = (*current)["apiVersion"];
        stored["kind"] = (*current)["kind"];
        stored["metadata"]["resourceVersion"] = Str(cur_meta, "resourceVersion");
        if (!request.field_manager.empty()) {
          absl::StatusOr<json> managed =
              k8s::RecordUpdate(*current, stored, request.field_manager, NowRfc3339());
          if (managed.ok()) stored = *std::move(managed);
        }
        if (stored == *current) {
          result = stored;
          return std::optional<json>(std::move(stored));
        }
        // An object being deleted goes once its last finalizer is removed.
        if (!Str(stored, "metadata", "deletionTimestamp").empty() &&
            !HasPendingFinalizers(stored)) {
          deleted = true;
          result = stored;
          return std::optional<json>();
        }
        if (request.dry_run) {
          result = stored;
          return k8s::ApiError("DryRun", 200, "dry run");
        }
        return std::optional<json>(std::move(stored));
      });
  if (!written.ok()) {
    if (request.dry_run && k8s::ApiReason(written.status()) == "DryRun") {
      return View(type, std::move(result));
    }
    return written.status();
  }
  if (*written == nullptr) return View(type, std::move(result));
  AfterWrite(type, **written);
  if (deleted) return View(type, std::move(result));
  return View(type, (*written)->object);
}

absl::StatusOr<json> Api::Update(const ResourceType& type, const std::string& ns,
                                 const std::string& name, json object,
                                 const std::string& subresource, const WriteRequest& request) {
  if (!object.is_object()) return BadRequest("the body must be a JSON object");
  if (object.contains("kind") && Str(object, "kind") != type.kind) {
    return BadRequest(fmt::format("the kind in the data ({}) does not match the expected kind "
                                  "({})",
                                  Str(object, "kind"), type.kind));
  }
  if (!object.contains("metadata") || Str(object, "metadata", "name").empty()) {
    return Invalid(type, name, "metadata.name: Required value: name is required");
  }
  return Write(type, ns, name, subresource, request,
               [&](const json&) -> absl::StatusOr<json> { return object; });
}

absl::StatusOr<json> Api::Delete(const ResourceType& type, const std::string& ns,
                                 const std::string& name, const DeleteRequest& request) {
  const std::string policy =
      request.propagation_policy.empty() ? "Background" : request.propagation_policy;
  if (policy != "Background" && policy != "Foreground" && policy != "Orphan") {
    return BadRequest(fmt::format("propagationPolicy: Unsupported value: \"{}\": supported "
                                  "values: \"Background\", \"Foreground\", \"Orphan\"",
                                  policy));
  }
  const std::string scoped_ns = type.namespaced ? ns : "";
  json result;
  absl::StatusOr<ChangePtr> written = store_.Mutate(
      type.StorageKey(), scoped_ns, name,
      [&](const json* current) -> absl::StatusOr<std::optional<json>> {
        if (current == nullptr) return NotFound(type, name);
        const json& meta = (*current)["metadata"];
        if (!request.precondition_uid.empty() &&
            request.precondition_uid != Str(meta, "uid")) {
          return Conflict(type, name,
                          fmt::format("Precondition failed: UID in precondition: {}, UID in "
                                      "object meta: {}",
                                      request.precondition_uid, Str(meta, "uid")));
        }
        if (!request.precondition_resource_version.empty() &&
            request.precondition_resource_version != Str(meta, "resourceVersion")) {
          return Conflict(type, name,
                          fmt::format("Precondition failed: ResourceVersion in precondition: {}, "
                                      "ResourceVersion in object meta: {}",
                                      request.precondition_resource_version,
                                      Str(meta, "resourceVersion")));
        }
        json obj = *current;
        std::vector<std::string> finalizers = Finalizers(obj);
        auto add = [&](const char* f) {
          if (std::find(finalizers.begin(), finalizers.end(), f) == finalizers.end()) {
            finalizers.push_back(f);
          }
        };
        if (policy == "Foreground") add("foregroundDeletion");
        if (policy == "Orphan") add("orphan");
        if (type.plural == "namespaces") {
          ChildObject(obj, "status")["phase"] = "Terminating";
          add("kubernetes");
        }
        result = obj;
        if (finalizers.empty()) {
          if (request.dry_run) return k8s::ApiError("DryRun", 200, "dry run");
          return std::optional<json>();
        }
        if (!Str(obj, "metadata", "deletionTimestamp").empty() && finalizers == Finalizers(obj)) {
          return std::optional<json>(obj);  // already being deleted: nothing changes
        }
        json& m = obj["metadata"];
        if (!m.contains("deletionTimestamp")) {
          m["deletionTimestamp"] = NowRfc3339();
          m["deletionGracePeriodSeconds"] = 0;
        }
        if (type.plural == "namespaces") {
          finalizers.erase(std::remove(finalizers.begin(), finalizers.end(), "kubernetes"),
                           finalizers.end());
          ChildObject(obj, "spec")["finalizers"] = {"kubernetes"};
        }
        if (finalizers.empty()) {
          m.erase("finalizers");
        } else {
          m["finalizers"] = finalizers;
        }
        result = obj;
        if (request.dry_run) return k8s::ApiError("DryRun", 200, "dry run");
        return std::optional<json>(std::move(obj));
      });
  if (!written.ok()) {
    if (request.dry_run && k8s::ApiReason(written.status()) == "DryRun") {
      return View(type, std::move(result));
    }
    return written.status();
  }
  if (*written != nullptr) {
    AfterWrite(type, **written);
    return View(type, (*written)->object);
  }
  return View(type, std::move(result));
}

void Api::AfterWrite(const ResourceType& type, const Change& change) {
  if (type.plural == "customresourcedefinitions" && change.type == Change::Type::kDeleted) {
    (void)registry_.SetCustom(change.name, {});
  }
}

void Api::RestoreCustomTypes() {
  absl::StatusOr<ObjectStore::Snapshot> crds =
      store_.List("apiextensions.k8s.io/customresourcedefinitions", "");
  if (!crds.ok()) return;
  for (const json& crd : crds->items) {
    absl::StatusOr<std::vector<ResourceType>> types = ResourceRegistry::TypesFromCrd(crd);
    if (types.ok()) (void)registry_.SetCustom(Str(crd, "metadata", "name"), *std::move(types));
  }
}

}  // namespace kobs::sim
