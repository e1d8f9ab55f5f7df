// The pipeline's delivery rules with a scripted source and sinks.
#include "pipeline/pipeline.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>

#include "sinks/sqlite_sink.h"
#include "sources/generator.h"
#include "test_util.h"

namespace spate {
namespace {

GeneratorSource MakeSource(uint64_t count) {
  auto generator = UserGenerator::Create(GeneratorOptions{"seed", {}, false});
  EXPECT_TRUE(generator.ok());
  return GeneratorSource(std::move(generator).value(), count);
}

// Records what it is given; can be slowed down or told to fail.
class ScriptedSink final : public Sink {
 public:
  Status Open() override { return Status::Ok(); }
  Status Write(const Batch& batch) override {
    if (!script.empty()) {
      Status next = script.front();
      script.pop_front();
      if (!next.ok()) return next;
    }
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    rows += batch.rows.size();
    ++batches;
    return Status::Ok();
  }
  Status Close() override { return Status::Ok(); }
  std::string Describe() const override { return "scripted"; }
  bool group_commit() const override { return merge; }

  std::deque<Status> script;  // Results of the first Write calls, then ok.
  std::chrono::milliseconds delay{0};
  bool merge = false;  // group_commit()
  std::atomic<uint64_t> rows{0};
  std::atomic<uint64_t> batches{0};
};

PipelineOptions Options() {
  PipelineOptions options;
  options.batch_size = 100;
  options.queue_capacity = 2;
  options.sink_backoff_initial = std::chrono::milliseconds(1);
  return options;
}

TEST(Pipeline, DeliversEverything) {
  GeneratorSource source = MakeSource(1050);
  ScriptedSink sink;
  Pipeline pipeline(source, {&sink}, Options());
  pipeline.Start();
  ASSERT_TRUE(pipeline.Wait().ok());
  EXPECT_EQ(sink.rows, 1050u);
  EXPECT_EQ(pipeline.stats().stored, 1050u);
  EXPECT_EQ(pipeline.acknowledged_batches(), 11u);
}

// on_finished is how `spate` wakes its main thread at the end of a run: called exactly once,
// when every stage is done.
TEST(Pipeline, OnFinishedIsCalledOnceWhenEveryStageIsDone) {
  GeneratorSource source = MakeSource(250);
  ScriptedSink sink;
  PipelineOptions options = Options();
  std::atomic<int> calls{0};
  std::atomic<bool> done_when_called{false};
  Pipeline* self = nullptr;
  options.on_finished = [&] {
    done_when_called = self->Done();
    ++calls;
  };
  Pipeline pipeline(source, {&sink}, options);
  self = &pipeline;
  pipeline.Start();
  ASSERT_TRUE(pipeline.Wait().ok());
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(done_when_called);
  EXPECT_EQ(sink.rows, 250u);
}

// A pipelined sink that completes batches in reverse order of submission (a few at a time)
// and fails the first completion of batch 2 retriably, as Kafka's producer might.
class ReorderingSink final : public Sink {
 public:
  Status Open() override { return Status::Ok(); }
  Status Write(const Batch&) override { return Status::Fatal("pipelined only"); }
  Status Close() override { return Status::Ok(); }
  std::string Describe() const override { return "reordering"; }
  bool pipelined() const override { return true; }
  Status Submit(const Batch& batch) override {
    ++submits;
    max_in_flight = std::max(max_in_flight, pending.size() + 1);
    pending.push_back(batch.sequence);
    records += batch.records.size();
    return Status::Ok();
  }
  std::vector<Completion> Poll(std::chrono::milliseconds) override {
    std::vector<Completion> out;
    // Hold completions until two are pending (or the input may have ended: one).
    if (pending.size() < 2 && ++idle < 3) return out;
    idle = 0;
    while (!pending.empty()) {
      const uint64_t sequence = pending.back();
      pending.pop_back();
      if (sequence == 2 && !failed_once) {
        failed_once = true;
        out.push_back({sequence, Status::Retriable("leader moved")});
      } else {
        out.push_back({sequence, Status::Ok()});
      }
    }
    return out;
  }

  std::vector<uint64_t> pending;
  size_t max_in_flight = 0;
  int idle = 0;
  bool failed_once = false;
  uint64_t submits = 0;
  uint64_t records = 0;
};

// Records the order in which batches are acknowledged to it.
class OrderCheckingSource final : public Source {
 public:
  explicit OrderCheckingSource(uint64_t batches) : batches_(batches) {}
  Result<SourceState> Next(Batch& batch, size_t, std::stop_token) override {
    batch.origin = "test";
    for (int i = 0; i < 10; ++i) batch.records.emplace_back().json = "{}";
    batch.source_records = 10;
    return ++made_ == batches_ ? SourceState::kFinished : SourceState::kHaveMore;
  }
  void Acknowledge(uint64_t sequence) override { acked.push_back(sequence); }
  std::string Describe() const override { return "ordered"; }
  std::vector<uint64_t> acked;

