#include "store/remote_store.h"

#include <curl/curl.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>
#include <random>
#include <utility>

#include <absl/strings/ascii.h>
#include <absl/strings/match.h>
#include <absl/strings/numbers.h>
#include <absl/strings/strip.h>
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "common/absl_compat.h"
#include "common/config_util.h"
#include "common/status_macros.h"
#include "net/curl_pool.h"
#include "store/errors.h"
#include "store/sql_quote.h"

namespace kobs::store {
namespace {

// Bytes of a 200 body kept to look for an exception the server appended after the rows.
constexpr size_t kTailBytes = 16 * 1024;
// Bytes of an error body kept for the message.
constexpr size_t kMaxErrorBody = 1024 * 1024;

std::string NewQueryId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t a = rng(), b = rng();
  // UUID v4 layout.
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff, a & 0xffff,
                     b >> 48, b & 0xffffffffffffULL);
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

std::string_view Strip(std::string_view s) { return ToStd(absl::StripAsciiWhitespace(ToAbsl(s))); }

absl::StatusOr<std::string> Gzip(std::string_view data) {
  z_stream zs{};
  // Fastest level: inserts are latency-bound, and level 1 already gets most of the ratio on
  // row data. windowBits 15 + 16 asks for a gzip wrapper.
  if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return absl::InternalError("gzip: deflateInit2 failed");
  }
  std::string out;
  size_t pos = 0;
  int flush;
  int ret = Z_OK;
  do {
    // avail_in is 32 bits wide: feed large bodies in slices.
    size_t n = std::min<size_t>(data.size() - pos, 1u << 30);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + pos));
    zs.avail_in = static_cast<uInt>(n);
    pos += n;
    flush = pos == data.size() ? Z_FINISH : Z_NO_FLUSH;
    do {
      size_t have = out.size();
      size_t room = std::max<size_t>(64 * 1024, n / 2);
      out.resize(have + room);
      zs.next_out = reinterpret_cast<Bytef*>(out.data() + have);
      zs.avail_out = static_cast<uInt>(room);
      ret = deflate(&zs, flush);
      out.resize(have + room - zs.avail_out);
    } while (zs.avail_out == 0);
  } while (flush != Z_FINISH);
  deflateEnd(&zs);
  if (ret != Z_STREAM_END)
    return absl::InternalError(fmt::format("gzip: deflate failed ({})", ret));
  return out;
}

absl::Status ValidateOptions(const RemoteStoreOptions& o) {
  net::CurlGlobalInit();
  std::string scheme = absl::AsciiStrToLower(ToAbsl(o.url.substr(0, o.url.find("://"))));
  if (o.url.find("://") == std::string::npos || (scheme != "http" && scheme != "https")) {
    return absl::InvalidArgumentError(
        fmt::format("url '{}': scheme must be http:// or https://", o.url));
  }
  CURLU* u = curl_url();
  if (u == nullptr) return absl::ResourceExhaustedError("curl_url: out of memory");
  absl::Status status = absl::OkStatus();
  if (CURLUcode rc = curl_url_set(u, CURLUPART_URL, o.url.c_str(), 0); rc != CURLUE_OK) {
    status = absl::InvalidArgumentError(fmt::format("url '{}': {}", o.url, curl_url_strerror(rc)));
  } else {
    auto has = [&](CURLUPart part) {
      char* v = nullptr;
      bool present = curl_url_get(u, part, &v, 0) == CURLUE_OK && v != nullptr && *v != '\0';
      curl_free(v);
      return present;
    };
    if (!has(CURLUPART_HOST)) {
      status = absl::InvalidArgumentError(fmt::format("url '{}': no host", o.url));
    } else if (has(CURLUPART_USER) || has(CURLUPART_PASSWORD)) {
      status = absl::InvalidArgumentError(
          fmt::format("url '{}': put credentials in user and password, not in the url", o.url));
    } else if (has(CURLUPART_QUERY) || has(CURLUPART_FRAGMENT)) {
      status = absl::InvalidArgumentError(
          fmt::format("url '{}': must not have a query string or fragment", o.url));
    }
  }
  curl_url_cleanup(u);
  KOBS_RETURN_IF_ERROR(status);
  if (o.auth_mode != "headers" && o.auth_mode != "basic") {
    return absl::InvalidArgumentError(
        fmt::format("auth_mode '{}': must be 'headers' or 'basic'", o.auth_mode));
  }
  // Both travel in HTTP headers: a line break would inject headers.
  for (const std::string* s : {&o.user, &o.password}) {
    if (s->find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return absl::InvalidArgumentError("user and password must not contain CR, LF or NUL");
    }
  }
  if (o.max_connections < 1) {
    return absl::InvalidArgumentError(
        fmt::format("max_connections {}: must be at least 1", o.max_connections));
  }
  if (o.connect_timeout.count() < 1 || o.read_timeout.count() < 1) {
    return absl::InvalidArgumentError("connect_timeout and read_timeout must be positive");
  }
  if (!o.ca_file.empty() && !std::filesystem::is_regular_file(o.ca_file)) {
    return absl::InvalidArgumentError(fmt::format("ca_file '{}' is not a file", o.ca_file));
  }
  return absl::OkStatus();
}

