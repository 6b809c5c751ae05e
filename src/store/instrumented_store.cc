#include "store/instrumented_store.h"

#include <chrono>
#include <string>

#include "common/metrics.h"

namespace kobs::store {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

InstrumentedStore::InstrumentedStore(Store& inner, MetricsRegistry& m)
    : inner_(inner),
      queries_(m.GetCounter("kobs_store_queries_total", "Queries run on the store.",
                            {{"backend", std::string(inner.backend())}})),
      query_errors_(m.GetCounter("kobs_store_query_errors_total", "Queries that failed.",
                                 {{"backend", std::string(inner.backend())}})),
      inserts_(m.GetCounter("kobs_store_inserts_total", "Insert batches sent to the store.",
                            {{"backend", std::string(inner.backend())}})),
      insert_errors_(m.GetCounter("kobs_store_insert_errors_total", "Insert batches that failed.",
                                  {{"backend", std::string(inner.backend())}})),
      inserted_rows_(m.GetCounter("kobs_store_inserted_rows_total", "Rows written by inserts.",
                                  {{"backend", std::string(inner.backend())}})),
      inserted_bytes_(m.GetCounter("kobs_store_inserted_bytes_total",
                                   "Encoded bytes sent by inserts.",
                                   {{"backend", std::string(inner.backend())}})),
      query_seconds_(m.GetHistogram("kobs_store_query_duration_seconds", "Query latency.",
                                    {{"backend", std::string(inner.backend())}})),
      insert_seconds_(m.GetHistogram("kobs_store_insert_duration_seconds", "Insert latency.",
                                     {{"backend", std::string(inner.backend())}})) {}

absl::StatusOr<QueryStats> InstrumentedStore::QueryStream(std::string_view sql,
                                                          const QueryOptions& options,
                                                          const ChunkSink& sink) {
  auto start = std::chrono::steady_clock::now();
  auto r = inner_.QueryStream(sql, options, sink);
  queries_.Inc();
  if (!r.ok()) query_errors_.Inc();
  query_seconds_.Observe(SecondsSince(start));
  return r;
}

absl::StatusOr<QueryStats> InstrumentedStore::Insert(std::string_view table,
                                                     const std::vector<std::string>& columns,
                                                     std::string_view format,
                                                     std::string_view data,
                                                     const InsertOptions& options) {
  auto start = std::chrono::steady_clock::now();
  auto r = inner_.Insert(table, columns, format, data, options);
  inserts_.Inc();
  if (r.ok()) {
    inserted_rows_.Inc(static_cast<double>(r->written_rows));
    inserted_bytes_.Inc(static_cast<double>(data.size()));
    if (on_insert_) on_insert_(table);
  } else {
    insert_errors_.Inc();
  }
  insert_seconds_.Observe(SecondsSince(start));
  return r;
}

}  // namespace kobs::store
