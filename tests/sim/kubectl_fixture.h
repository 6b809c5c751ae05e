// A simulated API server in a temporary directory and the real kubectl against it: the
// fixture of the kubectl compatibility tests and of the cluster behaviour tests.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/metrics.h"
#include "sim/sim_server.h"
#include "status_matchers.h"
#include "temp_dir.h"

namespace kobs::sim {

struct Result {
  int code = -1;
  std::string out;  // stdout and stderr
};

class KubectlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("kubectl version --client >/dev/null 2>&1") != 0) {
      FAIL() << "kubectl is not installed (scripts/setup.sh installs it)";
    }
    Start();
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }

  void Start() {
    auto server = SimServer::Create(
        {.port = 0,
         .dir = dir_.Sub("sim"),
         .bookmark_interval = std::chrono::milliseconds(500),
         .controllers = controllers_,
         .time_factor = 20,
         .node_memory = node_memory_,
         .scenarios = scenarios_,
         .missing_images = missing_images_},
        metrics_);
    ASSERT_THAT(server, ::kobs::testing::IsOk());
    server_ = *std::move(server);
    ASSERT_THAT(server_->Start(), ::kobs::testing::IsOk());
  }

  Result Kubectl(const std::string& args, const std::string& stdin_text = "") {
    std::string cmd = "KUBECONFIG=" + server_->kubeconfig_path() + " kubectl " + args;
    std::string input;
    if (!stdin_text.empty()) {
      input = dir_.Sub("stdin.yaml");
      std::ofstream(input) << stdin_text;
      cmd += " < " + input;
    }
    cmd += " 2>&1";
    Result r;
    FILE* p = popen(cmd.c_str(), "r");
    if (p == nullptr) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
    int status = pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
  }

  // Runs kubectl with `args` until it exits (bounded by `seconds` via timeout(1)), in the
  // background; the result is ready after join().
  std::thread Background(const std::string& args, int seconds, Result* r) {
    return std::thread([this, args, seconds, r] {
      *r = Kubectl(args + " & PID=$!; sleep " + std::to_string(seconds) + "; kill $PID");
    });
  }

  // Polls `kubectl <args>` until its output contains `want` (about 30 s at most, kubectl takes
  // a while per call); returns the last output.
  std::string WaitFor(const std::string& args, const std::string& want, int tries = 300) {
    std::string out;
    for (int i = 0; i < tries; ++i) {
      out = Kubectl(args).out;
      if (out.find(want) != std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return out;
  }

  nlohmann::json Json(const std::string& args) {
    Result r = Kubectl(args + " -o json");
    EXPECT_EQ(r.code, 0) << r.out;
    return nlohmann::json::parse(r.out, nullptr, false);
  }

  kobs::testing::TempDir dir_;
  MetricsRegistry metrics_;
  std::unique_ptr<SimServer> server_;
  // The API semantics tests run on a bare API server; KubectlClusterTest turns them on.
  bool controllers_ = false;
  int64_t node_memory_ = int64_t{8} << 30;
  std::vector<std::string> scenarios_;
  std::vector<std::string> missing_images_;
};

class KubectlClusterTest : public KubectlTest {
 protected:
  void SetUp() override {
    controllers_ = true;
    KubectlTest::SetUp();
  }
};

}  // namespace kobs::sim
