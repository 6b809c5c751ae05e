#include "k8s/client.h"

#include <algorithm>
#include <cctype>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "absl/strings/numbers.h"
#include "common/absl_compat.h"
#include "common/status_macros.h"
#include "k8s/api_status.h"
#include "k8s/transport.h"

namespace kobs::k8s {
namespace {

using json = nlohmann::json;

// Asks for aggregated discovery (v2, then v2beta1), with plain JSON (the legacy documents) for
// servers that have none: https://kubernetes.io/docs/concepts/overview/kubernetes-api/
constexpr char kDiscoveryAccept[] =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json";
constexpr char kJson[] = "application/json";
// Longest Retry-After honoured.
constexpr std::chrono::seconds kMaxRetryAfter(10);

std::string S(const json& o, const char* key) {
  if (!o.is_object()) return "";
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

const json& Member(const json& o, const char* key) {
  static const json* const kNull = new json();
  if (!o.is_object()) return *kNull;
  auto it = o.find(key);
  return it != o.end() ? *it : *kNull;
}

// Percent-encodes everything but RFC 3986 unreserved characters.
void AppendEscaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
}

// Appends `name=value` to a URL, with '?' or '&'.
void AddParam(std::string& url, std::string_view name, std::string_view value) {
  url += url.find('?') == std::string::npos ? '?' : '&';
  AppendEscaped(url, name);
  url += '=';
  AppendEscaped(url, value);
}

// A namespace, name or subresource must be one path segment: the API server refuses "/", "%",
// "." and ".." in names (IsValidPathSegmentName); '?' and '#' would end the path.
absl::Status CheckSegment(std::string_view what, std::string_view s) {
  if (s == "." || s == "..") {
    return absl::InvalidArgumentError(fmt::format("{} may not be '{}'", what, s));
  }
  for (unsigned char c : s) {
    if (c == '/' || c == '%' || c == '?' || c == '#' || c <= 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(
          fmt::format("{} '{}' is not a valid path segment", what, s));
    }
  }
  return absl::OkStatus();
}

// The path of one object (or its subresource); namespaced resources need a namespace.
absl::StatusOr<std::string> ObjectPath(const ResourceInfo& r, std::string_view ns,
                                       std::string_view name, std::string_view subresource = "") {
  if (name.empty()) return absl::InvalidArgumentError(fmt::format("{}: empty name", r.resource));
  KOBS_RETURN_IF_ERROR(CheckSegment("name", name));
  KOBS_RETURN_IF_ERROR(CheckSegment("namespace", ns));
  KOBS_RETURN_IF_ERROR(CheckSegment("subresource", subresource));
  if (r.namespaced && ns.empty()) {
    return absl::InvalidArgumentError(fmt::format(
        "{} \"{}\": the resource is namespaced and no namespace was given", r.resource, name));
  }
  std::string path = r.Path(ns, name);
  if (!subresource.empty()) path += "/" + std::string(subresource);
  return path;
}

absl::StatusOr<json> ParseObject(std::string_view body, std::string_view what) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    return absl::InternalError(fmt::format("{}: the server's answer is not a JSON object", what));
  }
  return j;
}

// The namespace to use: the argument, else the object's.
std::string NamespaceFor(std::string_view ns, const json& obj) {
  return ns.empty() ? S(Member(obj, "metadata"), "namespace") : std::string(ns);
}

std::chrono::milliseconds RetryAfter(std::string_view header) {
  int64_t seconds = 1;
  if (!header.empty() && !absl::SimpleAtoi(ToAbsl(header), &seconds)) seconds = 1;
  return std::chrono::milliseconds(std::clamp<int64_t>(seconds, 0, kMaxRetryAfter.count()) * 1000);
}

}  // namespace

Client::Client(ClusterConfig config, ClientOptions options, std::unique_ptr<Transport> transport)
    : config_(std::move(config)),
      options_(std::move(options)),
      transport_(std::move(transport)),
      limiter_(options_.qps, options_.burst) {}

