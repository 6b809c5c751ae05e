#include "chapi/clickhouse_endpoint.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <set>

#include <absl/strings/ascii.h>
#include <absl/strings/escaping.h>
#include <absl/strings/match.h>
#include <absl/strings/numbers.h>
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "chapi/insert_statement.h"
#include "common/absl_compat.h"
#include "common/config_util.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "store/errors.h"

namespace kobs::chapi {

const char kEventsQuery[] = R"(SELECT
    ifNull(JSONExtractString(Body, 'object', 'involvedObject', 'name'), '') AS obj_name,
    ifNull(JSONExtractString(Body, 'object', 'involvedObject', 'namespace'), '') AS obj_namespace,
    ifNull(JSONExtractString(Body, 'object', 'involvedObject', 'uid'), '') AS obj_uid,
    ifNull(JSONExtractString(Body, 'object', 'involvedObject', 'kind'), '') AS obj_kind,
    ifNull(JSONExtractString(Body, 'object', 'reason'), '') AS reason,
    ifNull(JSONExtractString(Body, 'object', 'message'), '') AS message,
    ifNull(JSONExtractString(Body, 'object', 'type'), 'Normal') AS type,
    coalesce(
        nullIf(JSONExtractString(Body, 'object', 'eventTime'), ''),
        nullIf(JSONExtractString(Body, 'object', 'lastTimestamp'), ''),
        formatDateTime(toDateTime(Timestamp), '%Y-%m-%dT%H:%i:%SZ', 'UTC')
    ) AS eventTime,
    ifNull(JSONExtractString(Body, 'object', 'source', 'component'), '') AS source_component
FROM otel_logs
WHERE ResourceAttributes['telemetry.source'] = 'k8s-events'
  AND LogAttributes['krateo.io/composition-id'] = {composition_id:String}
  AND JSONExtractString(Body, 'object', 'reason') != ''
ORDER BY Timestamp DESC
LIMIT {limit:UInt32})";

