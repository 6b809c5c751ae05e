// Fuzzes the parser of ClickHouse error bodies (input: any server's response).
#include <cstdint>
#include <string_view>

#include "store/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::Status s = kobs::store::ParseClickHouseError(text);
  if (s.ok()) __builtin_trap();  // an error body never parses to OK
  auto code = kobs::store::ClickHouseErrorCode(s);
  if (!code) __builtin_trap();
  (void)kobs::store::ClickHouseCodeToHttpStatus(*code);
  return 0;
}