// Response state that curl's callbacks fill in.
struct Transfer {
  CURL* handle = nullptr;
  const ChunkSink* sink = nullptr;
  long http_status = 0;
  std::optional<int> exception_code;  // X-ClickHouse-Exception-Code (header or trailer)
  std::string summary;                // X-ClickHouse-Summary
  std::string query_id;               // X-ClickHouse-Query-Id
  std::string exception_tag;          // X-ClickHouse-Exception-Tag (25.11+)
  std::string error_body;             // body of a failed request, up to kMaxErrorBody
  std::string tail;                   // last kTailBytes (or more) of a streamed body
  uint64_t streamed_bytes = 0;
  absl::Status sink_status;
  // read_timeout bookkeeping: the last time a byte moved either way.
  std::chrono::milliseconds read_timeout{0};
  std::chrono::steady_clock::time_point last_activity = std::chrono::steady_clock::now();
  curl_off_t last_down = 0, last_up = 0;
  bool timed_out = false;

  bool failed() const { return http_status != 200 || exception_code.has_value(); }
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line = Strip(std::string_view(data, size * n));
  if (absl::StartsWith(ToAbsl(line), "HTTP/")) {
    // A new response (after a 100 Continue): forget the previous one's headers.
    Transfer fresh;
    fresh.handle = t->handle;
    fresh.sink = t->sink;
    fresh.read_timeout = t->read_timeout;
    *t = std::move(fresh);
    return size * n;
  }
  // Progress headers (send_progress_in_http_headers=1) keep a silent query alive.
  t->last_activity = std::chrono::steady_clock::now();
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name = absl::AsciiStrToLower(ToAbsl(line.substr(0, colon)));
  std::string_view value = Strip(line.substr(colon + 1));
  if (name == "x-clickhouse-exception-code") {
    int code;
    if (absl::SimpleAtoi(ToAbsl(value), &code)) t->exception_code = code;
  } else if (name == "x-clickhouse-summary") {
    t->summary = value;
  } else if (name == "x-clickhouse-query-id") {
    t->query_id = value;
  } else if (name == "x-clickhouse-exception-tag") {
    t->exception_tag = value;
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  if (t->http_status == 0) curl_easy_getinfo(t->handle, CURLINFO_RESPONSE_CODE, &t->http_status);
  if (t->failed()) {
    // The body is the error message: keep it for the status, never hand it to the sink.
    t->error_body.append(data, std::min(len, kMaxErrorBody - t->error_body.size()));
    return len;
  }
  t->tail.append(data, len);
  if (t->tail.size() > 2 * kTailBytes) t->tail.erase(0, t->tail.size() - kTailBytes);
  t->streamed_bytes += len;
  t->sink_status = (*t->sink)(std::string_view(data, len));
  // Anything but `len` makes curl abort the transfer with CURLE_WRITE_ERROR.
  return t->sink_status.ok() ? len : 0;
}

// Called about once a second, and whenever bytes move: enforces read_timeout as a limit on
// silence (curl's own low-speed check averages over a window, which blurs short limits).
int OnProgress(void* user, curl_off_t, curl_off_t down, curl_off_t, curl_off_t up) {
  auto* t = static_cast<Transfer*>(user);
  auto now = std::chrono::steady_clock::now();
  if (down != t->last_down || up != t->last_up) {
    t->last_down = down;
    t->last_up = up;
    t->last_activity = now;
  } else if (now - t->last_activity > t->read_timeout) {
    t->timed_out = true;
    return 1;  // aborts with CURLE_ABORTED_BY_CALLBACK
  }
  return 0;
}

// The error of a request that failed() (non-200, or an exception code header).
absl::Status ResponseError(const Transfer& t, const std::string& where) {
  absl::Status s;
  std::string_view text = Strip(t.error_body);
  if (absl::StrContains(ToAbsl(text), "Code: ")) {
    s = ParseClickHouseError(text);
  } else if (t.http_status == 200) {
    // The code header came as a trailer, after rows went to the sink.
    s = ParseStreamedClickHouseError(t.tail, t.exception_tag)
            .value_or(ClickHouseError(t.exception_code.value_or(1000),
                                      "query failed after its result started streaming"));
  } else {
    // Not ClickHouse's answer (a proxy's?): classify by the HTTP status.
    int code = t.http_status == 401 || t.http_status == 403   ? kAuthenticationFailed
               : t.http_status == 408                         ? kTimeoutExceeded
               : t.http_status >= 502 && t.http_status <= 504 ? kNetworkError
                                                              : 1000;
    s = ClickHouseError(
        code, fmt::format("HTTP {} from {}: {}", t.http_status, where, text.substr(0, 512)));
  }
  // Modern servers name the code in a header; it wins over the text's.
  if (t.exception_code && ClickHouseErrorCode(s) != t.exception_code) {
    s = ClickHouseError(*t.exception_code, ToStd(s.message()));
  }
  return s;
}

// Counters from X-ClickHouse-Summary (values are JSON strings; old servers send none or some).
QueryStats StatsFrom(const Transfer& t) {
  QueryStats stats;
  stats.result_bytes = t.streamed_bytes;
  stats.query_id = t.query_id;
  auto summary = nlohmann::json::parse(t.summary, nullptr, /*allow_exceptions=*/false);
  if (!summary.is_object()) return stats;
  auto value = [&](const char* key) -> uint64_t {
    auto it = summary.find(key);
    uint64_t v = 0;
    if (it == summary.end()) return 0;
    if (it->is_number_unsigned()) return it->get<uint64_t>();
    if (it->is_string() && absl::SimpleAtoi(it->get<std::string>(), &v)) return v;
    return 0;
  };
  stats.read_rows = value("read_rows");
  stats.read_bytes = value("read_bytes");
  stats.written_rows = value("written_rows");
  stats.written_bytes = value("written_bytes");
  stats.result_rows = value("result_rows");
  if (summary.contains("result_bytes")) stats.result_bytes = value("result_bytes");
  stats.elapsed_seconds = static_cast<double>(value("elapsed_ns")) / 1e9;
  return stats;
}

}  // namespace

