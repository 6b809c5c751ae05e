#include "feed/feed_service.h"

#include <absl/strings/match.h>
#include <absl/strings/numbers.h>
#include <absl/strings/str_split.h>
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "common/absl_compat.h"
#include "common/config_util.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "common/time_util.h"
#include "net/http.h"
#include "net/http_server.h"

namespace kobs::feed {
namespace {

constexpr std::string_view kText = "text/plain; charset=utf-8";

std::string_view StripPrefix(std::string_view path, std::string_view prefix) {
  path.remove_prefix(prefix.size());
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  return path;
}

}  // namespace

absl::StatusOr<int64_t> ParseSince(std::string_view text) {
  if (auto t = ParseRfc3339Nanos(text); t.ok()) return *t;
  int64_t seconds;
  if (absl::SimpleAtoi(ToAbsl(text), &seconds) && seconds >= 0) return seconds * 1'000'000'000;
  if (auto d = ParseDuration(text); d.ok()) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    return std::chrono::duration_cast<std::chrono::nanoseconds>(now - *d).count();
  }
  return absl::InvalidArgumentError(fmt::format(
      "invalid since '{}': want RFC 3339, seconds since the epoch, or a duration such as 15m",
      text.substr(0, 80)));
}

absl::StatusOr<FeedOptions> ParseFeedOptions(const YAML::Node& node) {
  FeedOptions o;
  KOBS_RETURN_IF_ERROR(CheckKeys(node,
                                 {"enabled", "push", "bearer_token", "cors_origin", "keepalive",
                                  "retry", "poll_interval", "settle", "ring_size",
                                  "client_buffer", "max_clients", "fanout_threads",
                                  "events_default_limit", "events_max_limit",
                                  "events_recent_window"},
                                 "feed"));
  KOBS_RETURN_IF_ERROR(ReadBool(node, "enabled", &o.enabled));
  KOBS_RETURN_IF_ERROR(ReadBool(node, "push", &o.push));
  KOBS_RETURN_IF_ERROR(ReadString(node, "bearer_token", &o.bearer_token));
  KOBS_RETURN_IF_ERROR(ReadString(node, "cors_origin", &o.cors_origin));
  KOBS_RETURN_IF_ERROR(ReadDuration(node, "keepalive", &o.hub.keepalive));
  KOBS_RETURN_IF_ERROR(ReadDuration(node, "retry", &o.hub.retry));
  KOBS_RETURN_IF_ERROR(ReadDuration(node, "poll_interval", &o.hub.poll_interval));
  KOBS_RETURN_IF_ERROR(ReadDuration(node, "settle", &o.hub.settle));
  KOBS_RETURN_IF_ERROR(ReadBytes(node, "client_buffer", &o.hub.client_buffer_bytes));
  auto read_count = [&node](std::string_view key, size_t* out, int64_t min) -> absl::Status {
    int64_t v = static_cast<int64_t>(*out);
    KOBS_RETURN_IF_ERROR(ReadInt(node, key, &v));
    if (v < min) {
      return absl::InvalidArgumentError(fmt::format("feed.{} must be at least {}", key, min));
    }
    *out = static_cast<size_t>(v);
    return absl::OkStatus();
  };
  KOBS_RETURN_IF_ERROR(read_count("ring_size", &o.hub.ring_size, 1));
  KOBS_RETURN_IF_ERROR(read_count("max_clients", &o.hub.max_clients, 1));
  KOBS_RETURN_IF_ERROR(read_count("fanout_threads", &o.hub.fanout_threads, 1));
  if (o.hub.fanout_threads > 64) {
    return absl::InvalidArgumentError("feed.fanout_threads must be at most 64");
  }
  KOBS_RETURN_IF_ERROR(read_count("events_default_limit", &o.events_default_limit, 1));
  KOBS_RETURN_IF_ERROR(read_count("events_max_limit", &o.events_max_limit, 1));
  if (o.events_default_limit > o.events_max_limit) {
    return absl::InvalidArgumentError("feed.events_default_limit must not exceed "
                                      "feed.events_max_limit");
  }
  KOBS_RETURN_IF_ERROR(ReadDuration(node, "events_recent_window", &o.events_recent_window));
  if (o.events_recent_window.count() < 0) {
    return absl::InvalidArgumentError("feed.events_recent_window must not be negative");
  }
  if (o.hub.keepalive.count() < 1000 || o.hub.poll_interval.count() < 10 ||
      o.hub.retry.count() < 1 || o.hub.settle.count() < 0) {
    return absl::InvalidArgumentError(
        "feed.keepalive must be at least 1s, feed.poll_interval at least 10ms, feed.retry "
        "positive and feed.settle not negative");
  }
  if (o.hub.client_buffer_bytes < 4096) {
    return absl::InvalidArgumentError("feed.client_buffer must be at least 4KiB");
  }
  return o;
}

