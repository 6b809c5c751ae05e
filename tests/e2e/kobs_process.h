// Runs the kobs binary under test ($KOBS_BIN, else the build's) as a child process: one-shot
// commands (RunKobs) and `kobs serve` (KobsServer: waits for the "ready" log line, keeps
// draining stderr so the server never blocks on a full pipe, stops with any signal).
#pragma once

#include <sys/types.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace kobs::testing {

struct Proc {
  pid_t pid = -1;
  int err_fd = -1;  // the child's stderr
  int out_fd = -1;  // the child's stdout
};

// Starts kobs with `args`; `env` entries ("NAME=value") are added to the environment.
Proc SpawnKobs(const std::vector<std::string>& args, const std::vector<std::string>& env);
std::string ReadAll(int fd);
// Waits for `pid`: its exit code, or 128 + the signal that ended it.
int WaitExit(pid_t pid);

struct Result {
  int code;
  std::string out, err;
};
Result RunKobs(const std::vector<std::string>& args, const std::vector<std::string>& env = {});

class KobsServer {
 public:
  // Starts `kobs serve [args]` on data directory `data` with every port chosen by the OS
  // (unless `env` sets it), and waits for "ready" (ready() is false when the process exits
  // first).
  explicit KobsServer(const std::string& data, std::vector<std::string> env = {},
                      std::vector<std::string> args = {});
  ~KobsServer();

  bool ready() const { return !ready_.is_null(); }
  const nlohmann::json& ready_line() const { return ready_; }
  std::string clickhouse_url() const { return ready_.value("clickhouse_http", ""); }
  std::string api_url() const { return ready_.value("api", ""); }
  std::string otlp_http_url() const { return ready_.value("otlp_http", ""); }
  double startup_ms() const { return std::stod(ready_.value("startup_ms", "0")); }
  pid_t pid() const { return proc_.pid; }
  std::string log() const;
  std::string out() const;  // what it printed on stdout so far
  // Sends `sig` and waits for the exit; returns the exit code (128 + signal when killed).
  int Stop(int sig);

 private:
  Proc proc_;
  nlohmann::json ready_;
  mutable std::mutex mu_;
  std::string log_, out_;
  std::thread drain_, drain_out_;
};

// A free loopback TCP port (bound and released; good enough for tests).
int FreePort();

}  // namespace kobs::testing
