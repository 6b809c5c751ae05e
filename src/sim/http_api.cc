#include "sim/http_api.h"

#include <random>

#include <fmt/format.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/absl_compat.h"
#include "common/metrics.h"
#include "common/yaml_json.h"
#include "k8s/api_status.h"
#include "k8s/selector.h"
#include "sim/object_meta.h"
#include "sim/tables.h"

namespace kobs::sim {
namespace {

using nlohmann::json;

constexpr std::string_view kJson = "application/json";

void ReplyJson(net::ResponseWriter& w, int status, const json& body,
               std::string_view content_type = kJson) {
  net::Reply(w, status, content_type, body.dump(-1, ' ', false, json::error_handler_t::replace));
}

void ReplyError(net::ResponseWriter& w, const absl::Status& status) {
  json body = k8s::StatusObject(status);
  ReplyJson(w, body["code"].get<int>(), body);
}

absl::Status NoSuchResource() {
  return k8s::ApiError("NotFound", 404, "the server could not find the requested resource");
}

std::string Param(const net::Request& r, std::string_view name) {
  auto v = r.QueryParam(name);
  return v.has_value() ? std::string(*v) : "";
}

// Reads an integer query parameter into `*out`; absent leaves `*out` as it is. False when the
// value is not an integer.
bool IntParam(const net::Request& r, std::string_view name, int64_t* out) {
  std::string v = Param(r, name);
  if (v.empty()) return true;
  int64_t parsed;
  if (!absl::SimpleAtoi(v, &parsed)) return false;
  *out = parsed;
  return true;
}

absl::Status BadIntParam(std::string_view name) {
  return k8s::ApiError("BadRequest", 400, fmt::format("{}: must be an integer", name));
}

bool BoolParam(const net::Request& r, std::string_view name) {
  std::string v = Param(r, name);
  return v == "true" || v == "1";
}

bool WantsTable(const net::Request& r) {
  auto accept = r.headers.Get("accept");
  return accept.has_value() && absl::StrContains(ToAbsl(*accept), "as=Table");
}

IncludeObject IncludeMode(const net::Request& r) {
  std::string v = Param(r, "includeObject");
  if (v == "None") return IncludeObject::kNone;
  if (v == "Object") return IncludeObject::kObject;
  return IncludeObject::kMetadata;
}

absl::StatusOr<json> ParseBody(const net::Request& r) {
  std::string_view type = r.headers.Get("content-type").value_or(kJson);
  if (absl::StrContains(ToAbsl(type), "protobuf")) {
    return k8s::ApiError("UnsupportedMediaType", 415,
                         "the body of the request was in an unknown format - accepted media "
                         "types include: application/json, application/yaml");
  }
  if (absl::StrContains(ToAbsl(type), "yaml")) {
    absl::StatusOr<json> j = YamlToJson(r.body);
    if (!j.ok()) return k8s::ApiError("BadRequest", 400, ToStd(j.status().message()));
    return j;
  }
  json j = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return k8s::ApiError("BadRequest", 400, "the request body is not valid JSON");
  }
  return j;
}

WriteRequest WriteParams(const net::Request& r) {
  WriteRequest w;
  w.field_manager = Param(r, "fieldManager");
  w.force = BoolParam(r, "force");
  w.dry_run = Param(r, "dryRun") == "All";
  return w;
}

json ListJson(const ResourceType& type, ListResult& result) {
  json meta = {{"resourceVersion", std::to_string(result.rv)}};
  if (!result.continue_token.empty()) {
    meta["continue"] = result.continue_token;
    meta["remainingItemCount"] = result.remaining;
  }
  json items = json::array();
  for (json& item : result.items) {
    if (!type.custom) {
      item.erase("kind");
      item.erase("apiVersion");
    }
    items.push_back(std::move(item));
  }
  return {{"kind", type.kind + "List"},
          {"apiVersion", type.api_version()},
          {"metadata", std::move(meta)},
          {"items", std::move(items)}};
}

void ReplyObject(const net::Request& r, net::ResponseWriter& w, const ResourceType& type,
                 int status, const json& obj) {
  if (WantsTable(r)) {
    json table = ToTable(type, {obj}, {.include = IncludeMode(r)});
    table["metadata"]["resourceVersion"] = Str(obj, "metadata", "resourceVersion");
    ReplyJson(w, status, table);
    return;
  }
  ReplyJson(w, status, obj);
}

}  // namespace

