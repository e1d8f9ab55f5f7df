// MockApiServer: a local, deterministic randomuser.me-compatible API (`spate mock-api`).
//
// Serves GET /api/, /api/1.4/ and /api/1.3/ with the real API's query parameters:
//   results  1..5000; anything else (0, 9999, "abc") silently becomes 1, as the real API does.
//   seed     any text; when absent a random one is made per request. Echoed in info.seed.
//   page     1-based (default 1). Page P of size R holds users (P-1)*R .. P*R-1.
//   nat      comma list, any case; unknown codes are ignored, and if none is valid all 21
//            nationalities are used (the real API's behaviour).
//   noinfo   present: the "info" block is left out.
//   format   only json (or absent); other formats get HTTP 400.
// Users come from UserGenerator (sources/generator.h) with login secrets included, so the
// mock is byte-for-byte what `spate run --source generator` ingests for the same seed/nats.
// Fault injection for tests: the first `fail_first` requests are answered with `fail_status`.
//
// Slow or stalled clients: every connection is served by one of `workers` threads, and a
// connection that sends nothing for `read_timeout` (half a request, or an idle keep-alive) is
// closed, so up to `workers` clients holding half-sent requests cannot stop others from being
// answered, and each is let go after `read_timeout`. (A client that trickles a byte faster
// than that holds its worker; more such clients than workers queue the rest.)
//
// Lifecycle: Start() binds and returns once the server accepts connections; the listener runs
// on a std::jthread owned by the server and cpp-httplib's worker pool. Stop() (or the
// destructor) closes the socket and joins; it is idempotent.
//
// Thread-safety: Start/Stop from one controlling thread; port() and requests_served() from any.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "core/status.h"

namespace httplib {
class Server;
}  // namespace httplib

namespace spate {

struct MockApiOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 = pick a free port; read it back with port().
  // Fault injection (tests): the first `fail_first` requests get `fail_status` and a JSON
  // {"error": ...} body instead of users.
  uint32_t fail_first = 0;
  int fail_status = 500;
  // Threads answering requests, one connection each at a time (cpp-httplib's default is 8).
  size_t workers = 64;
  // A connection silent this long (mid-request or between keep-alive requests) is closed.
  std::chrono::milliseconds read_timeout{2000};
};

class MockApiServer {
 public:
  MockApiServer();
  ~MockApiServer();  // Calls Stop().
  MockApiServer(const MockApiServer&) = delete;
  MockApiServer& operator=(const MockApiServer&) = delete;

  // Binds host:port and starts serving. Fatal (naming host:port) if the bind fails or the
  // server is already running.
  Status Start(const MockApiOptions& options);

  // Stops accepting, finishes in-flight requests and joins the listener. Idempotent.
  void Stop();

  // The bound port (useful with port 0); 0 before Start.
  int port() const { return port_.load(std::memory_order_acquire); }

  // Requests answered so far, injected failures and errors included.
  uint64_t requests_served() const { return requests_served_.load(std::memory_order_relaxed); }

 private:
  void Route();

  // Set by Start, read by handlers on worker threads (constant while running).
  MockApiOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::jthread listener_;

  std::atomic<int> port_{0};
  std::atomic<uint64_t> requests_served_{0};
};

}  // namespace spate
