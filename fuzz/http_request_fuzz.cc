// Fuzzes what the HTTP server does with request bytes from the network: Beast's request
// parser with our limits, then ParseTarget and body decompression (Inflate), as Serve() does.
#include <cstdint>
#include <string_view>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "net/gzip.h"
#include "net/http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace bhttp = boost::beast::http;
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(64 * 1024);
  parser.body_limit(1 << 20);
  parser.eager(true);
  boost::beast::error_code ec;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  parser.put(boost::asio::buffer(in.data(), in.size()), ec);
  if (ec || !parser.is_header_done()) return 0;
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  kobs::net::ParseTarget(std::string_view(parser.get().target()), &path, &query);
  if (path.empty() || path.size() > in.size() + 1) __builtin_trap();
  if (parser.is_done()) (void)kobs::net::Inflate(parser.get().body(), 1 << 20);
  return 0;
}
