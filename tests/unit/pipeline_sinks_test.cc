// The pipeline's counts with several sinks (issue 17, item 20) and its per-record limit when
// forwarding (`produce`, item 18): each sink's counts match what that sink holds; a record
// over the limit is a dead letter and its neighbours go on.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "pipeline/pipeline.h"
#include "sources/generator.h"
#include "transforms/ingest.h"

namespace spate {
namespace {

// Stores rows as a store would, except rows whose id ends in one of `refuse`: those it puts
// in its own dead-letter list (as PostgreSQL does with a NUL), and reports by TakeRefused.
class RefusingSink final : public Sink {
 public:
  RefusingSink(std::string refuse, bool group) : refuse_(std::move(refuse)), group_(group) {}
  Status Open() override { return Status::Ok(); }
  Status Write(const Batch& batch) override {
    for (const Row& row : batch.rows) {
      if (refuse_.find(row.id.back()) != std::string::npos) {
        dead.insert(std::string(row.id));
        ++refused_;
      } else {
        stored.insert(std::string(row.id));
      }
    }
    for (const DeadLetter& letter : batch.dead) dead.insert("dead:" + letter.raw);
    return Status::Ok();
  }
  Status Close() override { return Status::Ok(); }
  std::string Describe() const override { return "refusing " + refuse_; }
  bool group_commit() const override { return group_; }
  uint64_t TakeRefused() override { return std::exchange(refused_, 0); }

  std::set<std::string> stored;
  std::set<std::string> dead;

 private:
  const std::string refuse_;
  const bool group_;
  uint64_t refused_ = 0;
};

// Hands out the given records, `per_batch` at a time.
class ListSource final : public Source {
 public:
  ListSource(std::vector<std::string> records, size_t per_batch)
      : records_(std::move(records)), per_batch_(per_batch) {}
  Result<SourceState> Next(Batch& batch, size_t, std::stop_token) override {
    batch.origin = "list";
    for (size_t n = 0; n < per_batch_ && next_ < records_.size(); ++n, ++next_) {
      RawRecord& record = batch.AddRecord();
      record.json = records_[next_];
      record.position = next_ + 1;
      record.key = "k" + std::to_string(next_);
      ++batch.source_records;
    }
    return next_ == records_.size() ? SourceState::kFinished : SourceState::kHaveMore;
  }
  std::string Describe() const override { return "list"; }