 private:
  const uint64_t batches_;
  uint64_t made_ = 0;
};

TEST(Pipeline, PipelinedSinkIsAcknowledgedInOrderAndRetriedBatchesResubmitted) {
  OrderCheckingSource source(9);
  ReorderingSink sink;
  PipelineOptions options = Options();
  options.transform = false;  // Forward raw records, as produce does.
  options.queue_capacity = 4;
  Pipeline pipeline(source, {&sink}, options);
  pipeline.Start();
  ASSERT_TRUE(pipeline.Wait().ok());
  EXPECT_EQ(source.acked, (std::vector<uint64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(sink.submits, 10u);  // Nine batches, one of them twice.
  EXPECT_EQ(pipeline.stats().stored, 90u);
  EXPECT_EQ(pipeline.stats().sink_retries, 1u);
  EXPECT_GE(sink.max_in_flight, 2u);
  EXPECT_LE(sink.max_in_flight, 4u);  // Bounded by the window.
}

// A pipelined sink that reads each submitted batch until it reports it, as Kafka's producer
// does (it sends the records' bytes without copying them). Nothing is confirmed until the
// run is given up; the third Submit fails for good. Like the real sink, a failed Submit's
// batch is reported too.
class ReadsUntilReportedSink final : public Sink {
 public:
  Status Open() override { return Status::Ok(); }
  Status Write(const Batch&) override { return Status::Fatal("pipelined only"); }
  Status Close() override { return Status::Ok(); }
  std::string Describe() const override { return "reads until reported"; }
  bool pipelined() const override { return true; }
  void Interrupt() override { interrupted = true; }
  Status Submit(const Batch& batch) override {
    unreported.push_back(batch.sequence);
    if (++submits == 3) return Status::Fatal("the cluster is gone");
    for (const RawRecord& record : batch.records) held.emplace_back(&record.json, record.json);
    return Status::Ok();
  }
  std::vector<Completion> Poll(std::chrono::milliseconds) override {
    std::vector<Completion> out;
    if (!interrupted) return out;
    // Under ASan a freed batch is a crash here; otherwise its bytes are likely overwritten.
    for (const auto& [live, copy] : held) intact = intact && *live == copy;
    read_at_report += held.size();
    held.clear();
    for (const uint64_t sequence : unreported)
      out.push_back({sequence, Status::Cancelled("purged")});
    unreported.clear();
    return out;
  }

  std::atomic<bool> interrupted{false};
  int submits = 0;
  std::vector<std::pair<const std::string*, std::string>> held;  // Record text, its copy.
  std::vector<uint64_t> unreported;
  bool intact = true;
  size_t read_at_report = 0;
};

TEST(Pipeline, APipelinedSinksBatchesOutliveAFailureUntilItReportsThem) {
  GeneratorSource source = MakeSource(1000);
  ReadsUntilReportedSink sink;
  PipelineOptions options = Options();
  options.transform = false;  // Forward raw records, as produce does.
  options.batch_size = 10;
  options.queue_capacity = 4;
  Pipeline pipeline(source, {&sink}, options);
  pipeline.Start();
  const Status status = pipeline.Wait();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("the cluster is gone"), std::string::npos) << status.message();
  EXPECT_TRUE(sink.interrupted);
  EXPECT_EQ(sink.read_at_report, 20u);  // The two batches handed over, read at their report.
  EXPECT_TRUE(sink.intact);
  EXPECT_EQ(pipeline.acknowledged_batches(), 0u);
  EXPECT_EQ(pipeline.stats().stored, 0u);
}

// Runs an unbounded source into `sink` (slowed down) for half a second, then stops and
// drains; returns the most records ever ingested but not yet stored.
uint64_t WorstInFlight(ScriptedSink& sink) {
  GeneratorSource source = MakeSource(0);  // Unbounded.
  sink.delay = std::chrono::milliseconds(20);
  Pipeline pipeline(source, {&sink}, Options());
  pipeline.Start();
  uint64_t worst = 0;
  for (int i = 0; i < 25; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    worst = std::max(worst, pipeline.stats().ingested - pipeline.stats().stored);
  }
  pipeline.RequestStop();
  EXPECT_TRUE(pipeline.Wait().ok());
  // Drained: everything ingested was stored.
  EXPECT_EQ(pipeline.stats().ingested, pipeline.stats().stored);
  return worst;
}

TEST(Pipeline, SlowSinkBoundsWhatIsInFlight) {
  ScriptedSink sink;
  // Two queues of 2 batches, plus one batch in each of the three stages.
  EXPECT_LE(WorstInFlight(sink), (2 * 2 + 3) * 100u);
  EXPECT_GT(sink.rows, 0u);
}

TEST(Pipeline, RetriableSinkErrorsAreRetried) {
  GeneratorSource source = MakeSource(300);
  ScriptedSink sink;
  sink.script = {Status::Retriable("busy"), Status::Retriable("busy again")};
  Pipeline pipeline(source, {&sink}, Options());
  pipeline.Start();
  ASSERT_TRUE(pipeline.Wait().ok());
  EXPECT_EQ(sink.rows, 300u);
  EXPECT_EQ(pipeline.stats().sink_retries, 2u);
}

TEST(Pipeline, FatalSinkErrorStopsAndAcknowledgesNothingAfter) {
  GeneratorSource source = MakeSource(0);
  ScriptedSink sink;
  sink.script = {Status::Ok(), Status::Fatal("disk on fire")};
  Pipeline pipeline(source, {&sink}, Options());
  pipeline.Start();
  Status status = pipeline.Wait();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("disk on fire"), std::string::npos);
  // Exactly what the one successful write held is acknowledged (one batch, or several that
  // queued up and went into it together), nothing of the failed write or after it.
  EXPECT_EQ(sink.batches, 1u);
  EXPECT_GE(pipeline.acknowledged_batches(), 1u);
  EXPECT_EQ(pipeline.stats().stored, sink.rows.load());
  EXPECT_EQ(pipeline.stats().stored, pipeline.acknowledged_batches() * 100);
}

TEST(Pipeline, GroupCommitSinkGetsQueuedBatchesInOneWriteEachAcknowledged) {
  GeneratorSource source = MakeSource(2000);
  ScriptedSink sink;
  sink.merge = true;
  sink.delay = std::chrono::milliseconds(30);
  Pipeline pipeline(source, {&sink}, Options());
  pipeline.Start();
  ASSERT_TRUE(pipeline.Wait().ok());
  EXPECT_EQ(sink.rows, 2000u);
  EXPECT_EQ(pipeline.stats().stored, 2000u);
  EXPECT_EQ(pipeline.acknowledged_batches(), 20u) << "every batch acknowledged";
  // While the sink sleeps, the queue before it fills: later writes take several batches.
  EXPECT_LT(sink.batches, 20u);
}

TEST(Pipeline, SlowGroupCommitSinkStillBoundsWhatIsInFlight) {
  ScriptedSink sink;
  sink.merge = true;
  // As without group commit, plus what the sink took from its queue into the same write:
  // at most a queue's worth (2 batches) more.
  EXPECT_LE(WorstInFlight(sink), (2 * 2 + 3 + 2) * 100u);
  EXPECT_GT(sink.rows, 0u);
}

TEST(Pipeline, BadRecordsBecomeDeadLettersInSqlite) {
  // A source of three records, one good, two bad.
  class ListSource final : public Source {
   public:
    Result<SourceState> Next(Batch& batch, size_t, std::stop_token) override {
      batch.origin = "list";
      auto generator = UserGenerator::Create(GeneratorOptions{"s", {}, false});
      RawRecord good;
      generator->AppendUser(0, good.json);
      batch.records.push_back(good);
      for (auto [json, position] : {std::pair<const char*, uint64_t>{R"({"gender":1})", 1},
                                    std::pair<const char*, uint64_t>{"{", 2}}) {
        RawRecord& record = batch.records.emplace_back();
        record.json = json;
        record.position = position;
      }
      batch.source_records = 3;
      return SourceState::kFinished;
    }
    std::string Describe() const override { return "list"; }
  } source;
  spate::testing::TempDir dir;
  SqliteSink sink(dir.path());
  ASSERT_TRUE(sink.Open().ok());
  Pipeline pipeline(source, {&sink}, Options());
  pipeline.Start();
  ASSERT_TRUE(pipeline.Wait().ok());
  EXPECT_EQ(pipeline.stats().stored, 1u);
  EXPECT_EQ(pipeline.stats().rejected, 2u);
  ASSERT_TRUE(sink.Close().ok());
  auto db = SqliteDb::Open(dir.File("spate.db"), false);
  ASSERT_TRUE(db.ok());
  auto stmt = db->Prepare("SELECT position, reason, origin FROM rejected_users ORDER BY position");
  ASSERT_TRUE(stmt.ok());
  ASSERT_EQ(sqlite3_step(stmt->get()), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int64(stmt->get(), 0), 1);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt->get(), 1)),
               "gender: expected string, got number");
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt->get(), 2)), "list");
  ASSERT_EQ(sqlite3_step(stmt->get()), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int64(stmt->get(), 0), 2);
}