FeedService::FeedService(store::Store& store, std::string database, FeedOptions options,
                         MetricsRegistry& metrics)
    : options_(std::move(options)),
      reader_(store, std::move(database)),
      hub_(reader_, options_.hub, metrics),
      metrics_(metrics) {}

FeedService::~FeedService() { Stop(); }

absl::Status FeedService::Start() { return hub_.Start(); }

void FeedService::Stop() { hub_.Stop(); }

void FeedService::OnInsert(std::string_view table) {
  if (options_.push && absl::EndsWith(ToAbsl(table), "otel_logs")) hub_.Notify();
}

void FeedService::Register(net::HttpServer& http) {
  auto notifications = [this](const net::Request& rq, net::ResponseWriter& w) {
    HandleNotifications(rq, w);
  };
  http.Route("/notifications", notifications);
  http.Route("/notifications/", notifications, /*prefix=*/true);
  auto events = [this](const net::Request& rq, net::ResponseWriter& w) { HandleEvents(rq, w); };
  http.Route("/events", events);
  http.Route("/events/", events, /*prefix=*/true);
  http.Route("/health", [](const net::Request&, net::ResponseWriter& w) {
    net::Reply(w, 200, kText, "ok");
  });
}

void FeedService::CountRejected(std::string_view reason) {
  metrics_
      .GetCounter("kobs_feed_rejected_total", "Feed requests refused, by reason.",
                  {{"reason", std::string(reason)}})
      .Inc();
}

void FeedService::SetCors(net::ResponseWriter& w) const {
  if (options_.cors_origin.empty()) return;
  w.SetHeader("Access-Control-Allow-Origin", options_.cors_origin);
}

bool FeedService::Authorized(const net::Request& rq, net::ResponseWriter& w) {
  if (options_.bearer_token.empty()) return true;
  auto header = rq.headers.Get("authorization");
  if (header && net::BearerTokenMatches(*header, options_.bearer_token)) return true;
  if (auto q = rq.QueryParam("access_token");
      q && net::BearerTokenMatches("Bearer " + std::string(*q), options_.bearer_token)) {
    return true;
  }
  CountRejected("unauthorized");
  SetCors(w);
  w.SetHeader("WWW-Authenticate", "Bearer");
  net::Reply(w, 401, kText, "missing or wrong bearer token\n");
  return false;
}

