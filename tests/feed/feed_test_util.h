// Shared by the feed tests: event rows for otel_logs as the event collector writes them, and a
// StreamWriter that records what the hub sent.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "feed/event.h"
#include "net/http.h"
#include "store/otel_rows.h"

namespace kobs::feed::testing {

// A stored Kubernetes event notification (the k8sobjects shape) for composition `cid`.
inline store::LogRow EventRow(int i, const std::string& cid, const std::string& ns,
                              const std::string& watch_type = "ADDED") {
  store::LogRow r;
  // Recent: the tables' TTL drops old rows.
  static const int64_t kBase = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
  r.timestamp_ns = kBase + static_cast<int64_t>(i) * 1'000'000;
  r.severity_text = "INFO";
  r.severity_number = 9;
  r.body = "{\"type\":\"" + watch_type + "\",\"object\":{\"kind\":\"Event\",\"apiVersion\":\"v1\","
           "\"metadata\":{\"name\":\"ev-" + std::to_string(i) + "\",\"namespace\":\"" + ns +
           "\",\"uid\":\"uid-" + std::to_string(i) + "\",\"resourceVersion\":\"" +
           std::to_string(i) + "\"},\"involvedObject\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\","
           "\"name\":\"pod-" + std::to_string(i) + "\",\"namespace\":\"" + ns +
           "\",\"uid\":\"pod-uid-" + std::to_string(i) + "\"},\"reason\":\"BackOff\","
           "\"message\":\"Back-off <" + std::to_string(i) + "> & retry\",\"type\":\"Warning\","
           "\"lastTimestamp\":\"2026-05-28T20:26:40Z\",\"source\":{\"component\":\"kubelet\"}}}";
  r.resource_attributes = {{"telemetry.source", "k8s-events"}, {"k8s.namespace.name", ns}};
  r.log_attributes = {{"k8s.resource.name", "events"}, {"event.name", "ev-" + std::to_string(i)}};
  if (!cid.empty()) r.log_attributes.emplace_back("krateo.io/composition-id", cid);
  return r;
}

struct Frame {
  std::string id;
  std::string event;
  std::string data;
};

// Records the bytes the hub queues. Close() and Abort() end the stream; the close callbacks
// then run on another thread, as the server runs them on its I/O thread.
class RecordingStream : public net::StreamWriter {
 public:
  bool Send(std::shared_ptr<const std::string> data) override {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    bytes_ += *data;
    return true;
  }
  uint64_t buffered_bytes() const override { return buffered.load(); }
  void Close() override { End(); }
  void Abort() override { End(); }
  bool closed() const override {
    std::lock_guard lock(mu_);
    return closed_;
  }
  void OnClose(std::function<void()> fn) override {
    {
      std::lock_guard lock(mu_);
      if (!closed_) {
        callbacks_.push_back(std::move(fn));
        return;
      }
    }
    fn();
  }

  std::string bytes() const {
    std::lock_guard lock(mu_);
    return bytes_;
  }
  // The event frames received so far.
  std::vector<Frame> frames() const {
    std::vector<Frame> out;
    const std::string all = bytes();
    size_t start = 0;
    for (size_t end; (end = all.find("\n\n", start)) != std::string::npos; start = end + 2) {
      Frame f;
      std::string_view block(all.data() + start, end - start);
      while (!block.empty()) {
        size_t nl = block.find('\n');
        std::string_view line = block.substr(0, nl);
        if (line.rfind("id: ", 0) == 0) f.id = std::string(line.substr(4));
        if (line.rfind("event: ", 0) == 0) f.event = std::string(line.substr(7));
        if (line.rfind("data: ", 0) == 0) f.data = std::string(line.substr(6));
        block = nl == std::string_view::npos ? std::string_view() : block.substr(nl + 1);
      }
      if (!f.id.empty()) out.push_back(std::move(f));
    }
    return out;
  }

  // What buffered_bytes() reports (a client that does not read).
  std::atomic<uint64_t> buffered{0};

 private:
  void End() {
    std::vector<std::function<void()>> callbacks;
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      closed_ = true;
      callbacks.swap(callbacks_);
    }
    std::thread([callbacks = std::move(callbacks)] {
      for (const auto& fn : callbacks) fn();
    }).detach();
  }

  mutable std::mutex mu_;
  bool closed_ = false;
  std::string bytes_;
  std::vector<std::function<void()>> callbacks_;
};

}  // namespace kobs::feed::testing