TEST(SqliteSink, TwoWorkersSettingUpOneNewDatabaseAtOnceBothSucceed) {
  // Two `spate process` members of one group may share a --data-dir and start together.
  for (int round = 0; round < 30; ++round) {
    spate::testing::TempDir dir;
    SqliteSink a(dir.path());
    SqliteSink b(dir.path());
    Status status_a, status_b;
    {
      std::jthread first([&] { status_a = a.Open(); });
      std::jthread second([&] { status_b = b.Open(); });
    }
    ASSERT_TRUE(status_a.ok()) << "round " << round << ": " << status_a.message();
    ASSERT_TRUE(status_b.ok()) << "round " << round << ": " << status_b.message();
    ASSERT_TRUE(a.Close().ok());
    ASSERT_TRUE(b.Close().ok());
  }
}

TEST(SqliteSink, RefusesAnotherSchemaVersion) {
  spate::testing::TempDir dir;
  {
    SqliteSink sink(dir.path());
    ASSERT_TRUE(sink.Open().ok());
    ASSERT_TRUE(sink.Close().ok());
  }
  {
    auto db = SqliteDb::Open(dir.File("spate.db"), true);
    ASSERT_TRUE(db->Exec("UPDATE spate_meta SET value = '99' WHERE key = 'schema_version'").ok());
  }
  SqliteSink sink(dir.path());
  Status status = sink.Open();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("schema version 99"), std::string::npos) << status.message();
}

