#include "k8s/transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "common/absl_compat.h"
#include "common/status_macros.h"
#include "net/curl_pool.h"

namespace kobs::k8s {

struct Transport::Settings {
  ClusterConfig config;
  ClientOptions options;
  std::string base_url;     // scheme://authority[/prefix], no trailing slash
  std::string connect_to;   // CURLOPT_CONNECT_TO entry when tls_server_name is set, else ""
  std::string host_header;  // the "Host:" line that goes with connect_to, else ""
};

namespace {

// Bytes kept of an error body of a stream (the rest of the body is dropped).
constexpr size_t kMaxErrorBody = 1 << 20;

std::string_view Strip(std::string_view s) { return ToStd(absl::StripAsciiWhitespace(ToAbsl(s))); }

bool HasLineBreak(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// Response state that curl's callbacks fill in.
struct Exchange {
  CURL* handle = nullptr;
  HttpResponse response;
  // Streams: where a 2xx body goes; null for plain requests (the body is kept).
  const std::function<bool(std::string_view)>* on_data = nullptr;
  bool consumer_done = false;  // on_data returned false
  std::stop_token stop;
  bool cancelled = false;
  std::chrono::steady_clock::time_point last_activity = std::chrono::steady_clock::now();
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const size_t len = size * n;
  x->last_activity = std::chrono::steady_clock::now();
  std::string_view line = Strip(std::string_view(data, len));
  if (absl::StartsWith(ToAbsl(line), "HTTP/")) {
    x->response = HttpResponse();  // a new response (after 100 Continue): forget the last one
    return len;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  const std::string name = absl::AsciiStrToLower(ToAbsl(line.substr(0, colon)));
  const std::string_view value = Strip(line.substr(colon + 1));
  if (name == "content-type") {
    x->response.content_type = std::string(value);
  } else if (name == "retry-after") {
    x->response.retry_after = std::string(value);
  }
  return len;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const size_t len = size * n;
  x->last_activity = std::chrono::steady_clock::now();
  if (x->response.status == 0) {
    curl_easy_getinfo(x->handle, CURLINFO_RESPONSE_CODE, &x->response.status);
  }
  const bool success = x->response.status >= 200 && x->response.status < 300;
  if (x->on_data == nullptr || !success) {
    if (x->on_data != nullptr) {
      x->response.body.append(data, std::min(len, kMaxErrorBody - x->response.body.size()));
    } else {
      x->response.body.append(data, len);
    }
    return len;
  }
  if (!(*x->on_data)(std::string_view(data, len))) {
    x->consumer_done = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  return len;
}

// Called about once a second while waiting and whenever bytes move.
int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* x = static_cast<Exchange*>(user);
  if (x->stop.stop_requested()) {
    x->cancelled = true;
    return 1;  // aborts with CURLE_ABORTED_BY_CALLBACK
  }
  return 0;
}

using SlistPtr = std::unique_ptr<curl_slist, void (*)(curl_slist*)>;

// Drops the handle's pointers to buffers that die before it does (the pool resets a returned
// handle only after the lease's owner is gone).
void ForgetBuffers(CURL* h) {
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, static_cast<curl_slist*>(nullptr));
  curl_easy_setopt(h, CURLOPT_CONNECT_TO, static_cast<curl_slist*>(nullptr));
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, static_cast<char*>(nullptr));
}

// Everything but the method and body handling; the returned list must outlive the transfer.
absl::StatusOr<SlistPtr> Prepare(CURL* h, const Transport::Settings& s, Exchange& x,
                                 const std::string& url, std::string_view content_type,
                                 std::string_view accept, char* error_buffer) {
  SlistPtr headers(nullptr, curl_slist_free_all);
  auto add = [&](const std::string& line) {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (next != nullptr) {
      (void)headers.release();
      headers.reset(next);
    }
  };
  if (HasLineBreak(accept) || HasLineBreak(content_type)) {
    return absl::InvalidArgumentError("header values must not contain CR, LF or NUL");
  }
  KOBS_ASSIGN_OR_RETURN(const std::string authorization, s.config.Authorization());
  if (HasLineBreak(authorization)) {
    return absl::InvalidArgumentError("the credentials contain a line break");
  }
  add(fmt::format("Accept: {}", accept));
  if (!content_type.empty()) add(fmt::format("Content-Type: {}", content_type));
  if (!authorization.empty()) add("Authorization: " + authorization);
  if (!s.host_header.empty()) add(s.host_header);
  add("Expect:");  // no 100-continue round trip before bodies
  x.handle = h;
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for timeouts
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_USERAGENT, s.options.user_agent.c_str());
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(s.options.timeout.count()));
  // Keeps idle pooled connections and quiet watches alive through NATs and firewalls.
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 30L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 15L);
  const ClusterConfig& c = s.config;
  if (!c.ca_pem.empty()) {
    curl_blob ca{const_cast<char*>(c.ca_pem.data()), c.ca_pem.size(), CURL_BLOB_COPY};
    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
    // Only the cluster's CA: not also the system's CA directory.
    curl_easy_setopt(h, CURLOPT_CAPATH, static_cast<char*>(nullptr));
  }
  if (!c.client_cert_pem.empty()) {
    curl_blob cert{const_cast<char*>(c.client_cert_pem.data()), c.client_cert_pem.size(),
                   CURL_BLOB_COPY};
    curl_blob key{const_cast<char*>(c.client_key_pem.data()), c.client_key_pem.size(),
                  CURL_BLOB_COPY};
    curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (c.insecure_skip_tls_verify) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
  return headers;
}

