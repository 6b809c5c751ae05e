// SqlGuard: decides whether a statement an AI agent sent to `run_select_query` may run.
// Lexical and conservative, so it works the same on every backend (the engine's own parser,
// when the store has one, is asked too, and readonly=2 applies at execution):
//   - one statement (a trailing `;` is fine; anything after it is refused);
//   - it starts with SELECT, WITH, SHOW, DESCRIBE/DESC, EXPLAIN or EXISTS (parentheses allowed);
//   - no `INTO OUTFILE`, no SETTINGS clause (limits are the server's), no `FORMAT` clause
//     (the tool chooses the output format);
//   - no table function that reaches files, URLs, other servers or processes (file, url,
//     remote, s3, mysql, executable, ...).
// Comments, string literals and quoted identifiers are understood, so a keyword hidden in a
// string neither triggers nor escapes a rule. Every refusal says which rule and why.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace kobs::mcp {

// OK, or InvalidArgument with a message meant for the agent. On OK, `statement_end` (when
// given) receives the length of the statement without its trailing `;` and what follows it.
absl::Status CheckReadOnlySql(std::string_view sql, size_t* statement_end = nullptr);

// Escapes LIKE wildcards (`%`, `_`) and the escape character in `raw`, for a pattern that
// must match `raw` literally (followed by a `%` the caller appends for a prefix match).
std::string EscapeLike(std::string_view raw);

}  // namespace kobs::mcp
