// Loopback HTTP servers for the randomuser source and mock-api tests (127.0.0.1 only).
//
//   HttpScript: a cpp-httplib server whose handler answers GET /api/ as the test scripts it.
//   RawServer:  a bare TCP listener; each accepted connection runs the test's function on its
//               own thread with the socket, for what a real server would never send (endless
//               bodies, silence, hand-made chunking).
//   UserPage:   an API document with users of the generator (login secrets included), as the
//               real API pages them: user i is the same bytes in any page that holds it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include <httplib.h>

#include "sources/generator.h"

namespace spate::testing {

inline constexpr char kLoopback[] = "127.0.0.1";

// Users [first, first + count) of the generator for `seed`, as {"results":[...]}.
// Generators are made once per seed (making one costs far more than a page).
inline std::string UserPage(const std::string& seed, uint64_t first, uint64_t count) {
  static std::mutex mutex;
  static std::map<std::string, UserGenerator> generators;
  const UserGenerator* generator = nullptr;
  {
    std::lock_guard lock(mutex);
    auto it = generators.find(seed);
    if (it == generators.end()) {
      Result<UserGenerator> made = UserGenerator::Create(
          GeneratorOptions{.seed = seed, .nationalities = {}, .include_login_secrets = true});
      if (!made.ok()) return "";
      it = generators.emplace(seed, std::move(made).value()).first;
    }
    generator = &it->second;
  }
  std::string body = R"({"results":[)";
  for (uint64_t i = 0; i < count; ++i) {
    if (i > 0) body.push_back(',');
    generator->AppendUser(first + i, body);
  }
  body += "]}";
  return body;
}

// A cpp-httplib server: `handler` answers GET /api/ with the request number (0-based).
class HttpScript {
 public:
  using Handler = std::function<void(int request, const httplib::Request&, httplib::Response&)>;

  explicit HttpScript(Handler handler) : handler_(std::move(handler)) {
    // Headers and body go out in separate writes: without this, Nagle and the client's
    // delayed ACK add 40 ms to every request.
    server_.set_tcp_nodelay(true);
    server_.Get("/api/", [this](const httplib::Request& req, httplib::Response& res) {
      handler_(requests_.fetch_add(1), req, res);
    });
    port_ = server_.bind_to_any_port(kLoopback);
    thread_ = std::jthread([this] { server_.listen_after_bind(); });
    while (port_ > 0 && !server_.is_running()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ~HttpScript() {
    server_.stop();
    thread_.join();
  }
  HttpScript(const HttpScript&) = delete;
  HttpScript& operator=(const HttpScript&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api/"; }
  int requests() const { return requests_.load(); }

 private:
  Handler handler_;
  httplib::Server server_;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::jthread thread_;  // Last: joined before the rest is destroyed.
};

// A bare TCP server on 127.0.0.1. `serve(fd, stopping)` runs on its own thread for every
// accepted connection and owns nothing: the socket is closed after it returns. It should
// return soon after `stopping` becomes true. The destructor stops and joins everything.
class RawServer {
 public:
  using Serve = std::function<void(int fd, const std::atomic<bool>& stopping)>;

  // `accept_connections` false: listen only; the kernel completes the handshakes (up to the
  // backlog) and nobody ever reads: a server that accepts but never answers.
  explicit RawServer(Serve serve, bool accept_connections = true) : serve_(std::move(serve)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    const int yes = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    ::inet_pton(AF_INET, kLoopback, &addr.sin_addr);
    socklen_t len = sizeof(addr);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listener_, 128) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    if (accept_connections) acceptor_ = std::jthread([this] { AcceptLoop(); });
  }
  ~RawServer() {
    stopping_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    std::lock_guard lock(mutex_);
    connections_.clear();  // Joins every connection thread.
    if (listener_ >= 0) ::close(listener_);
  }
  RawServer(const RawServer&) = delete;
  RawServer& operator=(const RawServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api/"; }
  int connections() const { return accepted_.load(); }

  // Reads until the end of the request's headers (or the peer closes / `stopping`).
  static std::string ReadRequest(int fd, const std::atomic<bool>& stopping) {
    std::string request;
    char buffer[4096];
    while (!stopping && request.find("\r\n\r\n") == std::string::npos) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      request.append(buffer, static_cast<size_t>(n));
    }
    return request;
  }

  // Sends all of `bytes`; false once the peer is gone.
  static bool SendAll(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Waits until `stopping` or the peer closes the connection.
  static void HoldUntilClosed(int fd, const std::atomic<bool>& stopping) {
    char buffer[256];
    while (!stopping) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      if (::recv(fd, buffer, sizeof(buffer), 0) <= 0) return;
    }
  }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      pollfd p{listener_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) continue;
      accepted_.fetch_add(1);
      std::lock_guard lock(mutex_);
      connections_.emplace_back([this, fd] {
        serve_(fd, stopping_);
        ::close(fd);
      });
    }
  }

  Serve serve_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::mutex mutex_;
  std::list<std::jthread> connections_;
  std::jthread acceptor_;
};

}  // namespace spate::testing