Client::~Client() = default;

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClusterConfig config,
                                                       ClientOptions options) {
  if (options.qps < 0 || options.burst < 1) {
    return absl::InvalidArgumentError(fmt::format(
        "client options: qps {} must be >= 0 and burst {} >= 1", options.qps, options.burst));
  }
  if (options.timeout.count() < 1 || options.watch_idle_timeout.count() < 1) {
    return absl::InvalidArgumentError(
        "client options: timeout and watch_idle_timeout must be positive");
  }
  if (options.max_connections < 1) {
    return absl::InvalidArgumentError(fmt::format(
        "client options: max_connections {} must be at least 1", options.max_connections));
  }
  if (options.user_agent.find_first_of("\r\n") != std::string::npos) {
    return absl::InvalidArgumentError("client options: user_agent has a line break");
  }
  KOBS_ASSIGN_OR_RETURN(std::unique_ptr<Transport> transport, Transport::Create(config, options));
  return std::unique_ptr<Client>(
      new Client(std::move(config), std::move(options), std::move(transport)));
}

absl::StatusOr<std::string> Client::Request(std::string_view method,
                                            std::string_view path_and_query, std::string_view body,
                                            std::string_view content_type,
                                            std::string_view accept) {
  for (int attempt = 0;; ++attempt) {
    limiter_.Wait();
    KOBS_ASSIGN_OR_RETURN(HttpResponse r,
                          transport_->Do(method, path_and_query, body, content_type, accept));
    const bool throttled = r.status == 429 || (r.status == 503 && !r.retry_after.empty());
    if (throttled && attempt < options_.max_throttle_retries) {
      std::this_thread::sleep_for(RetryAfter(r.retry_after));
      continue;
    }
    if (r.status >= 200 && r.status < 300) return std::move(r.body);
    return StatusFromResponse(static_cast<int>(r.status), r.body);
  }
}

absl::StatusOr<std::string> Client::Do(std::string_view method, std::string_view path_and_query,
                                       std::string_view body, std::string_view content_type) {
  if (path_and_query.empty() || path_and_query[0] != '/') {
    return absl::InvalidArgumentError(fmt::format("path '{}' must start with '/'", path_and_query));
  }
  return Request(method, path_and_query, body, content_type, "application/json, */*");
}

absl::StatusOr<json> Client::JsonRequest(std::string_view method, const std::string& path,
                                         std::string_view body, std::string_view content_type) {
  KOBS_ASSIGN_OR_RETURN(std::string text, Request(method, path, body, content_type, kJson));
  return ParseObject(text, fmt::format("{} {}", method, path.substr(0, path.find('?'))));
}

// ---------------------------------------------------------------------------------------------
// Discovery

absl::StatusOr<RestMapper> Client::FetchDiscovery() {
  RestMapper mapper;
  // Core: /api is an aggregated APIGroupDiscoveryList or a legacy APIVersions.
  KOBS_ASSIGN_OR_RETURN(std::string core, Request("GET", "/api", "", "", kDiscoveryAccept));
  KOBS_ASSIGN_OR_RETURN(json core_doc, ParseObject(core, "GET /api"));
  if (S(core_doc, "kind") == "APIGroupDiscoveryList") {
    KOBS_RETURN_IF_ERROR(mapper.AddAggregated(core));
  } else {
    const json& versions = Member(core_doc, "versions");
    if (!versions.is_array()) return absl::InternalError("GET /api: no versions");
    for (const auto& v : versions) {
      if (!v.is_string()) continue;
      const std::string version = v.get<std::string>();
      KOBS_RETURN_IF_ERROR(CheckSegment("version", version));
      KOBS_ASSIGN_OR_RETURN(std::string list, Request("GET", "/api/" + version, "", "", kJson));
      KOBS_RETURN_IF_ERROR(mapper.AddResourceList(list));
    }
  }
  // Groups: /apis is an aggregated list or a legacy APIGroupList.
  KOBS_ASSIGN_OR_RETURN(std::string groups, Request("GET", "/apis", "", "", kDiscoveryAccept));
  KOBS_ASSIGN_OR_RETURN(json groups_doc, ParseObject(groups, "GET /apis"));
  if (S(groups_doc, "kind") == "APIGroupDiscoveryList") {
    KOBS_RETURN_IF_ERROR(mapper.AddAggregated(groups));
    return mapper;
  }
  const json& list = Member(groups_doc, "groups");
  if (!list.is_array()) return mapper;
  for (const auto& g : list) {
    const std::string name = S(g, "name");
    if (name.empty() || !CheckSegment("group", name).ok()) continue;
    // The preferred version first: the mapper takes the first one it sees as preferred.
    std::vector<std::string> versions;
    if (std::string p = S(Member(g, "preferredVersion"), "version"); !p.empty()) {
      versions.push_back(p);
    }
    if (const json& vs = Member(g, "versions"); vs.is_array()) {
      for (const auto& v : vs) {
        std::string version = S(v, "version");
        if (!version.empty() &&
            std::find(versions.begin(), versions.end(), version) == versions.end()) {
          versions.push_back(std::move(version));
        }
      }
    }
    for (const auto& version : versions) {
      if (!CheckSegment("version", version).ok()) continue;
      // A group version that fails (an aggregated API server that is down) is skipped, as
      // kubectl does, so the rest of the cluster stays usable.
      auto doc = Request("GET", fmt::format("/apis/{}/{}", name, version), "", "", kJson);
      if (doc.ok()) (void)mapper.AddResourceList(*doc);
    }
  }
  return mapper;
}

