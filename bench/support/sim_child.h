// The simulated cluster in a child process, for benchmarks that measure the client side (or
// the simulator) alone: fork, run `child(dir, fd)` there (it starts a SimServer and writes its
// kubeconfig path to `fd`), and connect kobs's client to it in the parent.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "k8s/client.h"
#include "k8s/kube_config.h"

namespace kobs::bench {

class SimChild {
 public:
  // `name` names the temporary directory; nullptr from client() means the child did not start.
  SimChild(const std::string& name, const std::function<void(const std::string& dir, int fd)>& child)
      : dir_(std::filesystem::temp_directory_path() / (name + "-" + std::to_string(getpid()))) {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      close(fds[0]);
      child(dir_, fds[1]);
      _exit(0);
    }
    close(fds[1]);
    std::string kubeconfig;
    char buf[512];
    for (ssize_t n; (n = read(fds[0], buf, sizeof(buf))) > 0;) kubeconfig.append(buf, n);
    close(fds[0]);
    auto config = kobs::k8s::LoadKubeconfig({kubeconfig});
    if (kubeconfig.empty() || !config.ok()) {
      std::fprintf(stderr, "the simulated cluster did not start\n");
      return;
    }
    auto client = kobs::k8s::Client::Create(*config, {.qps = 0});
    if (client.ok()) client_ = *std::move(client);
  }
  ~SimChild() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  kobs::k8s::Client* client() { return client_.get(); }
  pid_t pid() const { return pid_; }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  std::unique_ptr<kobs::k8s::Client> client_;
};

}  // namespace kobs::bench
