#include "store/sql_quote.h"

namespace kobs::store {

std::string QuoteIdentifier(std::string_view name) {
  std::string out = "`";
  for (char c : name) {
    if (c == '`' || c == '\\') out += '\\';
    out += c;
  }
  return out + "`";
}

std::string QuoteQualified(std::string_view name) {
  size_t dot = name.find('.');
  if (dot == std::string_view::npos) return QuoteIdentifier(name);
  return QuoteIdentifier(name.substr(0, dot)) + "." + QuoteIdentifier(name.substr(dot + 1));
}

}  // namespace kobs::store
