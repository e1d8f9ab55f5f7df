// End to end (issue 19): --where, --rule and the analytics config keys, with the real
// binary and the SQLite database it writes.
#include <gtest/gtest.h>

#include <charconv>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "db_query.h"
#include "kafka_rig.h"
#include "spate_process.h"

namespace spate {
namespace {

using spate::testing::Fixture;
using spate::testing::KafkaRig;
using spate::testing::Outcome;
using spate::testing::QueryInt;
using spate::testing::QueryStrings;
using spate::testing::RunSpate;
using spate::testing::TempDir;

int64_t Count(const std::string& data_dir, const std::string& sql) {
  const int64_t n = QueryInt(data_dir, sql);
  EXPECT_GE(n, 0) << "cannot query " << data_dir << "/spate.db: " << sql;
  return n;
}

// The number after `label` in the summary ("filtered: 1,234 rows"), -1 if absent.
int64_t SummaryNumber(const std::string& err, const std::string& label) {
  const size_t at = err.find(label);
  if (at == std::string::npos) return -1;
  std::string digits;
  for (size_t i = at + label.size(); i < err.size() && (isdigit(err[i]) || err[i] == ','); ++i) {
    if (err[i] != ',') digits.push_back(err[i]);
  }
  int64_t n = -1;
  std::from_chars(digits.data(), digits.data() + digits.size(), n);
  return n;
}

std::string WriteFile(const TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.File(name);
  std::ofstream(path) << text;
  return path;
}

constexpr const char* kWhere = "gender = 'female' and age >= 30";
constexpr const char* kMatching = "gender = 'female' AND age >= 30";  // The same, in SQL.

TEST(AnalyticsFilter, WhereStoresOnlyMatchingRowsAndCountsTheRestAsFiltered) {
  TempDir dir;
  const std::string all = dir.File("all");
  const std::string some = dir.File("some");
  // The same users unfiltered: which of them the filter must keep.
  Outcome everything = RunSpate(dir, {"run", "--count", "3000", "--data-dir", all});
  ASSERT_EQ(everything.exit_code, 0) << everything.err;
  const int64_t matching =
      Count(all, std::string("SELECT count(*) FROM created_users WHERE ") + kMatching);
  ASSERT_GT(matching, 100);
  ASSERT_LT(matching, 2900);

  Outcome filtered =
      RunSpate(dir, {"run", "--count", "3000", "--data-dir", some, "--where", kWhere});
  ASSERT_EQ(filtered.exit_code, 0) << filtered.err;
  EXPECT_EQ(Count(some, "SELECT count(*) FROM created_users"), matching);
  EXPECT_EQ(
      Count(some, std::string("SELECT count(*) FROM created_users WHERE NOT (") + kMatching + ")"),
      0);
  // The same users: every kept id is one the unfiltered run stored as matching.
  EXPECT_EQ(QueryStrings(some, "SELECT id FROM created_users"),
            QueryStrings(all, std::string("SELECT id FROM created_users WHERE ") + kMatching));
  // Filtered is not rejected: no dead letters.
  EXPECT_EQ(Count(some, "SELECT count(*) FROM rejected_users"), 0);
  EXPECT_EQ(SummaryNumber(filtered.err, "  filtered: "), 3000 - matching) << filtered.err;
  EXPECT_NE(filtered.err.find(std::string("rows (where: ") + kWhere + ")"), std::string::npos)
      << filtered.err;
}

TEST(AnalyticsFilter, ABadWhereExitsTwoNamingTheOptionAndThePosition) {
  TempDir dir;
  const std::string data = dir.File("data");
  Outcome bad = RunSpate(dir, {"run", "--count", "10", "--data-dir", data, "--where",
                               "gender = 'female' and contry = 'France'"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("--where: at 23 ('contry'): unknown column 'contry'"), std::string::npos)
      << bad.err;
  EXPECT_NE(bad.err.find("did you mean 'country'?"), std::string::npos) << bad.err;
  EXPECT_EQ(QueryInt(data, "SELECT count(*) FROM created_users"), -1) << "nothing was made";

  Outcome types =
      RunSpate(dir, {"run", "--count", "10", "--data-dir", data, "--where", "age = 'x'"});
  EXPECT_EQ(types.exit_code, 2) << types.err;
  EXPECT_NE(types.err.find("--where: at "), std::string::npos) << types.err;

  Outcome rule =
      RunSpate(dir, {"run", "--count", "10", "--data-dir", data, "--rule", "ok:maybe:age > 1"});
  EXPECT_EQ(rule.exit_code, 2) << rule.err;
  EXPECT_NE(rule.err.find("--rule: rule ok: unknown action 'maybe'"), std::string::npos)
      << rule.err;

  Outcome twice = RunSpate(dir, {"run", "--count", "10", "--data-dir", data, "--rule",
                                 "a:count:age > 1", "--rule", "a:reject:age > 2"});
  EXPECT_EQ(twice.exit_code, 2) << twice.err;
  EXPECT_NE(twice.err.find("rule a is given twice"), std::string::npos) << twice.err;
}

TEST(AnalyticsFilter, RejectRuleRowsLandInRejectedUsersWithTheRulesReason) {
  TempDir dir;
  const std::string all = dir.File("all");
  const std::string data = dir.File("data");
  Outcome everything = RunSpate(dir, {"run", "--count", "2000", "--data-dir", all});
  ASSERT_EQ(everything.exit_code, 0) << everything.err;
  const int64_t french = Count(all, "SELECT count(*) FROM created_users WHERE nat = 'FR'");
  const int64_t older =
      Count(all, "SELECT count(*) FROM created_users WHERE nat != 'FR' AND age >= 40");
  ASSERT_GT(french, 10);

  Outcome ruled = RunSpate(dir, {"run", "--count", "2000", "--data-dir", data, "--rule",
                                 "no_fr:reject:nat != 'FR'", "--rule", "young:count:age < 40"});
  ASSERT_EQ(ruled.exit_code, 0) << ruled.err;
  EXPECT_EQ(Count(data, "SELECT count(*) FROM created_users"), 2000 - french);
  EXPECT_EQ(Count(data, "SELECT count(*) FROM created_users WHERE nat = 'FR'"), 0);
  EXPECT_EQ(Count(data,
                  "SELECT count(*) FROM rejected_users WHERE reason = "
                  "'rule no_fr: nat != ''FR'''"),
            french);
  EXPECT_EQ(Count(data, "SELECT count(*) FROM rejected_users"), french);
  // The dead letter keeps the record: its id is the user's.
  EXPECT_EQ(Count(data,
                  "SELECT count(*) FROM rejected_users WHERE CAST(raw AS TEXT) LIKE "
                  "'%\"nat\":\"FR\"%'"),
            french);
  EXPECT_EQ(SummaryNumber(ruled.err, "  rule no_fr (reject): "), french) << ruled.err;
  EXPECT_EQ(SummaryNumber(ruled.err, "  rule young (count): "), older) << ruled.err;
  // Count rules store the row.
  EXPECT_EQ(Count(data, "SELECT count(*) FROM created_users WHERE age >= 40"), older);
}

TEST(AnalyticsFilter, RejectedRecordsKeepNoLoginSecrets) {
  // The fixture is an API response with login passwords and salts; every user breaks the
  // rule, so every record becomes a dead letter.
  TempDir dir;
  const std::string data = dir.File("data");
  const std::string input = WriteFile(dir, "users.json", Fixture("v1.4-111-users-all-nats.json"));
  Outcome run = RunSpate(
      dir, {"run", "--input", input, "--data-dir", data, "--rule", "nobody:reject:age < 0"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(Count(data, "SELECT count(*) FROM created_users"), 0);
  EXPECT_EQ(Count(data, "SELECT count(*) FROM rejected_users WHERE reason LIKE 'rule nobody:%'"),
            111);
  EXPECT_EQ(Count(data,
                  "SELECT count(*) FROM rejected_users WHERE CAST(raw AS TEXT) LIKE "
                  "'%password%' OR CAST(raw AS TEXT) LIKE '%b4IDg0fn%'"),
            0);
  EXPECT_EQ(Count(data,
                  "SELECT count(*) FROM rejected_users WHERE CAST(raw AS TEXT) LIKE "
                  "'%\"email\"%'"),
            111);
}

TEST(AnalyticsFilter, TheIssuesYamlConfigLoads) {
  TempDir dir;
  const std::string data = dir.File("data");
  const std::string config = WriteFile(dir, "spate.yaml",
                                       "aggregations:\n"
                                       "  - name: users_per_minute_by_country\n"
                                       "    window: 1m\n"
                                       "    group_by: [country]\n"
                                       "filter: gender = 'female' and age >= 30\n"
                                       "rules:\n"
                                       "  - name: valid_email\n"
                                       "    check: email matches '^[^@ ]+@[^@ ]+$'\n"
                                       "    action: reject\n");
  Outcome run = RunSpate(dir, {"run", "--config", config, "--count", "1000", "--data-dir", data});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(
      Count(data, std::string("SELECT count(*) FROM created_users WHERE NOT (") + kMatching + ")"),
      0);
  EXPECT_GT(Count(data, "SELECT count(*) FROM created_users"), 0);
  EXPECT_NE(
      run.err.find("aggregations: users_per_minute_by_country in sqlite " + data + "/spate.db"),
      std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("rule valid_email (reject): 0 rows"), std::string::npos) << run.err;
  // The table the issue asks for, over the rows the filter kept: one row per window and
  // country, users = that GROUP BY over created_users.
  EXPECT_EQ(Count(data, "SELECT sum(users) FROM users_per_minute_by_country"),
            Count(data, "SELECT count(*) FROM created_users"));
  EXPECT_EQ(Count(data, "SELECT count(*) FROM users_per_minute_by_country"),
            Count(data,
                  "SELECT count(DISTINCT strftime('%Y-%m-%dT%H:%M', ingested_at) || country) "
                  "FROM created_users"));
  EXPECT_EQ(Count(data,
                  "SELECT count(*) FROM (SELECT window_start, country, users FROM "
                  "users_per_minute_by_country EXCEPT SELECT strftime('%Y-%m-%dT%H:%M:00.000Z', "
                  "ingested_at), country, count(*) FROM created_users GROUP BY 1, 2)"),
            0);

  // Nested deeper than a list of values: the key and the line.
  const std::string nested = WriteFile(dir, "nested.yaml",
                                       "aggregations:\n"
                                       "  - name: a\n"
                                       "    window: 1m\n"
                                       "    group_by: {country: 1}\n");
  Outcome bad = RunSpate(dir, {"run", "--config", nested, "--data-dir", data});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("line 4: aggregations: 'group_by' is nested too deep"), std::string::npos)
      << bad.err;
}

TEST(AnalyticsFilter, ProduceRefusesThemAndCassandraAloneKeepsNoAggregations) {
  TempDir dir;
  Outcome produce = RunSpate(dir, {"produce", "--count", "1", "--where", "age > 1"});
  EXPECT_EQ(produce.exit_code, 2) << produce.err;
  EXPECT_NE(produce.err.find("--where: filters and aggregations apply where rows are made: run "
                             "or process"),
            std::string::npos)
      << produce.err;

  Outcome cassandra =
      RunSpate(dir, {"run", "--count", "1", "--sink", "cassandra", "--aggregate", "a:1m:country"});
  EXPECT_EQ(cassandra.exit_code, 2) << cassandra.err;
  EXPECT_NE(cassandra.err.find("the cassandra sink keeps no aggregations"), std::string::npos)
      << cassandra.err;
  EXPECT_NE(cassandra.err.find("not idempotent"), std::string::npos) << cassandra.err;

  Outcome aggregate =
      RunSpate(dir, {"run", "--count", "1", "--data-dir", dir.File("d"), "--aggregate", "a:1q"});
  EXPECT_EQ(aggregate.exit_code, 2) << aggregate.err;
  EXPECT_NE(aggregate.err.find("--aggregate: aggregation a: "), std::string::npos) << aggregate.err;
}

TEST(AnalyticsFilter, SchemaPrintsThePostgresAggregationTablesForAnAdmin) {
  TempDir dir;
  Outcome plain = RunSpate(dir, {"schema", "--sink", "postgres"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.out.find("per_min"), std::string::npos);

  Outcome with =
      RunSpate(dir, {"schema", "--sink", "postgres", "--aggregate", "per_min:1m:country"});
  ASSERT_EQ(with.exit_code, 0) << with.err;
  EXPECT_NE(with.out.find("CREATE TABLE \"per_min\""), std::string::npos) << with.out;
  EXPECT_NE(with.out.find("INSERT INTO spate_aggregations"), std::string::npos) << with.out;
  EXPECT_TRUE(with.out.starts_with(plain.out.substr(0, plain.out.find("COMMIT;"))));

  Outcome sqlite = RunSpate(dir, {"schema", "--sink", "sqlite", "--aggregate", "per_min:1m"});
  EXPECT_EQ(sqlite.exit_code, 2) << sqlite.err;
  EXPECT_NE(sqlite.err.find("--sink postgres only"), std::string::npos) << sqlite.err;
}

// process applies the filter too, and a row's ingested_at is its Kafka record's timestamp:
// reading the topic again later gives the same event times (the same aggregation windows).
TEST(AnalyticsFilter, ProcessFiltersAndReplaysGiveTheSameEventTimes) {
  KafkaRig::Options topic;
  topic.topics = {"users_created:3"};
  KafkaRig rig(topic);
  ASSERT_TRUE(rig.ok()) << rig.error();
  TempDir dir;
  auto kafka = [&](std::vector<std::string> args) {
    args.insert(args.end(), {"--brokers", rig.bootstrap(), "--progress", "never"});
    return args;
  };
  Outcome produced = RunSpate(dir, kafka({"produce", "--count", "1500"}));
  ASSERT_EQ(produced.exit_code, 0) << produced.err;

  const std::string all = dir.File("all");
  Outcome everything =
      RunSpate(dir, kafka({"process", "--group", "g0", "--exit-at-end", "--data-dir", all}));
  ASSERT_EQ(everything.exit_code, 0) << everything.err;
  ASSERT_EQ(Count(all, "SELECT count(*) FROM created_users"), 1500);
  const int64_t matching =
      Count(all, std::string("SELECT count(*) FROM created_users WHERE ") + kMatching);
  ASSERT_GT(matching, 50);

  // Later (at least a second, so process's own clock would differ), under another group.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const std::string some = dir.File("some");
  Outcome filtered = RunSpate(dir, kafka({"process", "--group", "g1", "--exit-at-end", "--data-dir",
                                          some, "--where", kWhere}));
  ASSERT_EQ(filtered.exit_code, 0) << filtered.err;
  EXPECT_EQ(Count(some, "SELECT count(*) FROM created_users"), matching);
  EXPECT_EQ(SummaryNumber(filtered.err, "  filtered: "), 1500 - matching) << filtered.err;
  const std::string times = "SELECT id || ' ' || ingested_at FROM created_users";
  const std::set<std::string> replayed = QueryStrings(some, times);
  EXPECT_EQ(replayed.size(), static_cast<size_t>(matching));
  EXPECT_EQ(replayed, QueryStrings(all, times + " WHERE " + kMatching));
}

}  // namespace
}  // namespace spate
