#include "collect/events_service.h"

#include <unistd.h>

#include <cstdlib>
#include <random>

#include <fmt/format.h>

#include "collect/cluster_metrics.h"
#include "collect/exporter.h"
#include "collect/metric_builder.h"
#include "collect/node_agent.h"
#include "common/absl_compat.h"
#include "common/config_util.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "k8s/client.h"
#include "k8s/kube_config.h"
#include "k8s/leader_election.h"

namespace kobs::collect {

absl::StatusOr<EventsServiceOptions> ParseEventsServiceOptions(const YAML::Node& node) {
  EventsServiceOptions o;
  KOBS_RETURN_IF_ERROR(CheckKeys(node,
                                 {"kubeconfig", "context", "in_cluster", "events", "namespace",
                                  "state_file", "composition_label", "leader_election",
                                  "lease_namespace", "lease_name", "qps", "burst",
                                  "pod_logs_dir", "pod_logs_checkpoint", "metrics_interval",
                                  "node_name"},
                                 "k8s"));
  KOBS_RETURN_IF_ERROR(ReadString(node, "kubeconfig", &o.kubeconfig));
  KOBS_RETURN_IF_ERROR(ReadString(node, "context", &o.context));
  KOBS_RETURN_IF_ERROR(ReadBool(node, "in_cluster", &o.in_cluster));
  KOBS_RETURN_IF_ERROR(ReadBool(node, "events", &o.events));
  KOBS_RETURN_IF_ERROR(ReadString(node, "namespace", &o.namespace_));
  KOBS_RETURN_IF_ERROR(ReadString(node, "state_file", &o.state_file));
  KOBS_RETURN_IF_ERROR(ReadString(node, "composition_label", &o.composition_label));
  KOBS_RETURN_IF_ERROR(ReadBool(node, "leader_election", &o.leader_election));
  KOBS_RETURN_IF_ERROR(ReadString(node, "lease_namespace", &o.lease_namespace));
  KOBS_RETURN_IF_ERROR(ReadString(node, "lease_name", &o.lease_name));
  KOBS_RETURN_IF_ERROR(ReadString(node, "pod_logs_dir", &o.pod_logs_dir));
  KOBS_RETURN_IF_ERROR(ReadString(node, "pod_logs_checkpoint", &o.pod_logs_checkpoint));
  KOBS_RETURN_IF_ERROR(ReadDuration(node, "metrics_interval", &o.metrics_interval));
  KOBS_RETURN_IF_ERROR(ReadString(node, "node_name", &o.node_name));
  int64_t qps = static_cast<int64_t>(o.qps), burst = o.burst;
  KOBS_RETURN_IF_ERROR(ReadInt(node, "qps", &qps));
  KOBS_RETURN_IF_ERROR(ReadInt(node, "burst", &burst));
  if (qps < 0 || burst < 1) {
    return absl::InvalidArgumentError("k8s.qps must be >= 0 and k8s.burst >= 1");
  }
  o.qps = static_cast<double>(qps);
  o.burst = static_cast<int>(burst);
  if (o.composition_label.empty()) {
    return absl::InvalidArgumentError("k8s.composition_label must not be empty");
  }
  if (o.in_cluster && !o.kubeconfig.empty()) {
    return absl::InvalidArgumentError("k8s.in_cluster and k8s.kubeconfig exclude each other");
  }
  if (o.leader_election && (o.lease_namespace.empty() || o.lease_name.empty())) {
    return absl::InvalidArgumentError("k8s.lease_namespace and k8s.lease_name are required");
  }
  return o;
}

struct EventsService::Impl {
  EventsServiceOptions options;
  store::Writer* writer = nullptr;
  MetricsRegistry* metrics = nullptr;
  std::unique_ptr<k8s::Client> client;
  std::unique_ptr<k8s::LeaderElector> elector;
  std::unique_ptr<StoreExporter> exporter;
  std::unique_ptr<NodeAgent> node_agent;
  absl::Mutex mu;
  std::unique_ptr<EventCollector> collector ABSL_GUARDED_BY(mu);
  std::jthread cluster_metrics ABSL_GUARDED_BY(mu);

  // Lists nodes, deployments and pods (of the collected namespace) and exports their metrics.
  absl::StatusOr<size_t> ScrapeClusterMetrics() {
    auto list = [this](const char* api_version, const char* kind,
                       const std::string& ns) -> absl::StatusOr<nlohmann::json> {
      KOBS_ASSIGN_OR_RETURN(k8s::ResourceInfo r, client->Resource(api_version, kind));
      return client->ListAll(r, r.namespaced ? ns : "", {});
    };
    KOBS_ASSIGN_OR_RETURN(nlohmann::json nodes, list("v1", "Node", ""));
    KOBS_ASSIGN_OR_RETURN(nlohmann::json deployments,
                          list("apps/v1", "Deployment", options.namespace_));
    KOBS_ASSIGN_OR_RETURN(nlohmann::json pods, list("v1", "Pod", options.namespace_));
    MetricsRequest request;
    MetricBuilder b(&request, "kobs/cluster",
                    std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count());
    AddClusterMetrics(nodes, deployments, pods, options.composition_label, b);
    KOBS_RETURN_IF_ERROR(exporter->ExportMetrics(request));
    return b.points();
  }

