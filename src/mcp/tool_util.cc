#include "mcp/tool_util.h"

#include <fmt/format.h>

namespace kobs::mcp {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;
using store::Param;

// Rows left out of a capped result are counted up to this many; beyond, the query is stopped.
constexpr uint64_t kMaxCountedExtraRows = 1'000'000;

}  // namespace

json Schema(json properties, std::vector<std::string> required) {
  json s = {{"type", "object"}, {"properties", std::move(properties)}, {"additionalProperties", false}};
  if (!required.empty()) s["required"] = required;
  return s;
}

json StrArg(const std::string& description, size_t max_length, size_t min_length) {
  json a = {{"type", "string"}, {"description", description}, {"maxLength", max_length}};
  if (min_length > 0) a["minLength"] = min_length;
  return a;
}

json IntArg(const std::string& description, int64_t min, int64_t max, int64_t dflt) {
  return {{"type", "integer"}, {"description", description}, {"minimum", min},
          {"maximum", max}, {"default", dflt}};
}

absl::StatusOr<ojson> Rows(store::Store& store, const McpOptions& o, const std::string& sql,
                           std::vector<Param> params) {
  uint64_t more = 0;
  bool exact = true;
  return RunBounded(store, sql, std::move(params), o, 100'000, &more, &exact);
}

absl::StatusOr<ojson> RunBounded(store::Store& store, std::string_view sql,
                                 std::vector<Param> params, const McpOptions& o, uint64_t max_rows,
                                 uint64_t* more, bool* more_exact) {
  store::QueryOptions q;
  q.format = "JSONEachRow";
  q.params = std::move(params);
  // Query-level SETTINGS rather than session settings: they end with the query, whatever the
  // backend (a pooled embedded connection could not drop readonly again).
  const std::string text = fmt::format("{}\nSETTINGS readonly = 2, max_execution_time = {}",
                                       sql, o.max_execution_time.count());
  ojson rows = ojson::array();
  uint64_t bytes = 0;
  *more = 0;
  *more_exact = true;
  std::string partial;
  auto take = [&](std::string_view line) -> absl::Status {
    if (line.empty()) return absl::OkStatus();
    if (rows.size() < max_rows && bytes + line.size() <= o.max_result_bytes && *more == 0) {
      ojson row = ojson::parse(line, nullptr, false);
      if (row.is_discarded()) return absl::InternalError("the store returned a malformed row");
      rows.push_back(std::move(row));
      bytes += line.size();
      return absl::OkStatus();
    }
    if (++*more >= kMaxCountedExtraRows) {
      *more_exact = false;
      return absl::CancelledError("enough rows counted");
    }
    return absl::OkStatus();
  };
  auto r = store.QueryStream(text, q, [&](std::string_view chunk) -> absl::Status {
    partial.append(chunk);
    size_t start = 0;
    for (size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (absl::Status s = take(std::string_view(partial).substr(start, nl - start)); !s.ok()) {
        return s;
      }
    }
    partial.erase(0, start);
    return absl::OkStatus();
  });
  if (!r.ok() && !(absl::IsCancelled(r.status()) && !*more_exact)) return r.status();
  if (r.ok() && !partial.empty()) {
    if (absl::Status s = take(partial); !s.ok() && !absl::IsCancelled(s)) return s;
  }
  return rows;
}


}  // namespace kobs::mcp
