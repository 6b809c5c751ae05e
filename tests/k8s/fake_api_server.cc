#include "fake_api_server.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "common/log.h"

namespace kobs::k8s::testing {
namespace {

using json = nlohmann::json;

std::string Testdata(const std::string& name) {
  std::ifstream in(std::string(KOBS_K8S_TESTDATA) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_FALSE(ss.str().empty()) << name;
  return ss.str();
}

void ReplyJson(net::ResponseWriter& w, int status, const json& body) {
  net::Reply(w, status, "application/json", body.dump());
}

std::string S(const json& o, const char* key) {
  if (!o.is_object()) return "";
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

// The aggregated discovery document of the core group (a few resources).
json CoreAggregated() {
  auto resource = [](const char* plural, const char* singular, const char* kind, bool namespaced,
                     std::vector<const char*> subresources) {
    json subs = json::array();
    for (const char* s : subresources) subs.push_back({{"subresource", s}});
    return json{{"resource", plural},
                {"singularResource", singular},
                {"responseKind", {{"group", ""}, {"version", ""}, {"kind", kind}}},
                {"scope", namespaced ? "Namespaced" : "Cluster"},
                {"verbs", {"get", "list", "watch", "create", "update", "patch", "delete"}},
                {"subresources", subs}};
  };
  return {{"apiVersion", "apidiscovery.k8s.io/v2"},
          {"kind", "APIGroupDiscoveryList"},
          {"metadata", json::object()},
          {"items",
           {{{"metadata", json::object()},
             {"versions",
              {{{"version", "v1"},
                {"resources",
                 {resource("pods", "pod", "Pod", true, {"status", "log"}),
                  resource("configmaps", "configmap", "ConfigMap", true, {}),
                  resource("namespaces", "namespace", "Namespace", false, {"status"}),
                  resource("events", "event", "Event", true, {})}}}}}}}}};
}

json CustomGroupAggregated(const std::string& group, const std::string& version,
                           const std::string& kind, const std::string& plural) {
  std::string singular = kind;
  for (char& c : singular) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return {{"metadata", {{"name", group}}},
          {"versions",
           {{{"version", version},
             {"resources",
              {{{"resource", plural},
                {"singularResource", singular},
                {"responseKind", {{"group", group}, {"version", version}, {"kind", kind}}},
                {"scope", "Namespaced"},
                {"verbs", {"get", "list", "watch"}}}}}}}}};
}

}  // namespace

std::string StatusBody(int code, const std::string& reason, const std::string& message) {
  return json{{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
              {"status", "Failure"}, {"message", message}, {"reason", reason},
              {"code", code}}
      .dump();
}

std::string FakeApiServer::Recorded::Param(const std::string& name) const {
  for (const auto& [k, v] : query) {
    if (k == name) return v;
  }
  return "";
}

FakeApiServer::FakeApiServer(Options options) : options_(std::move(options)) {
  // Dropped watch streams break their Content-Length on purpose; the server warns about each.
  Logger("http").set_level(spdlog::level::err);
  net::HttpServerOptions o;
  o.name = "fake-apiserver";
  o.worker_threads = 16;  // watch streams hold a worker each
  o.tls_cert_pem = options_.tls_cert_pem;
  o.tls_key_pem = options_.tls_key_pem;
  auto server = net::HttpServer::Create(std::move(o), metrics_);
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return;
  server_ = std::move(*server);
  server_->Route(
      "/", [this](const net::Request& r, net::ResponseWriter& w) { Handle(r, w); },
      /*prefix=*/true);
  EXPECT_TRUE(server_->Start().ok());
}

FakeApiServer::~FakeApiServer() {
  {
    std::lock_guard lock(mu_);
    shutdown_ = true;
  }
  cv_.notify_all();
  if (server_ != nullptr) server_->Stop(std::chrono::milliseconds(2000));
}

std::string FakeApiServer::url() const {
  const bool tls = !options_.tls_cert_pem.empty();
  return fmt::format("{}://127.0.0.1:{}", tls ? "https" : "http",
                     server_ == nullptr ? 0 : server_->port());
}

json FakeApiServer::PutLocked(const std::string& collection, json object) {
  const std::string name = S(object["metadata"], "name");
  auto& items = objects_[collection];
  auto it = items.find(name);
  const bool exists = it != items.end();
  json& md = object["metadata"];
  md["uid"] = exists ? it->second["metadata"]["uid"] : json(fmt::format("uid-{}", next_uid_++));
  md["resourceVersion"] = std::to_string(++rv_);
  items[name] = object;
  log_.push_back({rv_, collection, exists ? "MODIFIED" : "ADDED", object});
  cv_.notify_all();
  return object;
}

json FakeApiServer::Put(const std::string& collection, json object) {
  std::lock_guard lock(mu_);
  return PutLocked(collection, std::move(object));
}

void FakeApiServer::Remove(const std::string& collection, const std::string& name) {
  std::lock_guard lock(mu_);
  auto& items = objects_[collection];
  auto it = items.find(name);
  if (it == items.end()) return;
  json object = it->second;
  items.erase(it);
  object["metadata"]["resourceVersion"] = std::to_string(++rv_);
  log_.push_back({rv_, collection, "DELETED", object});
  cv_.notify_all();
}

std::optional<json> FakeApiServer::Object(const std::string& collection, const std::string& name) {
  std::lock_guard lock(mu_);
  auto& items = objects_[collection];
  auto it = items.find(name);
  if (it == items.end()) return std::nullopt;
  return it->second;
}

int64_t FakeApiServer::resource_version() {
  std::lock_guard lock(mu_);
  return rv_;
}

void FakeApiServer::Bookmark() {
  std::lock_guard lock(mu_);
  json object = {{"kind", "ConfigMap"},
                 {"apiVersion", "v1"},
                 {"metadata", {{"resourceVersion", std::to_string(++rv_)}}}};
  log_.push_back({rv_, "", "BOOKMARK", object});
  cv_.notify_all();
}

void FakeApiServer::HoldWatches() {
  std::lock_guard lock(mu_);
  held_ = true;
}

void FakeApiServer::DropWatches(bool compact) {
  std::lock_guard lock(mu_);
  held_ = false;
  ++drop_generation_;
  if (compact) compacted_ = rv_;
  cv_.notify_all();
}

void FakeApiServer::ExpireContinueTokens(int n) {
  std::lock_guard lock(mu_);
  expire_continue_ = n;
}

void FakeApiServer::AddCustomResource(const std::string& group, const std::string& version,
                                      const std::string& kind, const std::string& plural) {
  std::lock_guard lock(mu_);
  custom_groups_.push_back(CustomGroupAggregated(group, version, kind, plural));
}

void FakeApiServer::SetHook(std::function<bool(const net::Request&, net::ResponseWriter&)> hook) {
  std::lock_guard lock(mu_);
  hook_ = std::move(hook);
}

std::vector<FakeApiServer::Recorded> FakeApiServer::requests() {
  std::lock_guard lock(mu_);
  return requests_;
}

std::vector<FakeApiServer::Recorded> FakeApiServer::RequestsTo(const std::string& path,
                                                               const std::string& method) {
  std::vector<Recorded> out;
  for (auto& r : requests()) {
    if (r.path == path && (method.empty() || r.method == method)) out.push_back(std::move(r));
  }
  return out;
}

int FakeApiServer::active_watches() {
  std::lock_guard lock(mu_);
  return active_watches_;
}

// /api/v1[/namespaces/<ns>]/<resource>[/<name>[/<sub>]] and /apis/<g>/<v>/...
bool FakeApiServer::ParseRoute(const std::string& path, Route* route) {
  std::vector<std::string> parts;
  std::stringstream ss(path);
  for (std::string part; std::getline(ss, part, '/');) {
    if (!part.empty()) parts.push_back(part);
  }
  size_t prefix_len;
  if (parts.size() >= 2 && parts[0] == "api") {
    prefix_len = 2;
  } else if (parts.size() >= 3 && parts[0] == "apis") {
    prefix_len = 3;
  } else {
    return false;
  }
  std::string collection;
  for (size_t i = 0; i < prefix_len; ++i) collection += "/" + parts[i];
  std::vector<std::string> rest(parts.begin() + static_cast<long>(prefix_len), parts.end());
  if (rest.empty()) return false;
  size_t i = 0;
  if (rest[0] == "namespaces" && rest.size() >= 3) {
    collection += "/namespaces/" + rest[1];
    i = 2;
  }
  collection += "/" + rest[i];
  route->collection = collection;
  route->name = rest.size() > i + 1 ? rest[i + 1] : "";
  route->subresource = rest.size() > i + 2 ? rest[i + 2] : "";
  return true;
}

bool FakeApiServer::Discovery(const net::Request& request, net::ResponseWriter& w) {
  const std::string accept(request.headers.Get("accept").value_or(""));
  const bool aggregated =
      options_.aggregated_discovery && accept.find("as=APIGroupDiscoveryList") != std::string::npos;
  const char* kAggregatedType =
      "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
  std::lock_guard lock(mu_);
  if (request.path == "/api") {
    if (aggregated) {
      net::Reply(w, 200, kAggregatedType, CoreAggregated().dump());
    } else {
      ReplyJson(w, 200, {{"kind", "APIVersions"}, {"versions", {"v1"}}});
    }
    return true;
  }
  if (request.path == "/apis") {
    if (aggregated) {
      json doc = json::parse(Testdata("discovery_aggregated_v2.json"));
      for (const auto& g : custom_groups_) doc["items"].push_back(g);
      net::Reply(w, 200, kAggregatedType, doc.dump());
      return true;
    }
    json groups = json::array();
    auto group = [](const std::string& name, const std::string& version) {
      json v = {{"groupVersion", name + "/" + version}, {"version", version}};
      return json{{"name", name}, {"versions", {v}}, {"preferredVersion", v}};
    };
    groups.push_back(group("apps", "v1"));
    groups.push_back(group("broken.example.com", "v1"));  // its list fails: skipped
    for (const auto& g : custom_groups_) {
      groups.push_back(group(S(g["metadata"], "name"), S(g["versions"][0], "version")));
    }
    ReplyJson(w, 200, {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}});
    return true;
  }
  if (aggregated) return false;
  if (request.path == "/api/v1") {
    net::Reply(w, 200, "application/json", Testdata("discovery_api__v1.json"));
    return true;
  }
  if (request.path == "/apis/apps/v1") {
    net::Reply(w, 200, "application/json", Testdata("discovery_apis__apps__v1.json"));
    return true;
  }
  if (request.path == "/apis/broken.example.com/v1") {
    net::Reply(w, 503, "text/plain", "service unavailable\n");
    return true;
  }
  for (const auto& g : custom_groups_) {
    const std::string name = S(g["metadata"], "name");
    const json& v = g["versions"][0];
    if (request.path != "/apis/" + name + "/" + S(v, "version")) continue;
    json resources = json::array();
    for (const auto& r : v["resources"]) {
      resources.push_back({{"name", r["resource"]},
                           {"singularName", r["singularResource"]},
                           {"kind", r["responseKind"]["kind"]},
                           {"namespaced", true},
                           {"verbs", r["verbs"]}});
    }
    ReplyJson(w, 200,
              {{"kind", "APIResourceList"},
               {"groupVersion", name + "/" + S(v, "version")},
               {"resources", resources}});
    return true;
  }
  return false;
}

void FakeApiServer::Handle(const net::Request& request, net::ResponseWriter& w) {
  Recorded rec{request.method,
               request.target,
               request.path,
               request.query,
               std::string(request.headers.Get("authorization").value_or("")),
               std::string(request.headers.Get("content-type").value_or("")),
               std::string(request.headers.Get("accept").value_or("")),
               std::string(request.headers.Get("user-agent").value_or("")),
               request.body};
  std::function<bool(const net::Request&, net::ResponseWriter&)> hook;
  {
    std::lock_guard lock(mu_);
    requests_.push_back(std::move(rec));
    hook = hook_;
  }
  if (!options_.token.empty() &&
      request.headers.Get("authorization").value_or("") != "Bearer " + options_.token) {
    net::Reply(w, 401, "application/json", StatusBody(401, "Unauthorized", "Unauthorized"));
    return;
  }
  if (hook && hook(request, w)) return;
  if (request.method == "GET" && Discovery(request, w)) return;
  Route route;
  if (!ParseRoute(request.path, &route)) {
    net::Reply(w, 404, "application/json",
               StatusBody(404, "NotFound", "the server could not find the requested resource"));
    return;
  }
  const std::string method = request.method;
  if (method == "GET" && route.name.empty()) {
    if (request.QueryParam("watch").value_or("") == "1" ||
        request.QueryParam("watch").value_or("") == "true") {
      Watch(request, w, route);
    } else {
      List(request, w, route);
    }
    return;
  }
  std::unique_lock lock(mu_);
  auto& items = objects_[route.collection];
  auto it = route.name.empty() ? items.end() : items.find(route.name);
  auto not_found = [&] {
    net::Reply(w, 404, "application/json",
               StatusBody(404, "NotFound", fmt::format("\"{}\" not found", route.name)));
  };
  if (method == "POST" && route.name.empty()) {
    json object = json::parse(request.body, nullptr, false);
    const std::string name = S(object["metadata"], "name");
    if (items.count(name) > 0) {
      net::Reply(w, 409, "application/json",
                 StatusBody(409, "AlreadyExists", fmt::format("\"{}\" already exists", name)));
      return;
    }
    ReplyJson(w, 201, PutLocked(route.collection, std::move(object)));
    return;
  }
  if (it == items.end()) return not_found();
  if (method == "GET" && route.subresource == "scale") {
    ReplyJson(w, 200,
              {{"kind", "Scale"},
               {"apiVersion", "autoscaling/v1"},
               {"spec", {{"replicas", it->second["spec"].value("replicas", 0)}}}});
    return;
  }
  if (method == "GET") return ReplyJson(w, 200, it->second);
  if (method == "PUT") {
    json object = json::parse(request.body, nullptr, false);
    const std::string rv = S(object["metadata"], "resourceVersion");
    if (!rv.empty() && rv != S(it->second["metadata"], "resourceVersion")) {
      net::Reply(w, 409, "application/json",
                 StatusBody(409, "Conflict",
                            fmt::format("Operation cannot be fulfilled on \"{}\": the object has "
                                        "been modified; please apply your changes to the latest "
                                        "version and try again",
                                        route.name)));
      return;
    }
    ReplyJson(w, 200, PutLocked(route.collection, std::move(object)));
    return;
  }
  if (method == "PATCH") {
    // Merge semantics for every patch type (enough for these tests; the body is JSON).
    json patch = json::parse(request.body, nullptr, false);
    json object = it->second;
    if (route.subresource == "scale") {
      object["spec"]["replicas"] = patch["spec"]["replicas"];
    } else {
      object.merge_patch(patch);
    }
    ReplyJson(w, 200, PutLocked(route.collection, std::move(object)));
    return;
  }
  if (method == "DELETE") {
    json object = it->second;
    lock.unlock();
    Remove(route.collection, route.name);
    ReplyJson(w, 200, object);
    return;
  }
  net::Reply(w, 405, "application/json", StatusBody(405, "MethodNotAllowed", method));
}

void FakeApiServer::List(const net::Request& request, net::ResponseWriter& w, const Route& route) {
  std::lock_guard lock(mu_);
  const std::string token(request.QueryParam("continue").value_or(""));
  size_t offset = 0;
  if (!token.empty()) {
    if (expire_continue_ > 0) {
      --expire_continue_;
      net::Reply(w, 410, "application/json",
                 StatusBody(410, "Expired",
                            "The provided continue parameter is too old to display a consistent "
                            "list result. You can start a new list without the continue "
                            "parameter."));
      return;
    }
    // Tokens look like "tok/<offset>+<rv>=": '/', '+' and '=' must survive the query string.
    if (token.rfind("tok/", 0) != 0 || token.find('+') == std::string::npos ||
        token.back() != '=') {
      net::Reply(w, 400, "application/json", StatusBody(400, "BadRequest", "bad continue token"));
      return;
    }
    offset = std::stoul(token.substr(4, token.find('+') - 4));
  }
  const auto& items = objects_[route.collection];
  const int64_t limit = std::stoll(std::string(request.QueryParam("limit").value_or("0")));
  json page = json::array();
  size_t i = 0;
  for (const auto& [name, object] : items) {
    if (i++ < offset) continue;
    if (limit > 0 && static_cast<int64_t>(page.size()) == limit) break;
    json item = object;
    item.erase("kind");
    item.erase("apiVersion");
    page.push_back(std::move(item));
  }
  json metadata = {{"resourceVersion", std::to_string(rv_)}};
  const size_t next = offset + page.size();
  if (limit > 0 && next < items.size()) {
    metadata["continue"] = fmt::format("tok/{}+{}=", next, rv_);
    metadata["remainingItemCount"] = items.size() - next;
  }
  ReplyJson(w, 200,
            {{"kind", "List"}, {"apiVersion", "v1"}, {"metadata", metadata}, {"items", page}});
}

void FakeApiServer::Watch(const net::Request& request, net::ResponseWriter& w, const Route& route) {
  std::unique_lock lock(mu_);
  const std::string rv_param(request.QueryParam("resourceVersion").value_or(""));
  const int64_t from = rv_param.empty() ? 0 : std::stoll(rv_param);
  if (from > 0 && from < compacted_) {
    const std::string message = fmt::format("too old resource version: {} ({})", from, compacted_);
    if (options_.gone_as_http) {
      net::Reply(w, 410, "application/json", StatusBody(410, "Expired", message));
    } else {
      json event = {{"type", "ERROR"},
                    {"object", json::parse(StatusBody(410, "Expired", message))}};
      net::Reply(w, 200, "application/json", event.dump() + "\n");
    }
    return;
  }
  w.SetStatus(200);
  w.SetHeader("Content-Type", "application/json");
  if (!options_.chunked_watch) w.SetHeader("Content-Length", "1000000000");
  const int generation = drop_generation_;
  int64_t cursor = from;
  std::string out;
  if (from == 0) {  // "start at most recent": the current objects as ADDED first
    for (const auto& [name, object] : objects_[route.collection]) {
      out += json{{"type", "ADDED"}, {"object", object}}.dump() + "\n";
    }
    cursor = rv_;
  }
  ++active_watches_;
  for (;;) {
    if (!held_) {
      for (const auto& e : log_) {
        if (e.rv <= cursor || (!e.collection.empty() && e.collection != route.collection)) continue;
        out += json{{"type", e.type}, {"object", e.object}}.dump() + "\n";
        cursor = e.rv;
      }
    }
    lock.unlock();
    // An empty first write still commits the headers, so the client sees the stream start.
    const bool ok = w.Write(out).ok();
    out.clear();
    lock.lock();
    if (!ok || shutdown_ || drop_generation_ != generation) break;
    cv_.wait_for(lock, std::chrono::milliseconds(20));
    if (shutdown_ || drop_generation_ != generation) break;
  }
  --active_watches_;
}

}  // namespace kobs::k8s::testing