  void StartClusterMetrics() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (options.metrics_interval.count() <= 0 || cluster_metrics.joinable()) return;
    cluster_metrics = std::jthread([this](std::stop_token stop) {
      while (!stop.stop_requested()) {
        absl::StatusOr<size_t> n = ScrapeClusterMetrics();
        if (!n.ok()) {
          Log(Logger("collect"), spdlog::level::warn, "cluster metrics round failed",
              {{"error", std::string(ToStd(n.status().message()))}});
        }
        for (auto t = std::chrono::milliseconds(0);
             t < options.metrics_interval && !stop.stop_requested();
             t += std::chrono::milliseconds(50)) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
      }
    });
  }

  void StartCollecting() {
    absl::MutexLock lock(&mu);
    StartClusterMetrics();
    if (!options.events || collector != nullptr) return;
    collector = std::make_unique<EventCollector>(
        *client, *writer,
        EventCollectorOptions{.namespace_ = options.namespace_,
                              .state_path = options.state_file,
                              .resolver = {.label_key = options.composition_label}},
        *metrics);
    if (absl::Status s = collector->Start(); !s.ok()) {
      Log(Logger("collect"), spdlog::level::err, "cannot collect events",
          {{"error", std::string(ToStd(s.message()))}});
      collector.reset();
      return;
    }
    Log(Logger("collect"), spdlog::level::info, "collecting Kubernetes events",
        {{"namespace", options.namespace_.empty() ? "(all)" : options.namespace_}});
  }
  void StopCollecting() {
    std::unique_ptr<EventCollector> c;
    std::jthread m;
    {
      absl::MutexLock lock(&mu);
      c = std::move(collector);
      m = std::move(cluster_metrics);
    }
    if (c != nullptr) c->Stop();
  }
};

absl::StatusOr<std::unique_ptr<k8s::Client>> ConnectCluster(const EventsServiceOptions& options) {
  auto getenv = [](const char* name) { return std::getenv(name); };
  absl::StatusOr<k8s::ClusterConfig> cluster =
      options.in_cluster ? k8s::InClusterConfig(getenv)
                         : k8s::LoadKubeconfig({options.kubeconfig}, options.context);
  if (!cluster.ok()) {
    return absl::Status(cluster.status().code(),
                        fmt::format("k8s: {}", ToStd(cluster.status().message())));
  }
  KOBS_ASSIGN_OR_RETURN(
      std::unique_ptr<k8s::Client> client,
      k8s::Client::Create(*cluster, {.qps = options.qps, .burst = options.burst}));
  return client;
}

EventsService::EventsService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

EventsService::~EventsService() { Stop(); }

absl::StatusOr<std::unique_ptr<EventsService>> EventsService::Create(EventsServiceOptions options,
                                                                     store::Writer& writer,
                                                                     MetricsRegistry& metrics) {
  KOBS_ASSIGN_OR_RETURN(std::unique_ptr<k8s::Client> client, ConnectCluster(options));
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->writer = &writer;
  impl->metrics = &metrics;
  impl->client = std::move(client);
  return std::unique_ptr<EventsService>(new EventsService(std::move(impl)));
}

absl::Status EventsService::Start() {
  Impl& s = *impl_;
  // Fail early and clearly when the cluster is unreachable or the token refused.
  KOBS_RETURN_IF_ERROR(s.client->Resource("v1", "Event").status());
  s.exporter = std::make_unique<StoreExporter>(*s.writer, *s.metrics);
  if (!s.options.pod_logs_dir.empty()) {
    std::string node = s.options.node_name;
    if (node.empty()) {
      // Single-node mode: the cluster's only node.
      KOBS_ASSIGN_OR_RETURN(k8s::ResourceInfo nodes, s.client->Resource("v1", "Node"));
      KOBS_ASSIGN_OR_RETURN(nlohmann::json list, s.client->ListAll(nodes, "", {}));
      nlohmann::json& items = list["items"];
      if (items.is_array() && items.size() == 1 && items[0]["metadata"]["name"].is_string()) {
        node = items[0]["metadata"]["name"].get<std::string>();
      } else if (s.options.metrics_interval.count() > 0) {
        return absl::InvalidArgumentError(
            "k8s.node_name is required for kubelet metrics: the cluster has more than one node");
      }
    }
    s.node_agent = std::make_unique<NodeAgent>(
        *s.client, *s.exporter,
        NodeAgentOptions{.node_name = node,
                         .logs = {.root = s.options.pod_logs_dir,
                                  .checkpoint_path = s.options.pod_logs_checkpoint,
                                  .label_key = s.options.composition_label},
                         .metrics_interval = s.options.metrics_interval,
                         .label_key = s.options.composition_label},
        *s.metrics);
    KOBS_RETURN_IF_ERROR(s.node_agent->Start());
  }
  if (!s.options.events && s.options.metrics_interval.count() <= 0) return absl::OkStatus();
  if (!s.options.leader_election) {
    s.StartCollecting();
    return absl::OkStatus();
  }
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::string identity =
      fmt::format("{}_{:08x}", host, std::random_device{}());
  KOBS_ASSIGN_OR_RETURN(
      s.elector,
      k8s::LeaderElector::Create(
          *s.client, {.lease_namespace = s.options.lease_namespace,
                      .lease_name = s.options.lease_name,
                      .identity = identity,
                      .on_started_leading = [&s] { s.StartCollecting(); },
                      .on_stopped_leading = [&s] { s.StopCollecting(); }}));
  s.elector->Start();
  return absl::OkStatus();
}

void EventsService::Stop() {
  if (impl_ == nullptr) return;
  if (impl_->elector != nullptr) impl_->elector->Stop();
  impl_->StopCollecting();
  if (impl_->node_agent != nullptr) impl_->node_agent->Stop();
}

bool EventsService::collecting() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->collector != nullptr && impl_->collector->synced();
}

}  // namespace kobs::collect
