// A real Prometheus (Debian's /usr/bin/prometheus) scrapes `spate run --http` on loopback
// every second; the test asks Prometheus' HTTP API for spate's series while the run is live
// and after it ended, and checks them against the store. Records come through a FIFO, so the
// test decides when the run has taken what and when it ends.
//
// The last scrape: a run's final totals reach Prometheus only if it scrapes after the
// pipeline ended. spate waits for that scrape when it has seen a scraper (cmd_run.cc,
// AwaitFinalScrape), so the last value Prometheus holds must equal what the store holds.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

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
using testing::FreePort;
using testing::HttpGet;
using testing::Outcome;
using testing::QueryInt;
using testing::ReadFile;
using testing::SpateProcess;
using testing::TempDir;
using testing::UserLines;

constexpr const char* kPrometheus = "/usr/bin/prometheus";

// Prometheus as a child process with its own config and storage in `dir`; stopped (SIGTERM,
// then SIGKILL) by the destructor, so no test leaves it behind.
class Prometheus {
 public:
  Prometheus(const TempDir& dir, int target_port)
      : port_(FreePort()), log_(dir.File("prometheus.log")) {
    const std::string config = dir.File("prometheus.yml");
    std::ofstream(config) << "global:\n"
                             "  scrape_interval: 1s\n"
                             "  scrape_timeout: 1s\n"
                             "scrape_configs:\n"
                             "  - job_name: spate\n"
                             "    static_configs:\n"
                             "      - targets: ['127.0.0.1:"
                          << target_port << "']\n";
    std::vector<std::string> args = {
        kPrometheus, "--config.file=" + config, "--storage.tsdb.path=" + dir.File("tsdb"),
        "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    if (posix_spawn(&pid_, kPrometheus, &actions, &attr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  ~Prometheus() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  Prometheus(const Prometheus&) = delete;
  Prometheus& operator=(const Prometheus&) = delete;

  bool started() const { return pid_ > 0 && port_ > 0; }
  int port() const { return port_; }
  std::string Log() const { return ReadFile(log_); }
  // Ready, and scraping the target already (up is 0 while nothing listens there): Prometheus
  // hands new targets to its scrapers only every 5 s, so "ready" alone is not yet scraping.
  bool Scraping() const {
    auto r = HttpGet(port_, "/-/ready");
    return r && r->status == 200 && Query(R"(up{job="spate"})").has_value();
  }

  // The value of an instant query that yields one series; nullopt when it yields none.
  std::optional<double> Query(const std::string& promql) const {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(10, 0);
    auto r = client.Get("/api/v1/query", httplib::Params{{"query", promql}}, httplib::Headers{});
    if (!r || r->status != 200) return std::nullopt;
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(r->body).get(doc) != simdjson::SUCCESS) return std::nullopt;
    simdjson::dom::array result;
    if (doc["data"]["result"].get(result) != simdjson::SUCCESS || result.size() != 1) {
      return std::nullopt;
    }
    std::string_view value;
    if (result.at(0)["value"].at(1).get(value) != simdjson::SUCCESS) return std::nullopt;
    return std::strtod(std::string(value).c_str(), nullptr);
  }

 private:
  int port_;
  std::string log_;
  pid_t pid_ = -1;
};

TEST(PrometheusScrape, PrometheusHoldsTheTotalsTheStoreHolds) {
  TempDir dir;
  const int spate_port = FreePort();
  ASSERT_GT(spate_port, 0);
  Prometheus prometheus(dir, spate_port);
  ASSERT_TRUE(prometheus.started());
  ASSERT_TRUE(Eventually([&] { return prometheus.Scraping(); })) << prometheus.Log();

  const std::string data = dir.File("data");
  Fifo fifo(dir.File("users.jsonl"));
  ASSERT_TRUE(fifo.ok());
  SpateProcess run(dir,
                   {"run", "--input", fifo.path(), "--sink", "sqlite", "--data-dir", data, "--http",
                    "127.0.0.1:" + std::to_string(spate_port), "--progress", "never"});
  ASSERT_TRUE(fifo.OpenWriter());
  ASSERT_EQ(DashboardPort(run), spate_port) << run.Stderr();

  // Live: Prometheus sees the rows while the run goes on.
  const std::string rows = R"(spate_sink_rows_total{job="spate",pipeline="run",sink="sqlite"})";
  ASSERT_TRUE(fifo.Write(UserLines(0, 1000)));
  EXPECT_TRUE(Eventually([&] { return prometheus.Query(rows) == 1000.0; }))
      << "Prometheus has " << prometheus.Query(rows).value_or(-1) << "\n"
      << run.Stderr() << prometheus.Log();
  EXPECT_EQ(prometheus.Query(R"(spate_build_info{job="spate"})"), 1.0);
  EXPECT_EQ(prometheus.Query(R"(up{job="spate"})"), 1.0);

  // More, then the end of the input ends the run.
  ASSERT_TRUE(fifo.Write(UserLines(1000, 1234)));
  ASSERT_TRUE(fifo.Write("{\"not\": \"a user\"}\n"));
  fifo.Close();
  const Outcome outcome = run.Wait();
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  // Whether spate had to wait for that scrape ("waiting up to ... for the next scrape")
  // depends on where Prometheus' schedule fell; http_endpoints_test checks the wait itself
  // with a scraper it controls.

  const int64_t stored = QueryInt(data, "SELECT count(*) FROM created_users");
  const int64_t rejected = QueryInt(data, "SELECT count(*) FROM rejected_users");
  ASSERT_EQ(stored, 2234);
  ASSERT_EQ(rejected, 1);
  // The last sample Prometheus took. (An instant query at "now" would find nothing: the
  // scrapes after spate exited failed, and Prometheus marked the series stale.)
  auto last = [&](const std::string& series) {
    return prometheus.Query("last_over_time(" + series + "[10m])");
  };
  EXPECT_EQ(last(rows), static_cast<double>(stored)) << outcome.err;
  EXPECT_EQ(last(R"(spate_sink_rejected_total{job="spate",pipeline="run",sink="sqlite"})"),
            static_cast<double>(rejected));
  EXPECT_EQ(last(R"(spate_source_records_total{job="spate",pipeline="run",source="file"})"),
            static_cast<double>(stored + rejected));
  EXPECT_EQ(prometheus.Query(R"(sum(last_over_time(spate_dead_letters_total{job="spate"}[10m])))"),
            static_cast<double>(rejected));
}

// The issue's case: a steady `spate run --rate` stream, scraped while it runs; at the end
// Prometheus' last value is what the store holds.
TEST(PrometheusScrape, ARateLimitedRunIsScrapedUntilItsEnd) {
  TempDir dir;
  const int spate_port = FreePort();
  ASSERT_GT(spate_port, 0);
  Prometheus prometheus(dir, spate_port);
  ASSERT_TRUE(prometheus.started());
  ASSERT_TRUE(Eventually([&] { return prometheus.Scraping(); })) << prometheus.Log();

  const std::string data = dir.File("data");
  SpateProcess run(
      dir, {"run", "--rate", "2000", "--duration", "6s", "--sink", "sqlite", "--data-dir", data,
            "--http", "127.0.0.1:" + std::to_string(spate_port), "--progress", "never"});
  ASSERT_EQ(DashboardPort(run), spate_port) << run.Stderr();
  const std::string rows = R"(spate_sink_rows_total{job="spate",pipeline="run",sink="sqlite"})";
  // Scraped mid-run: some rows, not yet all.
  EXPECT_TRUE(Eventually([&] { return prometheus.Query(rows).value_or(0) > 0; }))
      << run.Stderr() << prometheus.Log();
  const Outcome outcome = run.Wait();
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  const int64_t stored = QueryInt(data, "SELECT count(*) FROM created_users");
  ASSERT_GT(stored, 0);
  EXPECT_EQ(prometheus.Query("last_over_time(" + rows + "[10m])"), static_cast<double>(stored))
      << outcome.err;
  EXPECT_EQ(
      prometheus.Query(
          R"(last_over_time(spate_source_records_total{job="spate",pipeline="run",source="generator"}[10m]))"),
      static_cast<double>(stored));
  // More than one scrape saw the rows grow: it was scraped while it ran.
  EXPECT_GE(prometheus.Query("count_over_time(" + rows + "[10m])").value_or(0), 3) << outcome.err;
}

}  // namespace
}  // namespace spate
