// Issue 17, item 12: `spate mock-api` keeps answering while clients hold half-sent requests.
// 30 raw sockets each send half a request and then nothing; a real client must still get
// every answer promptly, and the server must let the stalled sockets go after its read
// timeout.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>

#include "http/mock_api.h"

namespace spate {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kStalledClients = 30;

// A socket that connected and sent the start of a request, never its end.
class HalfRequest {
 public:
  explicit HalfRequest(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return;
    const std::string half = "GET /api/?results=1&seed=x HTTP/1.1\r\nHost: 127.0.0.1\r\nAcc";
    connected_ =
        ::send(fd_, half.data(), half.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(half.size());
  }
  ~HalfRequest() {
    if (fd_ >= 0) ::close(fd_);
  }
  HalfRequest(const HalfRequest&) = delete;
  HalfRequest& operator=(const HalfRequest&) = delete;

  bool connected() const { return connected_; }
  // True once the server has closed the connection (EOF or reset); whatever it sent before
  // (an error response) is read and skipped.
  bool ClosedByServer() const {
    char buffer[512];
    for (;;) {
      const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), MSG_DONTWAIT);
      if (n > 0) continue;
      if (n == 0) return true;
      return errno != EAGAIN && errno != EWOULDBLOCK;
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

TEST(MockApiSlowClients, AnswersWhileThirtyClientsHoldHalfSentRequests) {
  MockApiServer server;
  ASSERT_TRUE(server.Start(MockApiOptions{}).ok());
  std::vector<std::unique_ptr<HalfRequest>> stalled;
  for (int i = 0; i < kStalledClients; ++i) {
    stalled.push_back(std::make_unique<HalfRequest>(server.port()));
    ASSERT_TRUE(stalled.back()->connected()) << "client " << i;
  }
  std::this_thread::sleep_for(milliseconds(200));  // Every stalled socket has been accepted.

  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(10, 0);
  for (int i = 0; i < 10; ++i) {
    const auto start = Clock::now();
    auto res = client.Get(("/api/?results=5&seed=s&page=" + std::to_string(i + 1)).c_str());
    const auto took = Clock::now() - start;
    ASSERT_TRUE(res) << "request " << i << ": " << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200);
    EXPECT_LT(took, milliseconds(1000)) << "request " << i << " waited behind stalled clients";
  }

  // The stalled sockets are let go after the read timeout (2 s by default, then as long again
  // for the keep-alive wait after the 400 answer), not held forever. The margin is for a
  // loaded machine.
  const auto deadline = Clock::now() + std::chrono::seconds(15);
  int closed = 0;
  while (Clock::now() < deadline) {
    closed = 0;
    for (const auto& s : stalled) closed += s->ClosedByServer() ? 1 : 0;
    if (closed == kStalledClients) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(closed, kStalledClients);
}

TEST(MockApiSlowClients, RejectsZeroWorkersOrTimeout) {
  MockApiServer server;
  MockApiOptions options;
  options.workers = 0;
  EXPECT_EQ(server.Start(options).kind(), ErrorKind::kFatal);
  options.workers = 4;
  options.read_timeout = milliseconds(0);
  EXPECT_EQ(server.Start(options).kind(), ErrorKind::kFatal);
}

}  // namespace
}  // namespace spate