absl::Status Client::RefreshLocked() {
  absl::StatusOr<RestMapper> mapper = FetchDiscovery();
  absl::MutexLock lock(&mu_);
  refreshed_at_ = std::chrono::steady_clock::now();
  if (!mapper.ok()) return mapper.status();
  mapper_ = std::make_shared<const RestMapper>(std::move(*mapper));
  return absl::OkStatus();
}

absl::Status Client::RefreshDiscovery() {
  absl::MutexLock refresh(&refresh_mu_);
  return RefreshLocked();
}

std::shared_ptr<const RestMapper> Client::Mapper() {
  absl::MutexLock lock(&mu_);
  return mapper_;
}

absl::StatusOr<ResourceInfo> Client::Lookup(
    const std::function<absl::StatusOr<ResourceInfo>(const RestMapper&)>& lookup) {
  std::shared_ptr<const RestMapper> seen = Mapper();
  absl::StatusOr<ResourceInfo> found = absl::NotFoundError("discovery is not loaded");
  if (seen != nullptr) {
    found = lookup(*seen);
    if (found.ok() || !absl::IsNotFound(found.status())) return found;
  }
  {
    absl::MutexLock refresh(&refresh_mu_);
    std::shared_ptr<const RestMapper> current;
    bool fresh = false;
    {
      absl::MutexLock lock(&mu_);
      current = mapper_;
      fresh =
          std::chrono::steady_clock::now() - refreshed_at_ < options_.discovery_refresh_interval;
    }
    // A refresh by another thread since this one looked counts as this one's.
    if (current == seen) {
      if (seen != nullptr && fresh) return found;
      KOBS_RETURN_IF_ERROR(RefreshLocked());
    }
  }
  return lookup(*Mapper());
}

absl::StatusOr<ResourceInfo> Client::Resource(std::string_view api_version, std::string_view kind) {
  std::string_view group, version = api_version;
  if (size_t slash = api_version.find('/'); slash != std::string_view::npos) {
    group = api_version.substr(0, slash);
    version = api_version.substr(slash + 1);
  }
  return Lookup([&](const RestMapper& m) { return m.ForKind(group, version, kind); });
}

absl::StatusOr<ResourceInfo> Client::ResourceByName(std::string_view name) {
  return Lookup([&](const RestMapper& m) { return m.ForName(name); });
}

// ---------------------------------------------------------------------------------------------
// Objects

absl::StatusOr<json> Client::Get(const ResourceInfo& resource, std::string_view ns,
                                 std::string_view name) {
  KOBS_ASSIGN_OR_RETURN(std::string path, ObjectPath(resource, ns, name));
  return JsonRequest("GET", path);
}

