// store::Store: the one interface every module uses to talk to ClickHouse, embedded (chDB)
// or remote (HTTP). Queries bind `{name:Type}` placeholders from `params` (never spliced into
// SQL text) and return output in any ClickHouse format; inserts take pre-encoded rows.
// Implementations are thread-safe: concurrent calls are spread over a connection pool.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kobs::store {

// A bound query parameter. `value` is in ClickHouse's query-parameter text form, the form of
// an HTTP `param_<name>` value (TSV escaping: `\t`, `\n`, `\\`, `\0`); use Param::Str() to bind
// an arbitrary string safely.
struct Param {
  std::string name;
  std::string value;

  // Binds a raw string (any bytes, including quotes, newlines and NUL) as a String value.
  static Param Str(std::string name, std::string_view raw);
  // Binds strings (any bytes) as an Array(String) value.
  static Param StrArray(std::string name, const std::vector<std::string>& raw);
  // Binds a value already in text form, e.g. a number or a DateTime64 literal.
  static Param Raw(std::string name, std::string value) { return {std::move(name), std::move(value)}; }
};

struct QueryOptions {
  // Output format, e.g. "TabSeparated", "JSON", "JSONEachRow", "RowBinary". A FORMAT clause in
  // the query text wins over this, as in ClickHouse.
  std::string format = "TabSeparated";
  std::vector<Param> params;
  // Query id; empty lets the backend choose one.
  std::string query_id;
  // Database for unqualified table names; empty means the backend's default.
  std::string database;
  // Per-query settings (name -> value in text form), e.g. {"max_result_rows", "1000"}.
  std::map<std::string, std::string> settings;
};

struct InsertOptions {
  // Settings of this insert (name -> value in text form), e.g. insert_deduplication_token.
  // Names must be identifiers; values are sent as quoted literals / URL parameters.
  std::map<std::string, std::string> settings;
};

// Counters of a finished query (X-ClickHouse-Summary on the HTTP interface).
struct QueryStats {
  uint64_t read_rows = 0;
  uint64_t read_bytes = 0;
  uint64_t written_rows = 0;
  uint64_t written_bytes = 0;
  uint64_t result_rows = 0;
  uint64_t result_bytes = 0;
  double elapsed_seconds = 0;
  std::string query_id;
};

struct QueryResult {
  std::string data;
  QueryStats stats;
};

// What a statement does, per the engine's own parser.
enum class StatementClass { kReadOnly, kMutating, kMutatingGlobal, kControl, kUnknown };

// Receives one chunk of streamed output. Returning an error cancels the query; that error is
// what the query call returns.
using ChunkSink = std::function<absl::Status(std::string_view chunk)>;

class Store {
 public:
  virtual ~Store() = default;

  // Runs `sql` and returns its whole output. Use QueryStream for results that may be large.
  virtual absl::StatusOr<QueryResult> Query(std::string_view sql, const QueryOptions& options);

  // Runs `sql`, passing output to `sink` chunk by chunk as the engine produces it.
  virtual absl::StatusOr<QueryStats> QueryStream(std::string_view sql, const QueryOptions& options,
                                                 const ChunkSink& sink) = 0;

  // Inserts `data`, rows encoded in `format` (RowBinary, Native, JSONEachRow, ...), into
  // `table` (optionally qualified `db.table`) with the listed `columns` (all when empty).
  // Visible to queries when this returns OK (synchronous insert).
  virtual absl::StatusOr<QueryStats> Insert(std::string_view table,
                                            const std::vector<std::string>& columns,
                                            std::string_view format, std::string_view data,
                                            const InsertOptions& options) = 0;
  absl::StatusOr<QueryStats> Insert(std::string_view table,
                                    const std::vector<std::string>& columns,
                                    std::string_view format, std::string_view data) {
    return Insert(table, columns, format, data, InsertOptions{});
  }

  // The engine's version string, e.g. "26.7.2.1".
  virtual absl::StatusOr<std::string> ServerVersion() = 0;

  // Classifies `sql` without running it; `statements` receives the statement count.
  // Backends that cannot do this locally return Unimplemented.
  virtual absl::StatusOr<StatementClass> Classify(std::string_view sql, int* statements);

  // "embedded" or "remote".
  virtual std::string_view backend() const = 0;
};

// Convenience: runs a query expected to return one scalar, as text (TSV, trailing newline
// removed).
absl::StatusOr<std::string> QueryScalar(Store& store, std::string_view sql,
                                        std::vector<Param> params = {});

}  // namespace kobs::store