namespace {

// URL parameters the HTTP interface itself consumes; every other one is a setting.
const std::set<std::string, std::less<>>& ReservedParams() {
  static const auto* s = new std::set<std::string, std::less<>>{
      "query", "database", "default_format", "user", "password", "query_id", "quota_key",
      "session_id", "session_timeout", "session_check", "buffer_size", "wait_end_of_query",
      "enable_http_compression", "http_zlib_compression_level", "compress", "decompress",
      "stacktrace", "readonly", "role"};
  return *s;
}

std::string ContentTypeFor(std::string_view format) {
  std::string f = absl::AsciiStrToLower(ToAbsl(format));
  if (absl::StartsWith(f, "json")) return "application/json; charset=UTF-8";
  if (absl::StartsWith(f, "tabseparated") || absl::StartsWith(f, "tsv")) {
    return "text/tab-separated-values; charset=UTF-8";
  }
  if (absl::StartsWith(f, "csv")) return "text/csv; charset=UTF-8; header=absent";
  if (f == "rowbinary" || absl::StartsWith(f, "rowbinarywith") || f == "native" ||
      f == "parquet" || f == "arrow" || f == "arrowstream" || f == "orc" || f == "avro") {
    return "application/octet-stream";
  }
  return "text/plain; charset=UTF-8";
}

// The FORMAT named at the end of a SELECT, if any (used for headers only; the engine itself
// honours the clause).
std::optional<std::string> TrailingFormat(std::string_view sql) {
  std::string upper = absl::AsciiStrToUpper(ToAbsl(sql));
  size_t pos = upper.rfind("FORMAT ");
  if (pos == std::string::npos || (pos > 0 && !std::isspace(static_cast<unsigned char>(upper[pos - 1])))) {
    return std::nullopt;
  }
  size_t start = pos + 7;
  while (start < sql.size() && std::isspace(static_cast<unsigned char>(sql[start]))) ++start;
  size_t end = start;
  while (end < sql.size() && (std::isalnum(static_cast<unsigned char>(sql[end])) || sql[end] == '_')) {
    ++end;
  }
  for (size_t i = end; i < sql.size(); ++i) {
    if (!std::isspace(static_cast<unsigned char>(sql[i])) && sql[i] != ';') return std::nullopt;
  }
  if (end == start) return std::nullopt;
  return std::string(sql.substr(start, end - start));
}

std::string Summary(const store::QueryStats& s) {
  return fmt::format(
      R"({{"read_rows":"{}","read_bytes":"{}","written_rows":"{}","written_bytes":"{}",)"
      R"("total_rows_to_read":"{}","result_rows":"{}","result_bytes":"{}","elapsed_ns":"{}"}})",
      s.read_rows, s.read_bytes, s.written_rows, s.written_bytes, s.read_rows, s.result_rows,
      s.result_bytes, static_cast<uint64_t>(s.elapsed_seconds * 1e9));
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    unsigned char x = i < a.size() ? a[i] : 0;
    unsigned char y = i < b.size() ? b[i] : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

// The first keyword of a statement, upper-cased.
std::string LeadingKeyword(std::string_view sql) {
  size_t i = 0;
  while (i < sql.size() && std::isspace(static_cast<unsigned char>(sql[i]))) ++i;
  size_t start = i;
  while (i < sql.size() && std::isalpha(static_cast<unsigned char>(sql[i]))) ++i;
  return absl::AsciiStrToUpper(ToAbsl(sql.substr(start, i - start)));
}

}  // namespace

absl::StatusOr<ClickHouseEndpointOptions> ParseClickHouseEndpointOptions(const YAML::Node& node) {
  ClickHouseEndpointOptions o;
  KOBS_RETURN_IF_ERROR(CheckKeys(node,
                                 {"listen", "user", "password", "allow_remote_without_password",
                                  "response_buffer", "events_default_limit"},
                                 "clickhouse_http"));
  KOBS_RETURN_IF_ERROR(ReadString(node, "user", &o.user));
  KOBS_RETURN_IF_ERROR(ReadString(node, "password", &o.password));
  KOBS_RETURN_IF_ERROR(
      ReadBool(node, "allow_remote_without_password", &o.allow_remote_without_password));
  uint64_t buffer = o.response_buffer_bytes;
  KOBS_RETURN_IF_ERROR(ReadBytes(node, "response_buffer", &buffer));
  o.response_buffer_bytes = buffer;
  int64_t limit = o.events_default_limit;
  KOBS_RETURN_IF_ERROR(ReadInt(node, "events_default_limit", &limit));
  if (limit < 1 || limit > 1000) {
    return absl::InvalidArgumentError("clickhouse_http.events_default_limit must be 1..1000");
  }
  o.events_default_limit = static_cast<int>(limit);
  return o;
}

struct ClickHouseEndpoint::Prepared {
  std::string text;  // the whole query text (query param + body)
  std::optional<InsertStatement> insert;
  store::QueryOptions options;
  bool compress = false;
  bool readonly = false;
};

ClickHouseEndpoint::ClickHouseEndpoint(store::Store& store, ClickHouseEndpointOptions options,
                                       MetricsRegistry& metrics)
    : store_(store),
      options_(std::move(options)),
      queries_ok_(metrics.GetCounter("kobs_clickhouse_queries_total",
                                     "Queries run through the ClickHouse HTTP endpoint.",
                                     {{"result", "ok"}})),
      queries_failed_(metrics.GetCounter("kobs_clickhouse_queries_total",
                                         "Queries run through the ClickHouse HTTP endpoint.",
                                         {{"result", "error"}})),
      inserts_ok_(metrics.GetCounter("kobs_clickhouse_inserts_total",
                                     "INSERTs received through the ClickHouse HTTP endpoint.",
                                     {{"result", "ok"}})),
      inserts_failed_(metrics.GetCounter("kobs_clickhouse_inserts_total",
                                         "INSERTs received through the ClickHouse HTTP endpoint.",
                                         {{"result", "error"}})),
      duration_(metrics.GetHistogram("kobs_clickhouse_query_duration_seconds",
                                     "Time to run a query or insert from the HTTP endpoint.")) {}

absl::Status ClickHouseEndpoint::Authenticate(const net::Request& request) const {
  std::string user = "default", password;
  bool have_user = false;
  if (auto u = request.headers.Get("x-clickhouse-user")) {
    user = std::string(*u);
    have_user = true;
    if (auto k = request.headers.Get("x-clickhouse-key")) password = std::string(*k);
  } else if (auto auth = request.headers.Get("authorization");
             auth && absl::StartsWithIgnoreCase(ToAbsl(*auth), "basic ")) {
    std::string decoded;
    if (!absl::Base64Unescape(ToAbsl(auth->substr(6)), &decoded)) {
      return store::ClickHouseError(store::kAuthenticationFailed, "malformed basic authorization");
    }
    size_t colon = decoded.find(':');
    user = decoded.substr(0, colon);
    password = colon == std::string::npos ? "" : decoded.substr(colon + 1);
    have_user = true;
  } else if (auto u = request.QueryParam("user")) {
    user = std::string(*u);
    have_user = true;
    if (auto p = request.QueryParam("password")) password = std::string(*p);
  }
  (void)have_user;
  if (user.empty()) user = "default";
  if (user != options_.user || !ConstantTimeEquals(password, options_.password)) {
    return store::ClickHouseError(
        store::kAuthenticationFailed,
        fmt::format("{}: Authentication failed: password is incorrect, or there is no user with "
                    "such name.",
                    user));
  }
  if (options_.password.empty() && !request.remote_is_loopback &&
      !options_.allow_remote_without_password) {
    return store::ClickHouseError(
        store::kRequiredPassword,
        "a password is required for clients outside loopback: set clickhouse_http.password");
  }
  return absl::OkStatus();
}

absl::StatusOr<ClickHouseEndpoint::Prepared> ClickHouseEndpoint::Prepare(
    const net::Request& request) const {
  Prepared p;
  std::string_view query_param = request.QueryParam("query").value_or("");
  if (request.method == "POST") {
    p.text = std::string(query_param);
    if (!p.text.empty() && !request.body.empty()) p.text += '\n';
    p.text += request.body;
  } else {
    p.text = std::string(query_param);
    p.readonly = true;  // GET implies readonly, as in ClickHouse
  }
  p.options.format = "TabSeparated";
  if (auto f = request.headers.Get("x-clickhouse-format")) p.options.format = std::string(*f);
  if (auto d = request.headers.Get("x-clickhouse-database")) p.options.database = std::string(*d);
  for (const auto& [name, value] : request.query) {
    if (absl::StartsWith(name, "param_")) {
      p.options.params.push_back(store::Param::Raw(name.substr(6), value));
    } else if (name == "default_format") {
      p.options.format = value;
    } else if (name == "database") {
      p.options.database = value;
    } else if (name == "query_id") {
      p.options.query_id = value;
    } else if (name == "enable_http_compression") {
      p.compress = value == "1" || value == "true";
    } else if (name == "readonly") {
      if (value != "0") p.readonly = true;
    } else if ((name == "compress" || name == "decompress") && value != "0") {
      return store::ClickHouseError(
          store::kNotImplemented,
          fmt::format("'{}=1' (ClickHouse native compression) is not supported by kobs; use "
                      "HTTP compression (enable_http_compression=1, Content-Encoding: gzip)",
                      name));
    } else if (!ReservedParams().contains(name)) {
      p.options.settings[name] = value;
    }
  }
  if (p.options.database == "default") p.options.database.clear();
  p.insert = ParseInsert(p.text);
  return p;
}

void ClickHouseEndpoint::SendError(net::ResponseWriter& response, const absl::Status& status,
                                   const std::string& query_id) {
  int code = store::ClickHouseErrorCode(status).value_or(1000);
  std::string message(ToStd(status.message()));
  if (!absl::StartsWith(message, "Code: ")) {
    message = fmt::format("Code: {}. DB::Exception: {}", code, message);
  }
  if (response.committed()) {
    // Mid-stream, as ClickHouse does: the exception text ends the body.
    (void)response.Write("\n" + message + "\n");
    return;
  }
  response.SetStatus(store::ClickHouseCodeToHttpStatus(code));
  response.SetHeader("X-ClickHouse-Exception-Code", std::to_string(code));
  if (!query_id.empty()) response.SetHeader("X-ClickHouse-Query-Id", query_id);
  response.SetHeader("Content-Type", "text/plain; charset=UTF-8");
  std::string body = message + "\n";
  response.SetHeader("Content-Length", std::to_string(body.size()));
  (void)response.Write(body);
}

void ClickHouseEndpoint::HandlePing(const net::Request&, net::ResponseWriter& response) {
  net::Reply(response, 200, "text/plain; charset=UTF-8", "Ok.\n");
}

void ClickHouseEndpoint::HandleQuery(const net::Request& request, net::ResponseWriter& response) {
  if (absl::Status auth = Authenticate(request); !auth.ok()) {
    SendError(response, auth, "");
    return;
  }
  auto prepared = Prepare(request);
  if (!prepared.ok()) {
    SendError(response, prepared.status(), "");
    return;
  }
  if (prepared->text.find_first_not_of(" \t\r\n") == std::string::npos) {
    if (request.method == "GET" || request.method == "HEAD") {
      net::Reply(response, 200, "text/plain; charset=UTF-8", "Ok.\n");  // as ClickHouse's `/`
    } else {
      SendError(response, store::ClickHouseError(store::kSyntaxError, "Empty query"), "");
    }
    return;
  }
  Execute(request, *prepared, response);
}

void ClickHouseEndpoint::Execute(const net::Request& request, Prepared& p,
                                 net::ResponseWriter& response) {
  const auto start = std::chrono::steady_clock::now();
  auto observe = [&] {
    duration_.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  };
  if (p.options.query_id.empty()) {
    // Same shape as the store's ids, generated here so errors can carry it too.
    p.options.query_id = fmt::format("kobs-{:x}-{:x}", start.time_since_epoch().count(),
                                     reinterpret_cast<uintptr_t>(&p) & 0xffffff);
  }
  const std::string& query_id = p.options.query_id;

  if (p.insert) {
    if (p.readonly) {
      inserts_failed_.Inc();
      SendError(response,
                store::ClickHouseError(store::kReadonly,
                                       "Cannot execute query in readonly mode. For queries over "
                                       "HTTP, method GET implies readonly. You should use method "
                                       "POST for modifying queries"),
                query_id);
      return;
    }
    std::string table = p.insert->table;
    if (!p.options.database.empty() && table.find('.') == std::string::npos) {
      table = p.options.database + "." + table;
    }
    std::string_view data = std::string_view(p.text).substr(p.insert->data_offset);
    auto stats = store_.Insert(table, p.insert->columns, p.insert->format, data);
    observe();
    if (!stats.ok()) {
      inserts_failed_.Inc();
      SendError(response, stats.status(), query_id);
      return;
    }
    inserts_ok_.Inc();
    stats->query_id = query_id;
    response.SetHeader("X-ClickHouse-Query-Id", query_id);
    response.SetHeader("X-ClickHouse-Summary", Summary(*stats));
    response.SetHeader("X-ClickHouse-Server-Display-Name", "kobs");
    net::Reply(response, 200, "text/plain; charset=UTF-8", "");
    return;
  }

  int statements = 1;
  auto cls = store_.Classify(p.text, &statements);
  if (cls.ok()) {
    absl::Status refusal = absl::OkStatus();
    if (statements > 1) {
      refusal = store::ClickHouseError(store::kSyntaxError, "Multi-statements are not allowed");
    } else if (*cls == store::StatementClass::kControl) {
      std::string kw = LeadingKeyword(p.text);
      if (kw == "SET" || kw == "USE") {
        // Without sessions, SET and USE affect nothing beyond the request, as in ClickHouse.
        queries_ok_.Inc();
        net::Reply(response, 200, "text/plain; charset=UTF-8", "");
        return;
      }
      refusal = store::ClickHouseError(
          store::kAccessDenied,
          fmt::format("{} statements are not allowed through kobs's ClickHouse endpoint", kw));
    } else if (*cls == store::StatementClass::kMutatingGlobal) {
      refusal = store::ClickHouseError(
          store::kAccessDenied,
          "statements that change users, functions or other global state are not allowed "
          "through kobs's ClickHouse endpoint");
    } else if (*cls == store::StatementClass::kMutating && p.readonly) {
      refusal = store::ClickHouseError(
          store::kReadonly,
          "Cannot execute query in readonly mode. For queries over HTTP, method GET implies "
          "readonly. You should use method POST for modifying queries");
    }
    if (!refusal.ok()) {
      queries_failed_.Inc();
      SendError(response, refusal, query_id);
      return;
    }
  } else if (absl::IsUnimplemented(cls.status()) && p.readonly) {
    p.options.settings["readonly"] = "2";  // let the server enforce it
  }

  const std::string format = TrailingFormat(p.text).value_or(p.options.format);
  std::string buffer;
  bool streaming = false;
  auto set_headers = [&](const store::QueryStats& stats) {
    response.SetHeader("Content-Type", ContentTypeFor(format));
    response.SetHeader("X-ClickHouse-Query-Id", query_id);
    response.SetHeader("X-ClickHouse-Format", format);
    response.SetHeader("X-ClickHouse-Timezone", "UTC");
    response.SetHeader("X-ClickHouse-Server-Display-Name", "kobs");
    response.SetHeader("X-ClickHouse-Summary", Summary(stats));
    if (p.compress) response.EnableCompression();
  };
  auto stats = store_.QueryStream(p.text, p.options, [&](std::string_view chunk) -> absl::Status {
    if (!streaming) {
      buffer.append(chunk);
      if (buffer.size() < options_.response_buffer_bytes) return absl::OkStatus();
      streaming = true;
      set_headers(store::QueryStats{});
      absl::Status s = response.Write(buffer);
      buffer.clear();
      return s.ok() ? s : absl::CancelledError("client disconnected");
    }
    absl::Status s = response.Write(chunk);
    return s.ok() ? s : absl::CancelledError("client disconnected");
  });
  observe();
  if (!stats.ok()) {
    queries_failed_.Inc();
    SendError(response, stats.status(), query_id);
    return;
  }
  queries_ok_.Inc();
  if (!streaming) {
    stats->query_id = query_id;
    set_headers(*stats);
    if (!p.compress) response.SetHeader("Content-Length", std::to_string(buffer.size()));
    if (!buffer.empty()) (void)response.Write(buffer);
  }
  (void)request;
  (void)response.Finish();
}

void ClickHouseEndpoint::HandleEvents(const net::Request& request, net::ResponseWriter& response) {
  if (absl::Status auth = Authenticate(request); !auth.ok()) {
    SendError(response, auth, "");
    return;
  }
  auto composition = request.QueryParam("composition_id");
  if (!composition) {
    SendError(response,
              store::ClickHouseError(store::kUnknownQueryParameter,
                                     "Substitution `composition_id` is not set"),
              "");
    return;
  }
  int limit = options_.events_default_limit;
  if (auto l = request.QueryParam("limit")) {
    int v;
    if (!absl::SimpleAtoi(ToAbsl(*l), &v) || v < 1) {
      SendError(response,
                store::ClickHouseError(store::kBadQueryParameter,
                                       fmt::format("invalid limit '{}'", *l)),
                "");
      return;
    }
    limit = std::min(v, 1000);
  }
  Prepared p;
  p.text = kEventsQuery;
  p.readonly = true;
  p.options.format = "JSON";
  p.options.params = {store::Param::Str("composition_id", *composition),
                      store::Param::Raw("limit", std::to_string(limit))};
  Execute(request, p, response);
}

}  // namespace kobs::chapi
