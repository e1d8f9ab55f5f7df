// What the --http tests share: reading the dashboard's URL from a spate child's log, GETs
// against it, a FIFO that feeds `--source file` records at the test's pace (so a test says
// exactly what flows and when, and the run uses no CPU while it waits), and free ports.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include <httplib.h>

#include "sources/generator.h"
#include "spate_process.h"

namespace spate::testing {

// The port of the "dashboard: http://127.0.0.1:PORT/" line on the child's stderr; 0 when it
// did not appear within `timeout`.
inline int DashboardPort(const SpateProcess& process,
                         std::chrono::seconds timeout = std::chrono::seconds(60)) {
  const std::string marker = "dashboard: http://127.0.0.1:";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string err = process.Stderr();
    if (const size_t at = err.find(marker); at != std::string::npos) {
      return std::atoi(err.c_str() + at + marker.size());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return 0;
}

inline httplib::Result HttpGet(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(10, 0);
  return client.Get(path);
}

// Polls `check` every 50 ms until it is true or `timeout` passed; returns its last answer.
inline bool Eventually(const std::function<bool()>& check,
                       std::chrono::seconds timeout = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (check()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return check();
}

// A port no one listens on now (the kernel's pick for port 0, released).
inline int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  socklen_t length = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// A named pipe for `spate run --input PATH`: the test writes JSON Lines when it wants, and
// closing it ends the input (the run then finishes normally).
class Fifo {
 public:
  explicit Fifo(std::string path) : path_(std::move(path)) {
    ok_ = ::mkfifo(path_.c_str(), 0600) == 0;
  }
  ~Fifo() { Close(); }
  Fifo(const Fifo&) = delete;
  Fifo& operator=(const Fifo&) = delete;
  bool ok() const { return ok_; }
  const std::string& path() const { return path_; }
  // Blocks until the reader (spate) has opened it.
  bool OpenWriter() {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
    return fd_ >= 0;
  }
  bool Write(const std::string& text) {
    size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  std::string path_;
  bool ok_ = false;
  int fd_ = -1;
};

// `count` generator users from index `first` as JSON Lines (what randomuser.me returns, one
// user a line).
inline std::string UserLines(uint64_t first, uint64_t count, const std::string& seed = "http") {
  GeneratorOptions options;
  options.seed = seed;
  auto generator = UserGenerator::Create(options);
  std::string out;
  if (!generator.ok()) return out;
  for (uint64_t i = first; i < first + count; ++i) {
    generator->AppendUser(i, out);
    out.push_back('\n');
  }
  return out;
}

}  // namespace spate::testing
