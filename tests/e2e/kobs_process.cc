#include "kobs_process.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

namespace kobs::testing {
namespace {

std::string Bin() {
  const char* b = std::getenv("KOBS_BIN");
  return b != nullptr ? b : KOBS_BIN_PATH;
}

}  // namespace

Proc SpawnKobs(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  int err[2], out[2];
  if (pipe(err) != 0 || pipe(out) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(err[1], STDERR_FILENO);
    dup2(out[1], STDOUT_FILENO);
    close(err[0]);
    close(out[0]);
    for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv;
    std::string bin = Bin();
    argv.push_back(bin.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  close(err[1]);
  close(out[1]);
  return {pid, err[0], out[0]};
}

std::string ReadAll(int fd) {
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, n);
  close(fd);
  return s;
}

int WaitExit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Result RunKobs(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  Proc p = SpawnKobs(args, env);
  std::string err;
  std::thread t([&] { err = ReadAll(p.err_fd); });
  std::string out = ReadAll(p.out_fd);
  t.join();
  return {WaitExit(p.pid), out, err};
}

KobsServer::KobsServer(const std::string& data, std::vector<std::string> env,
                       std::vector<std::string> args) {
  std::vector<std::string> all = {"KOBS_STORE_EMBEDDED_PATH=" + data,
                                  "KOBS_STORE_WRITER_SPOOL_DIR=" + data + "-spool",
                                  "KOBS_API_LISTEN=127.0.0.1:0",
                                  "KOBS_CLICKHOUSE_HTTP_LISTEN=127.0.0.1:0",
                                  "KOBS_OTLP_HTTP_LISTEN=127.0.0.1:0",
                                  "KOBS_OTLP_GRPC_LISTEN=127.0.0.1:0",
                                  "KOBS_MCP_LISTEN=127.0.0.1:0"};
  all.insert(all.end(), env.begin(), env.end());  // later entries win (putenv order)
  args.insert(args.begin(), "serve");
  proc_ = SpawnKobs(args, all);
  drain_out_ = std::thread([this] {
    char b[4096];
    ssize_t n;
    while ((n = read(proc_.out_fd, b, sizeof b)) > 0) {
      std::lock_guard lock(mu_);
      out_.append(b, n);
    }
  });
  std::string buf;
  char c;
  while (read(proc_.err_fd, &c, 1) == 1) {
    if (c != '\n') {
      buf += c;
      continue;
    }
    log_ += buf + "\n";
    auto j = nlohmann::json::parse(buf, nullptr, false);
    buf.clear();
    if (!j.is_discarded() && j.value("msg", "") == "ready") {
      ready_ = j;
      break;
    }
  }
  drain_ = std::thread([this] {
    char b[4096];
    ssize_t n;
    while ((n = read(proc_.err_fd, b, sizeof b)) > 0) {
      std::lock_guard lock(mu_);
      log_.append(b, n);
    }
  });
}

KobsServer::~KobsServer() {
  if (proc_.pid > 0) Stop(SIGKILL);
}

std::string KobsServer::log() const {
  std::lock_guard lock(mu_);
  return log_;
}

std::string KobsServer::out() const {
  std::lock_guard lock(mu_);
  return out_;
}

int KobsServer::Stop(int sig) {
  if (proc_.pid <= 0) return -1;
  kill(proc_.pid, sig);
  int code = WaitExit(proc_.pid);
  proc_.pid = -1;
  if (drain_.joinable()) drain_.join();
  if (drain_out_.joinable()) drain_out_.join();
  close(proc_.err_fd);
  close(proc_.out_fd);
  return code;
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace kobs::testing
