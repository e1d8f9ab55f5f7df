// FileSource and RecordSplitter, user by user (issue 17, items 4, 5, 9): a position
// identifies one record (line, item); one bad user costs only itself; a truncated document
// keeps every complete user; a record over the limit is one dead letter and reading goes on
// without holding it; chunk boundaries change nothing.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <set>

#include "sinks/sink.h"
#include "sources/file_source.h"
#include "test_util.h"
#include "transforms/ingest.h"

namespace spate {
namespace {

using spate::testing::Fixture;
using spate::testing::TempDir;

struct Drained {
  std::vector<RawRecord> records;
  std::vector<DeadLetter> dead;
  uint64_t source_records = 0;
};

Drained ReadText(const std::string& text, size_t max_record_bytes = kIngestMaxRecordBytes) {
  TempDir dir;
  std::ofstream(dir.File("in"), std::ios::binary) << text;
  FileSource source(dir.File("in"), 0, max_record_bytes);
  EXPECT_TRUE(source.Open().ok());
  Drained out;
  std::stop_source stop;
  for (int i = 0; i < 100000; ++i) {
    Batch batch;
    auto state = source.Next(batch, 1000, stop.get_token());
    EXPECT_TRUE(state.ok()) << state.status().message();
    for (auto& r : batch.records) out.records.push_back(std::move(r));
    for (auto& d : batch.dead) out.dead.push_back(std::move(d));
    out.source_records += batch.source_records;
    if (!state.ok() || state.value() == SourceState::kFinished) break;
  }
  return out;
}

std::vector<std::string> Users() {
  simdjson::dom::parser parser;
  std::vector<std::string> users;
  for (simdjson::dom::element u :
       parser.parse(Fixture("v1.4-111-users-all-nats.json"))["results"].get_array()) {
    users.push_back(simdjson::minify(u));
  }
  return users;
}

std::string OneLine(const std::string& doc) {
  std::string line;
  for (char c : doc) {
    if (c != '\n') line.push_back(c);
  }
  return line;
}

// The fixture as the API pretty-prints it, with user `k` replaced by `bad` (pretty too).
std::string PrettyWith(size_t k, const std::string& bad) {
  const std::vector<std::string> users = Users();
  std::string doc = "{\n    \"results\": [\n";
  for (size_t i = 0; i < users.size(); ++i) {
    std::string user = i == k ? bad : users[i];
    std::string pretty = "        ";
    bool in_string = false;
    for (size_t j = 0; j < user.size(); ++j) {  // One member per line, as pretty-printers do.
      const char c = user[j];
      pretty.push_back(c);
      if (in_string && c == '\\' && j + 1 < user.size()) {
        pretty.push_back(user[++j]);
      } else if (c == '"') {
        in_string = !in_string;
      } else if (c == ',' && !in_string) {
        pretty += "\n            ";
      }
    }
    doc += pretty + (i + 1 < users.size() ? ",\n" : "\n");
  }
  return doc + "    ],\n    \"info\": {\"seed\": \"x\", \"results\": 111}\n}\n";
}

std::set<std::pair<uint64_t, uint32_t>> Positions(const Drained& d) {
  std::set<std::pair<uint64_t, uint32_t>> out;
  for (const auto& r : d.records) out.emplace(r.position, r.item);
  for (const auto& x : d.dead) out.emplace(x.position, x.item);
  return out;
}

TEST(FileSourceSplit, OneLineResponseGivesLineAndItemPerUser) {
  const std::vector<std::string> users = Users();
  std::string doc = "{\"results\":[";
  for (size_t i = 0; i < 20; ++i) doc += (i ? "," : "") + users[i];
  doc += "],\"info\":{}}";
  Drained d = ReadText("\n" + doc + "\n");
  ASSERT_EQ(d.records.size(), 20u);
  for (uint32_t i = 0; i < 20; ++i) {
    EXPECT_EQ(d.records[i].position, 2u);
    EXPECT_EQ(d.records[i].item, i);
  }
}

TEST(FileSourceSplit, RepeatedBadElementsAreEachTheirOwnDeadLetter) {
  Drained d = ReadText(R"({"results":[1,1,"x","x",{"a":1},{"a":1}]})"
                       "\n");
  ASSERT_EQ(d.dead.size(), 4u);
  ASSERT_EQ(d.records.size(), 2u);
  std::set<std::string> ids;
  for (const DeadLetter& x : d.dead) ids.insert(DeadLetterId(x));
  EXPECT_EQ(ids.size(), 4u);
  EXPECT_EQ(Positions(d).size(), 6u);
}

TEST(FileSourceSplit, PrettyDocumentOneBadUserCostsOnlyItself) {
  const std::string user = Users()[40];
  std::string deep = user;
  deep.insert(1, "\"deep\":" + std::string(5000, '[') + std::string(5000, ']') + ",");
  std::string huge = user;
  huge.insert(1, "\"n\":1e99999,");
  std::string utf8 = user;
  utf8.insert(utf8.find("\"first\":\"") + 9, "\xff");
  std::string quote = user;  // A missing quote: string parity flips for the rest of a line.
  quote.erase(quote.find("\"male\"") != std::string::npos ? quote.find("\"male\"")
                                                          : quote.find("\"female\""),
              1);
  for (const std::string& bad : {deep, huge, utf8, quote, std::string("7"), std::string("[1]")}) {
    SCOPED_TRACE(bad.substr(0, 60));
    Drained d = ReadText(PrettyWith(40, bad));
    EXPECT_EQ(d.records.size(), 110u);
    ASSERT_EQ(d.dead.size(), 1u);
    EXPECT_EQ(Positions(d).size(), 111u);
    EXPECT_EQ(d.dead[0].raw.find("\"sha256\""), std::string::npos);
  }
}

TEST(FileSourceSplit, TruncatedDocumentKeepsEveryCompleteUser) {
  const std::string doc = PrettyWith(1000, "");
  const std::vector<std::string> users = Users();
  for (size_t cut : {doc.size() / 3, doc.size() / 2, doc.size() - 40}) {
    SCOPED_TRACE(cut);
    const std::string text = doc.substr(0, cut);
    // Complete users: at least those followed by the start of another.
    size_t complete = 0;
    for (size_t at = text.find("},\n        {"); at != std::string::npos;
         at = text.find("},\n        {", at + 1)) {
      ++complete;
    }
    Drained d = ReadText(text);
    EXPECT_GE(d.records.size(), complete);
    EXPECT_LE(d.records.size(), complete + 1);  // The last user may end exactly at the cut.
    EXPECT_EQ(d.dead.size(), 1u);               // The broken tail, once.
  }
}

TEST(FileSourceSplit, OversizedRecordIsOneDeadLetterAndReadingGoesOn) {
  const std::vector<std::string> users = Users();
  std::string big = users[0];
  big.insert(1, "\"pad\":\"" + std::string(200000, 'a') + "\",");
  Drained d = ReadText(users[1] + "\n" + big + "\n" + users[2] + "\n", 64 << 10);
  ASSERT_EQ(d.records.size(), 2u);
  ASSERT_EQ(d.dead.size(), 1u);
  EXPECT_NE(d.dead[0].reason.find("limit 65536"), std::string::npos) << d.dead[0].reason;
  EXPECT_LE(d.dead[0].raw.size(), 4096u + 100u);
  EXPECT_EQ(d.dead[0].position, 2u);
  // The same inside a document: the neighbours survive.
  Drained doc = ReadText(PrettyWith(5, big), 64 << 10);
  EXPECT_EQ(doc.records.size(), 110u);
  EXPECT_EQ(doc.dead.size(), 1u);
}

TEST(FileSourceSplit, EndlessLineWithoutNewlineIsBounded) {
  // 8 MB of zeros, no newline, with a 64 KiB limit: one dead letter with a short prefix.
  Drained d = ReadText(std::string(8 << 20, '0'), 64 << 10);
  EXPECT_TRUE(d.records.empty());
  ASSERT_EQ(d.dead.size(), 1u);
  EXPECT_NE(d.dead[0].reason.find("8388608 bytes"), std::string::npos) << d.dead[0].reason;
  EXPECT_LE(d.dead[0].raw.size(), 4096u);
}

// The splitter's units do not depend on how the input is cut into reads.
TEST(FileSourceSplit, PropertyChunkingChangesNothing) {
  const std::vector<std::string> users = Users();
  std::mt19937_64 rng(9);
  for (int round = 0; round < 200; ++round) {
    std::string text;
    const int layout = round % 4;
    if (layout == 0) {
      for (int k = 0; k < 5; ++k) text += users[rng() % users.size()] + "\n";
    } else if (layout == 1) {
      text = OneLine(Fixture("v1.4-2-users-de-nz-null-id.json")) + "\n" + users[0] + "\n";
    } else if (layout == 2) {
      text = Fixture("v1.4-2-users-de-nz-null-id.json");
    } else {
      text = "[\n" + users[1] + ",\n" + users[2] + "\n]\n";
    }
    // Damage it a little.
    for (int m = 0; m < static_cast<int>(rng() % 3); ++m) {
      const size_t at = rng() % text.size();
      switch (rng() % 3) {
        case 0:
          text.erase(at, 1);
          break;
        case 1:
          text.insert(at, 1, "\"{}[],:\n"[rng() % 8]);
          break;
        default:
          text.resize(at);
      }
      if (text.empty()) text = "x";
    }
    RecordSplitter whole(4096);
    std::vector<SplitUnit> expected;
    whole.Feed(text, expected);
    whole.Finish(expected);
    RecordSplitter chunked(4096);
    std::vector<SplitUnit> got;
    for (size_t at = 0; at < text.size();) {
      const size_t n = 1 + rng() % 100;
      chunked.Feed(std::string_view(text).substr(at, n), got);
      at += n;
    }
    chunked.Finish(got);
    ASSERT_EQ(got.size(), expected.size()) << text;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].bytes, expected[i].bytes);
      EXPECT_EQ(got[i].line, expected[i].line);
      EXPECT_EQ(got[i].item, expected[i].item);
      EXPECT_EQ(got[i].kind, expected[i].kind);
    }
    EXPECT_EQ(chunked.complete(), whole.complete());
  }
}

