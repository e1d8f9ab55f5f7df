// End to end: `spate run --http` as a user runs it. Records come through a FIFO at the
// test's pace, so the test knows what must show where; every endpoint is read over HTTP
// while the run is live, and the end is checked against the store.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "dashboard_rig.h"
#include "db_query.h"
#include "spate_process.h"

namespace spate {
namespace {

using testing::DashboardPort;
using testing::Eventually;
using testing::Fifo;
using testing::HttpGet;
using testing::Outcome;
using testing::QueryInt;
using testing::RunSpate;
using testing::SpateProcess;
using testing::TempDir;
using testing::UserLines;

// A field of /api/overview (totals.stored, ...); -1 when it cannot be read.
int64_t OverviewTotal(int port, const char* key) {
  auto r = HttpGet(port, "/api/overview");
  if (!r || r->status != 200) return -1;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(r->body).get(doc) != simdjson::SUCCESS) return -1;
  int64_t value = -1;
  if (doc["totals"][key].get(value) != simdjson::SUCCESS) return -1;
  return value;
}

// Every sample line of a Prometheus text exposition: `name{labels} value`, value a number.
// Returns the first line that is not, or "" when all are.
std::string BadExpositionLine(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE ")) continue;
    const size_t space = line.rfind(' ');
    if (space == std::string::npos || space == 0) return line;
    const std::string series = line.substr(0, space);
    const std::string value = line.substr(space + 1);
    char* end = nullptr;
    std::strtod(value.c_str(), &end);
    const bool number = end != value.c_str() && *end == '\0';
    const bool special = value == "+Inf" || value == "-Inf" || value == "NaN";
    if (!number && !special) return line;
    const size_t brace = series.find('{');
    const std::string name = series.substr(0, brace);
    if (name.empty() || !(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) {
      return line;
    }
    for (char c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != ':') return line;
    }
    if (brace != std::string::npos && series.back() != '}') return line;
  }
  return "";
}

// The value of one exact series in an exposition, or -1.
double SeriesValue(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::strtod(text.c_str() + at + series.size() + 2, nullptr);
}

TEST(HttpEndpoints, RunServesHealthMetricsAndApiWhileRecordsFlow) {
  TempDir dir;
  const std::string data = dir.File("data");
  Fifo fifo(dir.File("users.jsonl"));
  ASSERT_TRUE(fifo.ok());
  SpateProcess run(dir, {"run", "--input", fifo.path(), "--sink", "sqlite", "--data-dir", data,
                         "--http", "127.0.0.1:0", "--progress", "never"});
  ASSERT_TRUE(fifo.OpenWriter());
  const int port = DashboardPort(run);
  ASSERT_GT(port, 0) << run.Stderr();

  auto health = HttpGet(port, "/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_NE(health->body.find("\"status\":\"ok\""), std::string::npos) << health->body;
  // Ready once the SQLite sink has opened (and the file source is open).
  EXPECT_TRUE(Eventually([&] {
    auto r = HttpGet(port, "/readyz");
    return r && r->status == 200;
  })) << HttpGet(port, "/readyz")->body;
  auto ready = HttpGet(port, "/readyz");
  EXPECT_NE(ready->body.find("\"name\":\"sink sqlite\",\"ready\":true"), std::string::npos)
      << ready->body;

  // The totals move as records come.
  ASSERT_TRUE(fifo.Write(UserLines(0, 100)));
  ASSERT_TRUE(Eventually([&] { return OverviewTotal(port, "stored") == 100; }))
      << HttpGet(port, "/api/overview")->body;
  EXPECT_EQ(OverviewTotal(port, "ingested"), 100);
  ASSERT_TRUE(fifo.Write(UserLines(100, 150)));
  ASSERT_TRUE(fifo.Write(R"({"name":"<script>alert(1)</script>","bad":"\u0001"})"
                         "\n"));
  EXPECT_TRUE(Eventually([&] { return OverviewTotal(port, "stored") == 250; }))
      << HttpGet(port, "/api/overview")->body;
  EXPECT_TRUE(Eventually([&] { return OverviewTotal(port, "dead_letters") == 1; }))
      << HttpGet(port, "/api/overview")->body;

  // /metrics: a valid exposition with the same numbers.
  auto metrics = HttpGet(port, "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(BadExpositionLine(metrics->body), "") << metrics->body;
  EXPECT_EQ(SeriesValue(metrics->body, R"(spate_sink_rows_total{pipeline="run",sink="sqlite"})"),
            250)
      << metrics->body;
  EXPECT_EQ(SeriesValue(metrics->body, R"(spate_build_info{version="0.1.0",command="run"})"), 1)
      << metrics->body;

  // The hostile record is in the feed, as inert JSON.
  auto dead = HttpGet(port, "/api/dead_letters");
  ASSERT_TRUE(dead);
  EXPECT_EQ(dead->status, 200);
  EXPECT_EQ(dead->body.find('<'), std::string::npos) << dead->body;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(dead->body).get(doc), simdjson::SUCCESS) << dead->body;
  ASSERT_EQ(doc["dead_letters"].get_array().size(), 1u) << dead->body;
  EXPECT_NE(std::string_view(doc["dead_letters"].at(0)["raw"]).find("<script>alert(1)</script>"),
            std::string_view::npos)
      << dead->body;

  auto landed = HttpGet(port, "/api/landed");
  ASSERT_TRUE(landed);
  ASSERT_EQ(parser.parse(landed->body).get(doc), simdjson::SUCCESS) << landed->body;
  EXPECT_EQ(int64_t(doc["rows"]), 250) << landed->body;

  EXPECT_TRUE(Eventually([&] {
    auto r = HttpGet(port, "/api/series?seconds=60");
    return r && r->status == 200 && r->body.find("\"input_rate\"") != std::string::npos;
  })) << "a point a second";
  auto page = HttpGet(port, "/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(HttpGet(port, "/nope")->status, 404);

  // The end of the input ends the run; the server goes with it.
  fifo.Close();
  const Outcome outcome = run.Wait();
  EXPECT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_EQ(QueryInt(data, "SELECT count(*) FROM created_users"), 250);
  EXPECT_NE(outcome.err.find("250 rows stored, 1 rejected"), std::string::npos) << outcome.err;
  EXPECT_FALSE(HttpGet(port, "/healthz")) << "the server stopped with the process";
}