 private:
  const std::vector<std::string> records_;
  const size_t per_batch_;
  size_t next_ = 0;
};

// Keeps what it is given, in order.
class KeepingSink final : public Sink {
 public:
  Status Open() override { return Status::Ok(); }
  Status Write(const Batch& batch) override {
    for (const RawRecord& record : batch.records) records.push_back(record.json);
    for (const DeadLetter& letter : batch.dead) dead.push_back(letter);
    return Status::Ok();
  }
  Status Close() override { return Status::Ok(); }
  std::string Describe() const override { return "keeping"; }
  std::vector<std::string> records;
  std::vector<DeadLetter> dead;
};

PipelineOptions Options(size_t batch_size) {
  PipelineOptions options;
  options.batch_size = batch_size;
  options.queue_capacity = 2;
  options.sink_backoff_initial = std::chrono::milliseconds(1);
  return options;
}

TEST(PipelineSinks, ARowOneSinkRefusesIsStoredByTheOtherAndEachCountMatchesItsStore) {
  auto generator = UserGenerator::Create(GeneratorOptions{"several", {}, false});
  ASSERT_TRUE(generator.ok());
  GeneratorSource source(std::move(generator).value(), 500);
  RefusingSink postgres_like("0123", /*group=*/true);  // Refuses about a quarter.
  RefusingSink sqlite_like("", /*group=*/false);       // Stores everything.
  Pipeline pipeline(source, {&postgres_like, &sqlite_like}, Options(64));
  pipeline.Start();
  ASSERT_TRUE(pipeline.Wait().ok());
  const PipelineStats& s = pipeline.stats();
  ASSERT_EQ(s.sinks.size(), 2u);
  ASSERT_GT(postgres_like.dead.size(), 0u);
  EXPECT_EQ(s.sinks[0].stored, postgres_like.stored.size());
  EXPECT_EQ(s.sinks[0].rejected, postgres_like.dead.size());
  EXPECT_EQ(s.sinks[1].stored, 500u);
  EXPECT_EQ(s.sinks[1].rejected, 0u);
  EXPECT_EQ(sqlite_like.stored.size(), 500u);
  // What process made of the records, whatever the sinks then did with them.
  EXPECT_EQ(s.stored, 500u);
  EXPECT_EQ(s.rejected, 0u);
}

// Property: any number of sinks, each refusing its own share, with or without group commit,
// any batch size: every sink's counts are exactly what it holds, and add up to the records.
TEST(PipelineSinks, PerSinkCountsMatchEveryStoreForRandomSinksAndBatches) {
  std::mt19937 random(20261206);
  const std::string hex = "0123456789abcdef";
  for (int round = 0; round < 40; ++round) {
    const uint64_t count = random() % 700;
    auto generator =
        UserGenerator::Create(GeneratorOptions{"p" + std::to_string(round), {}, false});
    ASSERT_TRUE(generator.ok());
    GeneratorSource source(std::move(generator).value(), count);
    std::vector<std::unique_ptr<RefusingSink>> sinks;
    std::vector<Sink*> pointers;
    const size_t n = 1 + random() % 4;
    for (size_t i = 0; i < n; ++i) {
      std::string refuse;
      for (char c : hex) {
        if (random() % 5 == 0) refuse.push_back(c);
      }
      sinks.push_back(std::make_unique<RefusingSink>(refuse, random() % 2 == 0));
      pointers.push_back(sinks.back().get());
    }
    Pipeline pipeline(source, pointers, Options(1 + random() % 150));
    pipeline.Start();
    ASSERT_TRUE(pipeline.Wait().ok());
    const PipelineStats& s = pipeline.stats();
    ASSERT_EQ(s.sinks.size(), n);
    for (size_t i = 0; i < n; ++i) {
      SCOPED_TRACE("round " + std::to_string(round) + " sink " + std::to_string(i));
      EXPECT_EQ(s.sinks[i].stored, sinks[i]->stored.size());
      EXPECT_EQ(s.sinks[i].rejected, sinks[i]->dead.size());
      EXPECT_EQ(s.sinks[i].stored + s.sinks[i].rejected, count);
    }
  }
}

// Property (`produce`): whatever the sizes, a record over max_record_bytes becomes a dead
// letter with the reason, position and bytes, the others are forwarded in order, and the
// counts say which is which.
TEST(PipelineSinks, ForwardingDeadLettersRecordsOverTheLimitAndKeepsTheirNeighbours) {
  std::mt19937 random(1718);
  for (int round = 0; round < 30; ++round) {
    const size_t limit = 1024 + random() % 4096;
    std::vector<std::string> records;
    const size_t count = random() % 300;
    for (size_t i = 0; i < count; ++i) {
      // Mostly below the limit, some at it, some over.
      const size_t pick = random() % 10;
      const size_t size = pick == 0   ? limit + 1 + random() % 9000
                          : pick == 1 ? limit
                                      : 2 + random() % limit;
      std::string json = "{" + std::string(size - 2, 'x') + "}";
      json.replace(1, std::to_string(i).size(), std::to_string(i));
      records.push_back(std::move(json));
    }
    ListSource source(records, 1 + random() % 50);
    KeepingSink sink;
    PipelineOptions options = Options(50);
    options.transform = false;
    options.max_record_bytes = limit;
    Pipeline pipeline(source, {&sink}, options);
    pipeline.Start();
    ASSERT_TRUE(pipeline.Wait().ok());
    std::vector<std::string> expected_kept;
    std::map<uint64_t, std::string> expected_dead;  // position -> bytes
    for (size_t i = 0; i < records.size(); ++i) {
      if (records[i].size() > limit) {
        // A bounded prefix, through ingest's secret-safe rule, as every dead letter's bytes.
        expected_dead[i + 1] =
            DeadLetterBytes(std::string_view(records[i]).substr(0, kTooLargeKeepBytes));
      } else {
        expected_kept.push_back(records[i]);
      }
    }
    SCOPED_TRACE("round " + std::to_string(round));
    EXPECT_EQ(sink.records, expected_kept);
    ASSERT_EQ(sink.dead.size(), expected_dead.size());
    for (const DeadLetter& letter : sink.dead) {
      ASSERT_EQ(expected_dead.count(letter.position), 1u);
      EXPECT_EQ(letter.raw, expected_dead[letter.position]);
      EXPECT_NE(letter.reason.find("record too large"), std::string::npos) << letter.reason;
      EXPECT_NE(letter.reason.find(std::to_string(limit)), std::string::npos) << letter.reason;
    }
    EXPECT_EQ(pipeline.stats().stored, expected_kept.size());
    EXPECT_EQ(pipeline.stats().rejected, expected_dead.size());
    EXPECT_EQ(pipeline.stats().sinks[0].stored, expected_kept.size());
  }
}

}  // namespace
}  // namespace spate