struct RemoteStore::Request {
  std::string path = "/";
  bool post = true;
  std::vector<std::pair<std::string, std::string>> params;  // URL query parameters
  std::string_view body;
  bool gzip_body = false;
  const char* content_type = "text/plain; charset=UTF-8";
  std::string query_id;
};

absl::StatusOr<RemoteStoreOptions> ParseRemoteStoreOptions(const YAML::Node& node) {
  RemoteStoreOptions o;
  KOBS_RETURN_IF_ERROR(CheckKeys(node,
                                 {"url", "user", "password", "auth_mode", "database", "ca_file",
                                  "tls_insecure_skip_verify", "connect_timeout", "read_timeout",
                                  "max_connections", "compress_responses", "compress_requests"},
                                 "store.remote"));
  int64_t max_connections = o.max_connections;
  absl::Status s = ReadString(node, "url", &o.url);
  if (s.ok()) s = ReadString(node, "user", &o.user);
  if (s.ok()) s = ReadString(node, "password", &o.password);
  if (s.ok()) s = ReadString(node, "auth_mode", &o.auth_mode);
  if (s.ok()) s = ReadString(node, "database", &o.database);
  if (s.ok()) s = ReadString(node, "ca_file", &o.ca_file);
  if (s.ok()) s = ReadBool(node, "tls_insecure_skip_verify", &o.tls_insecure_skip_verify);
  if (s.ok()) s = ReadDuration(node, "connect_timeout", &o.connect_timeout);
  if (s.ok()) s = ReadDuration(node, "read_timeout", &o.read_timeout);
  if (s.ok()) s = ReadInt(node, "max_connections", &max_connections);
  if (s.ok()) s = ReadBool(node, "compress_responses", &o.compress_responses);
  if (s.ok()) s = ReadBool(node, "compress_requests", &o.compress_requests);
  if (s.ok() && (max_connections < 1 || max_connections > 1024)) {
    s = absl::InvalidArgumentError(
        fmt::format("max_connections {}: must be between 1 and 1024", max_connections));
  }
  o.max_connections = static_cast<int>(std::clamp<int64_t>(max_connections, 1, 1024));
  if (s.ok()) s = ValidateOptions(o);
  if (!s.ok()) return absl::InvalidArgumentError(fmt::format("store.remote: {}", s.message()));
  return o;
}