// Random documents of good and bad users in every layout: every user is exactly one record
// or one dead letter, and no two share a (position, item).
TEST(FileSourceSplit, PropertyEveryUserIsOneRecordOrOneDeadLetter) {
  const std::vector<std::string> users = Users();
  std::mt19937_64 rng(4);
  for (int round = 0; round < 60; ++round) {
    SCOPED_TRACE(round);
    const size_t n = 1 + rng() % 30;
    std::vector<std::string> chosen;
    size_t bad = 0;
    for (size_t i = 0; i < n; ++i) {
      std::string u = users[rng() % users.size()];
      switch (rng() % 8) {
        case 0:
          u.insert(1, "\"d\":" + std::string(100, '[') + std::string(100, ']') + ",");
          ++bad;
          break;
        case 1:
          u.insert(1, "\"n\":-1e99999,");
          ++bad;
          break;
        case 2:
          u.insert(u.find("\"last\":\"") + 8, "\xc3");
          ++bad;
          break;
        case 3:
          u = std::to_string(rng() % 100);
          ++bad;
          break;
        default:
          break;
      }
      chosen.push_back(u);
    }
    std::string text;
    switch (round % 4) {
      case 0:
        for (const auto& u : chosen) text += u + "\n";
        break;
      case 1:
        text = "{\"results\":[";
        for (size_t i = 0; i < n; ++i) text += (i ? "," : "") + chosen[i];
        text += "]}\n";
        break;
      case 2:
        text = "{\n  \"results\": [\n";
        for (size_t i = 0; i < n; ++i) text += (i ? ",\n    " : "    ") + chosen[i];
        text += "\n  ],\n  \"info\": {}\n}\n";
        break;
      default:
        text = "[";
        for (size_t i = 0; i < n; ++i) text += (i ? ",\n" : "\n") + chosen[i];
        text += "\n]";
    }
    Drained d = ReadText(text);
    EXPECT_EQ(d.records.size(), n - bad);
    EXPECT_EQ(d.dead.size(), bad);
    EXPECT_EQ(Positions(d).size(), n);
    EXPECT_EQ(d.source_records, n);
  }
}

}  // namespace
}  // namespace spate
