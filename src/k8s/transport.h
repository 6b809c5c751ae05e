// libcurl transport for k8s::Client (internal to the module): the API server's URL, TLS
// material and credentials applied to every exchange. Requests run on pooled keep-alive
// handles; streams (watches) on handles of their own, driven through a multi handle so that a
// stop request aborts them at once. Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "k8s/client.h"
#include "k8s/kube_config.h"

namespace kobs::net {
class CurlPool;
}

namespace kobs::k8s {

struct HttpResponse {
  long status = 0;
  std::string body;  // for Stream(): the body of a non-2xx answer only
  std::string content_type;
  std::string retry_after;  // the Retry-After header as sent, "" when absent
};

class Transport {
 public:
  struct Settings;  // the server, TLS, credentials and options; opaque (transport.cc)

  static absl::StatusOr<std::unique_ptr<Transport>> Create(const ClusterConfig& config,
                                                           const ClientOptions& options);
  ~Transport();

  // One exchange, bounded by options.timeout. Any HTTP status is a response; failures to get
  // one are Unavailable, DeadlineExceeded (timeout) or Cancelled (`stop`, checked about once
  // a second while waiting and whenever bytes move).
  absl::StatusOr<HttpResponse> Do(std::string_view method, std::string_view path_and_query,
                                  std::string_view body, std::string_view content_type,
                                  std::string_view accept, std::stop_token stop = {});

  // A GET whose 2xx body goes to `on_data` as it arrives. Ends with the response when the
  // body ends or `on_data` returns false; DeadlineExceeded after `idle` without a byte,
  // Cancelled at once when `stop` is requested, Unavailable when the connection fails.
  absl::StatusOr<HttpResponse> Stream(std::string_view path_and_query, std::string_view accept,
                                      std::chrono::milliseconds idle,
                                      const std::function<bool(std::string_view)>& on_data,
                                      std::stop_token stop);

 private:
  explicit Transport(std::unique_ptr<const Settings> settings);

  std::unique_ptr<const Settings> settings_;
  std::unique_ptr<net::CurlPool> pool_;
};

}  // namespace kobs::k8s
