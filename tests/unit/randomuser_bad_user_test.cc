// Issue 17, item 5 over HTTP: one bad user in a page (deep nesting, 1e99999, one invalid
// UTF-8 byte, not an object) is one dead letter at its position; its neighbours are records
// and the page is not retried. A page cut short as a whole is still retried.
#include <charconv>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "http_test_servers.h"
#include "sources/randomuser_source.h"

namespace spate {
namespace {

using spate::testing::HttpScript;
using spate::testing::UserPage;
using std::chrono::milliseconds;

constexpr char kJson[] = "application/json; charset=utf-8";  // Not compressed by httplib.
constexpr char kSeed[] = "bad";
constexpr char kPassword[] = "hunter2-in-a-bad-user";

// A user that cannot become a record, of each kind the issue names (and an array where a
// user belongs), each carrying a login secret that must not reach the dead letter. Each is
// well-formed structurally: a string left open would swallow the rest of a one-line page,
// which is the page cut short (retried), not one bad user.
std::vector<std::string> BadUsers() {
  const std::string login =
      std::string(R"("login":{"uuid":"u-1","password":")") + kPassword + R"(","salt":"NaCl"})";
  std::string deep = "{" + login + R"(,"deep":)";
  for (int i = 0; i < 5000; ++i) deep += "[";
  for (int i = 0; i < 5000; ++i) deep += "]";
  deep += "}";
  return {
      deep, "{" + login + R"(,"dob":{"age":1e99999}})",
      "{" + login + ",\"name\":{\"first\":\"Ren\xff\"}}",
      "[{" + login + "}]",  // Not an object.
  };
}

// Users [first, first + n) of the generator, with `bad` in place of user first + bad_at.
std::string PageWithBadUser(uint64_t first, uint64_t n, uint64_t bad_at, const std::string& bad) {
  std::string body = R"({"results":[)";
  for (uint64_t i = 0; i < n; ++i) {
    if (i > 0) body.push_back(',');
    if (i == bad_at) {
      body += bad;
      continue;
    }
    const std::string one = UserPage(kSeed, first + i, 1);
    body += one.substr(12, one.size() - 14);  // The user inside {"results":[...]}.
  }
  body += R"(],"info":{"seed":"bad"}})";
  return body;
}

uint64_t Param(const httplib::Request& req, const char* name) {
  const std::string text = req.has_param(name) ? req.get_param_value(name) : "1";
  uint64_t value = 1;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

RandomUserOptions Options(const std::string& url, uint64_t count, uint32_t page_size) {
  RandomUserOptions options;
  options.base_url = url;
  options.seed = kSeed;
  options.count = count;
  options.page_size = page_size;
  options.max_retries = 2;
  options.backoff_initial = milliseconds(1);
  options.backoff_max = milliseconds(2);
  options.timeout = milliseconds(10000);
  return options;
}

struct Drained {
  Status status;
  std::vector<RawRecord> records;
  std::vector<DeadLetter> dead;
};

Drained Drain(const RandomUserOptions& options) {
  Drained out;
  auto source = RandomUserSource::Create(options);
  if (!source.ok()) {
    out.status = source.status();
    return out;
  }
  for (int i = 0; i < 100000; ++i) {
    Batch batch;
    Result<SourceState> state = (*source)->Next(batch, 1000, {});
    for (RawRecord& r : batch.records) out.records.push_back(std::move(r));
    for (DeadLetter& d : batch.dead) out.dead.push_back(std::move(d));
    if (!state.ok()) {
      out.status = state.status();
      return out;
    }
    if (*state == SourceState::kFinished) return out;
  }
  out.status = Status::Fatal("never finished");
  return out;
}

TEST(RandomUserBadUser, OneBadUserIsOneDeadLetterAndThePageIsKept) {
  for (const std::string& bad : BadUsers()) {
    SCOPED_TRACE(bad.substr(0, 80));
    HttpScript server([&](int, const httplib::Request&, httplib::Response& res) {
      res.set_content(PageWithBadUser(0, 5, 2, bad), kJson);
    });
    Drained got = Drain(Options(server.url(), 5, 5));
    ASSERT_TRUE(got.status.ok()) << got.status.message();
    EXPECT_EQ(server.requests(), 1) << "the page was retried";
    ASSERT_EQ(got.records.size(), 4u);
    ASSERT_EQ(got.dead.size(), 1u);
    EXPECT_EQ(got.dead[0].position, 2u);
    EXPECT_EQ(got.dead[0].item, 0u);
    std::set<uint64_t> positions;
    for (const RawRecord& r : got.records) positions.insert(r.position);
    EXPECT_EQ(positions, (std::set<uint64_t>{0, 1, 3, 4}));
    EXPECT_EQ(got.dead[0].raw.find(kPassword), std::string::npos) << got.dead[0].raw;
    EXPECT_EQ(got.dead[0].reason.find(kPassword), std::string::npos) << got.dead[0].reason;
  }
}

// A page cut short in the middle of a user is a transfer problem: retried, and the whole
// page is taken from the retry (nothing of the cut copy is kept twice).
TEST(RandomUserBadUser, TruncatedPageIsRetriedNotDeadLettered) {
  HttpScript server([&](int n, const httplib::Request&, httplib::Response& res) {
    const std::string page = UserPage(kSeed, 0, 6);
    res.set_content(n == 0 ? page.substr(0, page.size() * 2 / 3) : page, kJson);
  });
  Drained got = Drain(Options(server.url(), 6, 6));
  ASSERT_TRUE(got.status.ok()) << got.status.message();
  EXPECT_EQ(server.requests(), 2);
  EXPECT_EQ(got.records.size(), 6u);
  EXPECT_TRUE(got.dead.empty());
}

// Property: pages with bad users at random places (several per page, any kind, pages of
// random sizes): every position is a record or a dead letter exactly once, the dead ones are
// exactly the bad ones, no page is fetched twice, and no planted password survives.
TEST(RandomUserBadUser, BadUsersAnywhereCostOnlyThemselves) {
  const std::vector<std::string> bad_kinds = BadUsers();
  std::mt19937_64 rng(5);
  std::mutex mutex;
  std::set<uint64_t> bad_positions;
  uint64_t seed = 0;
  HttpScript server([&](int, const httplib::Request& req, httplib::Response& res) {
    const uint64_t results = Param(req, "results");
    const uint64_t first = (Param(req, "page") - 1) * results;
    std::string body = R"({"results":[)";
    std::lock_guard lock(mutex);
    for (uint64_t i = 0; i < results; ++i) {
      if (i > 0) body.push_back(',');
      // The same position is bad in every answer (a retry would see it again).
      std::mt19937_64 at(seed * 1000003 + first + i);
      if (at() % 7 == 0) {
        bad_positions.insert(first + i);
        body += bad_kinds[at() % bad_kinds.size()];
      } else {
        const std::string one = UserPage(kSeed, first + i, 1);
        body += one.substr(12, one.size() - 14);
      }
    }
    body += "]}";
    res.set_content(body, kJson);
  });
  uint64_t total_dead = 0;
  for (int c = 0; c < 40; ++c) {
    const uint64_t count = 1 + rng() % 120;
    const uint32_t page_size = static_cast<uint32_t>(1 + rng() % 40);
    {
      std::lock_guard lock(mutex);
      seed = rng();
      bad_positions.clear();
    }
    SCOPED_TRACE(::testing::Message()
                 << "case " << c << " count " << count << " page size " << page_size);
    const int requests_before = server.requests();
    Drained got = Drain(Options(server.url(), count, page_size));
    ASSERT_TRUE(got.status.ok()) << got.status.message();
    const uint64_t per_page = std::min<uint64_t>(page_size, count);
    EXPECT_EQ(server.requests() - requests_before,
              static_cast<int>((count + per_page - 1) / per_page))
        << "a page was retried";
    std::set<uint64_t> records;
    std::set<uint64_t> dead;
    for (const RawRecord& r : got.records) EXPECT_TRUE(records.insert(r.position).second);
    for (const DeadLetter& d : got.dead) {
      EXPECT_TRUE(dead.insert(d.position).second);
      EXPECT_EQ(d.raw.find(kPassword), std::string::npos) << d.raw.substr(0, 200);
    }
    EXPECT_EQ(records.size() + dead.size(), count);
    std::set<uint64_t> expected_dead;
    {
      std::lock_guard lock(mutex);
      for (uint64_t p : bad_positions) {
        if (p < count) expected_dead.insert(p);
      }
    }
    EXPECT_EQ(dead, expected_dead);
    for (uint64_t p : records) EXPECT_EQ(expected_dead.count(p), 0u);
    total_dead += dead.size();
  }
  EXPECT_GT(total_dead, 50u);
}

}  // namespace
}  // namespace spate
