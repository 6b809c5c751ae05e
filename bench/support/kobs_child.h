// `kobs serve` in a child process for the end-to-end benchmarks, a small blocking HTTP client
// to talk to it, and the peak resident size of a process.
#pragma once

#include <curl/curl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#ifndef KOBS_BIN_PATH
#define KOBS_BIN_PATH "kobs"
#endif

namespace kobs::bench {

inline size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }
inline size_t Append(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

class Client {
 public:
  Client() : curl_(curl_easy_init()) {}
  ~Client() { curl_easy_cleanup(curl_); }
  // POSTs `body` as protobuf; returns the HTTP status.
  long Post(const std::string& url, const std::string& body) {
    curl_easy_reset(curl_);
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_slist* h = curl_slist_append(nullptr, "Content-Type: application/x-protobuf");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, Discard);
    long status = 0;
    if (curl_easy_perform(curl_) == CURLE_OK) curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    return status;
  }
  std::string Get(const std::string& url) {
    std::string out;
    curl_easy_reset(curl_);
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, Append);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &out);
    curl_easy_perform(curl_);
    return out;
  }

 private:
  CURL* curl_;
};

inline std::string Escape(const std::string& s) {
  char* e = curl_easy_escape(nullptr, s.c_str(), static_cast<int>(s.size()));
  std::string out(e);
  curl_free(e);
  return out;
}

struct Server {
  pid_t pid = -1;
  std::string otlp, clickhouse, api;
};

// Starts `kobs serve` (embedded store in `dir`, every listener on a free port, no MCP or
// gRPC; `env` adds or overrides variables) and waits until it is ready.
inline Server StartKobs(const std::string& dir,
                        const std::vector<std::pair<std::string, std::string>>& env = {}) {
  int err[2];
  if (pipe(err) != 0) std::exit(1);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(err[1], STDERR_FILENO);
    close(err[0]);
    setenv("KOBS_STORE_EMBEDDED_PATH", (dir + "/data").c_str(), 1);
    setenv("KOBS_STORE_WRITER_SPOOL_DIR", (dir + "/spool").c_str(), 1);
    setenv("KOBS_API_LISTEN", "127.0.0.1:0", 1);
    setenv("KOBS_CLICKHOUSE_HTTP_LISTEN", "127.0.0.1:0", 1);
    setenv("KOBS_OTLP_HTTP_LISTEN", "127.0.0.1:0", 1);
    setenv("KOBS_OTLP_GRPC_LISTEN", "", 1);
    setenv("KOBS_MCP_LISTEN", "", 1);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    const char* bin = std::getenv("KOBS_BIN") ? std::getenv("KOBS_BIN") : KOBS_BIN_PATH;
    execl(bin, bin, "serve", nullptr);
    _exit(127);
  }
  close(err[1]);
  Server s{pid};
  std::string line;
  char c;
  while (read(err[0], &c, 1) == 1) {
    if (c != '\n') {
      line += c;
      continue;
    }
    auto j = nlohmann::json::parse(line, nullptr, false);
    line.clear();
    if (!j.is_discarded() && j.value("msg", "") == "ready") {
      s.otlp = j.value("otlp_http", "");
      s.clickhouse = j.value("clickhouse_http", "");
      s.api = j.value("api", "");
      break;
    }
  }
  // Keep draining stderr so the server never blocks on a full pipe.
  std::thread([fd = err[0]] {
    char buf[4096];
    while (read(fd, buf, sizeof buf) > 0) {
    }
    close(fd);
  }).detach();
  if (s.otlp.empty()) {
    std::fprintf(stderr, "kobs serve did not get ready\n");
    std::exit(1);
  }
  return s;
}

inline long PeakRssKb(pid_t pid, const char* field = "VmHWM:") {
  std::ifstream in(fmt::format("/proc/{}/status", pid));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::strlen(field));
  }
  return 0;
}

}  // namespace kobs::bench
