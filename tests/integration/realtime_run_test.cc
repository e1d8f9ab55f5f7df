// Real-time mode end to end (issue 18): the spate binary with --rate, --duration, --linger.
#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "db_query.h"
#include "spate_process.h"

namespace spate {
namespace {

using spate::testing::Outcome;
using spate::testing::QueryInt;
using spate::testing::RunSpate;
using spate::testing::SpateProcess;
using spate::testing::TempDir;

std::string WithThousands(int64_t n) {
  std::string digits = std::to_string(n);
  for (size_t i = digits.size(); i > 3; i -= 3) digits.insert(i - 3, ",");
  return digits;
}

TEST(RealtimeRun, RateForADurationStoresAboutRateTimesDurationAndReportsLatency) {
  TempDir dir;
  const std::string data = dir.File("data");
  const auto started = std::chrono::steady_clock::now();
  Outcome run = RunSpate(dir, {"run", "--rate", "5000", "--duration", "2s", "--sink", "sqlite",
                               "--data-dir", data, "--progress", "never"});
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(run.exit_code, 0) << run.err;
  // It ran for the duration, not until the default --count of 100,000.
  EXPECT_GE(took, std::chrono::seconds(2));
  const int64_t rows = QueryInt(data, "SELECT count(*) FROM created_users");
  EXPECT_GE(rows, 9000) << run.err;
  EXPECT_LE(rows, 10000) << run.err;
  EXPECT_NE(run.err.find(WithThousands(rows) + " rows stored"), std::string::npos) << run.err;
  // One latency line, over every row stored.
  // Parsed by hand: GCC 12's std::regex trips -Wmaybe-uninitialized in the ASan build.
  const std::string prefix = "\n  latency: ingest->stored p50 ";
  const size_t at = run.err.find(prefix);
  ASSERT_NE(at, std::string::npos) << run.err;
  EXPECT_EQ(run.err.find(prefix, at + 1), std::string::npos) << "one latency line: " << run.err;
  const std::string line = run.err.substr(at + 1, run.err.find('\n', at + 1) - at - 1);
  EXPECT_NE(line.find(", p99 "), std::string::npos) << line;
  EXPECT_NE(line.find(", max "), std::string::npos) << line;
  EXPECT_TRUE(line.ends_with(" (" + WithThousands(rows) + " rows)")) << line;
}

TEST(RealtimeRun, DurationWithoutCountHasNoCountLimitAndCountStillWins) {
  TempDir dir;
  Outcome unbounded = RunSpate(dir, {"run", "--duration", "300ms", "--sink", "discard"});
  ASSERT_EQ(unbounded.exit_code, 0) << unbounded.err;
  EXPECT_NE(unbounded.err.find("unbounded)"), std::string::npos) << unbounded.err;

  // Both given: whichever comes first; 50 records come long before a minute.
  const auto started = std::chrono::steady_clock::now();
  Outcome counted =
      RunSpate(dir, {"run", "--duration", "1m", "--count", "50", "--sink", "discard"});
  ASSERT_EQ(counted.exit_code, 0) << counted.err;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(50));
  EXPECT_NE(counted.err.find("spate run: 50 records"), std::string::npos) << counted.err;
}

TEST(RealtimeRun, CtrlCDuringAPacedWaitStopsPromptly) {
  TempDir dir;
  const std::string data = dir.File("data");
  // Two records a second, each waiting up to a minute for a batch to fill.
  SpateProcess spate(
      dir, {"run", "--rate", "2", "--linger", "1m", "--data-dir", data, "--progress", "never"});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (spate.Stderr().find("spate run:") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto interrupted = std::chrono::steady_clock::now();
  spate.Signal(SIGINT);
  Outcome outcome = spate.Wait(std::chrono::seconds(60));
  EXPECT_EQ(outcome.exit_code, 0) << outcome.err;
  // Far less than the minute the open batch would wait.
  EXPECT_LT(std::chrono::steady_clock::now() - interrupted, std::chrono::seconds(20));
}

TEST(RealtimeRun, FlagsApplyToRunAndProduceAndLingerToProcess) {
  TempDir dir;
  for (const char* command : {"run", "produce"}) {
    Outcome help = RunSpate(dir, {command, "--help"});
    EXPECT_EQ(help.exit_code, 0);
    // The options' own lines, not a mention in another's help.
    for (const char* flag :
         {"\n  --rate N ", "\n  --duration DURATION ", "\n  --linger DURATION "}) {
      EXPECT_NE(help.out.find(flag), std::string::npos) << command << " " << flag;
    }
  }
  Outcome process_help = RunSpate(dir, {"process", "--help"});
  EXPECT_NE(process_help.out.find("\n  --linger DURATION "), std::string::npos);
  EXPECT_EQ(process_help.out.find("\n  --rate "), std::string::npos);
  EXPECT_EQ(process_help.out.find("\n  --duration "), std::string::npos);
  EXPECT_EQ(RunSpate(dir, {"process", "--rate", "10"}).exit_code, 2);
  EXPECT_EQ(RunSpate(dir, {"run", "--rate", "-5"}).exit_code, 2);
  Outcome no_unit = RunSpate(dir, {"run", "--duration", "5"});
  EXPECT_EQ(no_unit.exit_code, 2);
  EXPECT_NE(no_unit.err.find("--duration"), std::string::npos) << no_unit.err;
}

}  // namespace
}  // namespace spate
