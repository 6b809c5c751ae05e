#include "sim/kubelet_runtime.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/absl_compat.h"
#include "sim/object_meta.h"

namespace kobs::sim::kubelet {
namespace {

using nlohmann::json;

// A probe's port: a number, or the name of one of the container's ports. An undeclared port
// comes back negated (nothing listens there), an unknown name as 0.
int ProbePort(const json& container, const json& port) {
  json ports = AtPath(container, ".ports");
  if (port.is_number_integer()) {
    int n = port.get<int>();
    if (ports.is_array()) {
      for (const json& p : ports) {
        if (AtPath(p, ".containerPort") == json(n)) return n;
      }
    }
    return -n;
  }
  if (port.is_string() && ports.is_array()) {
    for (const json& p : ports) {
      if (Str(p, "name") == port.get<std::string>() && AtPath(p, ".containerPort").is_number()) {
        return AtPath(p, ".containerPort").get<int>();
      }
    }
  }
  return 0;
}

}  // namespace

std::vector<std::string> Strings(const json& v) {
  std::vector<std::string> out;
  if (!v.is_array()) return out;
  for (const json& s : v) {
    if (s.is_string()) out.push_back(s.get<std::string>());
  }
  return out;
}

int IntField(const json& obj, const char* key, int fallback) {
  if (!obj.is_object()) return fallback;
  auto it = obj.find(key);
  return it != obj.end() && it->is_number_integer() ? it->get<int>() : fallback;
}

// One probe attempt: "" when it succeeds, else the failure text the kubelet reports.
std::string RunProbe(const json& probe, const json& container, const Run& run,
                     const std::string& pod_ip, Steady::time_point now, double time_factor) {
  double sim_elapsed = std::chrono::duration<double>(now - run.started).count() * time_factor;
  if (probe.contains("exec")) {
    absl::StatusOr<std::vector<ProgramStep>> steps =
        ParseProgram(Strings(AtPath(probe, ".exec.command")), {});
    if (!steps.ok()) return std::string(ToStd(steps.status().message()));
    std::string out;
    for (const ProgramStep& s : *steps) {
      if (s.kind == ProgramStep::Kind::kOutput) out += s.text + "\n";
      if (s.kind == ProgramStep::Kind::kExit) return s.code == 0 ? "" : out;
    }
    return "";
  }
  const char* kind = probe.contains("httpGet")     ? "httpGet"
                     : probe.contains("tcpSocket") ? "tcpSocket"
                     : probe.contains("grpc")      ? "grpc"
                                                   : nullptr;
  if (kind == nullptr) return "";
  const json& action = probe[kind];
  int port = ProbePort(container, AtPath(action, ".port"));
  std::string host = Str(action, "host").empty() ? pod_ip : Str(action, "host");
  int shown = port < 0 ? -port : port;
  std::string dial = fmt::format("dial tcp {}:{}: connect: connection refused", host, shown);
  if (std::string_view(kind) == "httpGet") {
    std::string scheme = Str(action, "scheme") == "HTTPS" ? "https" : "http";
    std::string path = Str(action, "path").empty() ? "/" : Str(action, "path");
    if (port <= 0) return fmt::format("Get \"{}://{}:{}{}\": {}", scheme, host, shown, path, dial);
    if (run.profile.healthy_for &&
        sim_elapsed * 1000 >= static_cast<double>(run.profile.healthy_for->count())) {
      return "HTTP probe failed with statuscode: 500";
    }
    return "";
  }
  if (port <= 0) {
    return std::string_view(kind) == "grpc"
               ? fmt::format("timeout: failed to connect service \"{}:{}\" within 1s", host, shown)
               : dial;
  }
  return "";
}

// CPU seconds of a running instance so far (its profile's usage times its simulated age).
double CpuSeconds(const Run& run, Steady::time_point now, double time_factor) {
  if (run.state != Run::State::kRunning) return 0;
  double age = std::chrono::duration<double>(now - run.started).count() * time_factor;
  return age * static_cast<double>(run.profile.cpu_millicores) / 1000.0;
}

int64_t MemoryNow(const Run& run, Steady::time_point now, double time_factor) {
  double age = std::chrono::duration<double>(now - run.started).count() * time_factor;
  double bytes = static_cast<double>(run.profile.memory_bytes) +
                 static_cast<double>(run.profile.memory_growth_per_second) * age;
  if (run.profile.memory_peak > 0 && run.profile.memory_growth_per_second > 0) {
    bytes = std::min(bytes, std::max(static_cast<double>(run.profile.memory_peak),
                                      static_cast<double>(run.profile.memory_bytes)));
  }
  if (run.memory_limit > 0) bytes = std::min(bytes, static_cast<double>(run.memory_limit));
  return static_cast<int64_t>(bytes);
}

}  // namespace kobs::sim::kubelet