RemoteStore::RemoteStore(RemoteStoreOptions options, std::string base_url)
    : options_(std::move(options)),
      base_url_(std::move(base_url)),
      pool_(std::make_unique<net::CurlPool>(options_.max_connections)) {}

RemoteStore::~RemoteStore() = default;

absl::StatusOr<std::unique_ptr<RemoteStore>> RemoteStore::Create(RemoteStoreOptions options) {
  KOBS_RETURN_IF_ERROR(ValidateOptions(options));
  std::string base = options.url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return std::unique_ptr<RemoteStore>(new RemoteStore(std::move(options), std::move(base)));
}

absl::StatusOr<QueryStats> RemoteStore::Execute(const Request& request, const ChunkSink* sink) {
  const auto start = std::chrono::steady_clock::now();
  std::string gzipped;
  std::string_view body = request.body;
  if (request.gzip_body) {
    KOBS_ASSIGN_OR_RETURN(gzipped, Gzip(body));
    body = gzipped;
  }
  // Errors name scheme, host, port and path: the parameters may hold user data.
  const std::string where = base_url_ + request.path;
  std::string url = where;
  for (size_t i = 0; i < request.params.size(); ++i) {
    url += i == 0 ? '?' : '&';
    AppendEscaped(url, request.params[i].first);
    url += '=';
    AppendEscaped(url, request.params[i].second);
  }

  net::CurlPool::Lease lease = pool_->Acquire();
  if (lease == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");
  CURL* h = lease.get();

  curl_slist* headers = nullptr;
  auto add_header = [&](const std::string& line) {
    headers = curl_slist_append(headers, line.c_str());
  };
  add_header("Expect:");  // no 100-continue round trip before large bodies
  if (request.post) add_header(fmt::format("Content-Type: {}", request.content_type));
  if (request.gzip_body) add_header("Content-Encoding: gzip");
  if (options_.auth_mode == "headers") {
    if (!options_.user.empty()) add_header("X-ClickHouse-User: " + options_.user);
    if (!options_.password.empty()) add_header("X-ClickHouse-Key: " + options_.password);
  } else {
    curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(h, CURLOPT_USERNAME, options_.user.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, options_.password.c_str());
  }
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> header_list(headers, curl_slist_free_all);

  Transfer t;
  t.handle = h;
  t.sink = sink;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for timeouts
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, header_list.get());
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  t.read_timeout = options_.read_timeout;
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &OnProgress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
  // Keeps idle pooled connections and silent long queries alive through NATs and firewalls.
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  if (request.post) {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.empty() ? "" : body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  } else {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  }
  // curl decompresses before the write callback, so sinks always see plain bytes.
  if (options_.compress_responses) curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "gzip");
  if (!options_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
  if (options_.tls_insecure_skip_verify) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);

  CURLcode rc = curl_easy_perform(h);
  if (rc == CURLE_WRITE_ERROR && !t.sink_status.ok()) return t.sink_status;
  if (rc != CURLE_OK) {
    // 24.11+ cut the connection when a query fails mid-stream; the error text came first.
    if (!t.failed() && t.streamed_bytes > 0) {
      if (auto s = ParseStreamedClickHouseError(t.tail, t.exception_tag)) return *s;
    }
    if (t.failed() && absl::StrContains(t.error_body, "Code: ")) return ResponseError(t, where);
    std::string what = error[0] != '\0' ? error : curl_easy_strerror(rc);
    if (rc == CURLE_ABORTED_BY_CALLBACK && t.timed_out) {
      what = fmt::format("no data for {} ms (read_timeout)", options_.read_timeout.count());
    }
    if (rc == CURLE_OPERATION_TIMEDOUT || t.timed_out) {
      return ClickHouseError(kSocketTimeout, fmt::format("ClickHouse at {}: {}", where, what));
    }
    return ClickHouseError(kNetworkError, fmt::format("ClickHouse at {}: {}", where, what));
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &t.http_status);

  if (t.failed()) return ResponseError(t, where);
  if (t.streamed_bytes > 0) {
    if (auto s = ParseStreamedClickHouseError(t.tail, t.exception_tag)) return *s;
  }

  QueryStats stats = StatsFrom(t);
  if (stats.elapsed_seconds == 0) {
    stats.elapsed_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  if (stats.query_id.empty()) stats.query_id = request.query_id;
  return stats;
}

