#include "sim/container_profile.h"

#include <cmath>
#include <cstdlib>
#include <ctime>
#include <functional>

#include <fmt/format.h>

#include "absl/strings/numbers.h"
#include "common/absl_compat.h"
#include "common/yaml_json.h"

namespace kobs::sim {
namespace {

using nlohmann::json;

uint64_t Mix(const std::string& container, uint64_t n) {
  uint64_t h = std::hash<std::string>{}(container) ^ (n * 0x9e3779b97f4a7c15ULL);
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ULL;
  return h ^ (h >> 29);
}

std::string NowText(const char* format, bool millis) {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  if (!millis) return buf;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
            1000;
  return fmt::format("{}.{:03d}", buf, ms);
}

constexpr const char* kPaths[] = {"/api/orders", "/api/orders/42", "/api/users/me", "/healthz",
                                  "/api/cart",   "/static/app.js", "/api/search?q=boots"};
constexpr const char* kAgents[] = {"Mozilla/5.0 (X11; Linux x86_64)", "kube-probe/1.32",
                                   "curl/8.5.0", "Go-http-client/1.1"};

std::vector<std::string> Web(uint64_t h) {
  const char* path = kPaths[h % std::size(kPaths)];
  int status = h % 97 == 0 ? 500 : h % 23 == 0 ? 404 : 200;
  return {fmt::format("10.244.0.{} - - [{}] \"{} {} HTTP/1.1\" {} {} \"-\" \"{}\"", 2 + h % 200,
                      NowText("%d/%b/%Y:%H:%M:%S +0000", false), h % 5 == 0 ? "POST" : "GET", path,
                      status, 200 + h % 4000, kAgents[(h >> 8) % std::size(kAgents)])};
}

std::vector<std::string> Json(uint64_t h) {
  const char* level = h % 50 == 0 ? "error" : h % 12 == 0 ? "warn" : "info";
  const char* msg = h % 50 == 0   ? "upstream request failed"
                    : h % 12 == 0 ? "slow query"
                                  : "request served";
  return {fmt::format(
      R"({{"level":"{}","ts":"{}Z","logger":"http","msg":"{}","path":"{}","status":{},"duration_ms":{}}})",
      level, NowText("%Y-%m-%dT%H:%M:%S", true), msg, kPaths[h % std::size(kPaths)],
      h % 50 == 0 ? 502 : 200, 1 + h % 180)};
}

std::vector<std::string> Java(uint64_t h) {
  std::string stamp = NowText("%Y-%m-%d %H:%M:%S", true);
  std::string thread = fmt::format("http-nio-8080-exec-{}", 1 + h % 10);
  if (h % 10 != 0) {
    return {fmt::format("{}  INFO 1 --- [{}] c.e.shop.OrderController          : Order {} "
                        "accepted in {} ms",
                        stamp, thread, 1000 + h % 9000, 3 + h % 90)};
  }
  return {fmt::format("{} ERROR 1 --- [{}] o.a.c.c.C.[.[.[/].[dispatcherServlet]    : "
                      "Servlet.service() threw exception",
                      stamp, thread),
          "java.lang.NullPointerException: Cannot invoke \"com.example.shop.Cart.items()\" "
          "because \"cart\" is null",
          "\tat com.example.shop.OrderService.total(OrderService.java:57)",
          "\tat com.example.shop.OrderController.place(OrderController.java:31)",
          "\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke("
          "DirectMethodHandleAccessor.java:103)",
          "\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:"
          "885)",
          "\t... 42 common frames omitted"};
}

std::vector<std::string> Ansi(uint64_t h) {
  const char* level = h % 40 == 0 ? "\x1b[31mERROR\x1b[0m"
                      : h % 9 == 0 ? "\x1b[33mWARN \x1b[0m"
                                   : "\x1b[32mINFO \x1b[0m";
  return {fmt::format("\x1b[2m{}\x1b[0m {} \x1b[36mworker\x1b[0m processed batch {} ({} items)",
                      NowText("%H:%M:%S", true), level, h % 100000, h % 64)};
}

std::vector<std::string> Plain(uint64_t h, uint64_t n) {
  return {fmt::format("worker: processed job {} in {} ms", n, 5 + h % 400)};
}

absl::Status FieldError(const std::string& container, const char* field, std::string_view why) {
  return absl::InvalidArgumentError(fmt::format("annotation {}: {}.{}: {}", kProfileAnnotation,
                                                container, field, why));
}

// A quantity field that may be written as a string or a number.
absl::StatusOr<int64_t> QuantityField(const json& v, const std::string& container,
                                      const char* field) {
  std::string text = v.is_string() ? v.get<std::string>() : v.is_number() ? v.dump() : "";
  absl::StatusOr<int64_t> q = ParseQuantityMilli(text);
  if (!q.ok() || *q < 0) return FieldError(container, field, "not a non-negative quantity");
  return *q;
}

}  // namespace

absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  static const std::pair<std::string_view, double> kUnits[] = {
      {"ms", 1.0}, {"s", 1000.0}, {"m", 60000.0}, {"h", 3600000.0}};
  for (const auto& [unit, ms] : kUnits) {
    if (text.size() > unit.size() && text.substr(text.size() - unit.size()) == unit) {
      std::string_view number = text.substr(0, text.size() - unit.size());
      double v = 0;
      if (number.find_first_not_of("0123456789.") == std::string_view::npos &&
          absl::SimpleAtod(ToAbsl(number), &v) && v >= 0 && v < 1e9) {
        return std::chrono::milliseconds(static_cast<int64_t>(v * ms));
      }
      break;
    }
  }
  return absl::InvalidArgumentError(
      fmt::format("invalid duration \"{}\" (want e.g. 500ms, 30s, 5m, 1h)", text));
}

