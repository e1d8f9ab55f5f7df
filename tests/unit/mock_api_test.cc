// MockApiServer on loopback: response shape, parameter leniency, paging, nat filter, faults.
#include "http/mock_api.h"

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>

#include "sources/generator.h"

namespace spate {
namespace {

constexpr char kHost[] = "127.0.0.1";

class MockApiTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(MockApiOptions{}); }

  void Start(const MockApiOptions& options) {
    server_.Stop();
    Status started = server_.Start(options);
    ASSERT_TRUE(started.ok()) << started.message();
    ASSERT_GT(server_.port(), 0);
  }

  // GETs `target`, checks for 200 + JSON, and parses the body into `doc_`.
  simdjson::dom::element GetJson(const std::string& target) {
    httplib::Client client(kHost, server_.port());
    auto res = client.Get(target.c_str());
    EXPECT_TRUE(res) << "no response for " << target;
    if (!res) return {};
    EXPECT_EQ(res->status, 200) << target << ": " << res->body;
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json; charset=utf-8");
    body_ = res->body;
    simdjson::dom::element doc;
    auto error = parser_.parse(body_).get(doc);
    EXPECT_FALSE(error) << simdjson::error_message(error) << " in " << body_.substr(0, 200);
    return doc;
  }

  static std::vector<std::string> Users(simdjson::dom::element doc) {
    std::vector<std::string> users;
    simdjson::dom::array results;
    if (doc["results"].get(results)) {
      ADD_FAILURE() << "no results array";
      return users;
    }
    for (simdjson::dom::element user : results) users.push_back(simdjson::minify(user));
    return users;
  }

  MockApiServer server_;
  simdjson::dom::parser parser_;
  std::string body_;
};

TEST_F(MockApiTest, ServesApiShapeWithInfo) {
  simdjson::dom::element doc = GetJson("/api/?results=7&seed=abc&page=3");
  simdjson::dom::array results;
  ASSERT_FALSE(doc["results"].get(results));
  EXPECT_EQ(results.size(), 7u);
  for (simdjson::dom::element user : results) {
    std::string_view uuid;
    EXPECT_FALSE(user["login"]["uuid"].get(uuid));
    EXPECT_FALSE(uuid.empty());
    // The mock is the API: it sends the secrets that ingest must strip.
    std::string_view password;
    EXPECT_FALSE(user["login"]["password"].get(password));
  }
  std::string_view seed, version;
  uint64_t count = 0, page = 0;
  ASSERT_FALSE(doc["info"]["seed"].get(seed));
  ASSERT_FALSE(doc["info"]["results"].get(count));
  ASSERT_FALSE(doc["info"]["page"].get(page));
  ASSERT_FALSE(doc["info"]["version"].get(version));
  EXPECT_EQ(seed, "abc");
  EXPECT_EQ(count, 7u);
  EXPECT_EQ(page, 3u);
  EXPECT_EQ(version, "1.4");
  EXPECT_EQ(server_.requests_served(), 1u);
}

TEST_F(MockApiTest, ServesTheGeneratorsUsers) {
  Result<UserGenerator> generator = UserGenerator::Create(
      GeneratorOptions{.seed = "gen", .nationalities = {}, .include_login_secrets = true});
  ASSERT_TRUE(generator.ok()) << generator.status().message();
  std::vector<std::string> users = Users(GetJson("/api/?results=4&seed=gen&page=2"));
  ASSERT_EQ(users.size(), 4u);
  for (uint64_t i = 0; i < users.size(); ++i) {
    std::string expected;
    generator->AppendUser(4 + i, expected);
    EXPECT_EQ(users[i], simdjson::minify(parser_.parse(expected).value())) << "user " << 4 + i;
  }
}

// Regression: cpp-httplib brotli-compressed bare "application/json" at its default quality,
// which took ~8 s per 5000-user page for clients that accept br (curl --compressed).
TEST_F(MockApiTest, FullPageIsFastForClientsAcceptingCompression) {
  httplib::Client client(kHost, server_.port());
  const auto start = std::chrono::steady_clock::now();
  auto res = client.Get("/api/?results=5000&seed=big", {{"Accept-Encoding", "gzip, deflate, br"}});
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_LT(elapsed, std::chrono::seconds(3));
}

TEST_F(MockApiTest, PagingIsDeterministic) {
  const std::vector<std::string> wide = Users(GetJson("/api/?results=20&seed=paging&page=1"));
  const std::vector<std::string> second = Users(GetJson("/api/?results=10&seed=paging&page=2"));
  const std::vector<std::string> again = Users(GetJson("/api/?results=10&seed=paging&page=2"));
  ASSERT_EQ(wide.size(), 20u);
  ASSERT_EQ(second.size(), 10u);
  EXPECT_EQ(second, again);
  EXPECT_EQ(second, std::vector<std::string>(wide.begin() + 10, wide.end()));
  const std::vector<std::string> other = Users(GetJson("/api/?results=10&seed=other&page=2"));
  EXPECT_NE(second, other);
}

std::set<std::string> Nats(simdjson::dom::element doc) {
  std::set<std::string> nats;
  simdjson::dom::array results;
  if (doc["results"].get(results)) return nats;
  for (simdjson::dom::element user : results) {
    std::string_view nat;
    if (!user["nat"].get(nat)) nats.emplace(nat);
  }
  return nats;
}

