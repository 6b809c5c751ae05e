#include "mcp/clickhouse_tools.h"

#include <fmt/format.h>

#include "common/absl_compat.h"
#include "mcp/sql_guard.h"
#include "mcp/tool_util.h"

namespace kobs::mcp {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;
using store::Param;

}  // namespace

std::vector<Tool> ClickHouseTools(store::Store& store, const McpOptions& o) {
  std::vector<Tool> tools;
  tools.push_back(Tool{
      .name = "list_databases",
      .title = "List databases",
      .description = "Lists the ClickHouse databases with their engines.",
      .input_schema = Schema(json::object()),
      .run = [&store, o](const json&) -> absl::StatusOr<ojson> {
        auto rows = Rows(store, o, "SELECT name, engine FROM system.databases ORDER BY name", {});
        if (!rows.ok()) return rows.status();
        return ojson{{"databases", *rows}};
      }});

  tools.push_back(Tool{
      .name = "list_tables",
      .title = "List tables",
      .description =
          "Lists the tables of a database, filtered by LIKE patterns, a page at a time, with their "
          "engines, row counts, comments and (unless include_detailed_columns is false) their "
          "columns with types and comments. Pass next_page_token back as page_token for more.",
      .input_schema = Schema({
          {"database", {{"type", "string"}, {"description", "Database name"}, {"default", "default"}, {"maxLength", 256}}},
          {"like", StrArg("Only tables whose name matches this LIKE pattern", 256)},
          {"not_like", StrArg("Leave out tables whose name matches this LIKE pattern", 256)},
          {"page_token", StrArg("next_page_token of the previous page", 64)},
          {"page_size", {{"type", "integer"}, {"minimum", 1}, {"maximum", 500}, {"default", 50}}},
          {"include_detailed_columns", {{"type", "boolean"}, {"default", true}}},
      }),
      .run = [&store, o](const json& a) -> absl::StatusOr<ojson> {
        uint64_t offset = 0;
        if (a.contains("page_token")) {
          const std::string t = a["page_token"];
          if (t.empty() || t.find_first_not_of("0123456789") != std::string::npos || t.size() > 12) {
            return absl::InvalidArgumentError("page_token is not one this server issued");
          }
          offset = std::stoull(t);
        }
        const int64_t size = a["page_size"];
        const std::string filter =
            "database = {db:String} AND ({like:String} = '' OR name LIKE {like:String}) AND "
            "({not_like:String} = '' OR name NOT LIKE {not_like:String})";
        std::vector<Param> params = {Param::Str("db", a["database"].get<std::string>()),
                                     Param::Str("like", a.value("like", "")),
                                     Param::Str("not_like", a.value("not_like", "")),
                                     Param::Raw("limit", std::to_string(size)),
                                     Param::Raw("offset", std::to_string(offset))};
        auto total = Rows(store, o, "SELECT count() AS n FROM system.tables WHERE " + filter, params);
        if (!total.ok()) return total.status();
        const std::string page =
            "SELECT name FROM system.tables WHERE " + filter +
            " ORDER BY name LIMIT {limit:UInt32} OFFSET {offset:UInt64}";
        auto tables = Rows(store, o,
                           "SELECT name, engine, comment, total_rows FROM system.tables WHERE " +
                               filter + " ORDER BY name LIMIT {limit:UInt32} OFFSET {offset:UInt64}",
                           params);
        if (!tables.ok()) return tables.status();
        if (a["include_detailed_columns"].get<bool>()) {
          auto cols = Rows(store, o,
                           "SELECT table, name, type, comment FROM system.columns WHERE "
                           "database = {db:String} AND table IN (" + page + ") "
                           "ORDER BY table, position",
                           params);
          if (!cols.ok()) return cols.status();
          for (auto& t : *tables) {
            t["columns"] = ojson::array();
            for (const auto& c : *cols) {
              if (c["table"] == t["name"]) {
                t["columns"].push_back({{"name", c["name"]}, {"type", c["type"]}, {"comment", c["comment"]}});
              }
            }
          }
        }
        const ojson& count = (*total)[0]["n"];  // a number, or a string when 64-bit ints are quoted
        const uint64_t n = count.is_string() ? std::stoull(count.get<std::string>())
                                             : count.get<uint64_t>();
        ojson out = {{"database", a["database"]}, {"tables", *tables}, {"total_tables", n}};
        out["next_page_token"] = offset + size < n ? ojson(std::to_string(offset + size)) : ojson(nullptr);
        return out;
      }});

  tools.push_back(Tool{
      .name = "describe_table",
      .title = "Describe a table",
      .description = "The columns of a table (types, defaults, comments, key membership) and its "
                     "engine, sorting, primary and partition keys, rows and bytes.",
      .input_schema = Schema({{"database", {{"type", "string"}, {"default", "default"}, {"maxLength", 256}}},
                              {"table", {{"type", "string"}, {"minLength", 1}, {"maxLength", 256}}}},
                             {"table"}),
      .run = [&store, o](const json& a) -> absl::StatusOr<ojson> {
        std::vector<Param> p = {Param::Str("db", a["database"].get<std::string>()),
                                Param::Str("t", a["table"].get<std::string>())};
        auto info = Rows(store, o,
                         "SELECT engine, sorting_key, primary_key, partition_key, total_rows, "
                         "total_bytes, comment FROM system.tables WHERE database = {db:String} "
                         "AND name = {t:String}",
                         p);
        if (!info.ok()) return info.status();
        if (info->empty()) {
          return absl::NotFoundError(fmt::format("table {}.{} does not exist",
                                                 a["database"].get<std::string>(),
                                                 a["table"].get<std::string>()));
        }
        auto cols = Rows(store, o,
                         "SELECT name, type, default_kind, default_expression, comment, "
                         "is_in_sorting_key, is_in_primary_key, is_in_partition_key FROM "
                         "system.columns WHERE database = {db:String} AND table = {t:String} "
                         "ORDER BY position",
                         p);
        if (!cols.ok()) return cols.status();
        ojson out = {{"database", a["database"]}, {"table", a["table"]}};
        for (auto& [k, v] : (*info)[0].items()) out[k] = v;
        out["columns"] = *cols;
        return out;
      }});

  tools.push_back(Tool{
      .name = "run_select_query",
      .title = "Run a read-only SQL query",
      .description = fmt::format(
          "Runs one read-only ClickHouse statement (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, "
          "EXISTS) and returns its rows as JSON objects. At most {} rows and {} KiB come back; "
          "beyond that the result says how many rows were left out. Runs with readonly=2 and a "
          "{} s time limit. Writes, DDL, SETTINGS and FORMAT clauses, INTO OUTFILE, several "
          "statements, and table functions that reach files, URLs or other servers are refused.",
          o.max_result_rows, o.max_result_bytes / 1024, o.max_execution_time.count()),
      .input_schema = Schema({{"query", StrArg("The SQL statement", 100'000)}}, {"query"}),
      .run = [&store, o](const json& a) -> absl::StatusOr<ojson> {
        const std::string sql = a["query"];
        size_t end = 0;
        if (absl::Status s = CheckReadOnlySql(sql, &end); !s.ok()) return s;
        int statements = 0;
        auto cls = store.Classify(std::string_view(sql).substr(0, end), &statements);
        if (cls.ok() && (*cls != store::StatementClass::kReadOnly || statements != 1)) {
          return absl::InvalidArgumentError(
              "the engine's parser does not see one read-only statement here; refused");
        }
        uint64_t more = 0;
        bool exact = true;
        auto rows = RunBounded(store, std::string_view(sql).substr(0, end), {}, o,
                               o.max_result_rows, &more, &exact);
        if (!rows.ok()) return rows.status();
        ojson out = {{"rows", *rows}, {"row_count", rows->size()}, {"truncated", more > 0}};
        if (more > 0) {
          out["more_rows"] = more;
          out["message"] = fmt::format(
              "truncated: {}{} more rows (limits: {} rows, {} KiB); add a LIMIT, aggregate, or "
              "select fewer columns",
              exact ? "" : "at least ", more, o.max_result_rows, o.max_result_bytes / 1024);
        }
        return out;
      }});
  return tools;
}

}  // namespace kobs::mcp
