// The randomuser source end to end, through the real binary, against loopback servers that
// misbehave (issue 17): Ctrl-C while a server accepts and never answers (item 11), an endless
// body (item 8), servers that send more or fewer users than asked and a BOM (item 16).
#include <sys/resource.h>

#include <charconv>
#include <string>

#include <gtest/gtest.h>

#include "../unit/http_test_servers.h"
#include "db_query.h"
#include "spate_process.h"

namespace spate {
namespace {

using spate::testing::HttpScript;
using spate::testing::Outcome;
using spate::testing::QueryInt;
using spate::testing::RawServer;
using spate::testing::RunSpate;
using spate::testing::SpateProcess;
using spate::testing::TempDir;
using spate::testing::UserPage;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr char kJson[] = "application/json; charset=utf-8";  // Not compressed by httplib.

uint64_t Param(const httplib::Request& req, const char* name) {
  const std::string text = req.has_param(name) ? req.get_param_value(name) : "1";
  uint64_t value = 1;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

int64_t Rows(const std::string& data_dir) {
  return QueryInt(data_dir, "SELECT count(*) FROM created_users");
}

// SIGINT to a run, then how long it took to end.
struct Interrupted {
  Outcome outcome;
  Clock::duration took;
};
Interrupted Interrupt(SpateProcess& run) {
  const auto sent = Clock::now();
  run.Signal(SIGINT);
  Interrupted result;
  result.outcome = run.Wait(std::chrono::seconds(30));
  result.took = Clock::now() - sent;
  return result;
}

// Item 11: the server completes the TCP handshake (the kernel does, from the backlog) and
// never reads or answers. Ctrl-C during that first request ends the run at once.
TEST(HttpSource, InterruptWhileTheServerNeverAnswersAtStartUp) {
  RawServer silent([](int, const std::atomic<bool>&) {}, /*accept_connections=*/false);
  TempDir dir;
  const std::string data = dir.File("data");
  SpateProcess run(dir, {"run", "--source", "randomuser", "--url", silent.url(), "--timeout",
                         "120s", "--connect-timeout", "120s", "--data-dir", data});
  std::this_thread::sleep_for(milliseconds(1500));  // Well inside the request.
  Interrupted got = Interrupt(run);
  EXPECT_LT(got.took, std::chrono::seconds(2)) << got.outcome.err;
  EXPECT_EQ(got.outcome.exit_code, 0) << got.outcome.err;
  EXPECT_NE(got.outcome.err.find("stopped early"), std::string::npos) << got.outcome.err;
}

// Item 11, mid-run: the first page is answered, the second request is read and never
// answered. Ctrl-C ends the run promptly and the first page's users are stored.
TEST(HttpSource, InterruptWhileTheServerStallsMidRun) {
  std::atomic<int> requests{0};
  RawServer server([&](int fd, const std::atomic<bool>& stopping) {
    for (;;) {  // libcurl keeps the connection alive: several requests may come on it.
      if (RawServer::ReadRequest(fd, stopping).empty()) return;
      if (requests.fetch_add(1) > 0) {
        RawServer::HoldUntilClosed(fd, stopping);
        return;
      }
      const std::string body = UserPage("stall", 0, 10);
      if (!RawServer::SendAll(fd,
                              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              "Content-Length: " +
                                  std::to_string(body.size()) + "\r\n\r\n" + body)) {
        return;
      }
    }
  });
  TempDir dir;
  const std::string data = dir.File("data");
  SpateProcess run(
      dir, {"run", "--source", "randomuser", "--url", server.url(), "--seed", "stall",
            "--page-size", "10", "--count", "100", "--timeout", "120s", "--data-dir", data});
  const auto give_up = Clock::now() + std::chrono::seconds(30);
  while (requests.load() < 2 && Clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_EQ(requests.load(), 2) << run.Stderr();
  std::this_thread::sleep_for(milliseconds(1000));  // Waiting on the silent server.
  Interrupted got = Interrupt(run);
  EXPECT_LT(got.took, std::chrono::seconds(2)) << got.outcome.err;
  EXPECT_EQ(got.outcome.exit_code, 0) << got.outcome.err;
  EXPECT_NE(got.outcome.err.find("stopped early"), std::string::npos) << got.outcome.err;
  EXPECT_EQ(Rows(data), 10);
}

// Item 8: an endless chunked body ends the run with a clear error, and the process's peak
// memory stays far below what the server sent.
TEST(HttpSource, EndlessBodyIsAClearErrorWithBoundedMemory) {
  constexpr uint64_t kFlood = uint64_t{1} << 30;  // What the server sends at most: 1 GiB.
  std::atomic<uint64_t> sent{0};
  RawServer server([&](int fd, const std::atomic<bool>& stopping) {
    RawServer::ReadRequest(fd, stopping);
    RawServer::SendAll(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    const std::string chunk = "10000\r\n" + std::string(0x10000, ' ') + "\r\n";
    while (!stopping && sent < kFlood && RawServer::SendAll(fd, chunk)) sent += 0x10000;
  });
  TempDir dir;
  // A page of 10 users at 1 MiB each: the cap is 11 MiB.
  Outcome outcome =
      RunSpate(dir, {"run", "--source", "randomuser", "--url", server.url(), "--page-size", "10",
                     "--count", "10", "--data-dir", dir.File("data")});
  EXPECT_EQ(outcome.exit_code, 1) << outcome.err;
  EXPECT_NE(outcome.err.find("the response body passed 11534336 bytes"), std::string::npos)
      << outcome.err;
  EXPECT_LT(sent.load(), kFlood);
  rusage usage{};
  ASSERT_EQ(getrusage(RUSAGE_CHILDREN, &usage), 0);
  EXPECT_LT(usage.ru_maxrss, 200 * 1024) << "peak RSS of spate in KiB";

  // --max-record-bytes moves the cap: 10 x 100,000 + 1 MiB.
  Outcome smaller = RunSpate(
      dir, {"run", "--source", "randomuser", "--url", server.url(), "--page-size", "10", "--count",
            "10", "--max-record-bytes", "100000", "--data-dir", dir.File("data2")});
  EXPECT_EQ(smaller.exit_code, 1) << smaller.err;
  EXPECT_NE(smaller.err.find("the response body passed 2048576 bytes"), std::string::npos)
      << smaller.err;
}

// Item 16, the issue's examples: --count 120 against a server that sends 70 users when asked
// for 50, one that caps pages at 48, and one whose pages start with a BOM: 120 rows each.
TEST(HttpSource, CountIsExactWhateverTheServerSends) {
  struct Case {
    const char* name;
    std::function<uint64_t(uint64_t)> sent;  // Users sent for `results` asked.
    bool bom;
  };
  const Case cases[] = {
      {"more", [](uint64_t results) { return results + 20; }, false},
      {"fewer", [](uint64_t results) { return std::min<uint64_t>(results, 48); }, false},
      {"bom", [](uint64_t results) { return results; }, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    HttpScript server([&](int, const httplib::Request& req, httplib::Response& res) {
      const uint64_t results = Param(req, "results");
      const uint64_t first = (Param(req, "page") - 1) * results;
      res.set_content((c.bom ? "\xEF\xBB\xBF" : "") + UserPage("count", first, c.sent(results)),
                      kJson);
    });
    TempDir dir;
    const std::string data = dir.File("data");
    Outcome outcome =
        RunSpate(dir, {"run", "--source", "randomuser", "--url", server.url(), "--seed", "count",
                       "--count", "120", "--page-size", "50", "--data-dir", data});
    ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
    EXPECT_EQ(Rows(data), 120);
    EXPECT_NE(outcome.err.find("120 rows stored"), std::string::npos) << outcome.err;
  }
}

// Item 5, the issue's example over HTTP: one user with `1e99999` (or deep nesting, or an
// invalid UTF-8 byte) used to fail its page, retried until the run failed. Now the run
// stores the other users and rejects that one.
TEST(HttpSource, OneBadUserIsOneRejectedRowNotAFailedRun) {
  const std::string bad_kinds[] = {
      R"({"dob":{"age":1e99999}})",
      "{\"name\":{\"first\":\"Ren\xff\"}}",
      "{\"deep\":" + std::string(3000, '[') + std::string(3000, ']') + "}",
  };
  for (const std::string& bad : bad_kinds) {
    SCOPED_TRACE(bad.substr(0, 40));
    HttpScript server([&](int, const httplib::Request& req, httplib::Response& res) {
      const uint64_t results = Param(req, "results");
      const uint64_t first = (Param(req, "page") - 1) * results;
      std::string page = UserPage("one-bad", first, results);
      if (first == 0) {
        // Replace the first user with the bad one.
        const std::string one = UserPage("one-bad", 0, 1);
        const std::string user = one.substr(12, one.size() - 14);
        page.replace(page.find(user), user.size(), bad);
      }
      res.set_content(page, kJson);
    });
    TempDir dir;
    const std::string data = dir.File("data");
    Outcome outcome =
        RunSpate(dir, {"run", "--source", "randomuser", "--url", server.url(), "--seed", "one-bad",
                       "--count", "20", "--page-size", "10", "--retries", "1", "--data-dir", data});
    ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
    EXPECT_EQ(Rows(data), 19);
    EXPECT_EQ(QueryInt(data, "SELECT count(*) FROM rejected_users"), 1);
    EXPECT_EQ(server.requests(), 2);  // No page retried.
  }
}

}  // namespace
}  // namespace spate
