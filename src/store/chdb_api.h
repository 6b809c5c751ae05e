// The chDB C API (libchdb.so, ClickHouse 26.7 in-process), declared here because the npm
// package ships no header, and loaded with dlopen so a kobs binary runs without the library
// when it talks to a remote server. Load() is thread-safe; the table lives for the process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace kobs::store::chdb {

extern "C" {
typedef struct chdb_result_ {
  void* internal_data;
} chdb_result;
typedef struct chdb_connection_ {
  void* internal_data;
}* chdb_connection;
typedef struct chdb_insert_stream_ {
  void* internal_data;
}* chdb_insert_stream;
typedef struct chdb_query_analysis_v1 {
  uint32_t struct_size;
  uint32_t statement_count;
  uint32_t flags;
  uint32_t query_class;
} chdb_query_analysis_v1;
}

enum QueryClass : uint32_t {
  kReadOnly = 0,
  kMutating = 1,
  kMutatingGlobal = 2,
  kControl = 3,
  kUnknown = 4,
};

struct Api {
  const char* (*version)();
  void (*set_signal_handlers_enabled)(int);  // null on libraries older than 26.3
  chdb_connection* (*connect)(int, char**);
  void (*close_conn)(chdb_connection*);
  chdb_result* (*query_with_params_n)(chdb_connection, const char*, size_t, const char*, size_t,
                                      const char* const*, const size_t*, const char* const*,
                                      const size_t*, size_t);
  chdb_result* (*stream_query_with_params_n)(chdb_connection, const char*, size_t, const char*,
                                             size_t, const char* const*, const size_t*,
                                             const char* const*, const size_t*, size_t);
  chdb_result* (*stream_fetch_result)(chdb_connection, chdb_result*);
  void (*stream_cancel_query)(chdb_connection, chdb_result*);
  void (*destroy_query_result)(chdb_result*);
  chdb_insert_stream (*stream_insert_n)(chdb_connection, const char*, size_t, const char*, size_t);
  int (*stream_append)(chdb_insert_stream, const void*, size_t);
  chdb_result* (*stream_done)(chdb_insert_stream);
  void (*stream_cancel_insert)(chdb_insert_stream);
  const char* (*stream_insert_error)(chdb_insert_stream);
  void (*destroy_insert_stream)(chdb_insert_stream);
  char* (*result_buffer)(chdb_result*);
  size_t (*result_length)(chdb_result*);
  double (*result_elapsed)(chdb_result*);
  uint64_t (*result_rows_read)(chdb_result*);
  uint64_t (*result_bytes_read)(chdb_result*);
  uint64_t (*result_storage_rows_read)(chdb_result*);
  uint64_t (*result_storage_bytes_read)(chdb_result*);
  uint64_t (*result_rows_written)(chdb_result*);
  uint64_t (*result_bytes_written)(chdb_result*);
  const char* (*result_error)(chdb_result*);
  int (*classify_query_n)(chdb_connection, const char*, size_t, const char*, size_t,
                          chdb_query_analysis_v1*);
};

// Loads `path` once per process (later calls must name the same library) and resolves every
// symbol; fails with NotFound when the file is absent and FailedPrecondition when a symbol is
// missing.
absl::StatusOr<const Api*> Load(const std::string& path);

}  // namespace kobs::store::chdb