struct HttpApi::Target {
  std::shared_ptr<const ResourceType> type;
  std::string ns;
  std::string name;
  std::string subresource;
  bool watch = false;
};

HttpApi::HttpApi(Api& api, PodLogs& logs, HttpApiOptions options, MetricsRegistry& metrics)
    : api_(api),
      logs_(logs),
      options_(std::move(options)),
      watches_(metrics.GetGauge("kobs_sim_watches", "Watch streams open on the API server.")),
      watch_events_(metrics.GetCounter("kobs_sim_watch_events_total",
                                       "Watch events sent by the API server.")) {}

bool HttpApi::Authenticated(const net::Request& r) const {
  if (options_.accept_client_certs && r.client_cert_verified) return true;
  if (options_.token.empty()) return true;
  auto auth = r.headers.Get("authorization");
  return auth.has_value() && net::BearerTokenMatches(*auth, options_.token);
}

void HttpApi::Handle(const net::Request& r, net::ResponseWriter& w) {
  const std::string& path = r.path;
  if (path == "/healthz" || path == "/livez" || path == "/readyz") {
    net::Reply(w, 200, "text/plain; charset=utf-8", "ok");
    return;
  }
  if (path == "/version" || path == "/version/") {
    ReplyJson(w, 200,
              {{"major", "1"},
               {"minor", "32"},
               {"gitVersion", options_.git_version},
               {"gitCommit", "0000000000000000000000000000000000000000"},
               {"gitTreeState", "clean"},
               {"buildDate", "2026-01-01T00:00:00Z"},
               {"goVersion", "go1.23.0"},
               {"compiler", "gc"},
               {"platform", "linux/amd64"}});
    return;
  }
  if (!Authenticated(r)) {
    ReplyError(w, k8s::ApiError("Unauthorized", 401, "Unauthorized"));
    return;
  }
  std::vector<std::string> seg =
      absl::StrSplit(ToAbsl(path), '/', absl::SkipEmpty());
  if (seg.size() >= 2 && seg[0] == "openapi" && seg[1] == "v3") {
    const ResourceRegistry& reg = api_.registry();
    std::optional<json> doc;
    if (seg.size() == 2) doc = reg.OpenApiV3Root();
    if (seg.size() == 4 && seg[2] == "api") doc = reg.OpenApiV3("", seg[3]);
    if (seg.size() == 5 && seg[2] == "apis") doc = reg.OpenApiV3(seg[3], seg[4]);
    if (!doc) return ReplyError(w, NoSuchResource());
    return ReplyJson(w, 200, *doc);
  }
  if (seg.size() >= 6 && seg[0] == "api" && seg[1] == "v1" && seg[2] == "nodes" &&
      seg[4] == "proxy") {
    return NodeProxy(r, w, seg);
  }
  if (seg.empty() || (seg[0] != "api" && seg[0] != "apis")) {
    ReplyError(w, NoSuchResource());
    return;
  }
  const bool core = seg[0] == "api";
  if (seg.size() == 1 || (!core && seg.size() == 2) || (core && seg.size() == 2) ||
      (!core && seg.size() == 3)) {
    Discovery(r, w);
    return;
  }
  std::string group = core ? "" : seg[1];
  std::string version = core ? seg[1] : seg[2];
  std::vector<std::string> rest(seg.begin() + (core ? 2 : 3), seg.end());
  Target t;
  t.watch = BoolParam(r, "watch");
  if (!rest.empty() && rest[0] == "watch") {
    t.watch = true;
    rest.erase(rest.begin());
  }
  if (rest.size() > 1 && rest[0] == "namespaces") {
    t.ns = rest[1];
    if (rest.size() > 2 && rest[2] != "status" && rest[2] != "finalize") {
      rest.erase(rest.begin(), rest.begin() + 2);
    }
  }
  if (rest.empty() || rest.size() > 3) {
    ReplyError(w, NoSuchResource());
    return;
  }
  t.type = api_.registry().Find(group, version, rest[0]);
  if (t.type == nullptr) {
    ReplyError(w, NoSuchResource());
    return;
  }
  if (rest.size() > 1) t.name = rest[1];
  if (rest.size() > 2) t.subresource = rest[2];
  if (t.type->plural == "namespaces" && rest.size() >= 2) t.ns.clear();
  if (!t.type->namespaced) t.ns.clear();
  if (!t.subresource.empty()) {
    bool known = (t.subresource == "status" && t.type->status_subresource) ||
                 (t.subresource == "scale" && t.type->scale_subresource) ||
                 (t.subresource == "log" && t.type->log_subresource) ||
                 (t.subresource == "finalize" && t.type->plural == "namespaces");
    if (!known) {
      ReplyError(w, NoSuchResource());
      return;
    }
  }
  try {
    Serve(r, w, t);
  } catch (const json::exception& e) {
    // An object of an unexpected shape (a string where an object belongs, ...): nothing was
    // stored, the request is refused.
    if (!w.committed()) {
      ReplyError(w, k8s::ApiError("BadRequest", 400,
                                  fmt::format("the object has an unexpected shape: {}", e.what())));
    }
  }
}

