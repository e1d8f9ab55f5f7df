// Ingest: splitting API responses and removing login secrets.
#include "transforms/ingest.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace spate {
namespace {

using spate::testing::Fixture;

TEST(Ingest, SplitsEveryFixtureAndRemovesSecrets) {
  for (const char* name : {"v1.4-111-users-all-nats.json", "v1.3-200-users-us.json",
                           "v1.4-1-user-br.json", "v1.4-2-users-de-nz-null-id.json"}) {
    SCOPED_TRACE(name);
    const std::string document = Fixture(name);
    ASSERT_NE(document.find("\"sha256\""), std::string::npos);  // The fixture has secrets.
    Ingestor ingestor;
    Batch batch;
    auto result = ingestor.SplitResponse(document, 100, batch);
    ASSERT_TRUE(result.ok()) << result.status().message();
    ASSERT_FALSE(batch.records.empty());
    EXPECT_EQ(result.value(), batch.records.size());
    for (size_t i = 0; i < batch.records.size(); ++i) {
      const std::string& json = batch.records[i].json;
      EXPECT_EQ(batch.records[i].position, 100 + i);
      for (std::string_view secret : kLoginSecrets) {
        EXPECT_EQ(json.find("\"" + std::string(secret) + "\""), std::string::npos) << json;
      }
      EXPECT_NE(json.find("\"uuid\""), std::string::npos);
      EXPECT_NE(json.find("\"username\""), std::string::npos);
      EXPECT_EQ(json.find('\n'), std::string::npos);  // Compact: one line per record.
    }
  }
}

TEST(Ingest, KeepsEverythingElseByteForByte) {
  Ingestor ingestor;
  std::string out;
  ASSERT_TRUE(ingestor
                  .StripSecrets(R"({"a":1.50,"s":"x\"y\u00e9","login":{"uuid":"u","password":"p",)"
                                R"("salt":"s","md5":"m","sha1":"h","sha256":"k","username":"n"},)"
                                R"("l":[true,null,{"password":"deep"}]})",
                                out)
                  .ok());
  EXPECT_EQ(out, R"({"a":1.50,"s":"x\"y\u00e9","login":{"uuid":"u","username":"n"},)"
                 R"("l":[true,null,{}]})");
}

TEST(Ingest, ApiErrorDocumentIsReported) {
  Ingestor ingestor;
  Batch batch;
  auto result = ingestor.SplitResponse(R"({"error":"Uh oh, something has gone wrong."})", 0, batch);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().kind(), ErrorKind::kFatal);
  EXPECT_NE(result.status().message().find("something has gone wrong"), std::string::npos);
}

TEST(Ingest, MalformedDocumentAddsNothing) {
  const std::string document = Fixture("v1.4-111-users-all-nats.json");
  Ingestor ingestor;
  for (size_t cut : {size_t{0}, size_t{5}, document.size() / 2, document.size() - 3}) {
    Batch batch;
    auto result = ingestor.SplitResponse(std::string_view(document).substr(0, cut), 0, batch);
    ASSERT_FALSE(result.ok()) << cut;
    EXPECT_EQ(result.status().kind(), ErrorKind::kInvalidInput);
    EXPECT_TRUE(batch.records.empty()) << cut;
  }
  Batch batch;
  EXPECT_FALSE(ingestor.SplitResponse(R"({"info":{}})", 0, batch).ok());
  EXPECT_FALSE(ingestor.SplitResponse(R"({"results":{}})", 0, batch).ok());
  // A bare array is a document of users (a file may hold one): its element is a dead letter.
  auto array = ingestor.SplitResponse(R"([1])", 0, batch);
  ASSERT_TRUE(array.ok());
  EXPECT_EQ(array.value(), 1u);
  EXPECT_EQ(batch.dead.size(), 1u);
}

TEST(Ingest, NonObjectElementsBecomeDeadLetters) {
  Ingestor ingestor;
  Batch batch;
  batch.origin = "here";
  auto result = ingestor.SplitResponse(R"({"results":[{"a":1},7,"x",{"b":2}]})", 10, batch);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.value(), 4u);
  ASSERT_EQ(batch.records.size(), 2u);
  ASSERT_EQ(batch.dead.size(), 2u);
  EXPECT_EQ(batch.dead[0].position, 11u);
  EXPECT_EQ(batch.dead[0].raw, "7");
  EXPECT_EQ(batch.dead[0].origin, "here");
  EXPECT_EQ(batch.records[1].position, 13u);
}

TEST(Ingest, AddUserDeadLettersBadLines) {
  Ingestor ingestor;
  Batch batch;
  batch.origin = "file:x";
  ingestor.AddUser(R"({"login":{"uuid":"u","sha1":"s"}})", 1, batch);
  ingestor.AddUser(R"({"truncated":)", 2, batch);
  ingestor.AddUser("\xff\xfe", 3, batch);
  ASSERT_EQ(batch.records.size(), 1u);
  EXPECT_EQ(batch.records[0].json, R"({"login":{"uuid":"u"}})");
  ASSERT_EQ(batch.dead.size(), 2u);
  EXPECT_EQ(batch.dead[0].position, 2u);
  EXPECT_NE(batch.dead[0].reason.find("JSON"), std::string::npos) << batch.dead[0].reason;
  EXPECT_EQ(batch.dead[1].raw, "\xff\xfe");
}

}  // namespace
}  // namespace spate
