#include "store/embedded_store.h"

#include <linux/capability.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include <absl/strings/match.h>
#include <fmt/format.h>

#include "common/absl_compat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "store/chdb_api.h"
#include "store/errors.h"
#include "store/sql_quote.h"

#ifndef KOBS_DEFAULT_CHDB_LIBRARY
#define KOBS_DEFAULT_CHDB_LIBRARY "libchdb.so"
#endif

namespace kobs::store {

using chdb::chdb_connection;
using chdb::chdb_result;

struct EmbeddedStore::Connection {
  chdb_connection* conn = nullptr;
  // The session state this connection's queries left behind (queries cannot change it
  // themselves: the callers refuse SET and USE). A query that wants the same state runs alone;
  // a query that wants another changes only what differs, so each chDB call of a poll or a
  // request is the query itself. Known false after a failed change: restated in full next.
  std::string database = "default";
  std::map<std::string, std::string> settings;
  bool known = true;
};

// Exclusive use of one connection; returns it to the pool when destroyed.
class EmbeddedStore::Lease {
 public:
  Lease(EmbeddedStore* store, Connection* conn, bool for_insert)
      : store_(store), conn_(conn), for_insert_(for_insert) {}
  Lease(Lease&& other) noexcept
      : store_(other.store_), conn_(std::exchange(other.conn_, nullptr)),
        for_insert_(other.for_insert_) {}
  Lease& operator=(Lease&&) = delete;
  ~Lease() {
    if (conn_ != nullptr) store_->Release(conn_, for_insert_);
  }
  Connection& operator*() const { return *conn_; }
  Connection* operator->() const { return conn_; }

 private:
  EmbeddedStore* store_;
  Connection* conn_;
  bool for_insert_;
};

std::string DefaultChdbLibrary() { return KOBS_DEFAULT_CHDB_LIBRARY; }

namespace {

spdlog::logger& log() { return kobs::Logger("store"); }

std::string NewQueryId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t a = rng(), b = rng();
  // UUID v4 layout.
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", a >> 32, (a >> 16) & 0xffff,
                     a & 0xffff, b >> 48, b & 0xffffffffffffULL);
}

// A setting value as a SQL literal: numbers as they are, anything else as a quoted string
// (ClickHouse converts string literals to the setting's type).
std::string SettingLiteral(std::string_view value) {
  bool numeric = !value.empty();
  for (char c : value) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-')) numeric = false;
  }
  if (numeric) return std::string(value);
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// Signals whose handlers chdb_set_signal_handlers_enabled() resets to SIG_DFL.
constexpr std::array<int, 4> kFatalSignals = {SIGSEGV, SIGABRT, SIGFPE, SIGBUS};

}  // namespace

EmbeddedStore::EmbeddedStore(EmbeddedStoreOptions options, const chdb::Api* api)
    : options_(std::move(options)), api_(api) {}

bool CanSetThreadNice() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  std::array<__user_cap_data_struct, _LINUX_CAPABILITY_U32S_3> data{};
  if (syscall(SYS_capget, &header, data.data()) != 0) return false;
  return (data[CAP_TO_INDEX(CAP_SYS_NICE)].effective & CAP_TO_MASK(CAP_SYS_NICE)) != 0;
}

std::vector<int> ThreadsNamed(std::string_view name) {
  std::vector<int> tids;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream comm(task.path() / "comm");
    std::string thread_name;
    if (std::getline(comm, thread_name) && thread_name == name) {
      tids.push_back(std::atoi(task.path().filename().c_str()));
    }
  }
  return tids;
}

int ReniceThreads(std::string_view name, int nice) {
  int count = 0;
  for (int tid : ThreadsNamed(name)) {
    if (setpriority(PRIO_PROCESS, static_cast<id_t>(tid), nice) == 0) ++count;
  }
  return count;
}

