// CqlRig: the in-memory CQL test server (tests/rigs/cql_server.py) as a child process, for
// integration tests and benchmarks. It listens on 127.0.0.1 only; commands go to its stdin
// ("rows ks.t", "fail 1001 5", "applied 2200 1 MSG", "drop 1", "forget", "stats",
// "get ks.t KEY") and each answers one line. Start's args are the server's options (--nodes,
// --auth, --read-only, --grant USER:PERMS:RESOURCE: see tests/rigs/README.md).
//
// Needs SPATE_CQL_SERVER (the script's path). Nothing here calls gtest; failures come back
// as values. One thread at a time.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "unique_fd.h"

namespace spate::testing {

class CqlRig {
 public:
  CqlRig() = default;
  ~CqlRig() { Stop(); }
  CqlRig(const CqlRig&) = delete;
  CqlRig& operator=(const CqlRig&) = delete;

  // Starts the server with `args` (e.g. {"--nodes", "3"}); false with error() set if it
  // did not print its ports within 10 s.
  bool Start(const std::vector<std::string>& args = {}) {
    signal(SIGPIPE, SIG_IGN);  // A server that died must fail a Command, not the test binary.
    int in_pipe[2];
    int out_pipe[2];
    if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0) {
      error_ = "pipe failed";
      return false;
    }
    UniqueFd in_read(in_pipe[0]);
    to_server_ = UniqueFd(in_pipe[1]);
    from_server_ = UniqueFd(out_pipe[0]);
    UniqueFd out_write(out_pipe[1]);
    std::vector<std::string> argv_s = {"/usr/bin/python3", SPATE_CQL_SERVER};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_read.get(), 0);
    posix_spawn_file_actions_adddup2(&actions, out_write.get(), 1);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    const int rc = posix_spawn(&pid_, argv[0], &actions, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      pid_ = -1;
      error_ = "cannot start the CQL test server";
      return false;
    }
    const std::string line = ReadLine(std::chrono::seconds(10));
    // "port=P0 ports=P0,P1,..."
    const size_t at = line.find("ports=");
    if (line.rfind("port=", 0) != 0 || at == std::string::npos) {
      error_ = "the CQL test server did not start: '" + line + "'";
      return false;
    }
    ports_.clear();
    std::string list = line.substr(at + 6);
    size_t start = 0;
    while (start < list.size()) {
      size_t comma = list.find(',', start);
      if (comma == std::string::npos) comma = list.size();
      ports_.push_back(std::atoi(list.substr(start, comma - start).c_str()));
      start = comma + 1;
    }
    return !ports_.empty();
  }

  // Kills the server (its rows are gone).
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    to_server_.Reset();
    from_server_.Reset();
  }

  // One command, its one-line answer ("" on timeout).
  std::string Command(const std::string& line) {
    const std::string text = line + "\n";
    if (write(to_server_.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      return "";
    }
    return ReadLine(std::chrono::seconds(10));
  }

  // Rows in KS.TABLE, or -1.
  long Rows(const std::string& table) {
    const std::string answer = Command("rows " + table);
    return answer.rfind("rows=", 0) == 0 ? std::atol(answer.c_str() + 5) : -1;
  }

  // "127.0.0.1:P0,127.0.0.1:P1,..." for --cassandra-hosts.
  std::string Hosts() const {
    std::string out;
    for (int p : ports_) out += (out.empty() ? "" : ",") + ("127.0.0.1:" + std::to_string(p));
    return out;
  }
  const std::vector<int>& ports() const { return ports_; }
  const std::string& error() const { return error_; }

 private:
  std::string ReadLine(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "";
      pollfd p{from_server_.get(), POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[4096];
      const ssize_t n = read(from_server_.get(), chunk, sizeof(chunk));
      if (n <= 0) return "";
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  pid_t pid_ = -1;
  UniqueFd to_server_;
  UniqueFd from_server_;
  std::string buffer_;
  std::vector<int> ports_;
  std::string error_;
};

}  // namespace spate::testing