absl::Status RemoteStore::Ping() {
  Request r;
  r.path = "/ping";
  r.post = false;
  std::string body;
  ChunkSink sink = [&](std::string_view chunk) {
    body.append(chunk);
    return absl::OkStatus();
  };
  auto result = Execute(r, &sink);
  if (!result.ok()) {
    if (absl::IsUnavailable(result.status())) return result.status();
    return absl::UnavailableError(
        fmt::format("ClickHouse at {}: ping failed: {}", base_url_, result.status().message()));
  }
  if (Strip(body) != "Ok.") {
    return absl::UnavailableError(
        fmt::format("{}/ping answered '{}', not 'Ok.': not a ClickHouse server?", base_url_,
                    Strip(body).substr(0, 100)));
  }
  return absl::OkStatus();
}

absl::StatusOr<QueryStats> RemoteStore::QueryStream(std::string_view sql,
                                                    const QueryOptions& options,
                                                    const ChunkSink& sink) {
  Request r;
  r.body = sql;
  r.query_id = options.query_id.empty() ? NewQueryId() : options.query_id;
  const std::string& database = options.database.empty() ? options_.database : options.database;
  if (!database.empty()) r.params.emplace_back("database", database);
  r.params.emplace_back("query_id", r.query_id);
  if (!options.format.empty()) r.params.emplace_back("default_format", options.format);
  if (options_.compress_responses) r.params.emplace_back("enable_http_compression", "1");
  for (const auto& [name, value] : options.settings) {
    // The URL parameters this store sets itself, and the HTTP handler's own, are not settings.
    static constexpr std::string_view kReserved[] = {
        "query", "database", "query_id",  "default_format", "enable_http_compression",
        "user",  "password", "quota_key", "session_id"};
    if (!IsIdentifier(name) || absl::StartsWith(name, "param_") ||
        std::find(std::begin(kReserved), std::end(kReserved), name) != std::end(kReserved)) {
      return ClickHouseError(kUnknownSetting, fmt::format("invalid setting name '{}'", name));
    }
    r.params.emplace_back(name, value);
  }
  for (const auto& p : options.params) r.params.emplace_back("param_" + p.name, p.value);
  return Execute(r, &sink);
}

absl::StatusOr<QueryStats> RemoteStore::Insert(std::string_view table,
                                               const std::vector<std::string>& columns,
                                               std::string_view format, std::string_view data,
                                               const InsertOptions& options) {
  if (!IsIdentifier(format)) {
    return absl::InvalidArgumentError(fmt::format("invalid insert format '{}'", format));
  }
  if (table.empty()) return absl::InvalidArgumentError("insert: empty table name");
  std::string sql = "INSERT INTO " + QuoteQualified(table);
  if (!columns.empty()) {
    sql += " (";
    for (size_t i = 0; i < columns.size(); ++i) {
      if (i > 0) sql += ", ";
      sql += QuoteIdentifier(columns[i]);
    }
    sql += ")";
  }
  sql += fmt::format(" FORMAT {}", format);
  Request r;
  r.query_id = NewQueryId();
  if (!options_.database.empty()) r.params.emplace_back("database", options_.database);
  r.params.emplace_back("query_id", r.query_id);
  r.params.emplace_back("query", std::move(sql));
  for (const auto& [name, value] : options.settings) {
    if (!IsIdentifier(name)) {
      return absl::InvalidArgumentError(fmt::format("invalid setting name '{}'", name));
    }
    r.params.emplace_back(name, value);
  }
  r.body = data;
  r.gzip_body = options_.compress_requests;
  r.content_type = "application/octet-stream";
  // An insert answers with an empty body.
  ChunkSink discard = [](std::string_view) { return absl::OkStatus(); };
  return Execute(r, &discard);
}

absl::StatusOr<std::string> RemoteStore::ServerVersion() {
  return QueryScalar(*this, "SELECT version()");
}

}  // namespace kobs::store