absl::StatusOr<std::unique_ptr<EmbeddedStore>> EmbeddedStore::Create(EmbeddedStoreOptions options) {
  if (options.library.empty()) options.library = DefaultChdbLibrary();
  if (options.query_connections < 1 || options.insert_connections < 1) {
    return absl::InvalidArgumentError("embedded store needs at least one query and one insert connection");
  }
  if (options.merge_nice < -20 || options.merge_nice > 19) {
    return absl::InvalidArgumentError(fmt::format(
        "the merge threads' nice value must be between -20 and 19, not {}", options.merge_nice));
  }
  std::error_code ec;
  std::filesystem::create_directories(options.path, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        fmt::format("cannot create data directory '{}': {}", options.path, ec.message()));
  }
  options.path = std::filesystem::absolute(options.path).lexically_normal().string();
  KOBS_ASSIGN_OR_RETURN(const chdb::Api* api, chdb::Load(options.library));
  std::unique_ptr<EmbeddedStore> store(new EmbeddedStore(std::move(options), api));
  KOBS_RETURN_IF_ERROR(store->Open());
  return store;
}

absl::Status EmbeddedStore::Open() {
  // chDB would install SIGSEGV/SIGABRT/... handlers that sleep before re-raising, hiding
  // crashes and sanitizer reports. Disabling them resets those signals to SIG_DFL, so keep
  // whatever handlers the process (or a sanitizer) had.
  if (api_->set_signal_handlers_enabled != nullptr) {
    std::array<struct sigaction, kFatalSignals.size()> saved{};
    for (size_t i = 0; i < kFatalSignals.size(); ++i) sigaction(kFatalSignals[i], nullptr, &saved[i]);
    api_->set_signal_handlers_enabled(0);
    for (size_t i = 0; i < kFatalSignals.size(); ++i) sigaction(kFatalSignals[i], &saved[i], nullptr);
  }
  std::string path_arg = "--path=" + options_.path;
  // A server setting: chDB's merge executor sets it on its threads when it starts them.
  std::string nice_arg =
      fmt::format("--os_threads_nice_value_merge_mutate={}", options_.merge_nice);
  const int total = options_.query_connections + options_.insert_connections;
  absl::MutexLock lock(&mu_);
  for (int i = 0; i < total; ++i) {
    std::array<char*, 3> argv = {const_cast<char*>("kobs"), path_arg.data(), nice_arg.data()};
    auto start = std::chrono::steady_clock::now();
    chdb_connection* conn = api_->connect(static_cast<int>(argv.size()), argv.data());
    if (conn == nullptr) {
      for (auto& c : connections_) api_->close_conn(c->conn);
      connections_.clear();
      return absl::FailedPreconditionError(fmt::format(
          "cannot open embedded store at '{}': the data directory is in use by another process "
          "(lock on '{}/status') or is not writable",
          options_.path, options_.path));
    }
    if (i == 0) {
      auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
      Log(log(), spdlog::level::info, "embedded store opened",
          {{"path", options_.path}, {"version", api_->version()},
           {"connect_ms", fmt::format("{:.1f}", ms.count())},
           {"merge_nice", std::to_string(options_.merge_nice)}});
    }
    auto c = std::make_unique<Connection>();
    c->conn = conn;
    (i < options_.insert_connections ? free_inserts_ : free_queries_).push_back(c.get());
    connections_.push_back(std::move(c));
  }
  if (options_.merge_nice > 0 && !CanSetThreadNice()) {
    renice_attempts_left_ = kReniceAttempts;  // done by the next inserts (ReniceMerges)
  } else if (options_.merge_nice < 0 && !CanSetThreadNice()) {
    Log(log(), spdlog::level::warn,
        "merges run at the priority of every other thread: a negative nice value needs "
        "CAP_SYS_NICE, which this process lacks",
        {{"merge_nice", std::to_string(options_.merge_nice)}});
  }
  return absl::OkStatus();
}

EmbeddedStore::~EmbeddedStore() { Close(); }

void EmbeddedStore::Close() {
  absl::MutexLock lock(&mu_);
  if (closed_) return;
  closed_ = true;
  // Wait for leased connections to come back before closing them.
  mu_.Await(absl::Condition(
      +[](int* in_use) { return *in_use == 0; }, &in_use_));
  for (auto& c : connections_) api_->close_conn(c->conn);
  connections_.clear();
  free_queries_.clear();
  free_inserts_.clear();
}