absl::Status TransferError(CURLcode rc, const char* error, const Exchange& x,
                           std::string_view method, std::string_view where) {
  if (x.cancelled) return absl::CancelledError(fmt::format("{} {}: cancelled", method, where));
  const std::string what = error[0] != '\0' ? std::string(error) : curl_easy_strerror(rc);
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    return absl::DeadlineExceededError(fmt::format("{} {}: {}", method, where, what));
  }
  return absl::UnavailableError(fmt::format("{} {}: {}", method, where, what));
}

// The URL path without the query, for messages.
std::string_view PathOnly(std::string_view path_and_query) {
  return path_and_query.substr(0, path_and_query.find('?'));
}

}  // namespace

Transport::Transport(std::unique_ptr<const Settings> settings)
    : settings_(std::move(settings)),
      pool_(std::make_unique<net::CurlPool>(settings_->options.max_connections)) {}

Transport::~Transport() = default;

absl::StatusOr<std::unique_ptr<Transport>> Transport::Create(const ClusterConfig& config,
                                                             const ClientOptions& options) {
  net::CurlGlobalInit();
  auto s = std::make_unique<Settings>();
  s->config = config;
  s->options = options;
  if (config.server.empty()) return absl::InvalidArgumentError("cluster config: no server URL");
  if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
    return absl::InvalidArgumentError("cluster config: a client certificate needs its key");
  }
  CURLU* u = curl_url();
  if (u == nullptr) return absl::ResourceExhaustedError("curl_url: out of memory");
  std::unique_ptr<CURLU, void (*)(CURLU*)> url(u, curl_url_cleanup);
  if (CURLUcode rc = curl_url_set(u, CURLUPART_URL, config.server.c_str(), 0); rc != CURLUE_OK) {
    return absl::InvalidArgumentError(
        fmt::format("server '{}': {}", config.server, curl_url_strerror(rc)));
  }
  auto part = [&](CURLUPart p, unsigned flags = 0) {
    char* v = nullptr;
    std::string out;
    if (curl_url_get(u, p, &v, flags) == CURLUE_OK && v != nullptr) out = v;
    curl_free(v);
    return out;
  };
  const std::string scheme = absl::AsciiStrToLower(part(CURLUPART_SCHEME));
  if (scheme != "https" && scheme != "http") {
    return absl::InvalidArgumentError(
        fmt::format("server '{}': scheme must be https:// or http://", config.server));
  }
  if (!part(CURLUPART_QUERY).empty() || !part(CURLUPART_FRAGMENT).empty() ||
      !part(CURLUPART_USER).empty()) {
    return absl::InvalidArgumentError(fmt::format(
        "server '{}': must not have credentials, a query or a fragment", config.server));
  }
  const std::string host = part(CURLUPART_HOST);  // IPv6 in brackets
  const std::string port = part(CURLUPART_PORT, CURLU_DEFAULT_PORT);
  std::string path = part(CURLUPART_PATH);
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (host.empty()) {
    return absl::InvalidArgumentError(fmt::format("server '{}': no host", config.server));
  }
  if (!config.tls_server_name.empty() && scheme == "https") {
    // The name goes into the URL, so curl sends it as SNI and verifies the certificate for
    // it, and CONNECT_TO sends the connection to the real host. The Host header keeps the
    // real authority, as client-go's ServerName does.
    const std::string& name = config.tls_server_name;
    if (name.find_first_of(":/[]@ \r\n") != std::string::npos) {
      return absl::InvalidArgumentError(
          fmt::format("tls-server-name '{}' is not a host name", name));
    }
    s->base_url = fmt::format("{}://{}:{}{}", scheme, name, port, path);
    s->connect_to = fmt::format("{}:{}:{}:{}", name, port, host, port);
    s->host_header = fmt::format("Host: {}:{}", host, port);
  } else {
    s->base_url = fmt::format("{}://{}:{}{}", scheme, host, port, path);
  }
  return std::unique_ptr<Transport>(new Transport(std::move(s)));
}