TEST_F(MockApiTest, NatFilterIsCaseInsensitiveAndIgnoresUnknownCodes) {
  EXPECT_EQ(Nats(GetJson("/api/?results=200&seed=n&nat=au,BR")),
            (std::set<std::string>{"AU", "BR"}));
  EXPECT_EQ(Nats(GetJson("/api/?results=50&seed=n&nat=xx,nz")), (std::set<std::string>{"NZ"}));
  // None valid: all nationalities, as the real API does.
  EXPECT_GT(Nats(GetJson("/api/?results=300&seed=n&nat=xx,yy")).size(), 5u);
  EXPECT_GT(Nats(GetJson("/api/?results=300&seed=n")).size(), 5u);
}

TEST_F(MockApiTest, OutOfRangeOrGarbageResultsBecomeOne) {
  for (const char* results : {"0", "5001", "abc", "-3", "", "7x"}) {
    simdjson::dom::element doc = GetJson(std::string("/api/?seed=s&results=") + results);
    EXPECT_EQ(Users(doc).size(), 1u) << "results=" << results;
    uint64_t count = 0;
    EXPECT_FALSE(doc["info"]["results"].get(count));
    EXPECT_EQ(count, 1u) << "results=" << results;
  }
  EXPECT_EQ(Users(GetJson("/api/?seed=s")).size(), 1u);
  EXPECT_EQ(Users(GetJson("/api/?seed=s&results=5000")).size(), 5000u);
}

TEST_F(MockApiTest, GarbagePageBecomesOne) {
  EXPECT_EQ(Users(GetJson("/api/?seed=p&results=3&page=zero")),
            Users(GetJson("/api/?seed=p&results=3&page=1")));
  uint64_t page = 0;
  EXPECT_FALSE(GetJson("/api/?seed=p&page=0")["info"]["page"].get(page));
  EXPECT_EQ(page, 1u);
}

TEST_F(MockApiTest, NoInfoOmitsTheInfoBlock) {
  simdjson::dom::element doc = GetJson("/api/?results=2&seed=x&noinfo");
  EXPECT_EQ(Users(doc).size(), 2u);
  simdjson::dom::element info;
  EXPECT_EQ(doc["info"].get(info), simdjson::NO_SUCH_FIELD);
}

TEST_F(MockApiTest, RandomSeedWhenNoneGiven) {
  std::string_view seed;
  ASSERT_FALSE(GetJson("/api/")["info"]["seed"].get(seed));
  const std::string first(seed);
  ASSERT_FALSE(GetJson("/api/")["info"]["seed"].get(seed));
  EXPECT_EQ(first.size(), 16u);
  EXPECT_NE(first, std::string(seed));
}

TEST_F(MockApiTest, VersionedPathsAnswerTheSame) {
  const std::vector<std::string> plain = Users(GetJson("/api/?results=3&seed=v"));
  for (const char* path : {"/api", "/api/1.4/", "/api/1.3/", "/api/1.4"}) {
    EXPECT_EQ(Users(GetJson(std::string(path) + "?results=3&seed=v")), plain) << path;
  }
  std::string_view version;
  ASSERT_FALSE(GetJson("/api/1.3/?seed=v")["info"]["version"].get(version));
  EXPECT_EQ(version, "1.3");
  ASSERT_FALSE(GetJson("/api/1.4/?seed=v")["info"]["version"].get(version));
  EXPECT_EQ(version, "1.4");
}

TEST_F(MockApiTest, OnlyJsonFormat) {
  httplib::Client client(kHost, server_.port());
  auto csv = client.Get("/api/?format=csv");
  ASSERT_TRUE(csv);
  EXPECT_EQ(csv->status, 400);
  EXPECT_NE(csv->body.find("json only"), std::string::npos);
  EXPECT_EQ(Users(GetJson("/api/?format=json&results=2")).size(), 2u);
  auto missing = client.Get("/users");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST_F(MockApiTest, InjectsFailuresForTheFirstRequests) {
  Start(MockApiOptions{.host = kHost, .port = 0, .fail_first = 2, .fail_status = 503});
  httplib::Client client(kHost, server_.port());
  for (int i = 0; i < 2; ++i) {
    auto res = client.Get("/api/?results=1");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 503);
    EXPECT_NE(res->body.find("\"error\""), std::string::npos);
  }
  auto res = client.Get("/api/?results=1");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(server_.requests_served(), 3u);
}

TEST_F(MockApiTest, BindFailureNamesHostAndPort) {
  MockApiServer second;
  Status status = second.Start(
      MockApiOptions{.host = kHost, .port = server_.port(), .fail_first = 0, .fail_status = 500});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.kind(), ErrorKind::kFatal);
  EXPECT_NE(status.message().find(std::string(kHost) + ":" + std::to_string(server_.port())),
            std::string::npos)
      << status.message();
}

TEST_F(MockApiTest, StartTwiceFailsAndStopIsIdempotent) {
  EXPECT_FALSE(server_.Start(MockApiOptions{}).ok());
  server_.Stop();
  server_.Stop();
  Start(MockApiOptions{});  // Restartable after Stop.
  EXPECT_EQ(Users(GetJson("/api/?results=2")).size(), 2u);
}

}  // namespace
}  // namespace spate