absl::StatusOr<EmbeddedStore::Lease> EmbeddedStore::Acquire(bool for_insert) {
  absl::MutexLock lock(&mu_);
  auto& pool = for_insert ? free_inserts_ : free_queries_;
  struct Args {
    bool* closed;
    std::vector<Connection*>* pool;
  } args{&closed_, &pool};
  mu_.Await(absl::Condition(
      +[](Args* a) { return *a->closed || !a->pool->empty(); }, &args));
  if (closed_) return absl::FailedPreconditionError("embedded store is closed");
  Connection* c = pool.back();
  pool.pop_back();
  ++in_use_;
  return Lease(this, c, for_insert);
}

void EmbeddedStore::Release(Connection* conn, bool for_insert) {
  absl::MutexLock lock(&mu_);
  (for_insert ? free_inserts_ : free_queries_).push_back(conn);
  --in_use_;
}

absl::Status EmbeddedStore::Exec(Connection& conn, std::string_view sql) {
  chdb_result* r = api_->query_with_params_n(*conn.conn, sql.data(), sql.size(), "TSV", 3, nullptr,
                                             nullptr, nullptr, nullptr, 0);
  absl::Status status = absl::OkStatus();
  if (r == nullptr) status = absl::InternalError("chDB returned no result");
  else if (const char* err = api_->result_error(r)) status = ParseClickHouseError(err);
  if (r != nullptr) api_->destroy_query_result(r);
  return status;
}

namespace {

// Parameter arrays in the layout chDB's *_with_params_n functions take.
struct ParamArrays {
  explicit ParamArrays(const std::vector<Param>& params) {
    for (const auto& p : params) {
      names.push_back(p.name.data());
      name_lens.push_back(p.name.size());
      values.push_back(p.value.data());
      value_lens.push_back(p.value.size());
    }
  }
  const char* const* n() const { return names.empty() ? nullptr : names.data(); }
  const size_t* nl() const { return name_lens.empty() ? nullptr : name_lens.data(); }
  const char* const* v() const { return values.empty() ? nullptr : values.data(); }
  const size_t* vl() const { return value_lens.empty() ? nullptr : value_lens.data(); }
  std::vector<const char*> names, values;
  std::vector<size_t> name_lens, value_lens;
};

}  // namespace

absl::Status EmbeddedStore::Prepare(Connection& conn, const QueryOptions& options) {
  // Session state is per connection: set what this query asks for, and put back to its
  // default what an earlier query on this pooled connection set and this one does not. Each
  // change is recorded as it succeeds, so a failure leaves an exact record to start from.
  std::map<std::string, std::string> want;
  for (const auto& [name, value] : options.settings) want[name] = SettingLiteral(value);
  const std::string database = options.database.empty() ? "default" : options.database;
  if (conn.known && conn.settings == want && conn.database == database) return absl::OkStatus();
  const bool known = conn.known;
  conn.known = false;  // until every change below has been made
  for (auto it = conn.settings.begin(); it != conn.settings.end();) {
    if (known && want.count(it->first) > 0) {
      ++it;
      continue;
    }
    KOBS_RETURN_IF_ERROR(Exec(conn, fmt::format("SET {} = DEFAULT", it->first)));
    it = conn.settings.erase(it);
  }
  for (const auto& [name, value] : want) {
    if (auto it = conn.settings.find(name); it != conn.settings.end() && it->second == value) {
      continue;
    }
    KOBS_RETURN_IF_ERROR(Exec(conn, fmt::format("SET {} = {}", name, value)));
    conn.settings[name] = value;
  }
  if (!known || conn.database != database) {
    KOBS_RETURN_IF_ERROR(Exec(conn, "USE " + QuoteIdentifier(database)));
    conn.database = database;
  }
  conn.known = true;
  return absl::OkStatus();
}