TEST(SqliteSink, UnwritableDirectoryNamesTheFix) {
  SqliteSink sink("/proc/spate-cannot-be-here");
  Status status = sink.Open();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("--data-dir"), std::string::npos) << status.message();
}

}  // namespace
}  // namespace spate

namespace spate {
namespace {

// Fills its batches through Batch::AddRecord, as the Kafka source does, with the generator's
// records, and notes what AddRecord handed out.
class ReusingSource final : public Source {
 public:
  explicit ReusingSource(uint64_t count) : inner_(MakeSource(count)) {}
  Result<SourceState> Next(Batch& batch, size_t max_records, std::stop_token stop) override {
    Batch fresh;
    auto state = inner_.Next(fresh, max_records, stop);
    batch.origin = fresh.origin;
    batch.source_records = fresh.source_records;
    for (const RawRecord& from : fresh.records) {
      RawRecord& record = batch.AddRecord();
      if (!record.json.empty() || !record.key.empty() || record.position != 0 ||
          record.partition != -1) {
        ++dirty;
      }
      // A new string holds 15 bytes in place; a user record is hundreds of bytes long.
      if (record.json.capacity() >= from.json.size()) ++reused;
      record.json.assign(from.json);
      record.key = "k";
      record.position = from.position;
      record.partition = 0;
    }
    return state;
  }
  std::string Describe() const override { return "reusing"; }

  uint64_t dirty = 0;   // Records handed out with something left of their last use.
  uint64_t reused = 0;  // Records handed out with a buffer big enough already.

 private:
  GeneratorSource inner_;
};

// The raw records' buffers go back from process to the source: once the pipeline is warm
// nearly every record reuses one, and none carries anything of its previous contents.
TEST(Pipeline, RawRecordsAreHandedBackToTheSourceClean) {
  ReusingSource source(5000);
  ScriptedSink sink;
  Pipeline pipeline(source, {&sink}, Options());
  pipeline.Start();
  ASSERT_TRUE(pipeline.Wait().ok());
  EXPECT_EQ(sink.rows, 5000u);
  EXPECT_EQ(source.dirty, 0u);
  // 50 batches of 100; the first few (queue capacity 2, plus those in the stages) are new.
  EXPECT_GT(source.reused, 3000u);
}

TEST(Pipeline, AbortStopsWithoutDrainingTheQueues) {
  GeneratorSource source = MakeSource(0);
  ScriptedSink sink;
  sink.delay = std::chrono::milliseconds(100);
  Pipeline pipeline(source, {&sink}, Options());
  pipeline.Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  const auto aborted_at = std::chrono::steady_clock::now();
  pipeline.Abort();
  (void)pipeline.Wait();
  // At most the batch being written finishes; the queued ones are not written.
  EXPECT_LT(std::chrono::steady_clock::now() - aborted_at, std::chrono::milliseconds(500));
  EXPECT_LT(pipeline.stats().stored, pipeline.stats().ingested);
  EXPECT_EQ(pipeline.stats().stored, sink.rows);
}

}  // namespace
}  // namespace spate
