// The checks behind /readyz that the commands set: each sink's Open (OpenSinks), and the
// sources that need no connection (MakeSource).
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "app/components.h"
#include "observe/feeds.h"
#include "sinks/sqlite_sink.h"
#include "test_util.h"

namespace spate {
namespace {

const HealthCheck* Find(const std::vector<HealthCheck>& checks, const std::string& name) {
  auto it = std::find_if(checks.begin(), checks.end(),
                         [&](const HealthCheck& c) { return c.name == name; });
  return it == checks.end() ? nullptr : &*it;
}

TEST(DashboardHealth, OpenSinksSetsEachSinksCheck) {
  testing::TempDir dir;
  std::vector<std::unique_ptr<Sink>> sinks;
  sinks.push_back(std::make_unique<DiscardSink>());
  sinks.push_back(std::make_unique<SqliteSink>(dir.File("data")));
  ASSERT_TRUE(OpenSinks(sinks).ok());
  const auto checks = Health().Checks();
  ASSERT_NE(Find(checks, "sink discard"), nullptr);
  EXPECT_TRUE(Find(checks, "sink discard")->ready);
  ASSERT_NE(Find(checks, "sink sqlite"), nullptr);
  EXPECT_TRUE(Find(checks, "sink sqlite")->ready);
  EXPECT_TRUE(CloseSinks(sinks).ok());
}

TEST(DashboardHealth, ASinkThatCannotOpenIsNotReadyAndSaysWhy) {
  std::vector<std::unique_ptr<Sink>> sinks;
  // A data dir under a file: SQLite cannot create it.
  sinks.push_back(std::make_unique<SqliteSink>("/dev/null/spate"));
  const Status status = OpenSinks(sinks, "raw sink");
  ASSERT_FALSE(status.ok());
  const auto checks = Health().Checks();
  const HealthCheck* check = Find(checks, "raw sink sqlite");
  ASSERT_NE(check, nullptr);
  EXPECT_FALSE(check->ready);
  EXPECT_FALSE(check->detail.empty());
  EXPECT_FALSE(Health().Ready());
}

TEST(DashboardHealth, TheGeneratorIsReadyAtOnce) {
  Config config;
  auto source = MakeSource(config);
  ASSERT_TRUE(source.ok()) << source.status().message();
  const auto checks = Health().Checks();
  ASSERT_NE(Find(checks, "source generator"), nullptr);
  EXPECT_TRUE(Find(checks, "source generator")->ready);
}

}  // namespace
}  // namespace spate