const std::vector<std::string>& LogGenerators() {
  static const std::vector<std::string> names = {"web", "json", "java", "ansi", "plain"};
  return names;
}

absl::StatusOr<std::map<std::string, ContainerProfile>> ParseProfiles(const json& pod) {
  std::map<std::string, ContainerProfile> out;
  const json* annotations = nullptr;
  if (pod.is_object() && pod.contains("metadata") && pod["metadata"].is_object() &&
      pod["metadata"].contains("annotations")) {
    annotations = &pod["metadata"]["annotations"];
  }
  if (annotations == nullptr || !annotations->is_object()) return out;
  auto it = annotations->find(std::string(kProfileAnnotation));
  if (it == annotations->end() || !it->is_string()) return out;
  absl::StatusOr<json> doc = YamlToJson(it->get<std::string>());
  if (!doc.ok()) {
    return absl::InvalidArgumentError(
        fmt::format("annotation {}: {}", kProfileAnnotation, ToStd(doc.status().message())));
  }
  if (doc->is_null()) return out;
  if (!doc->is_object()) {
    return absl::InvalidArgumentError(fmt::format(
        "annotation {}: want a map from container name to its profile", kProfileAnnotation));
  }
  for (const auto& [name, spec] : doc->items()) {
    if (!spec.is_object()) return FieldError(name, "", "want a map of profile fields");
    ContainerProfile p;
    for (const auto& [field, v] : spec.items()) {
      if (field == "memory" || field == "memoryGrowth" || field == "memoryPeak") {
        absl::StatusOr<int64_t> q = QuantityField(v, name, field.c_str());
        if (!q.ok()) return q.status();
        (field == "memory"         ? p.memory_bytes
         : field == "memoryGrowth" ? p.memory_growth_per_second
                                   : p.memory_peak) = *q / 1000;
      } else if (field == "cpu") {
        absl::StatusOr<int64_t> q = QuantityField(v, name, "cpu");
        if (!q.ok()) return q.status();
        p.cpu_millicores = *q;
      } else if (field == "logs") {
        std::string g = v.is_string() ? v.get<std::string>() : "";
        bool known = false;
        for (const std::string& n : LogGenerators()) known |= n == g;
        if (!known) return FieldError(name, "logs", "want one of web, json, java, ansi, plain");
        p.logs = g;
      } else if (field == "lines") {
        if (!v.is_array() || v.empty()) return FieldError(name, "lines", "want a list of lines");
        for (const json& l : v) {
          if (!l.is_string()) return FieldError(name, "lines", "every line must be a string");
          p.lines.push_back(l.get<std::string>());
        }
      } else if (field == "logRate") {
        if (!v.is_number() || v.get<double>() < 0 || v.get<double>() > 100000) {
          return FieldError(name, "logRate", "want lines per second, 0 to 100000");
        }
        p.log_rate = v.get<double>();
      } else if (field == "healthyFor") {
        absl::StatusOr<std::chrono::milliseconds> d =
            ParseDuration(v.is_string() ? v.get<std::string>() : v.dump() + "s");
        if (!d.ok()) return FieldError(name, "healthyFor", ToStd(d.status().message()));
        p.healthy_for = *d;
      } else {
        return FieldError(name, field.c_str(),
                          "unknown field (known: memory, memoryGrowth, memoryPeak, cpu, logs, "
                          "lines, logRate, healthyFor)");
      }
    }
    if ((!p.logs.empty() || !p.lines.empty()) && !spec.contains("logRate")) p.log_rate = 1;
    out[name] = std::move(p);
  }
  return out;
}

ContainerProfile ProfileFor(const std::map<std::string, ContainerProfile>& profiles,
                            const std::string& container) {
  auto it = profiles.find(container);
  if (it == profiles.end()) it = profiles.find("*");
  return it == profiles.end() ? ContainerProfile{} : it->second;
}

std::vector<std::string> GenerateLogLines(const ContainerProfile& p, const std::string& container,
                                          uint64_t n) {
  if (!p.lines.empty()) {
    // A listed line may hold several (a stack trace written as one YAML block).
    std::vector<std::string> out;
    const std::string& text = p.lines[n % p.lines.size()];
    size_t start = 0;
    while (true) {
      size_t nl = text.find('\n', start);
      out.push_back(text.substr(start, nl == std::string::npos ? nl : nl - start));
      if (nl == std::string::npos || nl + 1 == text.size()) break;
      start = nl + 1;
    }
    return out;
  }
  uint64_t h = Mix(container, n);
  if (p.logs == "web") return Web(h);
  if (p.logs == "json") return Json(h);
  if (p.logs == "java") return Java(h);
  if (p.logs == "ansi") return Ansi(h);
  if (p.logs == "plain") return Plain(h, n);
  return {};
}

}  // namespace kobs::sim