// The run's end with a scraper: it waits for one scrape of the final totals, and that
// scrape has them. The test is the scraper, so it decides when that scrape comes.
TEST(HttpEndpoints, AScrapedRunWaitsForTheScrapeOfItsFinalTotals) {
  TempDir dir;
  const std::string data = dir.File("data");
  Fifo fifo(dir.File("users.jsonl"));
  ASSERT_TRUE(fifo.ok());
  SpateProcess run(dir, {"run", "--input", fifo.path(), "--sink", "sqlite", "--data-dir", data,
                         "--http", "127.0.0.1:0", "--progress", "never"});
  ASSERT_TRUE(fifo.OpenWriter());
  const int port = DashboardPort(run);
  ASSERT_GT(port, 0) << run.Stderr();
  ASSERT_TRUE(fifo.Write(UserLines(0, 300)));
  ASSERT_TRUE(Eventually([&] { return OverviewTotal(port, "stored") == 300; }));
  // Two scrapes half a second apart: a scraper with that interval.
  ASSERT_TRUE(HttpGet(port, "/metrics"));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(HttpGet(port, "/metrics"));

  ASSERT_TRUE(fifo.Write(UserLines(300, 200)));
  fifo.Close();
  ASSERT_TRUE(Eventually([&] { return run.Stderr().find("waiting up to") != std::string::npos; }))
      << run.Stderr();
  // The summary came first; the server still answers, and says the run is over.
  EXPECT_NE(run.Stderr().find("500 rows stored"), std::string::npos) << run.Stderr();
  auto overview = HttpGet(port, "/api/overview");
  ASSERT_TRUE(overview);
  EXPECT_NE(overview->body.find("\"state\":\"finished\""), std::string::npos) << overview->body;
  auto last = HttpGet(port, "/metrics");
  ASSERT_TRUE(last);
  EXPECT_EQ(SeriesValue(last->body, R"(spate_sink_rows_total{pipeline="run",sink="sqlite"})"), 500)
      << "the scrape it waited for holds the final totals";

  const Outcome outcome = run.Wait(std::chrono::seconds(30));
  EXPECT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_EQ(QueryInt(data, "SELECT count(*) FROM created_users"), 500);
}

