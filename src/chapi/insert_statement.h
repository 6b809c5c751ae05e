// Recognises `INSERT INTO <table> [(cols)] [SETTINGS ...] FORMAT <name>` and
// `INSERT INTO <table> [(cols)] VALUES ...` at the start of a query, so the data that follows
// goes through the streaming insert API and never through SQL text (chDB runs what follows a
// blank line in inline INSERT data as SQL). Stateless, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kobs::chapi {

struct InsertStatement {
  std::string table;                 // unquoted, possibly "db.table"
  std::vector<std::string> columns;  // unquoted; empty means all
  std::string format;                // e.g. "JSONEachRow"; "Values" for VALUES
  size_t data_offset = 0;            // where the inline data starts in the query text
};

// Parses the head of `sql`. Returns nullopt when `sql` is not an INSERT of that shape
// (e.g. INSERT ... SELECT), in which case it runs as an ordinary query.
std::optional<InsertStatement> ParseInsert(std::string_view sql);

}  // namespace kobs::chapi
