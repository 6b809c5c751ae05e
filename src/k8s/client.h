// A Kubernetes API client (libcurl): raw requests, discovery into a RestMapper, unstructured
// get/list/create/update/patch/delete/scale on any resource, paged lists and watch streams.
// Thread-safe: one Client serves all threads, with up to max_connections keep-alive connections
// for requests; each watch stream has a connection of its own. Every request, watch connects
// included, passes a client-side token bucket (qps/burst, as client-go). API errors keep their
// reason and HTTP code (api_status.h: IsConflict, IsGone, ApiReason). Conventions followed:
// https://kubernetes.io/docs/reference/using-api/api-concepts/
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "k8s/kube_config.h"
#include "k8s/patch.h"
#include "k8s/rate_limiter.h"
#include "k8s/rest_mapper.h"
#include "k8s/watch_decoder.h"

namespace kobs::k8s {

class Transport;

struct ClientOptions {
  // Client-side rate limit (token bucket) shared by all requests and watch connects; qps 0:
  // unlimited.
  double qps = 50;
  int burst = 100;
  // Bound on one request, connect to last byte. Not applied to watch streams.
  std::chrono::milliseconds timeout{30000};
  // A watch stream that receives no byte for this long ends with DeadlineExceeded (the Watcher
  // then reconnects). Bookmarks and events keep it alive.
  std::chrono::milliseconds watch_idle_timeout{300000};
  std::string user_agent = "kobs/0.1";
  // Keep-alive connections for requests, which is also the most requests in flight.
  int max_connections = 8;
  // A kind or name discovery does not know refreshes discovery at most this often.
  std::chrono::milliseconds discovery_refresh_interval{5000};
  // Requests the server throttles (429, or 503 with Retry-After) are retried this many times,
  // after the Retry-After the server asks for (at most 10 s).
  int max_throttle_retries = 3;
};

struct ListOptions {
  std::string label_selector;  // selector.h syntax
  std::string field_selector;
  int64_t limit = 0;  // page size; 0: everything in one answer
  std::string continue_token;
  std::string resource_version;        // "": a consistent (quorum) read
  std::string resource_version_match;  // "", "NotOlderThan" or "Exact"
  // Watch only: the server ends the stream after this long; 0 picks 5 to 10 minutes at random
  // (client-go's reflector does, to spread reconnects).
  int64_t timeout_seconds = 0;
};

struct ListResult {
  nlohmann::json items = nlohmann::json::array();
  std::string resource_version;
  std::string continue_token;         // "": last page
  int64_t remaining_item_count = -1;  // -1: the server did not say
};

struct DeleteOptions {
  std::string propagation_policy;  // "Background", "Foreground", "Orphan"; "": server default
  std::optional<std::string> precondition_uid;
  std::optional<std::string> precondition_resource_version;
  std::optional<int64_t> grace_period_seconds;
};

class Client {
 public:
  // Validates the server URL and options; does not connect.
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClusterConfig config,
                                                        ClientOptions options = {});
  ~Client();

  // One request; `path_and_query` starts with '/', its query already percent-encoded. The
  // response body for 2xx, else the API's error (StatusFromResponse). Transport failures are
  // Unavailable, timeouts DeadlineExceeded.
  absl::StatusOr<std::string> Do(std::string_view method, std::string_view path_and_query,
                                 std::string_view body = "",
                                 std::string_view content_type = "application/json");

  // Reloads discovery: aggregated (apidiscovery.k8s.io/v2, then v2beta1) from /api and /apis,
  // or, from servers without it, /api/<v> and /apis/<group>/<version> one by one (a group
  // version that fails, like an unavailable aggregated API, is skipped).
  absl::Status RefreshDiscovery();
  // The resource for `kind` in `api_version` ("v1", "apps/v1"); NotFound after one refresh of
  // discovery (at most every discovery_refresh_interval), so CRDs created later are found.
  absl::StatusOr<ResourceInfo> Resource(std::string_view api_version, std::string_view kind);
  // A name as kubectl takes it ("pods", "deploy", "deployments.apps"); refreshes likewise.
  absl::StatusOr<ResourceInfo> ResourceByName(std::string_view name);

