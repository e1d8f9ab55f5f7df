// The README's Kafka examples do not interfere with each other (issue 17, item 21):
// `run --transport kafka` processes exactly what it produced (a topic that already holds
// data, a `process` copy in the default group, another producer writing meanwhile), and the
// backfill example (`process --sink discard --exit-at-end`) moves no group's offsets. Also
// item 23: a `process` copy stopped with Ctrl-C is not "stopped early", and its rate is over
// the time it was busy.
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <csignal>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "db_query.h"
#include "kafka_rig.h"
#include "spate_process.h"

namespace spate {
namespace {

using spate::testing::CommittedOffsets;
using spate::testing::KafkaRig;
using spate::testing::KcatConsume;
using spate::testing::Outcome;
using spate::testing::QueryInt;
using spate::testing::RunSpate;
using spate::testing::SpateProcess;
using spate::testing::TempDir;
using spate::testing::WaitFor;
using namespace std::chrono_literals;

KafkaRig::Options Topic(const std::string& spec) {
  KafkaRig::Options options;
  options.topics = {spec};
  return options;
}

std::vector<std::string> Kafka(const KafkaRig& rig, std::vector<std::string> args) {
  args.insert(args.end(), {"--brokers", rig.bootstrap(), "--progress", "never"});
  return args;
}

int64_t Rows(const std::string& data) {
  return QueryInt(data, "SELECT count(*) FROM created_users");
}

// The number before `word` in the line of `text` that holds `line_start`.
double NumberBefore(const std::string& text, const std::string& line_start,
                    const std::string& word) {
  const size_t line = text.rfind(line_start);
  if (line == std::string::npos) return -1;
  const size_t at = text.find(word, line);
  if (at == std::string::npos) return -1;
  size_t begin = at;
  while (begin > line && (std::isdigit(static_cast<unsigned char>(text[begin - 1])) ||
                          text[begin - 1] == '.' || text[begin - 1] == ',')) {
    --begin;
  }
  std::string digits;
  for (size_t i = begin; i < at; ++i) {
    if (text[i] != ',') digits.push_back(text[i]);
  }
  return digits.empty() ? -1 : std::stod(digits);
}

TEST(KafkaIsolation, RunOnATopicThatHoldsDataStoresOnlyWhatItProduced) {
  KafkaRig rig(Topic("users_created:6"));
  ASSERT_TRUE(rig.ok()) << rig.error();
  TempDir dir;
  Outcome old = RunSpate(dir, Kafka(rig, {"produce", "--count", "700", "--seed", "old"}));
  ASSERT_EQ(old.exit_code, 0) << old.err;
  const std::string data = dir.File("data");
  Outcome run = RunSpate(dir, Kafka(rig, {"run", "--transport", "kafka", "--count", "300", "--seed",
                                          "new", "--data-dir", data}));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(Rows(data), 300);
  EXPECT_NE(run.err.find("300 records in"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("300 rows stored, 0 rejected"), std::string::npos) << run.err;
  EXPECT_EQ(KcatConsume(rig.bootstrap(), "users_created", "%k").size(), 1000u);
  // And again: a second run is not fed the first run's records either.
  Outcome again = RunSpate(dir, Kafka(rig, {"run", "--transport", "kafka", "--count", "200",
                                            "--seed", "newer", "--data-dir", dir.File("d2")}));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(Rows(dir.File("d2")), 200);
}

// Records another producer writes while the run goes on are in the run's offset range, but
// not its records: they are read past.
TEST(KafkaIsolation, RunIgnoresRecordsAnotherProducerWritesMeanwhile) {
  KafkaRig rig(Topic("users_created:3"));
  ASSERT_TRUE(rig.ok()) << rig.error();
  TempDir dir;
  SpateProcess other(
      dir, Kafka(rig, {"produce", "--count", "0", "--seed", "other", "--batch-size", "50"}));
  ASSERT_TRUE(WaitFor(
      [&] { return !KcatConsume(rig.bootstrap(), "users_created", "%k", 10s).empty(); }, 60s))
      << other.Stderr();
  const std::string data = dir.File("data");
  Outcome run = RunSpate(dir, Kafka(rig, {"run", "--transport", "kafka", "--count", "400", "--seed",
                                          "mine", "--data-dir", data}));
  other.Signal(SIGTERM);
  Outcome other_done = other.Wait(60s);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(Rows(data), 400);
  EXPECT_NE(run.err.find("400 rows stored"), std::string::npos) << run.err;
  ASSERT_EQ(other_done.exit_code, 0) << other_done.err;
  // The other producer did write in the meantime (else this test proves nothing).
  const double others = NumberBefore(other_done.err, "spate produce: ", " delivered");
  EXPECT_GT(others, 0) << other_done.err;
}

// The README's examples, on one cluster, in the order a user tries them: produce; a process
// copy in the default group; the backfill (discard, exit at end); run --transport kafka. None
// takes records from another or moves another's offsets.
TEST(KafkaIsolation, TheReadmeExamplesDoNotInterfereWithEachOther) {
  KafkaRig rig(Topic("users_created:6"));
  ASSERT_TRUE(rig.ok()) << rig.error();
  TempDir dir;
  // spate produce --count 1000
  Outcome produced = RunSpate(dir, Kafka(rig, {"produce", "--count", "1000", "--seed", "readme"}));
  ASSERT_EQ(produced.exit_code, 0) << produced.err;

  // spate process --sink discard --exit-at-end: the backfill, in the default group's name.
  Outcome backfill = RunSpate(dir, Kafka(rig, {"process", "--sink", "discard", "--exit-at-end"}));
  ASSERT_EQ(backfill.exit_code, 0) << backfill.err;
  EXPECT_NE(backfill.err.find("1,000 rows and 0 dead letters discarded"), std::string::npos)
      << backfill.err;
  // It committed nothing for the default group...
  std::string error;
  const auto committed =
      CommittedOffsets(rig.bootstrap(), "spate", "users_created", 6, 10s, &error);
  ASSERT_EQ(committed.size(), 6u) << error;
  for (const auto& [partition, offset] : committed) {
    EXPECT_EQ(offset, RD_KAFKA_OFFSET_INVALID) << "partition " << partition;
  }
  // ... and wrote nothing to the dead-letter topic.
  EXPECT_TRUE(KcatConsume(rig.bootstrap(), "users_created.dlq", "%k", 10s).empty());

  // spate process (the default group), left running.
  const std::string copy_data = dir.File("copy");
  SpateProcess copy(
      dir, Kafka(rig, {"process", "--data-dir", copy_data, "--kafka-opt", "session.timeout.ms=6000",
                       "--kafka-opt", "heartbeat.interval.ms=500"}));
  ASSERT_TRUE(WaitFor([&] { return Rows(copy_data) == 1000; }, 90s)) << copy.Stderr();
  std::this_thread::sleep_for(1500ms);  // Idle time, which its rate must not count.

  // spate run --transport kafka while the copy runs: all of its records are its own.
  const std::string run_data = dir.File("run");
  Outcome run = RunSpate(dir, Kafka(rig, {"run", "--transport", "kafka", "--count", "300", "--seed",
                                          "readme-run", "--data-dir", run_data}));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(Rows(run_data), 300);
  EXPECT_NE(run.err.find("300 rows stored"), std::string::npos) << run.err;
  // The copy, as a member of its group, gets them too.
  ASSERT_TRUE(WaitFor([&] { return Rows(copy_data) == 1300; }, 60s)) << copy.Stderr();

  // Ctrl-C is how a process copy ends: not "stopped early", and its rate is over the time it
  // had work, which is less than the time it ran.
  copy.Signal(SIGINT);
  Outcome copy_done = copy.Wait(60s);
  ASSERT_EQ(copy_done.exit_code, 0) << copy_done.err;
  EXPECT_EQ(copy_done.err.find("stopped early"), std::string::npos) << copy_done.err;
  EXPECT_NE(copy_done.err.find("1,300 rows stored"), std::string::npos) << copy_done.err;
  const double total = NumberBefore(copy_done.err, "spate process: ", " s (");
  const double busy = NumberBefore(copy_done.err, "spate process: ", " s it was busy");
  ASSERT_GT(total, 0) << copy_done.err;
  ASSERT_GE(busy, 0) << copy_done.err;
  EXPECT_LT(busy + 1.0, total) << copy_done.err;

  // A later `process` in the default group resumes where the copy committed: nothing left.
  Outcome later =
      RunSpate(dir, Kafka(rig, {"process", "--exit-at-end", "--data-dir", dir.File("later")}));
  ASSERT_EQ(later.exit_code, 0) << later.err;
  EXPECT_NE(later.err.find(" 0 rows stored"), std::string::npos) << later.err;
}

// The backfill example before any `process`: the default group then still starts at the
// beginning and stores everything.
TEST(KafkaIsolation, ABackfillWithDiscardLeavesTheDefaultGroupAtTheBeginning) {
  KafkaRig rig(Topic("users_created:6"));
  ASSERT_TRUE(rig.ok()) << rig.error();
  TempDir dir;
  Outcome produced = RunSpate(dir, Kafka(rig, {"produce", "--count", "400", "--seed", "bf"}));
  ASSERT_EQ(produced.exit_code, 0) << produced.err;
  Outcome backfill = RunSpate(dir, Kafka(rig, {"process", "--sink", "discard", "--exit-at-end"}));
  ASSERT_EQ(backfill.exit_code, 0) << backfill.err;
  const std::string data = dir.File("data");
  Outcome process = RunSpate(dir, Kafka(rig, {"process", "--exit-at-end", "--data-dir", data}));
  ASSERT_EQ(process.exit_code, 0) << process.err;
  EXPECT_EQ(Rows(data), 400);
}

}  // namespace
}  // namespace spate