absl::StatusOr<QueryStats> EmbeddedStore::RunBuffered(Connection& conn, std::string_view sql,
                                                      const std::string& format,
                                                      const std::vector<Param>& params,
                                                      const ChunkSink& sink) {
  ParamArrays p(params);
  chdb_result* r = api_->query_with_params_n(*conn.conn, sql.data(), sql.size(), format.data(),
                                             format.size(), p.n(), p.nl(), p.v(), p.vl(),
                                             params.size());
  if (r == nullptr) return absl::InternalError("chDB returned no result");
  QueryStats stats;
  absl::Status status = absl::OkStatus();
  if (const char* err = api_->result_error(r)) {
    status = ParseClickHouseError(err);
  } else {
    size_t len = api_->result_length(r);
    stats.result_rows = api_->result_rows_read(r);
    stats.result_bytes = len;
    stats.read_rows = api_->result_storage_rows_read(r);
    stats.read_bytes = api_->result_storage_bytes_read(r);
    stats.written_rows = api_->result_rows_written(r);
    stats.written_bytes = api_->result_bytes_written(r);
    if (len > 0) status = sink(std::string_view(api_->result_buffer(r), len));
  }
  api_->destroy_query_result(r);
  if (!status.ok()) return status;
  return stats;
}

absl::StatusOr<QueryStats> EmbeddedStore::QueryStream(std::string_view sql,
                                                      const QueryOptions& options,
                                                      const ChunkSink& sink) {
  const auto start = std::chrono::steady_clock::now();
  for (const auto& [name, value] : options.settings) {
    if (!IsIdentifier(name)) {
      return ClickHouseError(kUnknownSetting, fmt::format("invalid setting name '{}'", name));
    }
  }
  KOBS_ASSIGN_OR_RETURN(Lease conn, Acquire(/*for_insert=*/false));

  KOBS_RETURN_IF_ERROR(Prepare(*conn, options));
  QueryStats stats;
  absl::Status status = absl::OkStatus();
  ParamArrays p(options.params);
  chdb_result* stream = api_->stream_query_with_params_n(
      *conn->conn, sql.data(), sql.size(), options.format.data(), options.format.size(), p.n(),
      p.nl(), p.v(), p.vl(), options.params.size());
  const char* init_err = stream != nullptr ? api_->result_error(stream) : "chDB returned no result";
  if (init_err != nullptr && absl::StrContains(init_err, "Streaming query is not supported")) {
    // Only SELECTs stream; DDL, INSERT ... SELECT, SHOW, DESCRIBE and the like run buffered.
    if (stream != nullptr) api_->destroy_query_result(stream);
    auto buffered = RunBuffered(*conn, sql, options.format, options.params, sink);
    if (buffered.ok()) stats = *buffered;
    else status = buffered.status();
  } else if (init_err != nullptr) {
    status = ParseClickHouseError(init_err);
    if (stream != nullptr) api_->destroy_query_result(stream);
  } else {
    for (;;) {
      chdb_result* chunk = api_->stream_fetch_result(*conn->conn, stream);
      if (chunk == nullptr) {
        status = absl::InternalError("chDB returned no chunk");
        break;
      }
      if (const char* err = api_->result_error(chunk)) {
        status = ParseClickHouseError(err);
        api_->destroy_query_result(chunk);
        break;
      }
      size_t len = api_->result_length(chunk);
      stats.result_rows += api_->result_rows_read(chunk);
      stats.read_rows = std::max<uint64_t>(stats.read_rows, api_->result_storage_rows_read(chunk));
      stats.read_bytes = std::max<uint64_t>(stats.read_bytes, api_->result_storage_bytes_read(chunk));
      if (len == 0) {
        api_->destroy_query_result(chunk);
        break;
      }
      stats.result_bytes += len;
      status = sink(std::string_view(api_->result_buffer(chunk), len));
      api_->destroy_query_result(chunk);
      if (!status.ok()) {
        api_->stream_cancel_query(*conn->conn, stream);
        break;
      }
    }
    api_->destroy_query_result(stream);
  }
  if (!status.ok()) return status;
  stats.query_id = options.query_id.empty() ? NewQueryId() : options.query_id;
  stats.elapsed_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

// chDB sets the merge threads' nice value only with CAP_SYS_NICE, but raising a thread's nice
// value needs no privilege, so without the capability the store does it: the merge executor's
// threads (named MergeMutate) start once there are tables and live as long as the store.
// Tried after each insert until they are found, kReniceAttempts times at most.
void EmbeddedStore::ReniceMerges() {
  if (renice_attempts_left_.load(std::memory_order_relaxed) <= 0) return;
  const int reniced = ReniceThreads("MergeMutate", options_.merge_nice);
  if (reniced > 0) {
    renice_attempts_left_.store(0, std::memory_order_relaxed);
    Log(log(), spdlog::level::info, "merge threads reniced (chDB does it only with CAP_SYS_NICE)",
        {{"threads", std::to_string(reniced)},
         {"merge_nice", std::to_string(options_.merge_nice)}});
  } else if (renice_attempts_left_.fetch_sub(1, std::memory_order_relaxed) == 1) {
    Log(log(), spdlog::level::warn,
        "merges run at the priority of every other thread: no chDB merge thread (MergeMutate) "
        "found to renice",
        {{"merge_nice", std::to_string(options_.merge_nice)}});
  }
}

absl::StatusOr<QueryStats> EmbeddedStore::Insert(std::string_view table,
                                                 const std::vector<std::string>& columns,
                                                 std::string_view format, std::string_view data,
                                                 const InsertOptions& options) {
  ReniceMerges();
  const auto start = std::chrono::steady_clock::now();
  std::string sql = "INSERT INTO " + QuoteQualified(table);
  if (!columns.empty()) {
    sql += " (";
    for (size_t i = 0; i < columns.size(); ++i) {
      if (i > 0) sql += ", ";
      sql += QuoteIdentifier(columns[i]);
    }
    sql += ")";
  }
  // Visible at once: async_insert is on by default in 26.x.
  sql += " SETTINGS async_insert = 0";
  for (const auto& [name, value] : options.settings) {
    if (!IsIdentifier(name)) {
      return absl::InvalidArgumentError(fmt::format("invalid setting name '{}'", name));
    }
    sql += fmt::format(", {} = {}", name, SettingLiteral(value));
  }
  KOBS_ASSIGN_OR_RETURN(Lease conn, Acquire(/*for_insert=*/true));
  chdb::chdb_insert_stream stream =
      api_->stream_insert_n(*conn->conn, sql.data(), sql.size(), format.data(), format.size());
  if (stream == nullptr) return absl::InternalError("chDB returned no insert stream");
  absl::Status status = absl::OkStatus();
  QueryStats stats;
  if (const char* err = api_->stream_insert_error(stream)) {
    status = ParseClickHouseError(err);
  } else if (!data.empty() && api_->stream_append(stream, data.data(), data.size()) != 0) {
    const char* err = api_->stream_insert_error(stream);
    status = ParseClickHouseError(err != nullptr ? err : "insert stream append failed");
  } else {
    chdb_result* done = api_->stream_done(stream);
    if (done == nullptr) {
      status = absl::InternalError("chDB returned no insert result");
    } else {
      if (const char* err = api_->result_error(done)) {
        status = ParseClickHouseError(err);
      } else {
        stats.written_rows = api_->result_rows_written(done);
        stats.written_bytes = api_->result_bytes_written(done);
      }
      api_->destroy_query_result(done);
    }
  }
  api_->destroy_insert_stream(stream);
  if (!status.ok()) return status;
  stats.elapsed_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  stats.query_id = NewQueryId();
  return stats;
}

absl::StatusOr<std::string> EmbeddedStore::ServerVersion() {
  return QueryScalar(*this, "SELECT version()");
}

absl::StatusOr<StatementClass> EmbeddedStore::Classify(std::string_view sql, int* statements) {
  KOBS_ASSIGN_OR_RETURN(Lease conn, Acquire(/*for_insert=*/false));
  chdb::chdb_query_analysis_v1 analysis{sizeof(chdb::chdb_query_analysis_v1), 0, 0, 0};
  if (api_->classify_query_n(*conn->conn, sql.data(), sql.size(), nullptr, 0, &analysis) != 0) {
    return absl::InternalError("chdb_classify_query_n failed");
  }
  if (statements != nullptr) *statements = static_cast<int>(analysis.statement_count);
  switch (analysis.query_class) {
    case chdb::kReadOnly: return StatementClass::kReadOnly;
    case chdb::kMutating: return StatementClass::kMutating;
    case chdb::kMutatingGlobal: return StatementClass::kMutatingGlobal;
    case chdb::kControl: return StatementClass::kControl;
    default: return StatementClass::kUnknown;
  }
}

}  // namespace kobs::store
