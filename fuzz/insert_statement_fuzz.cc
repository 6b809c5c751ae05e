// Fuzzes the INSERT-head parser of the ClickHouse endpoint (input: any HTTP query text).
#include <cstdint>
#include <string_view>

#include "chapi/insert_statement.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view sql(reinterpret_cast<const char*>(data), size);
  auto st = kobs::chapi::ParseInsert(sql);
  if (st && st->data_offset > sql.size()) __builtin_trap();  // offset must stay in bounds
  return 0;
}
