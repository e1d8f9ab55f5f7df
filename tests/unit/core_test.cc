// Core vocabulary: bounded queue, checkpoint, JSON writer, durations.
#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <random>
#include <thread>

#include "core/bounded_queue.h"
#include "core/checkpoint.h"
#include "core/clock.h"
#include "core/json_writer.h"
#include "core/record.h"

namespace spate {
namespace {

TEST(BoundedQueue, PushBlocksWhenFullUntilPopped) {
  BoundedQueue<int> queue(2);
  ASSERT_TRUE(queue.Push(1));
  ASSERT_TRUE(queue.Push(2));
  std::atomic<bool> pushed{false};
  std::jthread producer([&] {
    queue.Push(3);
    pushed = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_FALSE(pushed) << "a full queue must block the producer";
  EXPECT_EQ(queue.Pop(), 1);
  producer.join();
  EXPECT_TRUE(pushed);
  EXPECT_EQ(queue.size(), 2u);
}

TEST(BoundedQueue, CloseDrainsThenEnds) {
  BoundedQueue<int> queue(4);
  queue.Push(1);
  queue.Push(2);
  queue.Close();
  EXPECT_FALSE(queue.Push(3));
  EXPECT_EQ(queue.Pop(), 1);
  EXPECT_EQ(queue.Pop(), 2);
  EXPECT_EQ(queue.Pop(), std::nullopt);
}

TEST(BoundedQueue, CloseWakesABlockedProducer) {
  BoundedQueue<int> queue(1);
  queue.Push(1);
  std::jthread producer([&] { EXPECT_FALSE(queue.Push(2)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  queue.Close();
}

TEST(ContiguousCheckpoint, AdvancesOnlyOverContiguousAcks) {
  ContiguousCheckpoint checkpoint;
  EXPECT_EQ(checkpoint.Ack(1), 0u);
  EXPECT_EQ(checkpoint.Ack(2), 0u);
  EXPECT_EQ(checkpoint.pending(), 2u);
  EXPECT_EQ(checkpoint.Ack(0), 3u);
  EXPECT_EQ(checkpoint.pending(), 0u);
  EXPECT_EQ(checkpoint.Ack(0), 3u);  // Duplicate.
  EXPECT_EQ(checkpoint.Ack(3), 4u);
  EXPECT_EQ(checkpoint.mark(), 4u);
}

TEST(JsonWriter, WritesAndEscapes) {
  std::string out;
  JsonWriter w(out);
  w.BeginObject();
  w.Key("a");
  w.Int(-5);
  w.Key("b\"");
  w.String("x\\y\n\x1f é 12345678\"");
  w.Key("c");
  w.BeginArray();
  w.Double(1.5);
  w.Bool(true);
  w.Null();
  w.Double(std::numeric_limits<double>::infinity());
  w.EndArray();
  w.EndObject();
  EXPECT_EQ(out, R"({"a":-5,"b\"":"x\\y\n\u001f é 12345678\"","c":[1.5,true,null,null]})");
}

TEST(JsonWriter, LongStringsWithoutEscapesAreCopied) {
  std::string s(1000, 'x');
  s[999] = '"';
  std::string out;
  AppendJsonString(out, s);
  EXPECT_EQ(out, "\"" + std::string(999, 'x') + "\\\"\"");
}

TEST(Clock, FormatsIso8601) {
  EXPECT_EQ(FormatIso8601Millis(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatIso8601Millis(1700000000123), "2023-11-14T22:13:20.123Z");
}

}  // namespace
}  // namespace spate

namespace spate {
namespace {

// WriteJsonDouble has a fast path for short decimals (coordinates); whatever path it takes,
// the text must parse back to the same double and match std::to_chars' shortest form.
TEST(JsonWriter, DoublesMatchShortestRoundTrip) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> wide(-1e6, 1e6);
  std::vector<double> values = {0.0,      -0.0, 1e-3,    0.000999,    1e5,   99999.99999, -78.1478,
                                175.9694, 0.1,  1.0 / 3, 123456789.0, 1e300, 5e-324,      -2.5};
  for (int i = 0; i < 20000; ++i) {
    values.push_back(wide(rng));
    values.push_back(std::round(wide(rng) / 100 * 1e4) / 1e4);  // Four decimals, as the API.
  }
  for (double v : values) {
    char fast[64];
    char* end = WriteJsonDouble(fast, v);
    char expected[64];
    auto [expected_end, ec] = std::to_chars(expected, expected + sizeof(expected), v);
    ASSERT_EQ(ec, std::errc());
    EXPECT_EQ(std::string(fast, end), std::string(expected, expected_end)) << v;
  }
}

// Record buffers go round between sources, rows and back: each must keep room for the
// transform, grow with something to spare, and not keep what a huge record needed.
TEST(RecordBuffer, KeepsRoomGrowsWithSpareAndGivesBackHugeOnes) {
  std::string buffer;
  ReserveRecordBuffer(buffer, 900);
  EXPECT_GE(buffer.capacity(), 900 + kRecordRoom + 128);
  const char* data = buffer.data();
  buffer.assign(900, 'x');
  ReserveRecordBuffer(buffer, 1000);  // Fits in the spare bytes: kept.
  EXPECT_EQ(buffer.data(), data);
  ReserveRecordBuffer(buffer, 1100);  // Does not: a new buffer, again with spare bytes.
  EXPECT_GE(buffer.capacity(), 1100 + kRecordRoom + 128);
  EXPECT_LT(buffer.capacity(), 2 * (1100 + kRecordRoom));  // Not doubled.
  ReserveRecordBuffer(buffer, 1 << 20);
  EXPECT_GE(buffer.capacity(), (1u << 20) + kRecordRoom);
  ReserveRecordBuffer(buffer, 900);  // After a huge record: given back.
  EXPECT_LT(buffer.capacity(), size_t{64} << 10);
  EXPECT_GE(buffer.capacity(), 900 + kRecordRoom);
}

}  // namespace
}  // namespace spate
