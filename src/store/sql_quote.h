// Quoting of identifiers for SQL text that kobs builds itself (DDL, INSERT heads). Values are
// never quoted into SQL: they are bound as query parameters (see store.h). Stateless.
#pragma once

#include <string>
#include <string_view>

namespace kobs::store {

// Quotes an identifier for ClickHouse SQL: `name`, with backticks and backslashes escaped.
std::string QuoteIdentifier(std::string_view name);

// Quotes an optionally qualified name: `db.table` is quoted part by part (split at the first
// dot), a bare name as QuoteIdentifier does.
std::string QuoteQualified(std::string_view name);

// Whether `s` is a plain identifier ([A-Za-z_][A-Za-z0-9_]*): format and setting names.
bool IsIdentifier(std::string_view s);

}  // namespace kobs::store
