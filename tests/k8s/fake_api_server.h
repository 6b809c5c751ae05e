// A small in-process fake of the Kubernetes API server for client tests, on net::HttpServer:
// discovery (aggregated or legacy, from testdata), objects of any resource path kept in memory
// with resourceVersions and uids, paged lists (continue tokens that can be made to expire),
// create/update (409 on a stale resourceVersion)/patch/delete/scale, and watch streams from an
// event log, with bookmarks, 410 for compacted versions (an HTTP answer or an ERROR event),
// held and dropped streams. Every request is recorded. A hook can answer requests first.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/metrics.h"
#include "net/http.h"
#include "net/http_server.h"

namespace kobs::k8s::testing {

class FakeApiServer {
 public:
  struct Options {
    bool aggregated_discovery = true;
    std::string token;  // when set, requests need "Authorization: Bearer <token>" (else 401)
    // How a watch from a compacted resourceVersion fails: an ERROR event or HTTP 410.
    bool gone_as_http = false;
    // Streams use chunked framing and end cleanly when dropped; else a huge Content-Length,
    // so a drop is an abrupt end (curl: partial file).
    bool chunked_watch = false;
    std::string tls_cert_pem, tls_key_pem;
  };

  struct Recorded {
    std::string method;
    std::string target;  // raw, as sent
    std::string path;
    std::vector<std::pair<std::string, std::string>> query;  // decoded
    std::string authorization, content_type, accept, user_agent;
    std::string body;
    std::string Param(const std::string& name) const;
  };

  explicit FakeApiServer(Options options);
  ~FakeApiServer();

  std::string url() const;

  // Creates or replaces `object` (by metadata.name) in `collection` (e.g.
  // "/api/v1/namespaces/default/configmaps"); assigns uid (on create) and resourceVersion and
  // logs ADDED/MODIFIED. Returns the stored object.
  nlohmann::json Put(const std::string& collection, nlohmann::json object);
  void Remove(const std::string& collection, const std::string& name);  // logs DELETED
  std::optional<nlohmann::json> Object(const std::string& collection, const std::string& name);
  int64_t resource_version();

  // A BOOKMARK at the current resourceVersion for every stream.
  void Bookmark();
  // Live streams send nothing until DropWatches().
  void HoldWatches();
  // Ends every live stream; with `compact`, watches from versions before the current one get
  // 410 (the current one stays valid, as a list's version is).
  void DropWatches(bool compact);
  // The next `n` list requests with a continue token get 410 Expired.
  void ExpireContinueTokens(int n);
  // Adds a custom resource group to discovery (a CRD created later).
  void AddCustomResource(const std::string& group, const std::string& version,
                         const std::string& kind, const std::string& plural);

  // Runs first for every request; returning true means it answered.
  void SetHook(std::function<bool(const net::Request&, net::ResponseWriter&)> hook);

  std::vector<Recorded> requests();
  // Recorded requests whose path is `path` (and method, when given).
  std::vector<Recorded> RequestsTo(const std::string& path, const std::string& method = "");
  int active_watches();

 private:
  struct LogEntry {
    int64_t rv;
    std::string collection;  // "" for bookmarks (every stream)
    std::string type;
    nlohmann::json object;
  };
  struct Route {
    std::string collection;
    std::string name;
    std::string subresource;
  };

  void Handle(const net::Request& request, net::ResponseWriter& w);
  bool Discovery(const net::Request& request, net::ResponseWriter& w);
  void List(const net::Request& request, net::ResponseWriter& w, const Route& route);
  void Watch(const net::Request& request, net::ResponseWriter& w, const Route& route);
  nlohmann::json PutLocked(const std::string& collection, nlohmann::json object);
  static bool ParseRoute(const std::string& path, Route* route);

  Options options_;
  MetricsRegistry metrics_;
  std::unique_ptr<net::HttpServer> server_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::map<std::string, nlohmann::json>> objects_;
  std::vector<LogEntry> log_;
  int64_t rv_ = 100;
  int64_t compacted_ = 0;  // watches from a version below this get 410
  int64_t next_uid_ = 1;
  int drop_generation_ = 0;
  bool held_ = false;
  bool shutdown_ = false;
  int expire_continue_ = 0;
  int active_watches_ = 0;
  nlohmann::json custom_groups_ = nlohmann::json::array();
  std::vector<Recorded> requests_;
  std::function<bool(const net::Request&, net::ResponseWriter&)> hook_;
};

// A JSON API Status body.
std::string StatusBody(int code, const std::string& reason, const std::string& message);

}  // namespace kobs::k8s::testing
