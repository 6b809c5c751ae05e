#include "mcp/http_transport.h"

#include <algorithm>
#include <random>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include "absl/strings/match.h"
#include "common/absl_compat.h"
#include "common/config_util.h"
#include "common/status_macros.h"

namespace kobs::mcp {
namespace {

using json = nlohmann::json;

std::string NewSessionId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}{:016x}", rng(), rng());
}

void ReplyJson(net::ResponseWriter& w, int status, const json& body) {
  net::Reply(w, status, "application/json", body.dump());
}

// An HTTP-level refusal, with a JSON-RPC error body as the SDKs expect.
void Refuse(net::ResponseWriter& w, int status, int code, const std::string& message) {
  ReplyJson(w, status, ErrorResponse(nullptr, code, message));
}

bool IsLoopbackOrigin(std::string_view origin) {
  for (std::string_view host : {"http://localhost", "http://127.0.0.1", "http://[::1]",
                                "https://localhost", "https://127.0.0.1", "https://[::1]"}) {
    if (absl::StartsWith(ToAbsl(origin), ToAbsl(host)) &&
        (origin.size() == host.size() || origin[host.size()] == ':')) {
      return true;
    }
  }
  return false;
}

}  // namespace

absl::StatusOr<McpOptions> ParseMcpOptions(const YAML::Node& node) {
  McpOptions o;
  KOBS_RETURN_IF_ERROR(CheckKeys(node,
                                 {"listen", "bearer_token", "allowed_origins",
                                  "session_idle_timeout", "max_result_rows", "max_result_bytes",
                                  "max_execution_time", "rate_limit", "rate_burst"},
                                 "mcp"));
  KOBS_RETURN_IF_ERROR(ReadString(node, "listen", &o.listen));
  KOBS_RETURN_IF_ERROR(ReadString(node, "bearer_token", &o.bearer_token));
  std::string origins;
  KOBS_RETURN_IF_ERROR(ReadString(node, "allowed_origins", &origins));
  for (std::string_view rest = origins; !rest.empty();) {
    size_t comma = rest.find(',');
    std::string item(rest.substr(0, comma));
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) o.allowed_origins.push_back(item);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  std::chrono::milliseconds idle = o.session_idle_timeout, exec = o.max_execution_time;
  KOBS_RETURN_IF_ERROR(ReadDuration(node, "session_idle_timeout", &idle));
  KOBS_RETURN_IF_ERROR(ReadDuration(node, "max_execution_time", &exec));
  o.session_idle_timeout = std::chrono::duration_cast<std::chrono::seconds>(idle);
  o.max_execution_time = std::chrono::duration_cast<std::chrono::seconds>(exec);
  if (o.max_execution_time.count() < 1) {
    return absl::InvalidArgumentError("mcp.max_execution_time must be at least 1s");
  }
  int64_t rows = static_cast<int64_t>(o.max_result_rows);
  KOBS_RETURN_IF_ERROR(ReadInt(node, "max_result_rows", &rows));
  if (rows < 1) return absl::InvalidArgumentError("mcp.max_result_rows must be >= 1");
  o.max_result_rows = static_cast<uint64_t>(rows);
  KOBS_RETURN_IF_ERROR(ReadBytes(node, "max_result_bytes", &o.max_result_bytes));
  int64_t rate = static_cast<int64_t>(o.rate_limit), burst = static_cast<int64_t>(o.rate_burst);
  KOBS_RETURN_IF_ERROR(ReadInt(node, "rate_limit", &rate));
  KOBS_RETURN_IF_ERROR(ReadInt(node, "rate_burst", &burst));
  if (rate < 0 || burst < 1) {
    return absl::InvalidArgumentError("mcp.rate_limit must be >= 0 and mcp.rate_burst >= 1");
  }
  o.rate_limit = static_cast<double>(rate);
  o.rate_burst = static_cast<double>(burst);
  return o;
}

void HttpTransport::Register(net::HttpServer& http, const std::string& path) {
  http.Route(path, [this](const net::Request& rq, net::ResponseWriter& rs) { Handle(rq, rs); });
  http.Route("/sse", [this](const net::Request& rq, net::ResponseWriter& rs) { HandleSse(rq, rs); });
  http.Route("/messages",
             [this](const net::Request& rq, net::ResponseWriter& rs) { HandleMessage(rq, rs); });
}

void HttpTransport::Shutdown() {
  stopping_ = true;
  absl::MutexLock lock(&mu_);
  for (auto& [id, e] : sessions_) {
    absl::MutexLock out(&e->out_mu);
    e->out_cv.SignalAll();
  }
}

