#include "collect/pod_attributes.h"

#include <algorithm>

#include <fmt/format.h>

#include "collect/json_fields.h"

namespace kobs::collect {

using nlohmann::json;

namespace {

// The controller owner reference of `pod` (null when it has none).
const json& Controller(const json& pod) {
  static const json kNull;
  const json& owners = At(pod, "metadata", "ownerReferences");
  if (!owners.is_array()) return kNull;
  for (const json& o : owners) {
    if (At(o, "controller").is_boolean() && At(o, "controller").get<bool>()) return o;
  }
  return kNull;
}

std::string Value(const Labels& attributes, const std::string& key) {
  auto it = std::lower_bound(attributes.begin(), attributes.end(), key,
                             [](const auto& kv, const std::string& k) { return kv.first < k; });
  return it != attributes.end() && it->first == key ? it->second : "";
}

}  // namespace

void SortByKey(Labels& a) {
  std::stable_sort(a.begin(), a.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  a.erase(std::unique(a.begin(), a.end(),
                      [](const auto& x, const auto& y) { return x.first == y.first; }),
          a.end());
}

Labels PodResourceAttributes(const json& pod) {
  Labels a;
  const json& meta = At(pod, "metadata");
  a.emplace_back("k8s.namespace.name", Str(meta, "namespace"));
  a.emplace_back("k8s.pod.name", Str(meta, "name"));
  a.emplace_back("k8s.pod.uid", Str(meta, "uid"));
  if (std::string node = Str(At(pod, "spec"), "nodeName"); !node.empty()) {
    a.emplace_back("k8s.node.name", node);
  }
  if (std::string start = Str(At(pod, "status"), "startTime"); !start.empty()) {
    a.emplace_back("k8s.pod.start_time", start);
  }
  const json& labels = At(meta, "labels");
  if (const json& o = Controller(pod); o.is_object()) {
    const std::string kind = Str(o, "kind"), name = Str(o, "name");
    std::string lower = kind;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    a.emplace_back(fmt::format("k8s.{}.name", lower), name);
    // A ReplicaSet is named <deployment>-<pod-template-hash>.
    const std::string hash = Str(labels, "pod-template-hash");
    if (kind == "ReplicaSet" && !hash.empty() && name.size() > hash.size() + 1 &&
        name.compare(name.size() - hash.size() - 1, std::string::npos, "-" + hash) == 0) {
      a.emplace_back("k8s.deployment.name", name.substr(0, name.size() - hash.size() - 1));
    }
  }
  if (labels.is_object()) {
    for (const auto& [k, v] : labels.items()) {
      if (!v.is_string()) continue;
      a.emplace_back(k, v.get<std::string>());
      a.emplace_back("k8s.pod.labels." + k, v.get<std::string>());
    }
  }
  SortByKey(a);
  return a;
}

std::string WorkloadName(const Labels& attributes, const json& pod) {
  if (std::string d = Value(attributes, "k8s.deployment.name"); !d.empty()) return d;
  return Str(Controller(pod), "name");
}

}  // namespace kobs::collect
