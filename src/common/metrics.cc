#include "common/metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "common/status_macros.h"

namespace kobs {
namespace {

std::string EscapeLabelValue(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string FormatLabels(const Labels& labels, const std::string& extra_key = "",
                         const std::string& extra_value = "") {
  if (labels.empty() && extra_key.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += fmt::format("{}=\"{}\"", k, EscapeLabelValue(v));
  }
  if (!extra_key.empty()) {
    if (!first) out += ',';
    out += fmt::format("{}=\"{}\"", extra_key, extra_value);
  }
  return out + "}";
}

std::string FormatValue(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{:.0f}", v);
  return fmt::format("{}", v);
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::cumulative() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t acc = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    acc += buckets_[i].load(std::memory_order_relaxed);
    out[i] = acc;
  }
  return out;
}

std::vector<double> LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

MetricsRegistry::Family& MetricsRegistry::FamilyFor(const std::string& name,
                                                    const std::string& help, Kind kind) {
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.kind = kind;
    it->second.help = help;
  }
  KOBS_CHECK(it->second.kind == kind);  // one name, one type: a programming error otherwise
  return it->second;
}

Counter& MetricsRegistry::GetCounter(const std::string& name, const std::string& help,
                                     const Labels& labels) {
  absl::MutexLock lock(&mu_);
  auto& slot = FamilyFor(name, help, Kind::kCounter).counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& MetricsRegistry::GetGauge(const std::string& name, const std::string& help,
                                 const Labels& labels) {
  absl::MutexLock lock(&mu_);
  auto& slot = FamilyFor(name, help, Kind::kGauge).gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& MetricsRegistry::GetHistogram(const std::string& name, const std::string& help,
                                         const Labels& labels, std::vector<double> bounds) {
  absl::MutexLock lock(&mu_);
  auto& slot = FamilyFor(name, help, Kind::kHistogram).histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(std::move(bounds));
  return *slot;
}

void MetricsRegistry::AddCallbackGauge(const std::string& name, const std::string& help,
                                       std::function<double()> fn, const Labels& labels) {
  absl::MutexLock lock(&mu_);
  FamilyFor(name, help, Kind::kGauge).callbacks[labels] = std::move(fn);
}

std::string MetricsRegistry::Render() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  for (const auto& [name, fam] : families_) {
    const char* type = fam.kind == Kind::kCounter   ? "counter"
                       : fam.kind == Kind::kGauge   ? "gauge"
                                                    : "histogram";
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, fam.help, name, type);
    for (const auto& [labels, c] : fam.counters) {
      out += fmt::format("{}{} {}\n", name, FormatLabels(labels), FormatValue(c->value()));
    }
    for (const auto& [labels, g] : fam.gauges) {
      out += fmt::format("{}{} {}\n", name, FormatLabels(labels), FormatValue(g->value()));
    }
    for (const auto& [labels, fn] : fam.callbacks) {
      out += fmt::format("{}{} {}\n", name, FormatLabels(labels), FormatValue(fn()));
    }
    for (const auto& [labels, h] : fam.histograms) {
      auto cum = h->cumulative();
      for (size_t i = 0; i < h->bounds().size(); ++i) {
        out += fmt::format("{}_bucket{} {}\n", name,
                           FormatLabels(labels, "le", FormatValue(h->bounds()[i])), cum[i]);
      }
      out += fmt::format("{}_bucket{} {}\n", name, FormatLabels(labels, "le", "+Inf"), cum.back());
      out += fmt::format("{}_sum{} {}\n", name, FormatLabels(labels), FormatValue(h->sum()));
      out += fmt::format("{}_count{} {}\n", name, FormatLabels(labels), h->count());
    }
  }
  return out;
}

namespace {

// Fields of /proc/self/stat after the command name.
std::vector<std::string> ProcStatFields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  std::getline(in, line);
  auto close = line.rfind(')');
  std::vector<std::string> fields;
  if (close == std::string::npos) return fields;
  std::istringstream rest(line.substr(close + 2));
  std::string f;
  while (rest >> f) fields.push_back(f);
  return fields;  // fields[0] is state (field 3 in proc(5))
}

double ProcStatField(size_t proc5_index) {
  auto f = ProcStatFields();
  size_t i = proc5_index - 3;
  return i < f.size() ? std::stod(f[i]) : 0;
}

double CountOpenFds() {
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return 0;
  double n = 0;
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n - 3;  // ".", ".." and the directory's own fd
}

}  // namespace

void RegisterProcessMetrics(MetricsRegistry& registry) {
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  registry.AddCallbackGauge("process_resident_memory_bytes", "Resident memory size in bytes.",
                            [page] { return ProcStatField(24) * page; });
  registry.AddCallbackGauge("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                            [] { return ProcStatField(23); });
  registry.AddCallbackGauge("process_cpu_seconds_total", "User and system CPU time in seconds.",
                            [ticks] { return (ProcStatField(14) + ProcStatField(15)) / ticks; });
  registry.AddCallbackGauge("process_open_fds", "Number of open file descriptors.", CountOpenFds);
  registry.AddCallbackGauge("process_threads", "Number of OS threads.",
                            [] { return ProcStatField(20); });
  const double boot_ticks = ProcStatField(22);
  std::ifstream uptime_in("/proc/uptime");
  double uptime = 0;
  uptime_in >> uptime;
  const double start =
      static_cast<double>(time(nullptr)) - uptime + boot_ticks / ticks;
  registry.AddCallbackGauge("process_start_time_seconds", "Start time since the Unix epoch.",
                            [start] { return start; });
}

}  // namespace kobs
