#include "http/listen.h"

#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>

#include <fmt/format.h>
#include <httplib.h>

namespace spate {

Result<int> BindAndListen(httplib::Server& server, const std::string& host, int port,
                          std::jthread& listener, std::string_view who) {
  // Headers and body go out in separate writes; without this Nagle and the client's delayed
  // ACK add 40 ms to each request.
  server.set_tcp_nodelay(true);
  server.set_socket_options([](socket_t sock) {
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  errno = 0;
  int bound_port = port;
  bool bound = false;
  if (port == 0) {
    bound_port = server.bind_to_any_port(host);
    bound = bound_port > 0;
  } else {
    bound = server.bind_to_port(host, port);
  }
  if (!bound) {
    const int error = errno;
    const std::string why =
        error == EADDRINUSE      ? "the port is in use (choose another, or port 0 for a free one)"
        : error == EADDRNOTAVAIL ? "that is not an address of this machine"
        : error == EACCES        ? "permission denied (ports below 1024 need privileges)"
        : error != 0             ? std::string(std::strerror(error))
                                 : std::string("cannot bind");
    return Status::Fatal(fmt::format("{}: cannot listen on {}:{}: {}", who, host, port, why));
  }
  // Shared with the listener thread, which may outlive this call.
  auto done = std::make_shared<std::atomic<bool>>(false);
  listener = std::jthread([&server, done] {
    server.listen_after_bind();
    done->store(true);
  });
  while (!server.is_running() && !done->load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!server.is_running()) {
    listener.join();
    return Status::Fatal(fmt::format("{}: listening on {}:{} failed", who, host, bound_port));
  }
  return bound_port;
}

}  // namespace spate