absl::StatusOr<HttpResponse> Transport::Do(std::string_view method, std::string_view path_and_query,
                                           std::string_view body, std::string_view content_type,
                                           std::string_view accept, std::stop_token stop) {
  const Settings& s = *settings_;
  if (method.empty() || !std::all_of(method.begin(), method.end(), [](char c) {
        return std::isupper(static_cast<unsigned char>(c));
      })) {
    return absl::InvalidArgumentError(fmt::format("invalid HTTP method '{}'", method));
  }
  const std::string url = s.base_url + std::string(path_and_query);
  net::CurlPool::Lease lease = pool_->Acquire();
  if (lease == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");
  CURL* h = lease.get();
  Exchange x;
  x.stop = stop;
  char error[CURL_ERROR_SIZE] = {0};
  const bool has_body = method != "GET" && method != "HEAD";
  KOBS_ASSIGN_OR_RETURN(SlistPtr headers,
                        Prepare(h, s, x, url, has_body ? content_type : "", accept, error));
  SlistPtr connect_to(nullptr, curl_slist_free_all);
  if (!s.connect_to.empty()) {
    connect_to.reset(curl_slist_append(nullptr, s.connect_to.c_str()));
    curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect_to.get());
  }
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(s.options.timeout.count()));
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "gzip");
  if (method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else if (method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else {
    const std::string m(method);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, m.c_str());  // curl copies strings
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.empty() ? "" : body.data());
  }
  if (stop.stop_possible()) {
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &OnProgress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
  }
  const CURLcode rc = curl_easy_perform(h);
  ForgetBuffers(h);
  if (rc != CURLE_OK) {
    return TransferError(rc, error, x, method, s.base_url + std::string(PathOnly(path_and_query)));
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x.response.status);
  return std::move(x.response);
}

absl::StatusOr<HttpResponse> Transport::Stream(std::string_view path_and_query,
                                               std::string_view accept,
                                               std::chrono::milliseconds idle,
                                               const std::function<bool(std::string_view)>& on_data,
                                               std::stop_token stop) {
  const Settings& s = *settings_;
  const std::string url = s.base_url + std::string(path_and_query);
  const std::string where = s.base_url + std::string(PathOnly(path_and_query));
  // Declared before the handles, which point to them until they are cleaned up.
  Exchange x;
  x.on_data = &on_data;
  char error[CURL_ERROR_SIZE] = {0};
  // Its own handles: a watch holds its connection for minutes, which would starve the pool;
  // and a multi handle, whose poll can be woken from another thread by a stop request.
  std::unique_ptr<CURL, void (*)(CURL*)> easy(curl_easy_init(), curl_easy_cleanup);
  std::unique_ptr<CURLM, CURLMcode (*)(CURLM*)> multi(curl_multi_init(), curl_multi_cleanup);
  if (easy == nullptr || multi == nullptr) return absl::ResourceExhaustedError("curl init failed");
  CURL* h = easy.get();
  CURLM* m = multi.get();
  KOBS_ASSIGN_OR_RETURN(SlistPtr headers, Prepare(h, s, x, url, "", accept, error));
  SlistPtr connect_to(nullptr, curl_slist_free_all);
  if (!s.connect_to.empty()) {
    connect_to.reset(curl_slist_append(nullptr, s.connect_to.c_str()));
    curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect_to.get());
  }
  curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  if (curl_multi_add_handle(m, h) != CURLM_OK) {
    ForgetBuffers(h);
    return absl::InternalError("curl_multi_add_handle failed");
  }

  // Idle is checked between polls: a poll waits at most a quarter of it (at least 10 ms, at
  // most 250 ms), or until a stop request wakes it.
  const auto poll_ms = static_cast<int>(std::clamp<int64_t>(idle.count() / 4, 10, 250));
  x.last_activity = std::chrono::steady_clock::now();
  absl::Status failure;
  CURLcode rc = CURLE_OK;
  {
    std::stop_callback wake(stop, [m] { curl_multi_wakeup(m); });
    for (;;) {
      int running = 0;
      if (CURLMcode mc = curl_multi_perform(m, &running); mc != CURLM_OK) {
        failure = absl::InternalError(fmt::format("GET {}: {}", where, curl_multi_strerror(mc)));
        break;
      }
      if (running == 0) {
        int left = 0;
        while (CURLMsg* msg = curl_multi_info_read(m, &left)) {
          if (msg->msg == CURLMSG_DONE) rc = msg->data.result;
        }
        break;
      }
      if (stop.stop_requested()) {
        failure = absl::CancelledError(fmt::format("GET {}: cancelled", where));
        break;
      }
      if (std::chrono::steady_clock::now() - x.last_activity >= idle) {
        failure = absl::DeadlineExceededError(
            fmt::format("GET {}: no data for {} ms", where, idle.count()));
        break;
      }
      if (CURLMcode mc = curl_multi_poll(m, nullptr, 0, poll_ms, nullptr); mc != CURLM_OK) {
        failure = absl::InternalError(fmt::format("GET {}: {}", where, curl_multi_strerror(mc)));
        break;
      }
    }
  }
  curl_multi_remove_handle(m, h);
  ForgetBuffers(h);
  if (!failure.ok()) return failure;
  if (x.consumer_done) return std::move(x.response);
  if (rc != CURLE_OK) return TransferError(rc, error, x, "GET", where);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x.response.status);
  return std::move(x.response);
}

}  // namespace kobs::k8s