void HttpApi::NodeProxy(const net::Request& r, net::ResponseWriter& w,
                        const std::vector<std::string>& seg) {
  if (r.method != "GET") {
    return ReplyError(w, k8s::ApiError("MethodNotAllowed", 405,
                                       "the node proxy of the simulated kubelet serves GET only"));
  }
  std::string node = seg[3].substr(0, seg[3].find(':'));
  std::string path = absl::StrJoin(seg.begin() + 5, seg.end(), "/");
  std::optional<json> body = options_.node_proxy ? options_.node_proxy(node, path) : std::nullopt;
  if (!body) {
    return ReplyError(w, k8s::ApiError("NotFound", 404,
                                       fmt::format("the kubelet of node \"{}\" serves no \"/{}\"",
                                                   node, path)));
  }
  ReplyJson(w, 200, *body);
}

void HttpApi::Discovery(const net::Request& r, net::ResponseWriter& w) {
  std::vector<std::string> seg = absl::StrSplit(ToAbsl(r.path), '/', absl::SkipEmpty());
  const ResourceRegistry& reg = api_.registry();
  std::string_view accept = r.headers.Get("accept").value_or("");
  if (seg.size() == 1) {
    // Aggregated discovery when asked for (kubectl 1.30+ asks first).
    for (std::string_view v : {"v2", "v2beta1"}) {
      if (absl::StrContains(ToAbsl(accept),
                            fmt::format("g=apidiscovery.k8s.io;v={};as=APIGroupDiscoveryList", v))) {
        ReplyJson(w, 200, reg.Aggregated(seg[0] == "api", v),
                  fmt::format("application/json;g=apidiscovery.k8s.io;v={};"
                              "as=APIGroupDiscoveryList",
                              v));
        return;
      }
    }
    ReplyJson(w, 200, seg[0] == "api" ? reg.ApiVersions() : reg.ApiGroupList());
    return;
  }
  if (seg[0] == "apis" && seg.size() == 2) {
    std::optional<json> group = reg.ApiGroup(seg[1]);
    if (!group) return ReplyError(w, NoSuchResource());
    ReplyJson(w, 200, *group);
    return;
  }
  std::optional<json> list = seg[0] == "api" ? reg.ResourceList("", seg[1])
                                             : reg.ResourceList(seg[1], seg[2]);
  if (!list) return ReplyError(w, NoSuchResource());
  ReplyJson(w, 200, *list);
}