absl::StatusOr<ListResult> Client::List(const ResourceInfo& resource, std::string_view ns,
                                        const ListOptions& options) {
  KOBS_RETURN_IF_ERROR(CheckSegment("namespace", ns));
  std::string path = resource.Path(ns);
  if (!options.label_selector.empty()) AddParam(path, "labelSelector", options.label_selector);
  if (!options.field_selector.empty()) AddParam(path, "fieldSelector", options.field_selector);
  if (options.limit > 0) AddParam(path, "limit", std::to_string(options.limit));
  if (!options.continue_token.empty()) AddParam(path, "continue", options.continue_token);
  if (!options.resource_version.empty()) {
    AddParam(path, "resourceVersion", options.resource_version);
  }
  if (!options.resource_version_match.empty()) {
    AddParam(path, "resourceVersionMatch", options.resource_version_match);
  }
  KOBS_ASSIGN_OR_RETURN(json list, JsonRequest("GET", path));
  ListResult result;
  if (json& items = list["items"]; items.is_array()) result.items = std::move(items);
  const json& metadata = Member(list, "metadata");
  result.resource_version = S(metadata, "resourceVersion");
  result.continue_token = S(metadata, "continue");
  if (const json& n = Member(metadata, "remainingItemCount"); n.is_number_integer()) {
    result.remaining_item_count = n.get<int64_t>();
  }
  return result;
}

absl::StatusOr<json> Client::ListAll(const ResourceInfo& resource, std::string_view ns,
                                     ListOptions options, int64_t page_size) {
  options.limit = std::max<int64_t>(page_size, 0);
  json items = json::array();
  std::string resource_version;
  bool restarted = false;
  for (;;) {
    absl::StatusOr<ListResult> page = List(resource, ns, options);
    if (!page.ok()) {
      // The continue token expired (the snapshot it pins was compacted): start over with one
      // unpaged list, as client-go's pager does.
      if (IsGone(page.status()) && !options.continue_token.empty() && !restarted) {
        restarted = true;
        options.limit = 0;
        options.continue_token.clear();
        items = json::array();
        continue;
      }
      return page.status();
    }
    for (auto& item : page->items) items.push_back(std::move(item));
    resource_version = page->resource_version;
    if (page->continue_token.empty()) break;
    options.continue_token = page->continue_token;
  }
  return json{{"apiVersion", resource.api_version()},
              {"kind", resource.kind + "List"},
              {"metadata", {{"resourceVersion", resource_version}}},
              {"items", std::move(items)}};
}

absl::StatusOr<json> Client::Create(const ResourceInfo& resource, std::string_view ns,
                                    const json& obj) {
  if (!obj.is_object()) {
    return absl::InvalidArgumentError("create: the object is not a JSON object");
  }
  const std::string object_ns = NamespaceFor(ns, obj);
  KOBS_RETURN_IF_ERROR(CheckSegment("namespace", object_ns));
  if (resource.namespaced && object_ns.empty()) {
    return absl::InvalidArgumentError(fmt::format(
        "create {}: the resource is namespaced and no namespace was given", resource.resource));
  }
  return JsonRequest("POST", resource.Path(object_ns), obj.dump());
}

absl::StatusOr<json> Client::Update(const ResourceInfo& resource, std::string_view ns,
                                    const json& obj, std::string_view subresource) {
  if (!obj.is_object()) {
    return absl::InvalidArgumentError("update: the object is not a JSON object");
  }
  const std::string name = S(Member(obj, "metadata"), "name");
  KOBS_ASSIGN_OR_RETURN(std::string path,
                        ObjectPath(resource, NamespaceFor(ns, obj), name, subresource));
  return JsonRequest("PUT", path, obj.dump());
}

absl::StatusOr<json> Client::Patch(const ResourceInfo& resource, std::string_view ns,
                                   std::string_view name, PatchType type, std::string_view patch,
                                   std::string_view subresource, std::string_view field_manager,
                                   bool force) {
  KOBS_ASSIGN_OR_RETURN(std::string path, ObjectPath(resource, ns, name, subresource));
  if (type == PatchType::kApplyPatch && field_manager.empty()) {
    return absl::InvalidArgumentError("apply patch: a field manager is required");
  }
  if (!field_manager.empty()) AddParam(path, "fieldManager", field_manager);
  if (type == PatchType::kApplyPatch) AddParam(path, "force", force ? "true" : "false");
  return JsonRequest("PATCH", path, patch, ContentTypeFor(type));
}

