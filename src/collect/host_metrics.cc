#include "collect/host_metrics.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace kobs::collect {

namespace {

std::vector<std::string> Fields(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string f; in >> f;) out.push_back(f);
  return out;
}

double ToDouble(const std::string& s) {
  try {
    return std::stod(s);
  } catch (...) {
    return 0;
  }
}

void Cpu(const HostMetricsOptions& o, MetricBuilder& b) {
  std::ifstream in(o.proc_root + "/stat");
  static const char* kStates[] = {"user", "nice", "system", "idle", "wait", "interrupt", "softirq", "steal"};
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f = Fields(line);
    if (f.empty() || f[0].rfind("cpu", 0) != 0 || f[0] == "cpu") continue;
    for (size_t i = 0; i < std::size(kStates) && i + 1 < f.size(); ++i) {
      b.Sum("system.cpu.time", "s", ToDouble(f[i + 1]) / hz, 0,
            {{"cpu", f[0]}, {"state", kStates[i]}});
    }
  }
  std::ifstream load(o.proc_root + "/loadavg");
  double l1 = 0, l5 = 0, l15 = 0;
  if (load >> l1 >> l5 >> l15) {
    b.Gauge("system.cpu.load_average.1m", "{thread}", l1);
    b.Gauge("system.cpu.load_average.5m", "{thread}", l5);
    b.Gauge("system.cpu.load_average.15m", "{thread}", l15);
  }
}

void Memory(const HostMetricsOptions& o, MetricBuilder& b) {
  std::ifstream in(o.proc_root + "/meminfo");
  std::map<std::string, double> kb;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f = Fields(line);
    if (f.size() >= 2 && f[0].back() == ':') kb[f[0].substr(0, f[0].size() - 1)] = ToDouble(f[1]);
  }
  if (kb.count("MemTotal") == 0 || kb["MemTotal"] <= 0) return;
  const double total = kb["MemTotal"] * 1024, free = kb["MemFree"] * 1024,
               buffered = kb["Buffers"] * 1024,
               cached = (kb["Cached"] + kb["SReclaimable"]) * 1024;
  const double used = std::max(0.0, total - free - buffered - cached);
  for (const auto& [state, v] :
       {std::pair{"used", used}, {"free", free}, {"buffered", buffered}, {"cached", cached}}) {
    b.Sum("system.memory.usage", "By", v, 0, {{"state", state}}, /*monotonic=*/false);
    b.Gauge("system.memory.utilization", "1", v / total, {{"state", state}});
  }
}

void Filesystems(const HostMetricsOptions& o, MetricBuilder& b) {
  std::ifstream in(o.proc_root + "/mounts");
  std::set<std::string> seen;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f = Fields(line);
    if (f.size() < 3 || f[0].rfind("/dev/", 0) != 0 || !seen.insert(f[0]).second) continue;
    struct statvfs st {};
    if (statvfs((o.host_root + f[1]).c_str(), &st) != 0 || st.f_blocks == 0) continue;
    const double size = static_cast<double>(st.f_frsize);
    const double total = static_cast<double>(st.f_blocks) * size;
    const double free = static_cast<double>(st.f_bavail) * size;
    const double reserved = static_cast<double>(st.f_bfree - st.f_bavail) * size;
    const double used = total - static_cast<double>(st.f_bfree) * size;
    const Labels where = {{"device", f[0]}, {"mountpoint", f[1]}, {"type", f[2]}};
    for (const auto& [state, v] : {std::pair{"used", used}, {"free", free}, {"reserved", reserved}}) {
      Labels a = where;
      a.emplace_back("state", state);
      b.Sum("system.filesystem.usage", "By", v, 0, a, /*monotonic=*/false);
    }
    if (used + free > 0) b.Gauge("system.filesystem.utilization", "1", used / (used + free), where);
  }
}

void Network(const HostMetricsOptions& o, MetricBuilder& b) {
  std::ifstream in(o.proc_root + "/net/dev");
  for (std::string line; std::getline(in, line);) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string dev = line.substr(0, colon);
    dev.erase(0, dev.find_first_not_of(' '));
    std::vector<std::string> f = Fields(line.substr(colon + 1));
    if (f.size() < 16 || dev == "lo") continue;
    // receive: bytes packets errs drop ...; transmit from field 8 on.
    for (const auto& [direction, base] : {std::pair{"receive", 0}, {"transmit", 8}}) {
      const Labels a = {{"device", dev}, {"direction", direction}};
      b.Sum("system.network.io", "By", ToDouble(f[base]), 0, a);
      b.Sum("system.network.packets", "{packet}", ToDouble(f[base + 1]), 0, a);
      b.Sum("system.network.errors", "{error}", ToDouble(f[base + 2]), 0, a);
      b.Sum("system.network.dropped", "{packet}", ToDouble(f[base + 3]), 0, a);
    }
  }
}

}  // namespace

size_t AddHostMetrics(const HostMetricsOptions& o, MetricBuilder& b) {
  const size_t before = b.points();
  b.Resource({{"host.name", o.node_name}, {"k8s.node.name", o.node_name}});
  Cpu(o, b);
  Memory(o, b);
  Filesystems(o, b);
  Network(o, b);
  return b.points() - before;
}

}  // namespace kobs::collect
