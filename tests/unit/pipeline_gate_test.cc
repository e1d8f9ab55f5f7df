// The process stage's RowGate (issue 19): what the filter, the rules and an aggregation's
// lateness do to a pipeline's rows, counts, dead letters, metrics and ingest times. The
// expected outcome of each record is worked out here in C++ from the transformed row, not
// with the predicate language under test.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "analytics/aggregate.h"
#include "analytics/expr.h"
#include "analytics/rules.h"
#include "observe/metrics.h"
#include "pipeline/pipeline.h"
#include "sources/generator.h"
#include "transforms/ingest.h"
#include "transforms/user_transform.h"

namespace spate {
namespace {

constexpr int64_t kBaseUs = 1'780'000'000'000'000;  // 2026-05-28, in microseconds.

UserGenerator Generator() {
  auto generator = UserGenerator::Create(GeneratorOptions{"gate", {}, false});
  EXPECT_TRUE(generator.ok());
  return std::move(generator).value();
}

// Generator users with ingest times chosen by the test (what Kafka's timestamps are), in
// batches of `per_batch`.
class TimedUsers final : public Source {
 public:
  TimedUsers(std::vector<int64_t> ingest_us, size_t per_batch)
      : generator_(Generator()), ingest_us_(std::move(ingest_us)), per_batch_(per_batch) {}
  Result<SourceState> Next(Batch& batch, size_t, std::stop_token) override {
    batch.origin = "timed";
    for (size_t n = 0; n < per_batch_ && next_ < ingest_us_.size(); ++n, ++next_) {
      RawRecord& record = batch.AddRecord();
      std::string json;
      generator_.AppendUser(next_, json);
      // Every other record in a buffer with room, as Kafka's consumer hands them out: the
      // row then takes that buffer (UserTransform::ApplyOwned) and record.json is the row's
      // old one.
      record.json.clear();
      if (next_ % 2 == 0) ReserveRecordBuffer(record.json, json.size());
      record.json.append(json);
      record.position = next_;
      record.ingest_us = ingest_us_[next_];
      ++batch.source_records;
    }
    return next_ == ingest_us_.size() ? SourceState::kFinished : SourceState::kHaveMore;
  }
  std::string Describe() const override { return "timed"; }
  std::string_view kind() const override { return "generator"; }

 private:
  UserGenerator generator_;
  const std::vector<int64_t> ingest_us_;
  const size_t per_batch_;
  size_t next_ = 0;
};

// What one generator user is, from its JSON through the transform on its own.
struct User {
  std::string json;
  std::string id;
  std::string gender;
  std::string nat;
  int64_t age = 0;
};
std::vector<User> Users(size_t n) {
  UserGenerator generator = Generator();
  UserTransform transform;
  std::vector<User> users;
  for (size_t i = 0; i < n; ++i) {
    User user;
    generator.AppendUser(i, user.json);
    Row row;
    EXPECT_TRUE(transform.Apply(user.json, 0, row).ok());
    user.id = std::string(row.id);
    user.gender = std::string(row.gender);
    user.nat = std::string(row.nat);
    user.age = row.age;
    users.push_back(std::move(user));
  }
  return users;
}

// Keeps what it is given: the rows' ids and event times, the dead letters, and whether each
// batch's ingest times cover exactly its rows.
class KeepingSink final : public Sink {
 public:
  Status Open() override { return Status::Ok(); }
  Status Write(const Batch& batch) override {
    std::lock_guard lock(mu);
    uint64_t runs = 0;
    for (const auto& [ingest_us, n] : batch.ingest_runs) runs += n;
    if (runs != batch.rows.size()) ++runs_mismatches;
    for (const Row& row : batch.rows) {
      ingested_at[std::string(row.id)] = row.ingested_at_ms;
      ingest_us[std::string(row.id)] = row.ingest_us;
    }
    for (const DeadLetter& letter : batch.dead) dead.push_back(letter);
    return Status::Ok();
  }
  Status Close() override { return Status::Ok(); }
  std::string Describe() const override { return "keeping"; }
  std::string_view kind() const override { return "sqlite"; }