void FeedService::HandleNotifications(const net::Request& rq, net::ResponseWriter& w) {
  if (rq.method == "OPTIONS") {
    SetCors(w);
    w.SetHeader("Access-Control-Allow-Methods", "GET, OPTIONS");
    w.SetHeader("Access-Control-Allow-Headers", "Authorization, Last-Event-ID, Cache-Control");
    w.SetStatus(204);
    return;
  }
  if (rq.method != "GET") {
    w.SetHeader("Allow", "GET, OPTIONS");
    net::Reply(w, 405, kText, "use GET\n");
    return;
  }
  if (!Authorized(rq, w)) return;
  Subscription sub;
  if (std::string_view id = StripPrefix(rq.path, "/notifications"); !id.empty()) {
    sub.topics.insert(std::string(id));
  }
  for (const auto& [name, value] : rq.query) {
    if (name != "topic") continue;
    for (absl::string_view t : absl::StrSplit(ToAbsl(value), ',', absl::SkipEmpty())) {
      sub.topics.insert(std::string(t));
    }
  }
  if (auto ns = rq.QueryParam("namespace")) sub.namespace_name = std::string(*ns);
  std::optional<std::string_view> last = rq.headers.Get("last-event-id");
  if (!last || last->empty()) last = rq.QueryParam("lastEventId");
  if (!last || last->empty()) last = rq.QueryParam("last_event_id");
  if (last && !last->empty()) {
    auto pos = Position::Parse(*last);
    if (!pos.ok()) {
      SetCors(w);
      net::Reply(w, 400, kText, std::string(pos.status().message()) + "\n");
      return;
    }
    sub.after = *pos;
  }
  // A browser's EventSource gives up for good on any answer but a 200 event stream, so it
  // is told to come back instead: a stream with only a `retry:` hint, closed at once, makes it
  // reconnect later with its Last-Event-ID. Other clients get a 503 with Retry-After.
  const bool event_source =
      absl::StrContains(ToAbsl(rq.headers.Get("accept").value_or("")), "text/event-stream");
  auto come_back = [&](std::string_view reason, int seconds, std::string_view message) {
    CountRejected(reason);
    SetCors(w);
    if (event_source) {
      w.SetHeader("Cache-Control", "no-cache");
      net::Reply(w, 200, "text/event-stream",
                 fmt::format(": {}\n\nretry: {}\n\n", message, seconds * 1000));
    } else {
      w.SetHeader("Retry-After", std::to_string(seconds));
      net::Reply(w, 503, kText, fmt::format("{}\n", message));
    }
  };
  if (!hub_.running()) {
    return come_back("not_running", 1, "the event feed is starting or stopping");
  }
  if (!hub_.HasCapacity()) {
    return come_back("client_limit", 5,
                     "the event feed is at its client limit (feed.max_clients)");
  }
  w.SetHeader("Content-Type", "text/event-stream");
  w.SetHeader("Cache-Control", "no-cache");
  w.SetHeader("Connection", "keep-alive");
  SetCors(w);
  w.SetHeader("X-Accel-Buffering", "no");
  std::shared_ptr<net::StreamWriter> stream = w.Detach();
  if (stream == nullptr) return;  // HEAD: the headers were enough
  if (absl::Status st = hub_.Attach(stream, std::move(sub)); !st.ok()) {
    CountRejected(absl::IsResourceExhausted(st) ? "client_limit" : "error");
  }
}

void FeedService::HandleEvents(const net::Request& rq, net::ResponseWriter& w) {
  if (rq.method != "GET" && rq.method != "HEAD") {
    w.SetHeader("Allow", "GET");
    net::Reply(w, 405, kText, "use GET\n");
    return;
  }
  if (!Authorized(rq, w)) return;
  SetCors(w);
  auto bad = [&w](const std::string& message) { net::Reply(w, 400, kText, message + "\n"); };
  EventFilter filter;
  std::string cid(StripPrefix(rq.path, "/events"));
  if (auto q = rq.QueryParam("composition_id"); q && !q->empty()) {
    if (!cid.empty() && cid != *q) return bad("the path and composition_id name different ids");
    cid = std::string(*q);
  }
  if (!cid.empty()) filter.composition_ids.push_back(cid);
  if (auto q = rq.QueryParam("namespace")) filter.namespace_name = std::string(*q);
  if (auto q = rq.QueryParam("type")) filter.type = std::string(*q);
  if (auto q = rq.QueryParam("since"); q && !q->empty()) {
    auto since = ParseSince(*q);
    if (!since.ok()) return bad(std::string(since.status().message()));
    filter.since_ns = *since;
  }
  size_t limit = options_.events_default_limit;
  if (auto q = rq.QueryParam("limit"); q && !q->empty()) {
    int64_t n;
    if (!absl::SimpleAtoi(ToAbsl(*q), &n) || n < 1) {
      return bad(fmt::format("invalid limit '{}': want a positive integer (at most {})",
                             q->substr(0, 40), options_.events_max_limit));
    }
    limit = std::min(static_cast<size_t>(n), options_.events_max_limit);
  }
  auto events = reader_.Recent(filter, limit, options_.events_recent_window);
  if (!events.ok()) {
    net::Reply(w, 500, kText, "internal error\n");
    return;
  }
  std::string body = "[";
  body.reserve(512 * events->size() + 4);
  for (size_t i = 0; i < events->size(); ++i) {
    if (i > 0) body.push_back(',');
    AppendSseEventJson((*events)[i], &body);
  }
  body += "]\n";
  net::Reply(w, 200, "application/json", body);
}

}  // namespace kobs::feed
