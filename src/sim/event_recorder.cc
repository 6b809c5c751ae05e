#include "sim/event_recorder.h"

#include <fmt/format.h>

#include "k8s/api_status.h"
#include "sim/object_meta.h"

namespace kobs::sim {

using nlohmann::json;

EventRecorder::EventRecorder(Api& api, std::chrono::seconds aggregation_window)
    : api_(api), window_(aggregation_window) {}

void EventRecorder::Record(const json& object, const EventSource& source, const std::string& type,
                           const std::string& reason, const std::string& message,
                           const std::string& field_path) {
  auto events = api_.registry().Find("", "v1", "events");
  if (events == nullptr) return;
  const std::string ns = Str(object, "metadata", "namespace").empty()
                             ? "default"
                             : Str(object, "metadata", "namespace");
  const std::string uid = Str(object, "metadata", "uid");
  const std::string now = NowRfc3339();
  const auto steady_now = std::chrono::steady_clock::now();
  Key key{uid, field_path, type, reason, message, source.component};
  {
    absl::MutexLock lock(&mu_);
    auto it = seen_.find(key);
    if (it != seen_.end() && steady_now - it->second.last < window_) {
      it->second.last = steady_now;
      std::string name = it->second.name;
      std::string event_ns = it->second.namespace_;
      // A repeat: count + 1 and a new lastTimestamp on the same Event.
      absl::StatusOr<json> current = api_.Get(*events, event_ns, name);
      if (current.ok()) {
        json patch = {{"count", (current->contains("count") && (*current)["count"].is_number_integer()
                                     ? (*current)["count"].get<int64_t>()
                                     : 1) +
                                    1},
                      {"lastTimestamp", now}};
        if (api_.Patch(*events, event_ns, name, k8s::PatchType::kMergePatch, patch.dump()).ok()) {
          return;
        }
      }
      seen_.erase(it);
    }
  }
  // Named as client-go names them: <object>.<hex nanoseconds>.
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  std::string name = fmt::format("{}.{:x}", Str(object, "metadata", "name"), nanos);
  json involved = {{"kind", Str(object, "kind")},
                   {"name", Str(object, "metadata", "name")},
                   {"uid", uid},
                   {"apiVersion", Str(object, "apiVersion")},
                   {"resourceVersion", Str(object, "metadata", "resourceVersion")}};
  // Cluster-scoped objects (nodes) have none; their events live in "default".
  if (!Str(object, "metadata", "namespace").empty()) involved["namespace"] = ns;
  if (!field_path.empty()) involved["fieldPath"] = field_path;
  json source_json = {{"component", source.component}};
  if (!source.host.empty()) source_json["host"] = source.host;
  json event = {{"apiVersion", "v1"},
                {"kind", "Event"},
                {"metadata", {{"name", name}, {"namespace", ns}}},
                {"involvedObject", involved},
                {"reason", reason},
                {"message", message},
                {"source", source_json},
                {"firstTimestamp", now},
                {"lastTimestamp", now},
                {"count", 1},
                {"type", type},
                {"eventTime", nullptr},
                {"reportingComponent", source.component},
                {"reportingInstance", source.host}};
  if (!api_.Create(*events, ns, std::move(event)).ok()) return;
  absl::MutexLock lock(&mu_);
  seen_[key] = Seen{ns, name, steady_now};
  // Forget old keys so the map stays bounded.
  if (seen_.size() > 50000) {
    for (auto it = seen_.begin(); it != seen_.end();) {
      it = steady_now - it->second.last >= window_ ? seen_.erase(it) : std::next(it);
    }
  }
}

}  // namespace kobs::sim