  std::mutex mu;
  std::map<std::string, int64_t> ingested_at;  // By id.
  std::map<std::string, int64_t> ingest_us;
  std::vector<DeadLetter> dead;
  int runs_mismatches = 0;
};

std::vector<int64_t> Steady(size_t n) {
  std::vector<int64_t> times;
  for (size_t i = 0; i < n; ++i) times.push_back(kBaseUs + static_cast<int64_t>(i) * 1000);
  return times;
}

PipelineOptions Options(MetricsRegistry& metrics) {
  PipelineOptions options;
  options.batch_size = 40;
  options.queue_capacity = 2;
  options.metrics = &metrics;
  options.name = "run";
  return options;
}

double Value(const MetricsRegistry& metrics, std::string_view name, const MetricLabels& labels) {
  for (const MetricSample& sample : metrics.Collect()) {
    if (sample.name != name) continue;
    if (std::all_of(labels.begin(), labels.end(),
                    [&](const auto& l) { return sample.Label(l.first) == l.second; })) {
      return sample.value;
    }
  }
  ADD_FAILURE() << "no series " << name;
  return -1;
}

Predicate Parsed(std::string_view text) {
  auto predicate = Predicate::Parse(text);
  EXPECT_TRUE(predicate.ok()) << predicate.status().message();
  return std::move(predicate).value();
}

QualityRule Rule(std::string_view item) {
  auto rule = ParseRule(item);
  EXPECT_TRUE(rule.ok()) << rule.status().message();
  return std::move(rule).value();
}

TEST(PipelineGate, FilteredRowsAreNeitherStoredNorRejectedAndAreCounted) {
  constexpr size_t kUsers = 500;
  const std::vector<User> users = Users(kUsers);
  std::set<std::string> expected;
  for (const User& u : users) {
    if (u.gender == "female" && u.age >= 30) expected.insert(u.id);
  }
  ASSERT_GT(expected.size(), 20u);
  ASSERT_LT(expected.size(), kUsers - 20);

  MetricsRegistry metrics;
  TimedUsers source(Steady(kUsers), 40);
  KeepingSink sink;
  PipelineOptions options = Options(metrics);
  options.filter = Parsed("gender = 'female' and age >= 30");
  Pipeline pipeline(source, {&sink}, options);
  pipeline.Start();
  ASSERT_TRUE(pipeline.Wait().ok());

  std::set<std::string> stored;
  for (const auto& [id, at] : sink.ingested_at) stored.insert(id);
  EXPECT_EQ(stored, expected);
  EXPECT_TRUE(sink.dead.empty());
  EXPECT_EQ(sink.runs_mismatches, 0);  // Latency is observed for stored rows only.
  const PipelineStats& s = pipeline.stats();
  EXPECT_EQ(s.stored.load(), expected.size());
  EXPECT_EQ(s.rejected.load(), 0u);
  EXPECT_EQ(s.filtered.load(), kUsers - expected.size());
  EXPECT_EQ(Value(metrics, "spate_filtered_rows_total", {{"pipeline", "run"}}),
            static_cast<double>(kUsers - expected.size()));
  EXPECT_EQ(
      Value(metrics, "spate_process_records_total", {{"pipeline", "run"}, {"outcome", "row"}}),
      static_cast<double>(expected.size()));
  // Only stored rows are observed for ingest->stored latency.
  for (const MetricSample& sample : metrics.Collect()) {
    if (sample.name == "spate_end_to_end_latency_seconds") {
      EXPECT_EQ(sample.histogram.count, expected.size());
    }
  }
}

TEST(PipelineGate, RejectRulesMakeDeadLettersWithTheRuleAndTheRecordCountRulesOnlyCount) {
  constexpr size_t kUsers = 400;
  const std::vector<User> users = Users(kUsers);
  std::set<std::string> rejected;  // nat FR breaks no_fr.
  uint64_t old = 0;                // Kept rows of age >= 40 break young.
  for (const User& u : users) {
    if (u.nat == "FR") {
      rejected.insert(u.json);
    } else if (u.age >= 40) {
      ++old;
    }
  }
  ASSERT_GT(rejected.size(), 5u);
  ASSERT_GT(old, 5u);

  MetricsRegistry metrics;
  TimedUsers source(Steady(kUsers), 40);
  KeepingSink sink;
  PipelineOptions options = Options(metrics);
  options.rules = {Rule("no_fr:reject:nat != 'FR'"), Rule("young:count:age < 40")};
  Pipeline pipeline(source, {&sink}, options);
  pipeline.Start();
  ASSERT_TRUE(pipeline.Wait().ok());

  const PipelineStats& s = pipeline.stats();
  EXPECT_EQ(s.stored.load(), kUsers - rejected.size());
  EXPECT_EQ(sink.ingested_at.size(), kUsers - rejected.size());
  EXPECT_EQ(s.rejected.load(), rejected.size());
  EXPECT_EQ(s.filtered.load(), 0u);
  ASSERT_EQ(s.rule_violations.size(), 2u);
  EXPECT_EQ(s.rule_violations[0].load(), rejected.size());
  EXPECT_EQ(s.rule_violations[1].load(), old);
  ASSERT_EQ(sink.dead.size(), rejected.size());
  std::set<std::string> raws;
  for (const DeadLetter& letter : sink.dead) {
    EXPECT_EQ(letter.reason, "rule no_fr: nat != 'FR'");
    EXPECT_EQ(letter.origin, "timed");
    raws.insert(letter.raw);
  }
  // The record's bytes, through the one secret-safe rule every dead letter's bytes take.
  std::set<std::string> expected_raws;
  for (const std::string& json : rejected) expected_raws.insert(DeadLetterBytes(json));
  EXPECT_EQ(raws, expected_raws);
  EXPECT_EQ(sink.runs_mismatches, 0);
  EXPECT_EQ(Value(metrics, "spate_rule_violations_total",
                  {{"pipeline", "run"}, {"rule", "no_fr"}, {"action", "reject"}}),
            static_cast<double>(rejected.size()));
  EXPECT_EQ(Value(metrics, "spate_rule_violations_total",
                  {{"pipeline", "run"}, {"rule", "young"}, {"action", "count"}}),
            static_cast<double>(old));
  EXPECT_EQ(Value(metrics, "spate_dead_letters_total",
                  {{"pipeline", "run"}, {"stage", "process"}, {"reason", "rule_no_fr"}}),
            static_cast<double>(rejected.size()));
}

TEST(PipelineGate, IngestTimeIsTheRowsEventTimeAndLateRowsAreDeadLetters) {
  // Steady times, except that records 100 and 250 come 30 s earlier than the ones before
  // them: later than the 10 s lateness allows.
  constexpr size_t kUsers = 300;
  std::vector<int64_t> times = Steady(kUsers);
  times[100] -= 30'000'000;
  times[250] -= 30'000'000;
  const std::vector<User> users = Users(kUsers);
  auto spec = ParseAggregation(R"({"name":"per_minute","window":"1m","lateness":"10s"})");
  ASSERT_TRUE(spec.ok()) << spec.status().message();

  MetricsRegistry metrics;
  TimedUsers source(times, 40);
  KeepingSink sink;
  PipelineOptions options = Options(metrics);
  options.aggregations = {spec.value()};
  Pipeline pipeline(source, {&sink}, options);
  pipeline.Start();
  ASSERT_TRUE(pipeline.Wait().ok());

  const PipelineStats& s = pipeline.stats();
  EXPECT_EQ(s.stored.load(), kUsers - 2);
  EXPECT_EQ(s.late.load(), 2u);
  ASSERT_EQ(sink.dead.size(), 2u);
  for (const DeadLetter& letter : sink.dead) {
    EXPECT_TRUE(letter.reason.starts_with("late: ")) << letter.reason;
    EXPECT_NE(letter.reason.find("per_minute"), std::string::npos) << letter.reason;
    EXPECT_TRUE(letter.position == 100 || letter.position == 250) << letter.position;
  }
  for (size_t i = 0; i < kUsers; ++i) {
    auto it = sink.ingested_at.find(users[i].id);
    if (i == 100 || i == 250) {
      EXPECT_EQ(it, sink.ingested_at.end());
      continue;
    }
    ASSERT_NE(it, sink.ingested_at.end()) << i;
    // ingested_at is when the record entered spate, not when process made the row.
    EXPECT_EQ(it->second, times[i] / 1000) << i;
  }
  EXPECT_EQ(sink.runs_mismatches, 0);
}

TEST(PipelineGate, WithoutAGateNothingIsFilteredAndIngestTimeStillNamesTheRow) {
  constexpr size_t kUsers = 120;
  MetricsRegistry metrics;
  const std::vector<int64_t> times = Steady(kUsers);
  TimedUsers source(times, 40);
  KeepingSink sink;
  Pipeline pipeline(source, {&sink}, Options(metrics));
  pipeline.Start();
  ASSERT_TRUE(pipeline.Wait().ok());
  EXPECT_EQ(pipeline.stats().stored.load(), kUsers);
  EXPECT_EQ(pipeline.stats().filtered.load(), 0u);
  const std::vector<User> users = Users(kUsers);
  for (size_t i = 0; i < kUsers; ++i) {
    EXPECT_EQ(sink.ingested_at[users[i].id], times[i] / 1000) << i;
  }
  EXPECT_EQ(Value(metrics, "spate_filtered_rows_total", {{"pipeline", "run"}}), 0);
}

}  // namespace
}  // namespace spate
