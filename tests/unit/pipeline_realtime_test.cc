// Real-time mode (issue 18): the pacer's token bucket against made-up times, and the
// pipeline's --rate, --duration and --linger with the real clock (bounds loose enough for a
// loaded machine: a lower bound on time is never flaky, an upper bound is far from the mark).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <numeric>
#include <vector>

#include "pipeline/pacer.h"
#include "pipeline/pipeline.h"
#include "sources/file_source.h"
#include "sources/generator.h"
#include "test_util.h"

namespace spate {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Runs a pacer from `start` to `end` as the source loop does (ask, sleep until told, take
// all that is allowed); returns the batches as (time, size).
std::vector<std::pair<Clock::time_point, size_t>> Drive(Pacer& pacer, Clock::time_point start,
                                                        Clock::time_point end,
                                                        size_t give_at_most = SIZE_MAX) {
  std::vector<std::pair<Clock::time_point, size_t>> batches;
  Clock::time_point now = start;
  while (now < end) {
    Clock::time_point wake;
    const size_t ready = pacer.Ready(now, &wake);
    if (ready == 0) {
      EXPECT_GT(wake, now);
      now = wake;
      continue;
    }
    const size_t given = std::min(ready, give_at_most);
    pacer.Took(given);
    batches.emplace_back(now, given);
  }
  return batches;
}

size_t Total(const std::vector<std::pair<Clock::time_point, size_t>>& batches) {
  size_t total = 0;
  for (const auto& batch : batches) total += batch.second;
  return total;
}

TEST(Pacer, HoldsTheRateOverAMinuteWithoutBatchesAboveTheBatchSize) {
  const Clock::time_point start{};
  for (double rate : {1000.0, 10000.0, 100000.0, 2000.0, 37.0}) {
    Pacer pacer(rate, 1000, milliseconds(5), start);
    const auto batches = Drive(pacer, start, start + std::chrono::seconds(60));
    const double expected = rate * 60;
    // Within a linger's worth of records (the last batch may still be open).
    EXPECT_LE(static_cast<double>(Total(batches)), expected) << rate;
    EXPECT_GE(static_cast<double>(Total(batches)), expected - rate * 0.005 - 1) << rate;
    for (const auto& [at, size] : batches) ASSERT_LE(size, 1000u) << rate;
  }
}

TEST(Pacer, FullBatchesAtAHighRatePartialOnesAfterLingerAtALowOne) {
  const Clock::time_point start{};
  {
    // 1,000,000/s: a batch of 1000 is due every millisecond, well within the linger.
    Pacer pacer(1e6, 1000, milliseconds(5), start);
    const auto batches = Drive(pacer, start, start + std::chrono::seconds(1));
    ASSERT_FALSE(batches.empty());
    for (const auto& [at, size] : batches) EXPECT_EQ(size, 1000u);
  }
  {
    // 100/s with a linger of 5 ms: each record waits 5 ms for company and goes alone.
    Pacer pacer(100, 1000, milliseconds(5), start);
    const auto batches = Drive(pacer, start, start + std::chrono::seconds(1));
    ASSERT_EQ(batches.size(), 99u);  // The 100th is due at 1 s and would go at 1.005 s.
    for (size_t i = 0; i < batches.size(); ++i) {
      EXPECT_EQ(batches[i].second, 1u);
      const auto due = start + milliseconds(10 * (i + 1));
      EXPECT_EQ(std::chrono::duration_cast<milliseconds>(batches[i].first - due).count(), 5) << i;
    }
  }
  {
    // 2000/s, linger 20 ms: batches of the records due from the first's time to 20 ms
    // later (41, give or take a rounding).
    Pacer pacer(2000, 1000, milliseconds(20), start);
    const auto batches = Drive(pacer, start, start + std::chrono::seconds(1));
    ASSERT_GT(batches.size(), 40u);
    for (size_t i = 0; i + 1 < batches.size(); ++i) {
      EXPECT_NEAR(static_cast<double>(batches[i].second), 41, 1) << i;
    }
  }
}

TEST(Pacer, AfterAStallCatchesUpByOneBatchAtMost) {
  const Clock::time_point start{};
  Pacer pacer(1000, 100, milliseconds(5), start);
  auto batches = Drive(pacer, start, start + std::chrono::seconds(1));
  const size_t before = Total(batches);
  // Nothing asked for five seconds (the sink stalled, the queue was full): 5000 records of
  // credit, of which one batch is kept.
  const Clock::time_point resumed = start + std::chrono::seconds(6);
  Clock::time_point wake;
  EXPECT_EQ(pacer.Ready(resumed, &wake), 100u);
  pacer.Took(100);
  EXPECT_EQ(pacer.Ready(resumed, &wake), 0u);
  EXPECT_GT(wake, resumed);
  // From then on, the rate again: over the next second about 1000 more, in no burst.
  batches = Drive(pacer, resumed, resumed + std::chrono::seconds(1));
  EXPECT_NEAR(static_cast<double>(Total(batches)), 1000, 10);
  for (const auto& [at, size] : batches) EXPECT_LE(size, 100u);
  EXPECT_NEAR(static_cast<double>(before), 1000, 10);
}

TEST(Pacer, DueIsWhatTheEndOfTheStreamTakesWithoutWaitingForTheBatchToClose) {
  const Clock::time_point start{};
  Pacer pacer(1000, 100, milliseconds(50), start);
  Clock::time_point wake;
  const Clock::time_point now = start + milliseconds(20);
  EXPECT_EQ(pacer.Ready(now, &wake), 0u);  // 20 due, the first waits until 51 ms.
  EXPECT_EQ(wake, start + milliseconds(51));
  EXPECT_EQ(pacer.Due(now), 20u);
  pacer.Took(20);
  EXPECT_EQ(pacer.Due(now), 0u);
  EXPECT_EQ(pacer.Due(start + std::chrono::seconds(10)), 100u);  // Capped at one batch.
}

TEST(Pacer, ASourceThatGivesLessKeepsItsCreditWithinOneBatch) {
  const Clock::time_point start{};
  Pacer pacer(1000, 100, milliseconds(5), start);
  // The source hands out at most 3 per call: the rest of what is due stays as credit, so it
  // is asked again at once, and never for more than a batch.
  const auto batches = Drive(pacer, start, start + std::chrono::seconds(1), 3);
  EXPECT_NEAR(static_cast<double>(Total(batches)), 1000, 10);
  for (const auto& [at, size] : batches) EXPECT_LE(size, 3u);
}

GeneratorSource Unbounded() {
  auto generator = UserGenerator::Create(GeneratorOptions{"seed", {}, false});
  EXPECT_TRUE(generator.ok());
  return GeneratorSource(std::move(generator).value(), 0);
}

// A source around the generator that notes when it handed out how many records.
class TimedSource final : public Source {
 public:
  Result<SourceState> Next(Batch& batch, size_t max_records, std::stop_token stop) override {
    const auto asked_at = Clock::now();  // Just after the pacer allowed it.
    auto state = inner_.Next(batch, max_records, stop);
    std::lock_guard lock(mu);
    calls.emplace_back(asked_at, batch.source_records);
    max_asked = std::max(max_asked, max_records);
    return state;
  }
  std::string Describe() const override { return "timed"; }

  std::mutex mu;
  std::vector<std::pair<Clock::time_point, size_t>> calls;
  size_t max_asked = 0;

 private:
  GeneratorSource inner_ = Unbounded();
};

// Counts rows and the largest write; can stall once.
class CountingSink final : public Sink {
 public:
  Status Open() override { return Status::Ok(); }
  Status Write(const Batch& batch) override {
    if (++writes == stall_at) std::this_thread::sleep_for(stall);
    rows += batch.rows.size();
    largest = std::max<size_t>(largest, batch.rows.size());
    return Status::Ok();
  }
  Status Close() override { return Status::Ok(); }
  std::string Describe() const override { return "counting"; }

  std::atomic<uint64_t> rows{0};
  std::atomic<size_t> largest{0};
  std::atomic<int> writes{0};
  int stall_at = -1;
  milliseconds stall{0};
};

PipelineOptions Options(MetricsRegistry& metrics) {
  PipelineOptions options;
  options.batch_size = 200;
  options.queue_capacity = 2;
  options.metrics = &metrics;
  return options;
}

TEST(PipelineRealtime, RateAndDurationGiveAboutRateTimesDuration) {
  MetricsRegistry metrics;
  TimedSource source;
  CountingSink sink;
  PipelineOptions options = Options(metrics);
  options.rate = 2000;
  options.duration = milliseconds(1000);
  options.linger = milliseconds(20);
  Pipeline pipeline(source, {&sink}, options);
  const auto started = Clock::now();
  pipeline.Start();
  ASSERT_TRUE(pipeline.Wait().ok());  // The duration is a normal end.
  EXPECT_GE(Clock::now() - started, milliseconds(990));
  EXPECT_NEAR(static_cast<double>(sink.rows.load()), 2000, 200);
  EXPECT_EQ(pipeline.stats().ingested.load(), sink.rows.load());
  EXPECT_LE(source.max_asked, 200u);
  EXPECT_LE(sink.largest.load(), 200u);
}

TEST(PipelineRealtime, DurationAloneEndsAnUnboundedSource) {
  MetricsRegistry metrics;
  GeneratorSource source = Unbounded();
  CountingSink sink;
  PipelineOptions options = Options(metrics);
  options.duration = milliseconds(300);
  Pipeline pipeline(source, {&sink}, options);
  const auto started = Clock::now();
  pipeline.Start();
  ASSERT_TRUE(pipeline.Wait().ok());
  EXPECT_GE(Clock::now() - started, milliseconds(295));
  EXPECT_GT(sink.rows.load(), 0u);
  EXPECT_EQ(pipeline.stats().stored.load(), sink.rows.load());
}

TEST(PipelineRealtime, StopDuringAPacedWaitEndsPromptly) {
  MetricsRegistry metrics;
  TimedSource source;
  CountingSink sink;
  PipelineOptions options = Options(metrics);
  options.rate = 1;                          // One record a second...
  options.linger = std::chrono::minutes(1);  // ...waiting a minute for company.
  Pipeline pipeline(source, {&sink}, options);
  pipeline.Start();
  std::this_thread::sleep_for(milliseconds(100));
  const auto stopped = Clock::now();
  pipeline.RequestStop();  // Ctrl-C.
  ASSERT_TRUE(pipeline.Wait().ok());
  // Far less than the minute the batch would have waited (a slow machine takes milliseconds).
  EXPECT_LT(Clock::now() - stopped, std::chrono::seconds(10));
  EXPECT_EQ(sink.rows.load(), 0u);
}

TEST(PipelineRealtime, AfterAStalledSinkNoBurstOfMoreThanOneBatch) {
  MetricsRegistry metrics;
  TimedSource source;
  CountingSink sink;
  sink.stall_at = 3;
  sink.stall = milliseconds(600);  // 1200 records of credit at 2000/s, were it not capped.
  PipelineOptions options = Options(metrics);
  options.queue_capacity = 1;
  options.rate = 2000;
  options.duration = milliseconds(1500);
  options.linger = milliseconds(10);
  Pipeline pipeline(source, {&sink}, options);
  pipeline.Start();
  ASSERT_TRUE(pipeline.Wait().ok());
  std::lock_guard lock(source.mu);
  ASSERT_GT(source.calls.size(), 5u);
  // In any 20 ms the source is asked for at most the credit it had (a batch) plus what came
  // due meanwhile (40), and some slack for a thread descheduled between the pacer's answer
  // and the call (100 ms more). Without the cap, the stall's 1200 would come in six
  // back-to-back batches of 200.
  size_t worst = 0;
  for (size_t i = 0; i < source.calls.size(); ++i) {
    size_t in_window = 0;
    for (size_t j = i; j < source.calls.size() &&
                       source.calls[j].first - source.calls[i].first < milliseconds(20);
         ++j) {
      in_window += source.calls[j].second;
    }
    worst = std::max(worst, in_window);
  }
  EXPECT_LE(worst, 200u + 40u + 200u);
  EXPECT_LE(source.max_asked, 200u);
}

// A pipe that stays open with a few records in it: the file source hands them on after the
// linger, not only when a batch is full or the input ends.
TEST(PipelineRealtime, FileSourceHandsOnAPartialBatchAfterLinger) {
  spate::testing::TempDir dir;
  const std::string fifo = dir.File("in.fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  // Read-write, so that opening it does not wait for a reader and the source's open does
  // not wait for a writer; kept open, so the input never ends.
  const int writer = open(fifo.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(writer, 0);
  auto generator = UserGenerator::Create(GeneratorOptions{"seed", {}, false});
  ASSERT_TRUE(generator.ok());
  std::string lines;
  for (uint64_t i = 0; i < 3; ++i) {
    generator->AppendUser(i, lines);
    lines += '\n';
  }
  ASSERT_EQ(write(writer, lines.data(), lines.size()), static_cast<ssize_t>(lines.size()));

  for (milliseconds linger : {milliseconds(700), milliseconds(0)}) {
    FileSource source(fifo, 0);
    ASSERT_TRUE(source.Open().ok());
    source.set_linger(linger);
    if (linger.count() == 0) {
      ASSERT_EQ(write(writer, lines.data(), lines.size()), static_cast<ssize_t>(lines.size()));
    }
    std::stop_source stop;
    Batch batch;
    const auto started = Clock::now();
    auto state = source.Next(batch, 1000, stop.get_token());
    ASSERT_TRUE(state.ok());
    EXPECT_EQ(state.value(), SourceState::kHaveMore);
    EXPECT_EQ(batch.records.size(), 3u);
    // It waited the linger for more (a lower bound cannot flake), then handed on.
    EXPECT_GE(Clock::now() - started, linger - milliseconds(1)) << linger.count();
  }
  close(writer);
}

}  // namespace
}  // namespace spate
