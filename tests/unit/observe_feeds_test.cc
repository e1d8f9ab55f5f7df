// What the dashboard shows besides metrics: the dead-letter feed, the landed tally and the
// health board behind /readyz.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "observe/feeds.h"

namespace spate {
namespace {

DeadLetter Dead(uint64_t position, std::string raw = "{}") {
  DeadLetter d;
  d.reason = fmt::format("reason {}", position);
  d.origin = "file:users.json";
  d.position = position;
  d.item = static_cast<uint32_t>(position % 7);
  d.raw = std::move(raw);
  return d;
}

std::vector<uint64_t> Positions(const std::vector<FeedEntry>& entries) {
  std::vector<uint64_t> out;
  for (const auto& e : entries) out.push_back(e.position);
  return out;
}

// True if `text` is well-formed UTF-8 (no cut sequence).
bool ValidUtf8(const std::string& text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    const size_t len = c < 0x80           ? 1
                       : (c >> 5) == 0x6  ? 2
                       : (c >> 4) == 0xE  ? 3
                       : (c >> 3) == 0x1E ? 4
                                          : 0;
    if (len == 0 || i + len > text.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

TEST(DeadLetterFeed, NewestFirstWithEverything) {
  DeadLetterFeed feed(10);
  const int64_t before = NowUnixMillis();
  const std::vector<DeadLetter> first = {Dead(1), Dead(2), Dead(3)};
  const std::vector<DeadLetter> second = {Dead(4), Dead(5)};
  feed.Add(first, "ingest");
  feed.Add(second, "process");
  const int64_t after = NowUnixMillis();
  const auto latest = feed.Latest(10);
  EXPECT_EQ(Positions(latest), (std::vector<uint64_t>{5, 4, 3, 2, 1}));
  EXPECT_EQ(feed.total(), 5u);
  EXPECT_EQ(latest[0].stage, "process");
  EXPECT_EQ(latest[4].stage, "ingest");
  EXPECT_EQ(latest[0].reason, "reason 5");
  EXPECT_EQ(latest[0].origin, "file:users.json");
  EXPECT_EQ(latest[0].item, 5u);
  EXPECT_EQ(latest[0].raw, "{}");
  EXPECT_GE(latest[0].time_unix_ms, before);
  EXPECT_LE(latest[0].time_unix_ms, after);
  EXPECT_EQ(Positions(feed.Latest(2)), (std::vector<uint64_t>{5, 4}));
  EXPECT_TRUE(feed.Latest(0).empty());
}

TEST(DeadLetterFeed, KeepsOnlyTheNewestCapacity) {
  DeadLetterFeed feed(4);
  uint64_t next = 1;
  // One at a time, round the ring several times.
  for (int i = 0; i < 11; ++i) {
    const std::vector<DeadLetter> one = {Dead(next++)};
    feed.Add(one, "process");
    const auto latest = feed.Latest(100);
    ASSERT_EQ(latest.size(), std::min<size_t>(i + 1, 4));
    for (size_t k = 0; k < latest.size(); ++k) EXPECT_EQ(latest[k].position, next - 1 - k);
  }
  // A batch bigger than the ring: only its newest four are kept.
  std::vector<DeadLetter> batch;
  for (int i = 0; i < 10; ++i) batch.push_back(Dead(next++));
  feed.Add(batch, "sink");
  EXPECT_EQ(Positions(feed.Latest(100)), (std::vector<uint64_t>{21, 20, 19, 18}));
  EXPECT_EQ(feed.total(), 21u);
  feed.Add({}, "sink");
  EXPECT_EQ(feed.total(), 21u);
}

TEST(DeadLetterFeed, RawIsCutAtACharacterBoundary) {
  DeadLetterFeed feed;
  const std::string exact(kFeedRawBytes, 'a');
  const std::string longer(2000, 'b');
  // "é" (2 bytes) and "€" (3 bytes) straddling the limit; "😀" (4 bytes) ending just on it.
  const std::string two = std::string(kFeedRawBytes - 1, 'c') + "\xc3\xa9" + "tail";
  const std::string three = std::string(kFeedRawBytes - 2, 'd') + "\xe2\x82\xac" + "tail";
  const std::string four = std::string(kFeedRawBytes - 4, 'e') + "\xf0\x9f\x98\x80" + "tail";
  const std::vector<DeadLetter> dead = {Dead(1, exact), Dead(2, longer), Dead(3, two),
                                        Dead(4, three), Dead(5, four)};
  feed.Add(dead, "ingest");
  const auto latest = feed.Latest(5);
  ASSERT_EQ(latest.size(), 5u);
  EXPECT_EQ(latest[4].raw, exact);
  EXPECT_EQ(latest[3].raw, longer.substr(0, kFeedRawBytes));
  EXPECT_EQ(latest[2].raw, two.substr(0, kFeedRawBytes - 1));
  EXPECT_EQ(latest[1].raw, three.substr(0, kFeedRawBytes - 2));
  EXPECT_EQ(latest[0].raw, four.substr(0, kFeedRawBytes));
  for (const auto& e : latest) {
    EXPECT_LE(e.raw.size(), kFeedRawBytes);
    EXPECT_TRUE(ValidUtf8(e.raw)) << e.position;
  }
  // The reason cannot grow the feed either.
  DeadLetter huge = Dead(6);
  huge.reason = std::string(100000, 'r');
  feed.Add(std::span(&huge, 1), "ingest");
  EXPECT_LE(feed.Latest(1)[0].reason.size(), kFeedRawBytes);
}

TEST(DeadLetterFeed, ConcurrentAddsCountEveryDeadLetter) {
  DeadLetterFeed feed(50);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&feed] {
        const std::vector<DeadLetter> batch = {Dead(1), Dead(2), Dead(3)};
        for (int i = 0; i < 1000; ++i) feed.Add(batch, "process");
      });
    }
  }
  EXPECT_EQ(feed.total(), 12000u);
  EXPECT_EQ(feed.Latest(1000).size(), 50u);
}

