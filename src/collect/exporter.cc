#include "collect/exporter.h"

#include <curl/curl.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "absl/strings/escaping.h"

#include "common/absl_compat.h"
#include "common/log.h"
#include "common/metrics.h"
#include "google/rpc/status.pb.h"
#include "net/curl_pool.h"
#include "otlp/attributes.h"
#include "otlp/ingest.h"
#include "store/spool.h"
#include "store/writer.h"

namespace kobs::collect {

namespace pb = opentelemetry::proto;
using LogsRequest = pb::collector::logs::v1::ExportLogsServiceRequest;

namespace {

size_t Collect(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

}  // namespace

void LogRowsToRequest(const std::vector<store::LogRow>& rows, LogsRequest* out) {
  pb::logs::v1::ScopeLogs* scope = nullptr;
  const store::LogRow* previous = nullptr;
  for (const store::LogRow& row : rows) {
    if (previous == nullptr || previous->resource_attributes != row.resource_attributes ||
        previous->service_name != row.service_name || previous->scope_name != row.scope_name) {
      pb::logs::v1::ResourceLogs* rl = out->add_resource_logs();
      store::Attributes resource = row.resource_attributes;
      if (!row.service_name.empty()) {
        auto it = std::find_if(resource.begin(), resource.end(),
                               [](const auto& kv) { return kv.first == "service.name"; });
        if (it == resource.end()) resource.emplace_back("service.name", row.service_name);
      }
      otlp::FromAttributes(resource, rl->mutable_resource()->mutable_attributes());
      scope = rl->add_scope_logs();
      scope->mutable_scope()->set_name(row.scope_name);
      scope->mutable_scope()->set_version(row.scope_version);
    }
    previous = &row;
    pb::logs::v1::LogRecord* r = scope->add_log_records();
    r->set_time_unix_nano(static_cast<uint64_t>(row.timestamp_ns));
    r->set_observed_time_unix_nano(static_cast<uint64_t>(row.timestamp_ns));
    r->set_severity_text(row.severity_text);
    r->set_severity_number(static_cast<pb::logs::v1::SeverityNumber>(row.severity_number));
    r->mutable_body()->set_string_value(row.body);
    otlp::FromAttributes(row.log_attributes, r->mutable_attributes());
    // The rows' ids are otlp::HexId output: lower-case hex, or empty.
    if (!row.trace_id.empty()) r->set_trace_id(absl::HexStringToBytes(row.trace_id));
    if (!row.span_id.empty()) r->set_span_id(absl::HexStringToBytes(row.span_id));
    r->set_flags(row.trace_flags);
  }
}

// --- StoreExporter ---

StoreExporter::StoreExporter(store::Writer& writer, MetricsRegistry& metrics)
    : writer_(writer),
      ingest_(std::make_unique<otlp::Ingest>(
          [&writer](otlp::Decoded& rows) { return writer.Write(otlp::ToTableRows(rows, "")); },
          metrics)) {}

StoreExporter::~StoreExporter() = default;

absl::Status StoreExporter::ExportLogs(std::vector<store::LogRow>& rows) {
  if (rows.empty()) return absl::OkStatus();
  store::TableRows part{.table = "otel_logs", .columns = &store::LogColumns()};
  for (const store::LogRow& row : rows) {
    store::EncodeLogRow(row, &part.data);
    ++part.rows;
  }
  std::vector<store::TableRows> parts;
  parts.push_back(std::move(part));
  return writer_.Write(std::move(parts));
}

absl::Status StoreExporter::ExportMetrics(MetricsRequest& request) {
  return ingest_->Export(request).status();
}

// --- OtlpExporter ---

absl::StatusOr<std::unique_ptr<OtlpExporter>> OtlpExporter::Create(OtlpExporterOptions options,
                                                                   MetricsRegistry& metrics) {
  if (options.endpoint.rfind("http://", 0) != 0 && options.endpoint.rfind("https://", 0) != 0) {
    return absl::InvalidArgumentError(fmt::format(
        "agent.endpoint \"{}\" must be an http:// or https:// URL (the server's OTLP/HTTP "
        "listener)",
        options.endpoint));
  }
  while (!options.endpoint.empty() && options.endpoint.back() == '/') options.endpoint.pop_back();
  absl::StatusOr<std::unique_ptr<store::Spool>> spool = store::Spool::Open(
      {.dir = options.buffer_dir, .max_bytes = options.buffer_max_bytes});
  if (!spool.ok()) {
    return absl::Status(spool.status().code(),
                        fmt::format("agent buffer {}: {}", options.buffer_dir,
                                    ToStd(spool.status().message())));
  }
  auto e = std::unique_ptr<OtlpExporter>(
      new OtlpExporter(std::move(options), std::move(*spool), metrics));
  metrics.AddCallbackGauge("kobs_agent_buffer_bytes", "Bytes waiting in the agent's disk buffer.",
                           [s = e->spool_.get()] { return static_cast<double>(s->bytes()); });
  metrics.AddCallbackGauge(
      "kobs_agent_buffer_oldest_seconds", "Age of the oldest batch in the agent's disk buffer.",
      [s = e->spool_.get()] { return s->oldest_age_seconds(); });
  return e;
}

OtlpExporter::OtlpExporter(OtlpExporterOptions options, std::unique_ptr<store::Spool> spool,
                           MetricsRegistry& metrics)
    : options_(std::move(options)),
      spool_(std::move(spool)),
      curl_(std::make_unique<net::CurlPool>(1)),
      sent_items_(metrics.GetCounter("kobs_agent_sent_items_total",
                                     "Log records and metric points the server accepted.")),
      failures_(metrics.GetCounter("kobs_agent_send_failures_total",
                                   "Sends that failed and will be retried.")),
      rejected_(metrics.GetCounter(
          "kobs_agent_rejected_batches_total",
          "Batches the server refused as invalid (set aside in <buffer_dir>/rejected).")),
      dropped_metrics_(metrics.GetCounter(
          "kobs_agent_dropped_metric_batches_total",
          "Metric samples dropped because the disk buffer was full.")) {}

OtlpExporter::~OtlpExporter() { Stop(); }

uint64_t OtlpExporter::buffered_bytes() const { return spool_->bytes(); }

absl::Status OtlpExporter::Buffer(const std::string& signal, uint64_t items, std::string data) {
  return spool_->Append({.table = signal, .format = "application/x-protobuf", .rows = items,
                         .data = std::move(data)});
}

absl::Status OtlpExporter::ExportLogs(std::vector<store::LogRow>& rows) {
  if (rows.empty()) return absl::OkStatus();
  LogsRequest request;
  LogRowsToRequest(rows, &request);
  return Buffer("logs", rows.size(), request.SerializeAsString());
}

absl::Status OtlpExporter::ExportMetrics(MetricsRequest& request) {
  uint64_t points = 0;
  for (const auto& rm : request.resource_metrics()) {
    for (const auto& sm : rm.scope_metrics()) points += static_cast<uint64_t>(sm.metrics_size());
  }
  absl::Status s = Buffer("metrics", points, request.SerializeAsString());
  if (absl::IsResourceExhausted(s)) {
    // A later sample supersedes this one; waiting for room would only delay it.
    dropped_metrics_.Inc();
    Log(Logger("agent"), spdlog::level::warn, "agent buffer full: metric sample dropped",
        {{"buffer_bytes", std::to_string(spool_->bytes())}});
    return absl::OkStatus();
  }
  return s;
}

void OtlpExporter::Start() {
  if (thread_.joinable()) return;
  thread_ = std::jthread([this](std::stop_token stop) { Run(stop); });
}

void OtlpExporter::Stop(std::chrono::milliseconds drain) {
  if (!thread_.joinable()) return;
  const auto deadline = std::chrono::steady_clock::now() + drain;
  while (!spool_->empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  thread_.request_stop();
  thread_.join();
}

int OtlpExporter::Post(const std::string& signal, const std::string& body, std::string* error,
                       std::chrono::seconds* retry_after) {
  // One pooled handle: its connection to the server stays open between batches.
  net::CurlPool::Lease lease = curl_->Acquire();
  CURL* h = lease.get();
  if (h == nullptr) {
    *error = "cannot create a curl handle";
    return 0;
  }
  const std::string url = fmt::format("{}/v1/{}", options_.endpoint, signal);
  std::string response, headers_text;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/x-protobuf");
  if (!options_.bearer_token.empty()) {
    headers = curl_slist_append(
        headers, fmt::format("Authorization: Bearer {}", options_.bearer_token).c_str());
  }
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, Collect);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &headers_text);
  if (!options_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
  CURLcode rc = curl_easy_perform(h);
  long status = 0;
  if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    *error = curl_easy_strerror(rc);
    return 0;
  }
  *retry_after = std::chrono::seconds(0);
  std::string lower = headers_text;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  if (size_t p = lower.find("\nretry-after:"); p != std::string::npos) {
    try {
      *retry_after = std::chrono::seconds(std::stol(lower.substr(p + 13)));
    } catch (...) {
    }
  }
  // OTLP/HTTP errors are a google.rpc.Status in the request's encoding.
  google::rpc::Status rpc;
  *error = rpc.ParseFromString(response) && !rpc.message().empty() ? rpc.message()
                                                                      : response.substr(0, 300);
  return static_cast<int>(status);
}

std::string OtlpExporter::Quarantine(const store::SpoolEntry& batch) {
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::path(options_.buffer_dir) / "rejected";
  std::filesystem::create_directories(dir, ec);
  const std::filesystem::path path = dir / fmt::format("{}.{}.pb", batch.id, batch.table);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(batch.data.data(), static_cast<std::streamsize>(batch.data.size()));
  return out ? path.string() : "(could not write " + path.string() + ")";
}

void OtlpExporter::Run(std::stop_token stop) {
  auto backoff = options_.min_backoff;
  auto sleep = [&stop](std::chrono::milliseconds d) {
    for (auto t = std::chrono::milliseconds(0); t < d && !stop.stop_requested();
         t += std::chrono::milliseconds(20)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  };
  while (!stop.stop_requested()) {
    // Consecutive batches of one signal are merged into one request: concatenated protobuf
    // messages of one type parse as their merge (the repeated resource lists append).
    absl::StatusOr<std::optional<store::SpoolEntry>> claim =
        spool_->Claim(/*max_rows=*/UINT64_MAX, options_.max_request_bytes);
    if (!claim.ok()) {
      Log(Logger("agent"), spdlog::level::err, "agent buffer unreadable",
          {{"error", std::string(ToStd(claim.status().message()))}});
      sleep(options_.max_backoff);
      continue;
    }
    if (!claim->has_value()) {
      sleep(std::chrono::milliseconds(50));
      continue;
    }
    const store::SpoolEntry& batch = **claim;
    std::string error;
    std::chrono::seconds retry_after{0};
    const int status = Post(batch.table, batch.data, &error, &retry_after);
    connected_ = status != 0;
    if (status >= 200 && status < 300) {
      (void)spool_->Release();
      sent_items_.Inc(static_cast<double>(batch.rows));
      ++sent_;
      backoff = options_.min_backoff;
      continue;
    }
    const bool retry = status == 0 || status == 429 || status == 408 || status >= 500 ||
                       status == 401 || status == 403;
    if (!retry) {
      // Refused as malformed: no retry can make the server accept it. Kept aside for a
      // person to look at, out of the way of the batches behind it.
      rejected_.Inc();
      const std::string kept = Quarantine(batch);
      Log(Logger("agent"), spdlog::level::err, "server refused a batch; set aside",
          {{"signal", batch.table}, {"status", std::to_string(status)},
           {"items", std::to_string(batch.rows)}, {"error", error}, {"kept_in", kept}});
      (void)spool_->Release();
      continue;
    }
    failures_.Inc();
    // Released claims are re-formed identically, so the same batch is retried.
    Log(Logger("agent"), spdlog::level::warn, "cannot send to the server; will retry",
        {{"endpoint", options_.endpoint}, {"status", std::to_string(status)},
         {"error", error}, {"buffered_bytes", std::to_string(spool_->bytes())}});
    auto wait = std::max<std::chrono::milliseconds>(backoff, retry_after);
    sleep(std::min(wait, options_.max_backoff));
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

}  // namespace kobs::collect