// No scrape comes: the wait ends by itself (twice the interval plus 2 s), or at once on
// Ctrl-C, and neither changes the exit code.
TEST(HttpEndpoints, TheWaitForAScrapeIsBoundedAndCtrlCSkipsIt) {
  for (const bool interrupt : {false, true}) {
    TempDir dir;
    Fifo fifo(dir.File("users.jsonl"));
    ASSERT_TRUE(fifo.ok());
    SpateProcess run(dir, {"run", "--input", fifo.path(), "--sink", "discard", "--http",
                           "127.0.0.1:0", "--progress", "never"});
    ASSERT_TRUE(fifo.OpenWriter());
    const int port = DashboardPort(run);
    ASSERT_GT(port, 0) << run.Stderr();
    ASSERT_TRUE(fifo.Write(UserLines(0, 10)));
    // A scraper every half second that stops scraping just before the end.
    ASSERT_TRUE(HttpGet(port, "/metrics"));
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    ASSERT_TRUE(HttpGet(port, "/metrics"));
    fifo.Close();
    ASSERT_TRUE(Eventually([&] { return run.Stderr().find("waiting up to") != std::string::npos; }))
        << run.Stderr();
    if (interrupt) run.Signal(SIGINT);
    const Outcome outcome = run.Wait(std::chrono::seconds(30));
    EXPECT_EQ(outcome.exit_code, 0) << (interrupt ? "Ctrl-C during the wait: " : "") << outcome.err;
    EXPECT_EQ(outcome.err.find("aborted"), std::string::npos) << outcome.err;
    EXPECT_NE(outcome.err.find("10 rows and 0 dead letters discarded"), std::string::npos)
        << outcome.err;
  }
}

// Without a scraper (the page only, or nothing) the run ends as soon as it is done.
TEST(HttpEndpoints, AnUnscrapedRunDoesNotWait) {
  TempDir dir;
  const Outcome outcome = RunSpate(dir, {"run", "--count", "1000", "--sink", "discard", "--http",
                                         "127.0.0.1:0", "--progress", "never"});
  EXPECT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_NE(outcome.err.find("dashboard: http://127.0.0.1:"), std::string::npos) << outcome.err;
  EXPECT_EQ(outcome.err.find("waiting up to"), std::string::npos) << outcome.err;
}

TEST(HttpEndpoints, OffUnlessAsked) {
  TempDir dir;
  const Outcome outcome =
      RunSpate(dir, {"run", "--count", "10", "--sink", "discard", "--progress", "never"});
  EXPECT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_EQ(outcome.err.find("dashboard:"), std::string::npos) << outcome.err;
}

TEST(HttpEndpoints, BadAddressesAreUsageErrors) {
  TempDir dir;
  for (const char* address : {"70000", "127.0.0.1:-1", "abc:9464", "1.2.3:80", "::1:80",
                              "127.0.0.1:", "127.0.0.1:80x", "[::1]", "example.com:9464"}) {
    const Outcome outcome =
        RunSpate(dir, {"run", "--count", "10", "--sink", "discard", "--http", address});
    EXPECT_EQ(outcome.exit_code, 2) << address << ": " << outcome.err;
    EXPECT_NE(outcome.err.find("http"), std::string::npos) << outcome.err;
    EXPECT_NE(outcome.err.find(address), std::string::npos)
        << "the message quotes what was given: " << outcome.err;
  }
  // Only the long-running commands take it.
  const Outcome query = RunSpate(dir, {"query", "--http", "9464"});
  EXPECT_EQ(query.exit_code, 2) << query.err;
}

TEST(HttpEndpoints, HelpSaysHowToTurnItOnAndThatItBindsLoopback) {
  TempDir dir;
  for (const char* command : {"run", "produce", "process"}) {
    const Outcome help = RunSpate(dir, {command, "--help"});
    EXPECT_EQ(help.exit_code, 0);
    const std::string text = help.out + help.err;
    EXPECT_NE(text.find("--http"), std::string::npos) << command << ": " << text;
    EXPECT_NE(text.find("127.0.0.1"), std::string::npos) << text;
    EXPECT_NE(text.find("(default: off)"), std::string::npos) << text;
  }
}

TEST(HttpEndpoints, ABusyPortStopsTheRunBeforeAnythingIsStored) {
  TempDir dir;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t length = sizeof(addr);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length), 0);
  const std::string port = std::to_string(ntohs(addr.sin_port));

  const std::string data = dir.File("data");
  const Outcome outcome =
      RunSpate(dir, {"run", "--count", "100", "--data-dir", data, "--http", "127.0.0.1:" + port});
  ::close(fd);
  EXPECT_EQ(outcome.exit_code, 2) << outcome.err;
  EXPECT_NE(outcome.err.find("in use"), std::string::npos) << outcome.err;
  EXPECT_NE(outcome.err.find(port), std::string::npos) << outcome.err;
  EXPECT_EQ(QueryInt(data, "SELECT count(*) FROM created_users"), -1) << "no store was opened";
}

}  // namespace
}  // namespace spate