Row MakeRow(std::string_view country, std::string_view gender, int64_t age) {
  Row row;
  row.country = country;
  row.gender = gender;
  row.age = age;
  return row;
}

TEST(LandedTally, CountsByCountryGenderAndAgeBand) {
  LandedTally tally;
  std::vector<Row> rows = {MakeRow("Germany", "female", 0),
                           MakeRow("Germany", "male", 9),
                           MakeRow("France", "female", 10),
                           MakeRow("Germany", "female", 29),
                           MakeRow("", "", 89),
                           MakeRow("Norway", "male", 90),
                           MakeRow("France", "female", 123),
                           MakeRow("Norway", "female", -4)};
  tally.Add(rows);
  tally.Add(std::span(rows).subspan(0, 1));  // another batch: one more German
  const LandedSnapshot s = tally.Snapshot();
  EXPECT_EQ(s.rows, 9u);
  ASSERT_EQ(s.by_country.size(), 4u);
  EXPECT_EQ(s.by_country[0].key, "Germany");
  EXPECT_EQ(s.by_country[0].rows, 4u);
  // Ties by name, so the order does not depend on what came first.
  EXPECT_EQ(s.by_country[1].key, "France");
  EXPECT_EQ(s.by_country[2].key, "Norway");
  EXPECT_EQ(s.by_country[3].key, "unknown");
  EXPECT_EQ(s.by_country[3].rows, 1u);
  ASSERT_EQ(s.by_gender.size(), 3u);
  EXPECT_EQ(s.by_gender[0].key, "female");
  EXPECT_EQ(s.by_gender[0].rows, 6u);
  EXPECT_EQ(s.by_gender[1].key, "male");
  EXPECT_EQ(s.by_gender[2].key, "unknown");

  const std::vector<std::string> bands = {"0-9",   "10-19", "20-29", "30-39", "40-49",
                                          "50-59", "60-69", "70-79", "80-89", "90+"};
  //                                        0-9 10s 20s 30s 40s 50s 60s 70s 80s 90+
  const std::vector<uint64_t> expected = {4, 1, 1, 0, 0, 0, 0, 0, 1, 2};
  ASSERT_EQ(s.by_age.size(), bands.size());
  for (size_t i = 0; i < bands.size(); ++i) {
    EXPECT_EQ(s.by_age[i].key, bands[i]);
    EXPECT_EQ(s.by_age[i].rows, expected[i]) << bands[i];
  }
}

TEST(LandedTally, EmptyHasEveryAgeBand) {
  LandedTally tally;
  const LandedSnapshot s = tally.Snapshot();
  EXPECT_EQ(s.rows, 0u);
  EXPECT_TRUE(s.by_country.empty());
  ASSERT_EQ(s.by_age.size(), 10u);
  EXPECT_EQ(s.by_age.back().key, "90+");
  for (const auto& band : s.by_age) EXPECT_EQ(band.rows, 0u);
}

TEST(LandedTally, DistinctKeysAreCappedTheRestIsOther) {
  LandedTally tally;
  std::vector<std::string> names;
  for (size_t i = 0; i < kLandedKeys + 30; ++i) names.push_back(fmt::format("Country {:03}", i));
  std::vector<Row> rows;
  for (const auto& name : names) rows.push_back(MakeRow(name, "x", 30));
  tally.Add(rows);
  // A country that got its own entry keeps counting there after the cap.
  const std::vector<Row> more = {MakeRow(names[0], "x", 30), MakeRow("Late country", "x", 30)};
  tally.Add(more);
  const LandedSnapshot s = tally.Snapshot();
  EXPECT_EQ(s.rows, kLandedKeys + 32);
  ASSERT_EQ(s.by_country.size(), kLandedKeys + 1) << "the cap's keys and \"other\"";
  EXPECT_EQ(s.by_country[0].key, "other");
  EXPECT_EQ(s.by_country[0].rows, 31u);
  EXPECT_EQ(s.by_country[1].key, names[0]);
  EXPECT_EQ(s.by_country[1].rows, 2u);
  uint64_t total = 0;
  for (const auto& c : s.by_country) total += c.rows;
  EXPECT_EQ(total, s.rows);
}

TEST(HealthBoard, ReadyWhenEveryCheckIsReady) {
  HealthBoard board;
  EXPECT_FALSE(board.Ready()) << "no check yet: not ready";
  board.Set("sink sqlite", true);
  EXPECT_TRUE(board.Ready());
  board.Set("source kafka users_created", false, "broker down");
  EXPECT_FALSE(board.Ready());
  board.Set("source kafka users_created", true);  // replaces, does not add
  EXPECT_TRUE(board.Ready());
  const auto checks = board.Checks();
  ASSERT_EQ(checks.size(), 2u);
  EXPECT_EQ(checks[0].name, "sink sqlite");
  EXPECT_EQ(checks[1].name, "source kafka users_created");
  EXPECT_TRUE(checks[1].ready);
  EXPECT_EQ(checks[1].detail, "");
  board.Set("sink sqlite", false, "disk full");
  EXPECT_FALSE(board.Ready());
  EXPECT_EQ(board.Checks()[0].detail, "disk full");
}

TEST(Feeds, ProcessWideAccessorsAreOneEach) {
  EXPECT_EQ(&DeadLetters(), &DeadLetters());
  EXPECT_EQ(&Landed(), &Landed());
  EXPECT_EQ(&Health(), &Health());
}

}  // namespace
}  // namespace spate
