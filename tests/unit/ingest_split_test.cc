// Ingest, splitting user by user (issue 17, items 4, 5, 9): SplitPage for HTTP pages and
// RecordSplitter for streams. One bad user costs only itself; a truncated document keeps
// every complete user; positions are (line, item); memory is bounded by the record limit.
#include <gtest/gtest.h>

#include <random>

#include "test_util.h"
#include "transforms/ingest.h"

namespace spate {
namespace {

using spate::testing::Fixture;

// The fixture's users as compact JSON texts, with their login secrets (parsed, so exact).
std::vector<std::string> FixtureUsers(const char* name = "v1.4-111-users-all-nats.json") {
  simdjson::dom::parser parser;
  const std::string doc = Fixture(name);
  std::vector<std::string> users;
  for (simdjson::dom::element user : parser.parse(doc)["results"].get_array()) {
    users.push_back(simdjson::minify(user));
  }
  return users;
}

std::string Response(const std::vector<std::string>& users, const std::string& sep = ",") {
  std::string doc = "{\"results\":[";
  for (size_t i = 0; i < users.size(); ++i) doc += (i ? sep : "") + users[i];
  return doc + "],\"info\":{\"seed\":\"x\",\"results\":" + std::to_string(users.size()) +
         ",\"page\":1,\"version\":\"1.4\"}}";
}

// A deeply nested but valid field, an out-of-range number, an invalid UTF-8 byte, a wrong
// type: each spoils only its own user.
std::vector<std::string> BadUsers(const std::string& user) {
  std::string deep = user;
  deep.insert(1, "\"deep\":" + std::string(2000, '[') + std::string(2000, ']') + ",");
  std::string huge = user;
  huge.insert(1, "\"n\":1e99999,");
  std::string utf8 = user;
  utf8.insert(utf8.find("\"first\":\"") + 9, "\xff");
  return {deep, huge, utf8, "7", "\"x\"", "[1,2]"};
}

TEST(IngestSplit, PageOneBadUserCostsOnlyItself) {
  const std::vector<std::string> good = FixtureUsers();
  for (const std::string& bad : BadUsers(good[0])) {
    SCOPED_TRACE(bad.substr(0, 40));
    std::vector<std::string> users(good.begin(), good.begin() + 20);
    users[7] = bad;
    Ingestor ingestor;
    Batch batch;
    batch.origin = "http";
    auto page = ingestor.SplitPage(Response(users), 1000, batch);
    EXPECT_TRUE(page.complete);
    EXPECT_TRUE(page.api_error.empty());
    EXPECT_EQ(page.users, 20u);
    ASSERT_EQ(batch.records.size(), 19u);
    ASSERT_EQ(batch.dead.size(), 1u);
    EXPECT_EQ(batch.dead[0].position, 1007u);
    EXPECT_EQ(batch.dead[0].item, 0u);
    EXPECT_EQ(batch.records[7].position, 1008u);
    for (const RawRecord& r : batch.records)
      EXPECT_EQ(r.json.find("\"sha256\""), std::string::npos);
    EXPECT_EQ(batch.dead[0].raw.find("\"sha256\""), std::string::npos);
  }
}

TEST(IngestSplit, PageTruncatedKeepsCompleteUsersAndSaysIncomplete) {
  const std::vector<std::string> good = FixtureUsers();
  const std::string doc = Response({good.begin(), good.begin() + 10});
  const size_t third = doc.find(good[3]);
  ASSERT_NE(third, std::string::npos);
  Ingestor ingestor;
  Batch batch;
  auto page = ingestor.SplitPage(std::string_view(doc).substr(0, third + 100), 0, batch);
  EXPECT_FALSE(page.complete);
  EXPECT_EQ(batch.records.size(), 3u);
  ASSERT_EQ(batch.dead.size(), 1u);  // The broken tail, once.
  EXPECT_EQ(page.users, 4u);
  EXPECT_EQ(batch.dead[0].position, 3u);
}

TEST(IngestSplit, PageApiErrorAddsNothing) {
  Ingestor ingestor;
  Batch batch;
  auto page = ingestor.SplitPage(R"({"error":"Uh oh, something has gone wrong."})", 0, batch);
  EXPECT_FALSE(page.complete);
  EXPECT_NE(page.api_error.find("something has gone wrong"), std::string::npos);
  EXPECT_TRUE(batch.records.empty());
  EXPECT_TRUE(batch.dead.empty());
}

TEST(IngestSplit, PageWithAByteOrderMarkIsComplete) {
  Ingestor ingestor;
  Batch batch;
  auto page =
      ingestor.SplitPage("\xEF\xBB\xBF" + Fixture("v1.4-2-users-de-nz-null-id.json"), 0, batch);
  EXPECT_TRUE(page.complete);
  EXPECT_EQ(batch.records.size(), 2u);
}

TEST(IngestSplit, PageWholeFixturesAreComplete) {
  for (const char* name :
       {"v1.4-111-users-all-nats.json", "v1.3-200-users-us.json", "v1.4-1-user-br.json",
        "v1.4-2-users-de-nz-null-id.json", "legacy-0.x-format.json"}) {
    SCOPED_TRACE(name);
    const std::string doc = Fixture(name);
    Ingestor ingestor;
    Batch batch;
    auto page = ingestor.SplitPage(doc, 5, batch);
    EXPECT_TRUE(page.complete);
    EXPECT_TRUE(batch.dead.empty());
    EXPECT_EQ(page.users, batch.records.size());
    EXPECT_GT(page.users, 0u);
    // Trailing garbage or a second document: not complete.
    Batch again;
    EXPECT_FALSE(ingestor.SplitPage(doc + "x", 5, again).complete);
    Batch twice;
    EXPECT_FALSE(ingestor.SplitPage(doc + doc, 5, twice).complete);
  }
}

}  // namespace
}  // namespace spate
