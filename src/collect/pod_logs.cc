#include "collect/pod_logs.h"

#include <algorithm>

#include <fmt/format.h>

#include "agent/log_line.h"
#include "collect/exporter.h"
#include "collect/pod_attributes.h"
#include "common/absl_compat.h"
#include "common/log.h"
#include "common/metrics.h"
#include "k8s/api_status.h"
#include "k8s/client.h"
#include "k8s/objects.h"
#include "otlp/severity.h"

namespace kobs::collect {

using nlohmann::json;

PodTags TagsOf(const agent::ContainerRef& ref, const json& pod) {
  PodTags tags;
  if (pod.is_object()) {
    tags.attributes = PodResourceAttributes(pod);
    tags.workload = WorkloadName(tags.attributes, pod);
  } else {
    tags.attributes = {{"k8s.namespace.name", ref.ns},
                       {"k8s.pod.name", ref.pod},
                       {"k8s.pod.uid", ref.uid}};
    SortByKey(tags.attributes);
  }
  return tags;
}

store::LogRow PodLogRow(const agent::TailedEntry& t, const PodTags& tags,
                        const std::string& label_key, const std::string& file_path) {
  store::LogRow row;
  row.timestamp_ns = t.entry.time_unix_nano;
  row.body = agent::StripAnsi(t.entry.text);
  if (std::optional<otlp::Severity> sev = otlp::InferSeverity(row.body)) {
    row.severity_text = std::string(sev->text);
    row.severity_number = sev->number;
  }
  row.scope_name = "kobs/pod-logs";
  row.service_name = tags.workload.empty() ? t.ref->container : tags.workload;
  // The container's own attributes first, so that they win over a pod label of the same name.
  store::Attributes& r = row.resource_attributes;
  r.reserve(tags.attributes.size() + 3);
  r = {{"k8s.container.name", t.ref->container},
       {"k8s.container.restart_count", std::to_string(t.ref->restart)},
       {"service.name", row.service_name}};
  r.insert(r.end(), tags.attributes.begin(), tags.attributes.end());
  SortByKey(r);
  row.log_attributes = {{"log.file.path", file_path}, {"log.iostream", std::string(agent::StreamName(t.entry.stream))}};
  if (!tags.composition_id.empty()) row.log_attributes.emplace_back(label_key, tags.composition_id);
  if (t.truncated) row.log_attributes.emplace_back("log.truncated", "true");
  SortByKey(row.log_attributes);
  return row;
}

PodLogsCollector::PodLogsCollector(k8s::Client& client, Exporter& exporter,
                                   PodLogsOptions options, MetricsRegistry& metrics)
    : client_(client),
      exporter_(exporter),
      options_(std::move(options)),
      resolver_(FetchWith(client), {.label_key = options_.label_key}, metrics),
      rows_metric_(metrics.GetCounter("kobs_pod_log_rows_total", "Container log rows stored, or buffered for the server.")) {}

PodLogsCollector::~PodLogsCollector() { Stop(); }

absl::StatusOr<json> PodLogsCollector::FetchPod(const agent::ContainerRef& ref) {
  absl::StatusOr<k8s::ResourceInfo> pods = client_.Resource("v1", "Pod");
  if (!pods.ok()) return pods.status();
  if (options_.node_name.empty()) return client_.Get(*pods, ref.ns, ref.pod);
  auto it = node_pods_.find(ref.uid);
  const auto now = std::chrono::steady_clock::now();
  if (it == node_pods_.end() && now - node_pods_at_ >= options_.pod_list_interval) {
    absl::StatusOr<json> list = client_.ListAll(
        *pods, "", {.field_selector = "spec.nodeName=" + options_.node_name});
    if (!list.ok()) return list.status();
    node_pods_at_ = now;
    node_pods_.clear();
    if (list->contains("items") && (*list)["items"].is_array()) {
      for (json& p : (*list)["items"]) {
        absl::StatusOr<k8s::ObjectMeta> meta = k8s::DecodeObjectMeta(p);
        if (meta.ok()) node_pods_[meta->uid] = std::move(p);
      }
    }
    it = node_pods_.find(ref.uid);
  }
  if (it != node_pods_.end()) return it->second;
  // Not in the list (new since, or gone): ask for this one.
  return client_.Get(*pods, ref.ns, ref.pod);
}

const PodTags& PodLogsCollector::Lookup(const agent::ContainerRef& ref) {
  auto it = pods_.find(ref.uid);
  if (it != pods_.end()) return it->second;
  absl::StatusOr<json> pod = FetchPod(ref);
  // An answer worth keeping: the pod, or that it is gone.
  const bool settled = pod.ok() || k8s::ApiReason(pod.status()) == "NotFound" ||
                       pod.status().code() == absl::StatusCode::kNotFound;
  absl::StatusOr<k8s::ObjectMeta> meta =
      pod.ok() ? k8s::DecodeObjectMeta(*pod) : absl::StatusOr<k8s::ObjectMeta>(pod.status());
  // Not a later pod of the same name.
  const bool known = meta.ok() && meta->uid == ref.uid;
  PodTags tags = TagsOf(ref, known ? *pod : json());
  if (known) {
    absl::StatusOr<std::string> id = resolver_.Resolve(
        {.api_version = "v1", .kind = "Pod", .namespace_ = ref.ns, .name = ref.pod, .uid = ref.uid},
        &*pod);
    if (id.ok()) tags.composition_id = *id;
  }
  // A transient failure is not remembered: the pod's next entries look it up again.
  if (!settled) {
    unsettled_ = std::move(tags);
    return unsettled_;
  }
  return pods_.emplace(ref.uid, std::move(tags)).first->second;
}

absl::Status PodLogsCollector::Deliver(std::vector<agent::TailedEntry>& entries) {
  std::vector<store::LogRow> rows;
  rows.reserve(entries.size());
  for (const agent::TailedEntry& e : entries) {
    const PodTags& tags = Lookup(*e.ref);
    const std::string path = fmt::format("{}/{}_{}_{}/{}/{}.log", options_.root, e.ref->ns,
                                         e.ref->pod, e.ref->uid, e.ref->container, e.ref->restart);
    rows.push_back(PodLogRow(e, tags, options_.label_key, path));
  }
  if (rows.empty()) return absl::OkStatus();
  const uint64_t n = rows.size();
  absl::Status s = exporter_.ExportLogs(rows);
  if (s.ok()) {
    rows_ += n;
    rows_metric_.Inc(static_cast<double>(n));
  }
  return s;
}

absl::Status PodLogsCollector::Start() {
  tailer_ = std::make_unique<agent::Tailer>(
      agent::TailerOptions{.root = options_.root, .checkpoint_path = options_.checkpoint_path},
      [this](std::vector<agent::TailedEntry>& entries) { return Deliver(entries); });
  if (absl::Status s = tailer_->Start(); !s.ok()) return s;
  thread_ = std::jthread([this](std::stop_token stop) {
    while (!stop.stop_requested()) {
      absl::StatusOr<size_t> n = tailer_->Poll();
      if (!n.ok()) {
        Log(Logger("collect"), spdlog::level::warn, "tailing pod logs failed",
            {{"error", std::string(ToStd(n.status().message()))}});
      }
      // Forget pods whose files are gone (their lookups are not needed again).
      if (pods_.size() > 4 * std::max<size_t>(tailer_->files(), 64)) pods_.clear();
      for (auto waited = std::chrono::milliseconds(0);
           waited < options_.poll && !stop.stop_requested();
           waited += std::chrono::milliseconds(50)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    (void)tailer_->Poll(/*flush_entries=*/true);  // what arrived last, entries closed
  });
  return absl::OkStatus();
}

void PodLogsCollector::Stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
}

}  // namespace kobs::collect
