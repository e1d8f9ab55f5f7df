// The jobs file's properties (issue 20): `jobs` items as JSON objects, with the nested
// `options:` mapping; history_store and timezone.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config/config.h"
#include "schedule/job.h"

namespace spate {
namespace {

std::vector<std::string> Items(const std::string& yaml) {
  Config config;
  Status s = config.LoadYamlString(yaml, "jobs.yaml");
  EXPECT_TRUE(s.ok()) << s.message();
  return config.GetList("jobs");
}

std::string Error(const std::string& yaml) {
  Config config;
  Status s = config.LoadYamlString(yaml, "jobs.yaml");
  return s.ok() ? std::string("ok") : s.message();
}

TEST(ConfigJobs, TheIssuesExampleAsWritten) {
  const std::string yaml = R"(jobs:
  - name: tick
    schedule: every 1s
    run: run
    options: {count: 100, seed: tick}
    retries: 2
)";
  const std::vector<std::string> items = Items(yaml);
  EXPECT_EQ(items,
            std::vector<std::string>{R"({"name":"tick","schedule":"every 1s","run":"run",)"
                                     R"("options":{"count":"100","seed":"tick"},"retries":"2"})"});
  // And the scheduler reads it into the job the issue means.
  auto set = JobSet::Parse(items, "UTC", [](std::string_view, std::string_view) { return true; });
  ASSERT_TRUE(set.ok()) << set.status().message();
  const JobSpec& tick = set->jobs().front();
  EXPECT_EQ(tick.name, "tick");
  EXPECT_EQ(tick.schedule.interval_ms(), 1000);
  EXPECT_EQ(tick.command, "run");
  EXPECT_EQ(tick.options.at("count"), std::vector<std::string>{"100"});
  EXPECT_EQ(tick.options.at("seed"), std::vector<std::string>{"tick"});
  EXPECT_EQ(tick.retries, 2);
}

TEST(ConfigJobs, BlockOptionsListsAndTheSchedulersOwnSettings) {
  Config config;
  Status s = config.LoadYamlString(R"y(timezone: Europe/Berlin
history_store: postgres
data-dir: /var/lib/spate
jobs:
  - name: a
    schedule: "0 6 * * mon-fri"
    run: process
    options:
      sink: [sqlite, postgres]
      data-dir: ./a
      where: "country in ('Germany', 'France')"
    depends_on: [b, c]
  - name: b
    schedule: '@daily'
    run: produce
)y",
                                   "jobs.yaml");
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(config.GetString("timezone"), "Europe/Berlin");
  EXPECT_EQ(config.GetString("history_store"), "postgres");
  EXPECT_EQ(config.GetString("data_dir"), "/var/lib/spate");
  EXPECT_EQ(config.GetList("jobs"),
            (std::vector<std::string>{
                R"({"name":"a","schedule":"0 6 * * mon-fri","run":"process","options":)"
                R"({"sink":["sqlite","postgres"],"data-dir":"./a",)"
                R"j("where":"country in ('Germany', 'France')"},"depends_on":["b","c"]})j",
                R"({"name":"b","schedule":"@daily","run":"produce"})"}));
}

TEST(ConfigJobs, Defaults) {
  Config config;
  EXPECT_EQ(config.GetString("history_store"), "sqlite");
  EXPECT_EQ(config.GetString("timezone"), "UTC");
  EXPECT_TRUE(config.GetList("jobs").empty());
  // An empty list is no jobs (the scheduler then says so), not an error here.
  EXPECT_EQ(Items("jobs: []\n"), std::vector<std::string>{});
}

// The scheduler's commands take history_store and pg_dsn, not sink: a DSN given as a flag
// with the SQLite history would be read by nothing.
TEST(ConfigJobs, PgDsnIsReadOnlyWithThePostgresHistory) {
  const auto schedule_has = [](std::string_view p) {
    return p == "history_store" || p == "pg_dsn" || p == "data_dir";
  };
  Config config;
  ASSERT_TRUE(config.Set("pg_dsn", "host=db").ok());
  config.SetOrigin("pg_dsn", "--pg-dsn");
  EXPECT_EQ(config.CheckApplies("pg_dsn", schedule_has).message(),
            "--pg-dsn is read only with --history-store postgres (--history-store is sqlite by "
            "default): add --history-store postgres, or drop --pg-dsn");
  ASSERT_TRUE(config.Set("history_store", "postgres").ok());
  EXPECT_TRUE(config.CheckApplies("pg_dsn", schedule_has).ok());
  // run takes sink, not history_store: its rule is unchanged.
  const auto run_has = [](std::string_view p) { return p == "sink" || p == "pg_dsn"; };
  EXPECT_FALSE(config.CheckApplies("pg_dsn", run_has).ok());
}

TEST(ConfigJobs, MistakesAreErrorsWithTheLine) {
  EXPECT_EQ(Error("history_store: mysql\n"),
            "jobs.yaml: history_store: 'mysql' is not one of: sqlite, postgres");
  EXPECT_EQ(Error("job:\n  - name: a\n"), "jobs.yaml: unknown key 'job' (did you mean 'jobs'?)");
  // One mapping where a list is expected.
  EXPECT_EQ(Error("jobs:\n  name: a\n  run: run\n"),
            "jobs.yaml: line 2: jobs: expected a list of mappings: start each one with '- ' (- "
            "name: ...)");
  // Nested deeper than options: {key: value or [values]}.
  EXPECT_EQ(Error("jobs:\n  - name: a\n    options:\n      kafka:\n        acks: all\n"),
            "jobs.yaml: line 4: jobs: 'options.kafka' is nested too deep: give a value or a list "
            "of plain values ([a, b])");
  EXPECT_EQ(Error("jobs:\n  - name: a\n    options:\n      sink: [[sqlite]]\n"),
            "jobs.yaml: line 4: jobs: 'options.sink' is nested too deep: give a value or a list of "
            "plain values ([a, b])");
  // Only options may be a mapping.
  EXPECT_EQ(Error("jobs:\n  - name: a\n    retries: {a: 1}\n"),
            "jobs.yaml: line 3: jobs: 'retries' is nested too deep: give a value or a list of "
            "plain values ([a, b])");
  EXPECT_EQ(Error("jobs:\n  - name: a\n    options:\n      count: 1\n      count: 2\n"),
            "jobs.yaml: line 5: jobs: 'options.count' is given twice: keep one");
  EXPECT_EQ(Error("jobs:\n  - name: a\n    options:\n      count:\n"),
            "jobs.yaml: line 4: jobs: 'options.count' has no value");
  EXPECT_EQ(Error("jobs:\n  - name: a\n    options:\n"),
            "jobs.yaml: line 3: jobs: 'options' has no value");
  // The other mapping_items properties still take no nested mapping.
  EXPECT_EQ(Error("rules:\n  - name: r\n    options: {a: b}\n"),
            "jobs.yaml: line 3: rules: 'options' is nested too deep: give a value or a list of "
            "plain values ([a, b])");
}

}  // namespace
}  // namespace spate
