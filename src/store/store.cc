#include "store/store.h"

#include <absl/strings/strip.h>

#include "common/status_macros.h"

namespace kobs::store {

Param Param::StrArray(std::string name, const std::vector<std::string>& raw) {
  // An array literal of quoted strings: ClickHouse reads a parameter of a composite type as
  // the type's text form, so the escaping is the quoted strings' own (not Str()'s on top).
  std::string v = "[";
  for (size_t i = 0; i < raw.size(); ++i) {
    if (i > 0) v += ',';
    v += '\'';
    for (char c : raw[i]) {
      switch (c) {
        case '\\': v += "\\\\"; break;
        case '\'': v += "\\'"; break;
        case '\t': v += "\\t"; break;
        case '\n': v += "\\n"; break;
        case '\r': v += "\\r"; break;
        case '\0': v += "\\0"; break;
        default: v += c;
      }
    }
    v += '\'';
  }
  v += ']';
  return {std::move(name), std::move(v)};
}

Param Param::Str(std::string name, std::string_view raw) {
  std::string v;
  v.reserve(raw.size() + 8);
  for (char c : raw) {
    switch (c) {
      case '\\': v += "\\\\"; break;
      case '\t': v += "\\t"; break;
      case '\n': v += "\\n"; break;
      case '\r': v += "\\r"; break;
      case '\0': v += "\\0"; break;
      default: v += c;
    }
  }
  return {std::move(name), std::move(v)};
}

absl::StatusOr<QueryResult> Store::Query(std::string_view sql, const QueryOptions& options) {
  QueryResult result;
  KOBS_ASSIGN_OR_RETURN(result.stats, QueryStream(sql, options, [&](std::string_view chunk) {
                          result.data.append(chunk);
                          return absl::OkStatus();
                        }));
  return result;
}

absl::StatusOr<StatementClass> Store::Classify(std::string_view, int*) {
  return absl::UnimplementedError("this store backend cannot classify statements");
}

absl::StatusOr<std::string> QueryScalar(Store& store, std::string_view sql,
                                        std::vector<Param> params) {
  QueryOptions options;
  options.format = "TabSeparated";
  options.params = std::move(params);
  KOBS_ASSIGN_OR_RETURN(QueryResult result, store.Query(sql, options));
  std::string_view v = result.data;
  if (!v.empty() && v.back() == '\n') v.remove_suffix(1);
  return std::string(v);
}

}  // namespace kobs::store
