// Records core/v1 Events for the simulated controllers and kubelet as client-go's event
// recorder does: an event names the object it is about (involvedObject with uid and
// resourceVersion), the component that saw it (source, reportingComponent/Instance), and a
// repeat of the same (object, type, reason, message, component) within the aggregation window
// increments `count` and moves `lastTimestamp` on the existing Event instead of creating one.
// Thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <tuple>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "sim/api.h"

namespace kobs::sim {

struct EventSource {
  std::string component;  // "kubelet", "deployment-controller", "default-scheduler", ...
  std::string host;       // the node, for the kubelet
};

class EventRecorder {
 public:
  explicit EventRecorder(Api& api,
                         std::chrono::seconds aggregation_window = std::chrono::minutes(10));

  // `object` is the object the event is about (its kind/apiVersion/metadata are read);
  // `type` is "Normal" or "Warning". `field_path` names a container
  // ("spec.containers{nginx}") or is empty.
  void Record(const nlohmann::json& object, const EventSource& source, const std::string& type,
              const std::string& reason, const std::string& message,
              const std::string& field_path = "");

 private:
  using Key = std::tuple<std::string, std::string, std::string, std::string, std::string,
                         std::string>;
  struct Seen {
    std::string namespace_;
    std::string name;  // the Event's name
    std::chrono::steady_clock::time_point last;
  };
  Api& api_;
  const std::chrono::seconds window_;
  absl::Mutex mu_;
  std::map<Key, Seen> seen_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kobs::sim
