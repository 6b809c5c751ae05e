#include "net/http.h"

#include <string>

#include <absl/strings/ascii.h>
#include <absl/strings/match.h>

#include "common/absl_compat.h"

namespace kobs::net {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

void Headers::Add(std::string_view name, std::string_view value) {
  map_.emplace(absl::AsciiStrToLower(std::string(name)), std::string(value));
}

std::optional<std::string_view> Headers::Get(std::string_view name) const {
  auto it = map_.find(absl::AsciiStrToLower(std::string(name)));
  if (it == map_.end()) return std::nullopt;
  return std::string_view(it->second);
}

std::optional<std::string_view> Request::QueryParam(std::string_view name) const {
  for (const auto& [key, value] : query) {
    if (key == name) return std::string_view(value);
  }
  return std::nullopt;
}

std::string PercentDecode(std::string_view in, bool plus_as_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%' && i + 2 < in.size()) {
      int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_as_space && c == '+' ? ' ' : c);
  }
  return out;
}

void ParseTarget(std::string_view target, std::string* path,
                 std::vector<std::pair<std::string, std::string>>* query) {
  size_t q = target.find('?');
  std::string_view raw_path = target.substr(0, q);
  // An absolute-form target ("http://host/path") is allowed by HTTP/1.1: keep the path only.
  if (absl::StartsWithIgnoreCase(ToAbsl(raw_path), "http://") ||
      absl::StartsWithIgnoreCase(ToAbsl(raw_path), "https://")) {
    size_t slash = raw_path.find('/', raw_path.find("//") + 2);
    raw_path = slash == std::string_view::npos ? "/" : raw_path.substr(slash);
  }
  *path = PercentDecode(raw_path, /*plus_as_space=*/false);
  if (path->empty()) path->push_back('/');  // not `= "/"`: g++ 12 -Wrestrict false positive
  query->clear();
  if (q == std::string_view::npos) return;
  std::string_view rest = target.substr(q + 1);
  // A fragment never reaches a server, but a sloppy client may send one.
  rest = rest.substr(0, rest.find('#'));
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    query->emplace_back(PercentDecode(pair.substr(0, eq), true),
                        eq == std::string_view::npos ? std::string()
                                                     : PercentDecode(pair.substr(eq + 1), true));
  }
}

void Reply(ResponseWriter& w, int status, std::string_view content_type, std::string_view body) {
  w.SetStatus(status);
  w.SetHeader("Content-Type", content_type);
  w.SetHeader("Content-Length", std::to_string(body.size()));
  if (!body.empty()) (void)w.Write(body);
  (void)w.Finish();
}

bool BearerTokenMatches(std::string_view authorization, std::string_view token) {
  if (token.empty()) return true;
  constexpr std::string_view kPrefix = "Bearer ";
  if (authorization.size() < kPrefix.size() ||
      !absl::EqualsIgnoreCase(ToAbsl(authorization.substr(0, kPrefix.size())), ToAbsl(kPrefix))) {
    return false;
  }
  std::string_view got = authorization.substr(kPrefix.size());
  unsigned char diff = got.size() == token.size() ? 0 : 1;
  for (size_t i = 0; i < token.size(); ++i) {
    diff |= static_cast<unsigned char>(token[i] ^ (i < got.size() ? got[i] : 0));
  }
  return diff == 0;
}

}  // namespace kobs::net
