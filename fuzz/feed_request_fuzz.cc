// The event feed's parsers of outside input: a Last-Event-ID (header or query), GET /events'
// `since`, and the Go-compatible JSON string encoder over arbitrary stored bytes. Input: the
// id, a newline, the since value, a newline, then bytes to encode.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "feed/event.h"
#include "feed/feed_service.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  std::string_view id = in.substr(0, nl);
  std::string_view rest = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  nl = rest.find('\n');
  std::string_view since = rest.substr(0, nl);
  std::string_view bytes = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);

  if (auto p = kobs::feed::Position::Parse(id); p.ok()) {
    auto again = kobs::feed::Position::Parse(p->ToString());
    if (!again.ok() || !(*again == *p)) std::abort();  // ids round-trip
  }
  (void)kobs::feed::ParseSince(since);

  // The encoder's output is always one valid JSON string (valid UTF-8, no raw control
  // characters, no raw line breaks that would split an SSE data line).
  std::string out;
  kobs::feed::AppendGoJsonString(&out, bytes);
  if (out.find_first_of("\r\n") != std::string::npos) std::abort();
  auto parsed = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_string()) std::abort();
  // Nothing is lost: every input byte comes back, as itself or inside U+FFFD.
  if (parsed.get<std::string>().size() < bytes.size()) std::abort();
  return 0;
}
