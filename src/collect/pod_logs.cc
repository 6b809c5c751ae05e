#include "collect/pod_logs.h"

#include <algorithm>

#include <fmt/format.h>

#include "agent/log_line.h"
#include "collect/exporter.h"
#include "common/absl_compat.h"
#include "common/log.h"
#include "common/metrics.h"
#include "k8s/api_status.h"
#include "k8s/client.h"
#include "k8s/objects.h"
#include "otlp/severity.h"

namespace kobs::collect {

using nlohmann::json;

store::LogRow PodLogRow(const agent::TailedEntry& t, const json& pod,
                        const std::string& workload_kind, const std::string& workload_name,
                        const std::string& composition_id, const std::string& label_key,
                        const std::string& file_path) {
  store::LogRow row;
  row.timestamp_ns = t.entry.time_unix_nano;
  row.body = agent::StripAnsi(t.entry.text);
  if (std::optional<otlp::Severity> sev = otlp::InferSeverity(row.body)) {
    row.severity_text = std::string(sev->text);
    row.severity_number = sev->number;
  }
  row.scope_name = "kobs/pod-logs";
  store::Attributes& r = row.resource_attributes;
  r = {{"k8s.namespace.name", t.ref->ns},
       {"k8s.pod.name", t.ref->pod},
       {"k8s.pod.uid", t.ref->uid},
       {"k8s.container.name", t.ref->container},
       {"k8s.container.restart_count", std::to_string(t.ref->restart)}};
  absl::StatusOr<k8s::Pod> p = pod.is_object() ? k8s::DecodePod(pod)
                                               : absl::StatusOr<k8s::Pod>(absl::NotFoundError(""));
  if (p.ok()) {
    if (!p->node_name.empty()) r.emplace_back("k8s.node.name", p->node_name);
    if (!p->start_time.empty()) r.emplace_back("k8s.pod.start_time", p->start_time);
    for (const auto& [k, v] : p->metadata.labels) {
      r.emplace_back(k, v);
      r.emplace_back("k8s.pod.labels." + k, v);
    }
  }
  if (!workload_kind.empty()) {
    std::string kind = workload_kind;
    std::transform(kind.begin(), kind.end(), kind.begin(), ::tolower);
    r.emplace_back(fmt::format("k8s.{}.name", kind), workload_name);
  }
  row.service_name = workload_name.empty() ? t.ref->container : workload_name;
  r.emplace_back("service.name", row.service_name);
  row.log_attributes = {{"log.file.path", file_path}, {"log.iostream", t.entry.stream}};
  if (!composition_id.empty()) row.log_attributes.emplace_back(label_key, composition_id);
  if (t.truncated) row.log_attributes.emplace_back("log.truncated", "true");
  // Sorted, and a label key equal to a k8s.* key keeps the first.
  auto sort_unique = [](store::Attributes& a) {
    std::stable_sort(a.begin(), a.end(),
                     [](const auto& x, const auto& y) { return x.first < y.first; });
    a.erase(std::unique(a.begin(), a.end(),
                        [](const auto& x, const auto& y) { return x.first == y.first; }),
            a.end());
  };
  sort_unique(r);
  sort_unique(row.log_attributes);
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

const PodLogsCollector::PodInfo& PodLogsCollector::Lookup(const agent::ContainerRef& ref) {
  auto it = pods_.find(ref.uid);
  if (it != pods_.end()) return it->second;
  PodInfo info;
  absl::StatusOr<json> pod = FetchPod(ref);
  // An answer worth keeping: the pod, or that it is gone.
  const bool settled = pod.ok() || k8s::ApiReason(pod.status()) == "NotFound" ||
                       pod.status().code() == absl::StatusCode::kNotFound;
  absl::StatusOr<k8s::ObjectMeta> meta =
      pod.ok() ? k8s::DecodeObjectMeta(*pod) : absl::StatusOr<k8s::ObjectMeta>(pod.status());
  if (meta.ok() && meta->uid == ref.uid) {  // not a later pod of the same name
    info.pod = *pod;
    if (meta->Controller() != nullptr) {
      const k8s::OwnerReference& owner = *meta->Controller();
      info.workload_kind = owner.kind;
      info.workload_name = owner.name;
      // A ReplicaSet's pods belong to its Deployment (looked up once per ReplicaSet).
      if (owner.kind == "ReplicaSet") {
        const std::string key = ref.ns + "/" + owner.name;
        auto known = deployment_of_.find(key);
        if (known == deployment_of_.end()) {
          absl::StatusOr<k8s::ResourceInfo> rs = client_.Resource("apps/v1", "ReplicaSet");
          absl::StatusOr<json> set = rs.ok() ? client_.Get(*rs, ref.ns, owner.name)
                                             : absl::StatusOr<json>(rs.status());
          absl::StatusOr<k8s::ObjectMeta> rs_meta =
              set.ok() ? k8s::DecodeObjectMeta(*set) : absl::StatusOr<k8s::ObjectMeta>(set.status());
          std::string deployment;
          if (rs_meta.ok() && rs_meta->Controller() != nullptr &&
              rs_meta->Controller()->kind == "Deployment") {
            deployment = rs_meta->Controller()->name;
          }
          if (set.ok() || k8s::ApiReason(set.status()) == "NotFound") {
            known = deployment_of_.emplace(key, deployment).first;
          }
        }
        if (known != deployment_of_.end() && !known->second.empty()) {
          info.workload_kind = "Deployment";
          info.workload_name = known->second;
        }
      }
    }
    absl::StatusOr<std::string> id = resolver_.Resolve(
        {.api_version = "v1", .kind = "Pod", .namespace_ = ref.ns, .name = ref.pod, .uid = ref.uid},
        &info.pod);
    if (id.ok()) info.composition_id = *id;
  }
  // A transient failure is not remembered: the pod's next entries look it up again.
  if (!settled) {
    unsettled_ = std::move(info);
    return unsettled_;
  }
  return pods_.emplace(ref.uid, std::move(info)).first->second;
}

absl::Status PodLogsCollector::Deliver(std::vector<agent::TailedEntry>& entries) {
  std::vector<store::LogRow> rows;
  rows.reserve(entries.size());
  for (const agent::TailedEntry& e : entries) {
    const PodInfo& info = Lookup(*e.ref);
    const std::string path = fmt::format("{}/{}_{}_{}/{}/{}.log", options_.root, e.ref->ns,
                                         e.ref->pod, e.ref->uid, e.ref->container, e.ref->restart);
    rows.push_back(PodLogRow(e, info.pod, info.workload_kind, info.workload_name,
                             info.composition_id, options_.label_key, path));
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
      if (pods_.size() > 4 * std::max<size_t>(tailer_->files(), 64)) {
        pods_.clear();
        deployment_of_.clear();
      }
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