absl::Status Client::Delete(const ResourceInfo& resource, std::string_view ns,
                            std::string_view name, const DeleteOptions& options) {
  KOBS_ASSIGN_OR_RETURN(std::string path, ObjectPath(resource, ns, name));
  json body = json::object();
  if (!options.propagation_policy.empty()) body["propagationPolicy"] = options.propagation_policy;
  if (options.grace_period_seconds) body["gracePeriodSeconds"] = *options.grace_period_seconds;
  if (options.precondition_uid) body["preconditions"]["uid"] = *options.precondition_uid;
  if (options.precondition_resource_version) {
    body["preconditions"]["resourceVersion"] = *options.precondition_resource_version;
  }
  std::string text;
  if (!body.empty()) {
    body["apiVersion"] = "v1";
    body["kind"] = "DeleteOptions";
    text = body.dump();
  }
  return Request("DELETE", path, text, kJson, kJson).status();
}

absl::StatusOr<int64_t> Client::GetScale(const ResourceInfo& resource, std::string_view ns,
                                         std::string_view name) {
  KOBS_ASSIGN_OR_RETURN(std::string path, ObjectPath(resource, ns, name, "scale"));
  KOBS_ASSIGN_OR_RETURN(json scale, JsonRequest("GET", path));
  const json& replicas = Member(Member(scale, "spec"), "replicas");
  return replicas.is_number_integer() ? replicas.get<int64_t>() : 0;
}

absl::Status Client::SetScale(const ResourceInfo& resource, std::string_view ns,
                              std::string_view name, int64_t replicas) {
  if (replicas < 0) return absl::InvalidArgumentError(fmt::format("replicas {} < 0", replicas));
  KOBS_ASSIGN_OR_RETURN(std::string path, ObjectPath(resource, ns, name, "scale"));
  const json patch = {{"spec", {{"replicas", replicas}}}};
  return JsonRequest("PATCH", path, patch.dump(), ContentTypeFor(PatchType::kMergePatch)).status();
}

// ---------------------------------------------------------------------------------------------
// Watch

absl::Status Client::WatchOnce(const ResourceInfo& resource, std::string_view ns,
                               const ListOptions& options,
                               const std::function<bool(WatchEvent&)>& on_event,
                               std::stop_token stop) {
  KOBS_RETURN_IF_ERROR(CheckSegment("namespace", ns));
  int64_t timeout_seconds = options.timeout_seconds;
  if (timeout_seconds <= 0) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    timeout_seconds = std::uniform_int_distribution<int64_t>(300, 599)(rng);
  }
  std::string path = resource.Path(ns);
  AddParam(path, "watch", "1");
  AddParam(path, "allowWatchBookmarks", "true");
  if (!options.resource_version.empty()) {
    AddParam(path, "resourceVersion", options.resource_version);
  }
  if (!options.label_selector.empty()) AddParam(path, "labelSelector", options.label_selector);
  if (!options.field_selector.empty()) AddParam(path, "fieldSelector", options.field_selector);
  AddParam(path, "timeoutSeconds", std::to_string(timeout_seconds));
  if (!limiter_.Wait(stop)) return absl::CancelledError("watch: cancelled");

  WatchDecoder decoder;
  std::vector<WatchEvent> batch;
  absl::Status decode_status;
  bool consumer_done = false;
  const std::function<bool(std::string_view)> on_data = [&](std::string_view chunk) {
    decode_status = decoder.Feed(chunk, &batch);
    for (WatchEvent& e : batch) {
      if (!on_event(e)) {
        consumer_done = true;
        break;
      }
    }
    batch.clear();
    return decode_status.ok() && !consumer_done;
  };
  absl::StatusOr<HttpResponse> r =
      transport_->Stream(path, kJson, options_.watch_idle_timeout, on_data, stop);
  if (consumer_done) return absl::OkStatus();
  if (!decode_status.ok()) return decode_status;
  if (!r.ok()) return r.status();
  if (r->status < 200 || r->status >= 300) {
    return StatusFromResponse(static_cast<int>(r->status), r->body);
  }
  return decoder.Finish();
}

}  // namespace kobs::k8s