  // `ns` is ignored for cluster-scoped resources. Names must be valid path segments.
  absl::StatusOr<nlohmann::json> Get(const ResourceInfo& resource, std::string_view ns,
                                     std::string_view name);
  // One page.
  absl::StatusOr<ListResult> List(const ResourceInfo& resource, std::string_view ns,
                                  const ListOptions& options = {});
  // Every page, as a list object: {"kind": "<Kind>List", "apiVersion", "metadata":
  // {"resourceVersion"}, "items"}. When a continue token expires (410) it lists everything in
  // one request instead, as client-go's pager does, so items are neither missed nor repeated.
  absl::StatusOr<nlohmann::json> ListAll(const ResourceInfo& resource, std::string_view ns,
                                         ListOptions options, int64_t page_size = 500);
  // `ns` "" takes the object's metadata.namespace.
  absl::StatusOr<nlohmann::json> Create(const ResourceInfo& resource, std::string_view ns,
                                        const nlohmann::json& obj);
  // PUT of metadata.name; the object's resourceVersion (if any) makes it conditional (409
  // Conflict when stale). `subresource` e.g. "status".
  absl::StatusOr<nlohmann::json> Update(const ResourceInfo& resource, std::string_view ns,
                                        const nlohmann::json& obj,
                                        std::string_view subresource = "");
  // `field_manager` is sent for every type (required for apply); `force` only for apply.
  absl::StatusOr<nlohmann::json> Patch(const ResourceInfo& resource, std::string_view ns,
                                       std::string_view name, PatchType type,
                                       std::string_view patch, std::string_view subresource = "",
                                       std::string_view field_manager = "kobs", bool force = false);
  absl::Status Delete(const ResourceInfo& resource, std::string_view ns, std::string_view name,
                      const DeleteOptions& options = {});
  // spec.replicas of the scale subresource (0 when unset); SetScale merge-patches it.
  absl::StatusOr<int64_t> GetScale(const ResourceInfo& resource, std::string_view ns,
                                   std::string_view name);
  absl::Status SetScale(const ResourceInfo& resource, std::string_view ns, std::string_view name,
                        int64_t replicas);

  // One watch stream (watch=1, allowWatchBookmarks, resourceVersion, timeoutSeconds,
  // selectors); blocks, calling `on_event` for each event (ERROR events included) until it
  // returns false (OK), the server ends the stream (OK), or a failure: the API's error for a
  // refused watch (410 Gone: IsGone), Unavailable for a dropped connection, DeadlineExceeded
  // after watch_idle_timeout of silence, InvalidArgument/DataLoss for a corrupt stream, and
  // Cancelled once `stop` is requested (which aborts the transfer at once).
  absl::Status WatchOnce(const ResourceInfo& resource, std::string_view ns,
                         const ListOptions& options,
                         const std::function<bool(WatchEvent&)>& on_event,
                         std::stop_token stop = {});

  const ClusterConfig& config() const { return config_; }
  const ClientOptions& options() const { return options_; }

 private:
  Client(ClusterConfig config, ClientOptions options, std::unique_ptr<Transport> transport);
  absl::StatusOr<std::string> Request(std::string_view method, std::string_view path_and_query,
                                      std::string_view body, std::string_view content_type,
                                      std::string_view accept);
  absl::StatusOr<nlohmann::json> JsonRequest(std::string_view method, const std::string& path,
                                             std::string_view body = "",
                                             std::string_view content_type = "application/json");
  absl::StatusOr<RestMapper> FetchDiscovery();
  absl::Status RefreshLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(refresh_mu_);
  std::shared_ptr<const RestMapper> Mapper();
  // Runs `lookup` on the mapper, refreshing discovery (rate-limited) when it says NotFound.
  absl::StatusOr<ResourceInfo> Lookup(
      const std::function<absl::StatusOr<ResourceInfo>(const RestMapper&)>& lookup);

  const ClusterConfig config_;
  const ClientOptions options_;
  std::unique_ptr<Transport> transport_;
  RateLimiter limiter_;

  absl::Mutex refresh_mu_;  // one discovery refresh at a time; taken before mu_
  absl::Mutex mu_;
  std::shared_ptr<const RestMapper> mapper_ ABSL_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point refreshed_at_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kobs::k8s