size_t HttpTransport::sessions() const {
  absl::MutexLock lock(&mu_);
  return sessions_.size();
}

bool HttpTransport::OriginAllowed(std::string_view origin) const {
  if (IsLoopbackOrigin(origin)) return true;
  return std::find(options_.allowed_origins.begin(), options_.allowed_origins.end(), origin) !=
         options_.allowed_origins.end();
}

bool HttpTransport::Admit(const std::string& client) {
  if (options_.rate_limit <= 0) return true;
  const auto now = std::chrono::steady_clock::now();
  absl::MutexLock lock(&mu_);
  if (buckets_.size() > 10000) buckets_.clear();  // bounded memory; buckets refill anyway
  auto [it, fresh] = buckets_.try_emplace(client, Bucket{options_.rate_burst, now});
  Bucket& b = it->second;
  b.tokens = std::min(options_.rate_burst,
                      b.tokens + std::chrono::duration<double>(now - b.refilled).count() *
                                     options_.rate_limit);
  b.refilled = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

void HttpTransport::ExpireIdle() {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    // A legacy session lives as long as its stream (which ends it).
    if (!it->second->legacy && now - it->second->last_used > options_.session_idle_timeout) {
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
}

bool HttpTransport::Gate(const net::Request& request, net::ResponseWriter& response) {
  if (auto origin = request.headers.Get("origin"); origin && !OriginAllowed(*origin)) {
    Refuse(response, 403, kInvalidRequest,
           fmt::format("origin {} is not allowed (mcp.allowed_origins)", *origin));
    return false;
  }
  if (!net::BearerTokenMatches(request.headers.Get("authorization").value_or(""),
                               options_.bearer_token)) {
    response.SetHeader("WWW-Authenticate", "Bearer");
    Refuse(response, 401, kInvalidRequest, "missing or wrong bearer token");
    return false;
  }
  if (!Admit(request.remote_address)) {
    response.SetHeader("Retry-After", "1");
    Refuse(response, 429, kInvalidRequest,
           fmt::format("rate limit: at most {} requests per second per client (mcp.rate_limit)",
                       options_.rate_limit));
    return false;
  }
  if (auto v = request.headers.Get("mcp-protocol-version"); v) {
    const auto& versions = SupportedProtocolVersions();
    if (std::find(versions.begin(), versions.end(), *v) == versions.end()) {
      Refuse(response, 400, kInvalidRequest,
             fmt::format("unsupported MCP-Protocol-Version {}; supported: {}", *v,
                         fmt::join(versions, ", ")));
      return false;
    }
  }
  return true;
}

void HttpTransport::HandleSse(const net::Request& request, net::ResponseWriter& response) {
  if (!Gate(request, response)) return;
  if (request.method != "GET") {
    response.SetHeader("Allow", "GET");
    Refuse(response, 405, kInvalidRequest, "open the stream with GET");
    return;
  }
  const std::string id = NewSessionId();
  auto entry = std::make_shared<Entry>();
  entry->legacy = true;
  entry->last_used = std::chrono::steady_clock::now();
  {
    absl::MutexLock lock(&mu_);
    sessions_[id] = entry;
  }
  response.SetStatus(200);
  response.SetHeader("Content-Type", "text/event-stream");
  response.SetHeader("Cache-Control", "no-cache");
  response.SetHeader("X-Accel-Buffering", "no");
  absl::Status ok = response.Write(fmt::format("event: endpoint\ndata: /messages?sessionId={}\n\n", id));
  while (ok.ok() && !stopping_) {
    std::deque<std::string> batch;
    {
      absl::MutexLock lock(&entry->out_mu);
      if (entry->outbox.empty()) entry->out_cv.WaitWithTimeout(&entry->out_mu, absl::Seconds(15));
      batch.swap(entry->outbox);
    }
    if (batch.empty()) {
      if (!stopping_) ok = response.Write(": keepalive\n\n");
      continue;
    }
    for (const auto& m : batch) {
      if (ok.ok()) ok = response.Write("event: message\ndata: " + m + "\n\n");
    }
  }
  absl::MutexLock lock(&mu_);
  sessions_.erase(id);
}

void HttpTransport::HandleMessage(const net::Request& request, net::ResponseWriter& response) {
  if (!Gate(request, response)) return;
  if (request.method != "POST") {
    response.SetHeader("Allow", "POST");
    Refuse(response, 405, kInvalidRequest, "POST messages here");
    return;
  }
  std::shared_ptr<Entry> entry;
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(std::string(request.QueryParam("sessionId").value_or("")));
    if (it == sessions_.end() || !it->second->legacy) {
      Refuse(response, 404, kInvalidRequest, "unknown session: open /sse first");
      return;
    }
    entry = it->second;
    entry->last_used = std::chrono::steady_clock::now();
  }
  json message = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  std::optional<json> reply;
  if (message.is_discarded() || message.is_array()) {
    reply = ErrorResponse(nullptr, message.is_discarded() ? kParseError : kInvalidRequest,
                          message.is_discarded() ? "the body is not valid JSON"
                                                 : "JSON-RPC batches are not supported");
  } else {
    absl::MutexLock lock(&entry->mu);
    reply = server_.Handle(message, entry->session);
  }
  if (reply.has_value()) {
    absl::MutexLock lock(&entry->out_mu);
    entry->outbox.push_back(reply->dump());
    entry->out_cv.Signal();
  }
  net::Reply(response, 202, "text/plain", "Accepted");
}

void HttpTransport::Handle(const net::Request& request, net::ResponseWriter& response) {
  if (!Gate(request, response)) return;
  if (request.method == "POST") {
    Post(request, response);
  } else if (request.method == "DELETE") {
    auto id = request.headers.Get("mcp-session-id");
    if (!id) {
      Refuse(response, 400, kInvalidRequest, "DELETE needs an Mcp-Session-Id header");
      return;
    }
    absl::MutexLock lock(&mu_);
    if (sessions_.erase(std::string(*id)) == 0) {
      Refuse(response, 404, kInvalidRequest, "unknown session");
      return;
    }
    net::Reply(response, 200, "application/json", "");
  } else {
    // No server-initiated messages, hence no GET stream (the specification allows 405).
    response.SetHeader("Allow", "POST, DELETE");
    Refuse(response, 405, kInvalidRequest, "use POST (GET streams are not offered)");
  }
}

void HttpTransport::Post(const net::Request& request, net::ResponseWriter& response) {
  // A JSON body when the client takes one, else a one-event SSE stream.
  const std::string_view accept = request.headers.Get("accept").value_or("*/*");
  const bool json_ok = absl::StrContains(ToAbsl(accept), "application/json") ||
                       absl::StrContains(ToAbsl(accept), "*/*");
  const bool sse_ok = absl::StrContains(ToAbsl(accept), "text/event-stream");
  if (!json_ok && !sse_ok) {
    Refuse(response, 406, kInvalidRequest,
           "the client must accept application/json or text/event-stream");
    return;
  }
  const std::string_view type = request.headers.Get("content-type").value_or("");
  if (!absl::StartsWith(ToAbsl(type), "application/json")) {
    Refuse(response, 415, kInvalidRequest, "Content-Type must be application/json");
    return;
  }
  json message = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (message.is_discarded()) {
    Refuse(response, 400, kParseError, "the body is not valid JSON");
    return;
  }
  if (message.is_array()) {
    Refuse(response, 400, kInvalidRequest, "JSON-RPC batches are not supported");
    return;
  }
  const bool is_initialize = StringField(message, "method") == "initialize";
  std::shared_ptr<Entry> entry;
  std::string session_id;
  {
    absl::MutexLock lock(&mu_);
    ExpireIdle();
    if (is_initialize) {
      session_id = NewSessionId();
      entry = std::make_shared<Entry>();
      sessions_[session_id] = entry;
    } else {
      auto id = request.headers.Get("mcp-session-id");
      if (!id) {
        Refuse(response, 400, kInvalidRequest, "Mcp-Session-Id header required: initialize first");
        return;
      }
      auto it = sessions_.find(std::string(*id));
      if (it == sessions_.end()) {
        Refuse(response, 404, kInvalidRequest, "session not found or expired: initialize again");
        return;
      }
      entry = it->second;
      session_id = it->first;
    }
    entry->last_used = std::chrono::steady_clock::now();
  }
  std::optional<json> reply;
  {
    absl::MutexLock lock(&entry->mu);
    reply = server_.Handle(message, entry->session);
  }
  response.SetHeader("Mcp-Session-Id", session_id);
  if (!reply.has_value()) {
    net::Reply(response, 202, "application/json", "");
    return;
  }
  if (!json_ok) {
    response.SetHeader("Cache-Control", "no-cache");
    net::Reply(response, 200, "text/event-stream",
               fmt::format("event: message\ndata: {}\n\n", reply->dump()));
    return;
  }
  ReplyJson(response, 200, *reply);
}

}  // namespace kobs::mcp