void HttpApi::Serve(const net::Request& r, net::ResponseWriter& w, const Target& t) {
  const ResourceType& type = *t.type;
  const std::string& m = r.method;
  int64_t limit = 0;
  if (!IntParam(r, "limit", &limit)) return ReplyError(w, BadIntParam("limit"));
  auto list_request = [&] {
    ListRequest lr;
    lr.label_selector = Param(r, "labelSelector");
    lr.field_selector = Param(r, "fieldSelector");
    lr.limit = limit;
    lr.continue_token = Param(r, "continue");
    lr.resource_version = Param(r, "resourceVersion");
    return lr;
  };
  if (m == "GET" && t.subresource == "log") return Logs(r, w, t);
  if (m == "GET" && (t.watch || (t.name.empty() && BoolParam(r, "watch")))) {
    return Watch(r, w, t);
  }
  if (m == "GET" && t.name.empty()) {
    absl::StatusOr<ListResult> result = api_.List(type, t.ns, list_request());
    if (!result.ok()) return ReplyError(w, result.status());
    if (WantsTable(r)) {
      json table = ToTable(type, result->items, {.include = IncludeMode(r)});
      table["metadata"]["resourceVersion"] = std::to_string(result->rv);
      if (!result->continue_token.empty()) {
        table["metadata"]["continue"] = result->continue_token;
        table["metadata"]["remainingItemCount"] = result->remaining;
      }
      return ReplyJson(w, 200, table);
    }
    return ReplyJson(w, 200, ListJson(type, *result));
  }
  if (m == "GET") {
    absl::StatusOr<json> obj = t.subresource == "scale" ? api_.GetScale(type, t.ns, t.name)
                                                        : api_.Get(type, t.ns, t.name);
    if (!obj.ok()) return ReplyError(w, obj.status());
    return ReplyObject(r, w, type, 200, *obj);
  }
  if (m == "POST") {
    if (!t.name.empty()) {
      return ReplyError(w, k8s::ApiError("MethodNotAllowed", 405,
                                         "the server does not allow this method on the "
                                         "requested resource"));
    }
    absl::StatusOr<json> body = ParseBody(r);
    if (!body.ok()) return ReplyError(w, body.status());
    absl::StatusOr<json> created = api_.Create(type, t.ns, *std::move(body), WriteParams(r));
    if (!created.ok()) return ReplyError(w, created.status());
    return ReplyObject(r, w, type, 201, *created);
  }
  if (t.name.empty() && m != "DELETE") {
    return ReplyError(w, k8s::ApiError("MethodNotAllowed", 405,
                                       "the server does not allow this method on the requested "
                                       "resource"));
  }
  if (m == "PUT") {
    absl::StatusOr<json> body = ParseBody(r);
    if (!body.ok()) return ReplyError(w, body.status());
    absl::StatusOr<json> updated =
        t.subresource == "scale"
            ? api_.UpdateScale(type, t.ns, t.name, *std::move(body))
            : api_.Update(type, t.ns, t.name, *std::move(body),
                          t.subresource == "finalize" ? "" : t.subresource, WriteParams(r));
    if (!updated.ok()) return ReplyError(w, updated.status());
    return ReplyObject(r, w, type, 200, *updated);
  }
  if (m == "PATCH") {
    absl::StatusOr<k8s::PatchType> patch_type =
        k8s::PatchTypeFromContentType(r.headers.Get("content-type").value_or(""));
    if (!patch_type.ok()) {
      return ReplyError(w, k8s::ApiError("UnsupportedMediaType", 415,
                                         ToStd(patch_type.status().message())));
    }
    absl::StatusOr<json> patched =
        t.subresource == "scale"
            ? api_.PatchScale(type, t.ns, t.name, *patch_type, r.body)
            : api_.Patch(type, t.ns, t.name, *patch_type, r.body, t.subresource, WriteParams(r));
    if (!patched.ok()) return ReplyError(w, patched.status());
    return ReplyObject(r, w, type, 200, *patched);
  }
  if (m == "DELETE") {
    DeleteRequest d;
    if (!r.body.empty()) {
      absl::StatusOr<json> body = ParseBody(r);
      if (!body.ok()) return ReplyError(w, body.status());
      if (body->is_object()) {
        d.propagation_policy = Str(*body, "propagationPolicy");
        d.precondition_uid = Str(*body, "preconditions", "uid");
        d.precondition_resource_version = Str(*body, "preconditions", "resourceVersion");
        if (body->contains("orphanDependents") && (*body)["orphanDependents"] == json(true)) {
          d.propagation_policy = "Orphan";
        }
        if (body->contains("dryRun") && (*body)["dryRun"].is_array() &&
            !(*body)["dryRun"].empty()) {
          d.dry_run = true;
        }
      }
    }
    if (std::string p = Param(r, "propagationPolicy"); !p.empty()) d.propagation_policy = p;
    if (Param(r, "dryRun") == "All") d.dry_run = true;
    if (t.name.empty()) {
      // deletecollection
      absl::StatusOr<ListResult> result = api_.List(type, t.ns, list_request());
      if (!result.ok()) return ReplyError(w, result.status());
      for (const json& item : result->items) {
        absl::StatusOr<json> gone =
            api_.Delete(type, Str(item, "metadata", "namespace"), Str(item, "metadata", "name"), d);
        if (!gone.ok() && k8s::ApiReason(gone.status()) != "NotFound") {
          return ReplyError(w, gone.status());
        }
      }
      return ReplyJson(w, 200, ListJson(type, *result));
    }
    absl::StatusOr<json> deleted = api_.Delete(type, t.ns, t.name, d);
    if (!deleted.ok()) return ReplyError(w, deleted.status());
    return ReplyJson(w, 200, *deleted);
  }
  ReplyError(w, k8s::ApiError("MethodNotAllowed", 405,
                              fmt::format("method {} is not allowed here", m)));
}

