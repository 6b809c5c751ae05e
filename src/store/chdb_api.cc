#include "store/chdb_api.h"

#include <dlfcn.h>

#include <filesystem>
#include <mutex>

#include <fmt/format.h>

namespace kobs::store::chdb {
namespace {

struct Loaded {
  std::string path;
  Api api{};
  absl::Status status;
};

template <typename Fn>
bool Resolve(void* handle, const char* name, Fn* out, std::string* missing) {
  *out = reinterpret_cast<Fn>(dlsym(handle, name));
  if (*out == nullptr) {
    *missing += fmt::format("{}{}", missing->empty() ? "" : ", ", name);
    return false;
  }
  return true;
}

absl::Status DoLoad(const std::string& path, Api* api) {
  if (!std::filesystem::exists(path)) {
    return absl::NotFoundError(fmt::format(
        "chDB library not found at '{}' (run scripts/setup.sh, or set store.chdb_library)", path));
  }
  // RTLD_LOCAL keeps ClickHouse's many symbols out of the global namespace.
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    return absl::FailedPreconditionError(
        fmt::format("cannot load chDB library '{}': {}", path, dlerror()));
  }
  std::string missing;
  Resolve(handle, "chdb_version", &api->version, &missing);
  Resolve(handle, "chdb_connect", &api->connect, &missing);
  Resolve(handle, "chdb_close_conn", &api->close_conn, &missing);
  Resolve(handle, "chdb_query_with_params_n", &api->query_with_params_n, &missing);
  Resolve(handle, "chdb_stream_query_with_params_n", &api->stream_query_with_params_n, &missing);
  Resolve(handle, "chdb_stream_fetch_result", &api->stream_fetch_result, &missing);
  Resolve(handle, "chdb_stream_cancel_query", &api->stream_cancel_query, &missing);
  Resolve(handle, "chdb_destroy_query_result", &api->destroy_query_result, &missing);
  Resolve(handle, "chdb_stream_insert_n", &api->stream_insert_n, &missing);
  Resolve(handle, "chdb_stream_append", &api->stream_append, &missing);
  Resolve(handle, "chdb_stream_done", &api->stream_done, &missing);
  Resolve(handle, "chdb_stream_cancel_insert", &api->stream_cancel_insert, &missing);
  Resolve(handle, "chdb_stream_insert_error", &api->stream_insert_error, &missing);
  Resolve(handle, "chdb_destroy_insert_stream", &api->destroy_insert_stream, &missing);
  Resolve(handle, "chdb_result_buffer", &api->result_buffer, &missing);
  Resolve(handle, "chdb_result_length", &api->result_length, &missing);
  Resolve(handle, "chdb_result_elapsed", &api->result_elapsed, &missing);
  Resolve(handle, "chdb_result_rows_read", &api->result_rows_read, &missing);
  Resolve(handle, "chdb_result_bytes_read", &api->result_bytes_read, &missing);
  Resolve(handle, "chdb_result_storage_rows_read", &api->result_storage_rows_read, &missing);
  Resolve(handle, "chdb_result_storage_bytes_read", &api->result_storage_bytes_read, &missing);
  Resolve(handle, "chdb_result_rows_written", &api->result_rows_written, &missing);
  Resolve(handle, "chdb_result_bytes_written", &api->result_bytes_written, &missing);
  Resolve(handle, "chdb_result_error", &api->result_error, &missing);
  Resolve(handle, "chdb_classify_query_n", &api->classify_query_n, &missing);
  // Optional (chDB >= 26.3).
  api->set_signal_handlers_enabled = reinterpret_cast<void (*)(int)>(
      dlsym(handle, "chdb_set_signal_handlers_enabled"));
  if (!missing.empty()) {
    return absl::FailedPreconditionError(fmt::format(
        "chDB library '{}' lacks symbols: {} (kobs needs chDB >= 26.7)", path, missing));
  }
  // The handle is intentionally never closed: the engine's threads outlive any scope here.
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<const Api*> Load(const std::string& path) {
  static std::mutex mu;
  static Loaded* loaded = nullptr;
  std::lock_guard<std::mutex> lock(mu);
  if (loaded == nullptr) {
    loaded = new Loaded();  // lives for the process: libchdb cannot be unloaded safely
    loaded->path = path;
    loaded->status = DoLoad(path, &loaded->api);
  } else if (loaded->path != path) {
    return absl::FailedPreconditionError(fmt::format(
        "chDB library already loaded from '{}', cannot also load '{}'", loaded->path, path));
  }
  if (!loaded->status.ok()) return loaded->status;
  return &loaded->api;
}

}  // namespace kobs::store::chdb