void HttpApi::Watch(const net::Request& r, net::ResponseWriter& w, const Target& t) {
  const ResourceType& type = *t.type;
  absl::StatusOr<k8s::LabelSelector> labels = k8s::LabelSelector::Parse(Param(r, "labelSelector"));
  std::string field_text = Param(r, "fieldSelector");
  if (!t.name.empty()) {
    field_text = "metadata.name=" + t.name + (field_text.empty() ? "" : "," + field_text);
  }
  absl::StatusOr<k8s::FieldSelector> fields = k8s::FieldSelector::Parse(field_text);
  if (!labels.ok() || !fields.ok()) {
    return ReplyError(w, k8s::ApiError("BadRequest", 400,
                                       !labels.ok() ? ToStd(labels.status().message())
                                                    : ToStd(fields.status().message())));
  }
  const bool table = WantsTable(r);
  const bool bookmarks = BoolParam(r, "allowWatchBookmarks");
  const std::string rv_param = Param(r, "resourceVersion");
  const bool initial = rv_param.empty() || rv_param == "0" || BoolParam(r, "sendInitialEvents");
  uint64_t rv = 0;
  if (!rv_param.empty() && rv_param != "0" && !absl::SimpleAtoi(rv_param, &rv)) {
    return ReplyError(w, k8s::ApiError("BadRequest", 400,
                                       fmt::format("invalid resource version \"{}\"", rv_param)));
  }
  int64_t timeout_s = 0;
  if (!IntParam(r, "timeoutSeconds", &timeout_s)) {
    return ReplyError(w, BadIntParam("timeoutSeconds"));
  }
  if (timeout_s <= 0) {
    // As the real server: a random time between the maximum and twice it, spreading reconnects.
    thread_local std::mt19937 rng{std::random_device{}()};
    timeout_s = options_.max_watch.count() +
                std::uniform_int_distribution<int64_t>(0, options_.max_watch.count())(rng);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  const std::string ns = type.namespaced ? t.ns : "";

  w.SetStatus(200);
  w.SetHeader("Content-Type", "application/json");
  w.SetHeader("Cache-Control", "no-cache, private");
  watches_.Add(1);
  struct Done {
    Gauge& g;
    ~Done() { g.Add(-1); }
  } done{watches_};

  bool first_table = true;
  auto send = [&](std::string_view event_type, json object) -> bool {
    if (table && event_type != "ERROR" && event_type != "BOOKMARK") {
      object = ToTable(type, {object}, {.include = IncludeMode(r), .with_columns = first_table});
      first_table = false;
    }
    json event = {{"type", event_type}, {"object", std::move(object)}};
    std::string line = event.dump(-1, ' ', false, json::error_handler_t::replace);
    line.push_back('\n');
    watch_events_.Inc();
    return w.Write(line).ok();
  };
  auto matches = [&](const json& obj) {
    return obj.is_object() && labels->Matches(obj) && fields->Matches(obj);
  };
  auto bookmark = [&](uint64_t at, bool initial_end) {
    json meta = {{"resourceVersion", std::to_string(at)}};
    if (initial_end) meta["annotations"] = {{"k8s.io/initial-events-end", "true"}};
    return send("BOOKMARK",
                {{"kind", type.kind}, {"apiVersion", type.api_version()}, {"metadata", meta}});
  };

  if (initial) {
    uint64_t at = 0;
    if (rv != 0) at = rv;
    absl::StatusOr<ObjectStore::Snapshot> snap =
        api_.store().List(type.StorageKey(), ns, at == 0 ? 0 : at);
    if (!snap.ok()) {
      send("ERROR", k8s::StatusObject(k8s::ApiError("Expired", 410, ToStd(snap.status().message()))));
      return;
    }
    for (json& stored : snap->items) {
      json obj = api_.View(type, std::move(stored));
      if (matches(obj) && !send("ADDED", std::move(obj))) return;
    }
    rv = snap->rv;
    if (BoolParam(r, "sendInitialEvents") && !bookmark(rv, true)) return;
  }
  // Commit the headers now so the client knows the watch is established.
  if (!w.committed() && !w.Write("").ok()) return;
  auto last_sent = std::chrono::steady_clock::now();
  while (!stopping_) {
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return;
    auto wait = std::min<std::chrono::steady_clock::duration>(
        {deadline - now, std::chrono::milliseconds(500),
         options_.bookmark_interval});
    absl::StatusOr<ObjectStore::Batch> batch = api_.store().ChangesAfter(
        rv, type.StorageKey(), std::chrono::duration_cast<std::chrono::milliseconds>(wait));
    if (!batch.ok()) {
      send("ERROR", k8s::StatusObject(k8s::ApiError("Expired", 410, ToStd(batch.status().message()))));
      return;
    }
    if (api_.store().closed()) return;
    for (const ChangePtr& c : batch->changes) {
      if (!ns.empty() && c->ns != ns) continue;
      json obj = api_.View(type, c->object);
      bool now_matches = matches(obj);
      bool was = c->type != Change::Type::kAdded && matches(api_.View(type, c->previous));
      std::string_view event_type;
      if (c->type == Change::Type::kDeleted) {
        if (was) event_type = "DELETED";
      } else if (now_matches) {
        event_type = was ? "MODIFIED" : "ADDED";
      } else if (was) {
        event_type = "DELETED";  // it no longer matches the selectors
      }
      if (event_type.empty()) continue;
      if (!send(event_type, std::move(obj))) return;
      last_sent = std::chrono::steady_clock::now();
    }
    rv = batch->rv;
    if (bookmarks && std::chrono::steady_clock::now() - last_sent >= options_.bookmark_interval) {
      if (!bookmark(rv, false)) return;
      last_sent = std::chrono::steady_clock::now();
    }
  }
}

void HttpApi::Logs(const net::Request& r, net::ResponseWriter& w, const Target& t) {
  absl::StatusOr<json> pod = api_.Get(*t.type, t.ns, t.name);
  if (!pod.ok()) return ReplyError(w, pod.status());
  std::vector<std::string> containers;
  for (const char* list : {"containers", "initContainers", "ephemeralContainers"}) {
    json cs = AtPath(*pod, std::string(".spec.") + list);
    if (!cs.is_array()) continue;
    for (const json& c : cs) containers.push_back(Str(c, "name"));
  }
  std::string container = Param(r, "container");
  if (container.empty()) {
    json main = AtPath(*pod, ".spec.containers");
    if (!main.is_array() || main.size() != 1) {
      std::string names;
      for (const json& c : main.is_array() ? main : json::array()) {
        names += (names.empty() ? "" : " ") + Str(c, "name");
      }
      return ReplyError(w, k8s::ApiError("BadRequest", 400,
                                         fmt::format("a container name must be specified for pod "
                                                     "{}, choose one of: [{}]",
                                                     t.name, names)));
    }
    container = Str(main[0], "name");
  }
  if (std::find(containers.begin(), containers.end(), container) == containers.end()) {
    return ReplyError(w, k8s::ApiError("BadRequest", 400,
                                       fmt::format("container {} is not valid for pod {}",
                                                   container, t.name)));
  }
  auto [newest, previous] = logs_.Instances(t.ns, t.name, container);
  int instance = newest;
  if (BoolParam(r, "previous")) {
    if (previous < 0) {
      return ReplyError(w, k8s::ApiError("BadRequest", 400,
                                         fmt::format("previous terminated container \"{}\" in "
                                                     "pod \"{}\" not found",
                                                     container, t.name)));
    }
    instance = previous;
  }
  std::vector<LogLine> lines = instance < 0 ? std::vector<LogLine>()
                                            : logs_.Read(t.ns, t.name, container, instance);
  const uint64_t read_through = lines.empty() ? 0 : lines.back().seq;
  int64_t since_s = 0, tail = -1, limit_bytes = 0;
  for (auto [name, out] : {std::pair<const char*, int64_t*>{"sinceSeconds", &since_s},
                           {"tailLines", &tail},
                           {"limitBytes", &limit_bytes}}) {
    if (!IntParam(r, name, out)) return ReplyError(w, BadIntParam(name));
  }
  const bool timestamps = BoolParam(r, "timestamps");
  if (since_s > 0) {
    int64_t cutoff = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count() -
                     since_s * 1'000'000'000;
    std::erase_if(lines, [&](const LogLine& l) { return l.unix_nanos < cutoff; });
  }
  if (tail >= 0 && static_cast<size_t>(tail) < lines.size()) {
    lines.erase(lines.begin(), lines.end() - tail);
  }
  w.SetStatus(200);
  w.SetHeader("Content-Type", "text/plain");
  int64_t written = 0;
  uint64_t seq = 0;
  auto emit = [&](const std::vector<LogLine>& batch) -> bool {
    for (const LogLine& l : batch) {
      std::string out = timestamps ? l.time + " " + l.text + "\n" : l.text + "\n";
      if (limit_bytes > 0 && written + static_cast<int64_t>(out.size()) > limit_bytes) {
        out.resize(limit_bytes - written);
      }
      written += out.size();
      seq = l.seq;
      if (!out.empty() && !w.Write(out).ok()) return false;
      if (limit_bytes > 0 && written >= limit_bytes) return false;
    }
    return true;
  };
  if (!emit(lines)) return;
  if (!w.committed() && !w.Write("").ok()) return;
  if (!BoolParam(r, "follow") || instance != newest) return;
  seq = read_through;
  while (!stopping_) {
    logs_.Wait(t.ns, t.name, container, seq, std::chrono::milliseconds(500));
    if (!api_.Get(*t.type, t.ns, t.name).ok()) return;
    std::vector<LogLine> more = logs_.Read(t.ns, t.name, container, -1, seq);
    if (!emit(more)) return;
  }
}

}  // namespace kobs::sim
