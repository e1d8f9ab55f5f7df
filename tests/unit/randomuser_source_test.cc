// RandomUserSource against loopback servers: the mock API for paging and content, small
// scripted httplib servers for retries, refusals and stops. Only 127.0.0.1 is ever used.
#include "sources/randomuser_source.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>

#include "http/mock_api.h"
#include "sources/generator.h"

namespace spate {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr char kHost[] = "127.0.0.1";
constexpr size_t kMaxRecords = 1000;

std::string ReadFixture(const std::string& name) {
  std::ifstream in(std::string(SPATE_FIXTURES_DIR) + "/" + name, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A port on 127.0.0.1 with nothing listening: bind an ephemeral port, then close it.
int UnusedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  ::inet_pton(AF_INET, kHost, &addr.sin_addr);
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A scripted HTTP server: `handler` answers GET /api/ with the request number (0-based).
class ScriptedServer {
 public:
  using Handler = std::function<void(int request, const httplib::Request&, httplib::Response&)>;

  explicit ScriptedServer(Handler handler) : handler_(std::move(handler)) {
    server_.Get("/api/", [this](const httplib::Request& req, httplib::Response& res) {
      const int n = requests_.fetch_add(1);
      {
        std::lock_guard lock(mutex_);
        user_agent_ = req.get_header_value("User-Agent");
        accept_encoding_ = req.get_header_value("Accept-Encoding");
        last_target_ = req.target;
      }
      handler_(n, req, res);
    });
    port_ = server_.bind_to_any_port(kHost);
    thread_ = std::jthread([this] { server_.listen_after_bind(); });
    while (port_ > 0 && !server_.is_running()) std::this_thread::sleep_for(milliseconds(1));
  }
  ~ScriptedServer() {
    server_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api/"; }
  int requests() const { return requests_.load(); }
  std::string user_agent() const {
    std::lock_guard lock(mutex_);
    return user_agent_;
  }
  std::string accept_encoding() const {
    std::lock_guard lock(mutex_);
    return accept_encoding_;
  }
  std::string last_target() const {
    std::lock_guard lock(mutex_);
    return last_target_;
  }

 private:
  Handler handler_;
  httplib::Server server_;
  int port_ = 0;
  std::atomic<int> requests_{0};
  mutable std::mutex mutex_;
  std::string user_agent_;
  std::string accept_encoding_;
  std::string last_target_;
  std::jthread thread_;  // Last: joined before the rest is destroyed.
};

// Small backoffs so failing paths stay fast.
RandomUserOptions FastOptions(const std::string& url) {
  RandomUserOptions options;
  options.base_url = url;
  options.seed = "test";
  options.count = 1;
  options.page_size = 1;
  options.max_retries = 2;
  options.backoff_initial = milliseconds(10);
  options.backoff_max = milliseconds(40);
  options.timeout = milliseconds(5000);
  options.connect_timeout = milliseconds(2000);
  return options;
}

std::unique_ptr<RandomUserSource> MakeSource(const RandomUserOptions& options) {
  Result<std::unique_ptr<RandomUserSource>> source = RandomUserSource::Create(options);
  EXPECT_TRUE(source.ok()) << source.status().message();
  return source.ok() ? std::move(source).value() : nullptr;
}

struct Drained {
  Status status;  // Ok when the source reported kFinished.
  std::vector<RawRecord> records;
  std::vector<DeadLetter> dead;
  uint64_t source_records = 0;
  size_t batches = 0;
  size_t largest_batch = 0;
};

Drained Drain(Source& source, size_t max_records = kMaxRecords, std::stop_token stop = {}) {
  Drained out;
  for (;;) {
    Batch batch;
    Result<SourceState> state = source.Next(batch, max_records, stop);
    if (!state.ok()) {
      out.status = state.status();
      return out;
    }
    ++out.batches;
    out.largest_batch = std::max(out.largest_batch, batch.records.size());
    out.source_records += batch.source_records;
    EXPECT_EQ(batch.source_records, batch.records.size() + batch.dead.size());
    for (RawRecord& r : batch.records) out.records.push_back(std::move(r));
    for (DeadLetter& d : batch.dead) out.dead.push_back(std::move(d));
    if (*state == SourceState::kFinished) return out;
  }
}

std::string Uuid(simdjson::dom::parser& parser, const std::string& json) {
  std::string_view uuid;
  if (parser.parse(json)["login"]["uuid"].get(uuid)) return "";
  return std::string(uuid);
}

class RandomUserSourceMockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Status started = mock_.Start(MockApiOptions{});
    ASSERT_TRUE(started.ok()) << started.message();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(mock_.port()) + "/api/"; }

  // login.uuid of the generator's users [first, first+count).
  std::vector<std::string> GeneratorUuids(const GeneratorOptions& options, uint64_t first,
                                          uint64_t count) {
    Result<UserGenerator> generator = UserGenerator::Create(options);
    EXPECT_TRUE(generator.ok()) << generator.status().message();
    std::vector<std::string> uuids;
    for (uint64_t i = first; generator.ok() && i < first + count; ++i) {
      std::string json;
      generator->AppendUser(i, json);
      uuids.push_back(Uuid(parser_, json));
    }
    return uuids;
  }

  MockApiServer mock_;
  simdjson::dom::parser parser_;
};

TEST_F(RandomUserSourceMockTest, FetchesCountUsersAcrossPages) {
  RandomUserOptions options = FastOptions(url());
  options.seed = "pages";
  options.count = 23;  // Not a multiple of the page size: the last page is truncated.
  options.page_size = 5;
  auto source = MakeSource(options);
  ASSERT_TRUE(source);

  Drained got = Drain(*source);
  ASSERT_TRUE(got.status.ok()) << got.status.message();
  ASSERT_EQ(got.records.size(), 23u);
  EXPECT_TRUE(got.dead.empty());
  EXPECT_EQ(got.source_records, 23u);
  EXPECT_EQ(source->requests_made(), 5u);
  EXPECT_EQ(mock_.requests_served(), 5u);

  const std::vector<std::string> expected = GeneratorUuids(
      GeneratorOptions{.seed = "pages", .nationalities = {}, .include_login_secrets = true}, 0, 23);
  for (size_t i = 0; i < got.records.size(); ++i) {
    const RawRecord& record = got.records[i];
    EXPECT_EQ(record.position, i);
    EXPECT_EQ(Uuid(parser_, record.json), expected[i]) << "user " << i;
    simdjson::dom::element login = parser_.parse(record.json)["login"];
    std::string_view username;
    EXPECT_FALSE(login["username"].get(username)) << record.json;
    for (std::string_view secret : kLoginSecrets) {
      simdjson::dom::element value;
      EXPECT_EQ(login[secret].get(value), simdjson::NO_SUCH_FIELD) << secret << " leaked";
    }
  }

  // Finished stays finished.
  Batch batch;
  Result<SourceState> again = source->Next(batch, kMaxRecords, {});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, SourceState::kFinished);
  EXPECT_TRUE(batch.records.empty());
}

TEST_F(RandomUserSourceMockTest, BatchesRespectMaxRecordsAndCarryTheOrigin) {
  RandomUserOptions options = FastOptions(url());
  options.count = 12;
  options.page_size = 10;
  auto source = MakeSource(options);
  ASSERT_TRUE(source);
  Batch batch;
  Result<SourceState> state = source->Next(batch, 4, {});
  ASSERT_TRUE(state.ok()) << state.status().message();
  EXPECT_EQ(*state, SourceState::kHaveMore);
  EXPECT_EQ(batch.records.size(), 4u);
  EXPECT_EQ(batch.source_records, 4u);
  EXPECT_EQ(batch.origin, url());

  Drained rest = Drain(*source, 4);
  ASSERT_TRUE(rest.status.ok()) << rest.status.message();
  EXPECT_EQ(rest.records.size(), 8u);
  EXPECT_LE(rest.largest_batch, 4u);
  EXPECT_EQ(rest.records.front().position, 4u);
  EXPECT_EQ(rest.records.back().position, 11u);
  EXPECT_EQ(source->requests_made(), 2u);
}

TEST_F(RandomUserSourceMockTest, FirstPageAndNationalitiesKeepPositionsGlobal) {
  RandomUserOptions options = FastOptions(url());
  options.seed = "nat seed/ü";  // Needs URL encoding.
  options.nationalities = {"au", "BR"};
  options.count = 7;
  options.page_size = 4;
  options.first_page = 3;  // Users 8.. onwards.
  auto source = MakeSource(options);
  ASSERT_TRUE(source);
  Drained got = Drain(*source);
  ASSERT_TRUE(got.status.ok()) << got.status.message();
  ASSERT_EQ(got.records.size(), 7u);

  const std::vector<std::string> expected = GeneratorUuids(
      GeneratorOptions{
          .seed = "nat seed/ü", .nationalities = {"AU", "BR"}, .include_login_secrets = true},
      8, 7);
  for (size_t i = 0; i < got.records.size(); ++i) {
    EXPECT_EQ(got.records[i].position, 8 + i);
    EXPECT_EQ(Uuid(parser_, got.records[i].json), expected[i]);
    std::string_view nat;
    ASSERT_FALSE(parser_.parse(got.records[i].json)["nat"].get(nat));
    EXPECT_TRUE(nat == "AU" || nat == "BR") << nat;
  }
}

TEST_F(RandomUserSourceMockTest, CountBelowPageSizeNeedsOneRequest) {
  RandomUserOptions options = FastOptions(url());
  options.count = 3;
  options.page_size = 5000;
  auto source = MakeSource(options);
  ASSERT_TRUE(source);
  Drained got = Drain(*source);
  ASSERT_TRUE(got.status.ok()) << got.status.message();
  EXPECT_EQ(got.records.size(), 3u);
  EXPECT_EQ(source->requests_made(), 1u);
}

TEST_F(RandomUserSourceMockTest, UnlimitedCountKeepsPaging) {
  RandomUserOptions options = FastOptions(url());
  options.count = 0;
  options.page_size = 3;
  auto source = MakeSource(options);
  ASSERT_TRUE(source);
  uint64_t expected_position = 0;
  for (int i = 0; i < 4; ++i) {
    Batch batch;
    Result<SourceState> state = source->Next(batch, kMaxRecords, {});
    ASSERT_TRUE(state.ok()) << state.status().message();
    EXPECT_EQ(*state, SourceState::kHaveMore);
    ASSERT_EQ(batch.records.size(), 3u);
    for (const RawRecord& r : batch.records) EXPECT_EQ(r.position, expected_position++);
  }
}

TEST_F(RandomUserSourceMockTest, InjectedServerErrorsAreRetried) {
  mock_.Stop();
  ASSERT_TRUE(
      mock_.Start(MockApiOptions{.host = kHost, .port = 0, .fail_first = 2, .fail_status = 503})
          .ok());
  RandomUserOptions options = FastOptions(url());
  options.count = 5;
  options.page_size = 5;
  auto source = MakeSource(options);
  ASSERT_TRUE(source);
  Drained got = Drain(*source);
  ASSERT_TRUE(got.status.ok()) << got.status.message();
  EXPECT_EQ(got.records.size(), 5u);
  EXPECT_EQ(mock_.requests_served(), 3u);
}

TEST(RandomUserSourceTest, RetriesTooManyRequestsHonouringRetryAfter) {
  const std::string document = ReadFixture("v1.4-1-user-br.json");
  ASSERT_FALSE(document.empty());
  ScriptedServer server([&](int n, const httplib::Request&, httplib::Response& res) {
    if (n < 2) {
      res.status = 429;
      res.set_header("Retry-After", "0");
      res.set_content(R"({"error":"slow down"})", "application/json");
      return;
    }
    res.set_content(document, "application/json");
  });
  RandomUserOptions options = FastOptions(server.url());
  options.backoff_initial = milliseconds(5000);  // Retry-After: 0 must win over this.
  options.backoff_max = milliseconds(5000);
  auto source = MakeSource(options);
  ASSERT_TRUE(source);

  const auto start = Clock::now();
  Drained got = Drain(*source);
  ASSERT_TRUE(got.status.ok()) << got.status.message();
  EXPECT_LT(Clock::now() - start, milliseconds(2000));
  ASSERT_EQ(got.records.size(), 1u);
  EXPECT_NE(got.records[0].json.find("4bbbf423-b3dd-409f-b35b-53957fc1b362"), std::string::npos);
  EXPECT_EQ(got.records[0].json.find("cheese1"), std::string::npos);
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(source->requests_made(), 3u);
  EXPECT_EQ(server.user_agent(), "spate/0.1");
  EXPECT_NE(server.accept_encoding().find("gzip"), std::string::npos);
  EXPECT_EQ(server.last_target(), "/api/?results=1&seed=test&page=1");
}

TEST(RandomUserSourceTest, PersistentServerErrorIsFatalAfterMaxRetries) {
  ScriptedServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.status = 500;
    res.set_content("database on fire", "text/plain");
  });
  auto source = MakeSource(FastOptions(server.url()));
  ASSERT_TRUE(source);
  Drained got = Drain(*source);
  ASSERT_EQ(got.status.kind(), ErrorKind::kFatal);
  const std::string& message = got.status.message();
  EXPECT_NE(message.find("HTTP 500"), std::string::npos) << message;
  EXPECT_NE(message.find("database on fire"), std::string::npos) << message;
  EXPECT_NE(message.find("after 3 attempts"), std::string::npos) << message;
  EXPECT_EQ(server.requests(), 3);
}

TEST(RandomUserSourceTest, ConnectionRefusedIsFatalWithinBoundedTime) {
  const int port = UnusedPort();
  ASSERT_GT(port, 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/api/";
  auto source = MakeSource(FastOptions(url));
  ASSERT_TRUE(source);
  const auto start = Clock::now();
  Drained got = Drain(*source);
  EXPECT_LT(Clock::now() - start, milliseconds(5000));
  ASSERT_EQ(got.status.kind(), ErrorKind::kFatal);
  const std::string& message = got.status.message();
  EXPECT_NE(message.find("randomuser: GET " + url + "?results=1"), std::string::npos) << message;
  EXPECT_NE(message.find("failed after 3 attempts"), std::string::npos) << message;
  EXPECT_NE(message.find("Couldn't connect to server"), std::string::npos) << message;
  EXPECT_NE(message.find("check --url"), std::string::npos) << message;
}

TEST(RandomUserSourceTest, ClientErrorIsFatalWithoutRetry) {
  ScriptedServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content("no such thing", "text/plain");
  });
  auto source = MakeSource(FastOptions(server.url()));
  ASSERT_TRUE(source);
  Drained got = Drain(*source);
  ASSERT_EQ(got.status.kind(), ErrorKind::kFatal);
  EXPECT_NE(got.status.message().find("HTTP 404 Not Found: no such thing"), std::string::npos)
      << got.status.message();
  EXPECT_EQ(server.requests(), 1);
}

TEST(RandomUserSourceTest, TruncatedDocumentIsRetried) {
  const std::string document = ReadFixture("v1.4-1-user-br.json");
  ScriptedServer server([&](int n, const httplib::Request&, httplib::Response& res) {
    res.set_content(n == 0 ? document.substr(0, document.size() / 2) : document,
                    "application/json");
  });
  auto source = MakeSource(FastOptions(server.url()));
  ASSERT_TRUE(source);
  Drained got = Drain(*source);
  ASSERT_TRUE(got.status.ok()) << got.status.message();
  EXPECT_EQ(got.records.size(), 1u);
  EXPECT_EQ(server.requests(), 2);
}

TEST(RandomUserSourceTest, ApiErrorBodyIsReported) {
  ScriptedServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"error":"Uh oh, something has gone wrong."})", "application/json");
  });
  auto source = MakeSource(FastOptions(server.url()));
  ASSERT_TRUE(source);
  Drained got = Drain(*source);
  ASSERT_EQ(got.status.kind(), ErrorKind::kFatal);
  EXPECT_NE(got.status.message().find("Uh oh, something has gone wrong."), std::string::npos)
      << got.status.message();
  EXPECT_EQ(server.requests(), 1);
}

// A stop during the backoff wait ends Next promptly with a Cancelled status.
TEST(RandomUserSourceTest, StopDuringBackoffEndsPromptly) {
  ScriptedServer server(
      [](int, const httplib::Request&, httplib::Response& res) { res.status = 503; });
  RandomUserOptions options = FastOptions(server.url());
  options.backoff_initial = milliseconds(60000);
  options.backoff_max = milliseconds(60000);
  auto source = MakeSource(options);
  ASSERT_TRUE(source);

  std::stop_source stop;
  std::jthread stopper([&] {
    while (server.requests() == 0) std::this_thread::sleep_for(milliseconds(5));
    std::this_thread::sleep_for(milliseconds(100));
    stop.request_stop();
  });
  const auto start = Clock::now();
  Drained got = Drain(*source, kMaxRecords, stop.get_token());
  EXPECT_LT(Clock::now() - start, milliseconds(3000));
  EXPECT_EQ(got.status.kind(), ErrorKind::kCancelled) << got.status.message();
  EXPECT_EQ(server.requests(), 1);
}

TEST(RandomUserSourceTest, StopDuringLongRetryAfterEndsPromptly) {
  ScriptedServer server([](int, const httplib::Request&, httplib::Response& res) {
    res.status = 429;
    res.set_header("Retry-After", "3600");
  });
  auto source = MakeSource(FastOptions(server.url()));
  ASSERT_TRUE(source);
  std::stop_source stop;
  std::jthread stopper([&] {
    while (server.requests() == 0) std::this_thread::sleep_for(milliseconds(5));
    std::this_thread::sleep_for(milliseconds(100));
    stop.request_stop();
  });
  const auto start = Clock::now();
  Drained got = Drain(*source, kMaxRecords, stop.get_token());
  EXPECT_LT(Clock::now() - start, milliseconds(3000));
  EXPECT_EQ(got.status.kind(), ErrorKind::kCancelled) << got.status.message();
}

// A stop during a slow response aborts the transfer (libcurl's progress callback).
TEST(RandomUserSourceTest, StopDuringSlowResponseEndsPromptly) {
  std::atomic<bool> release{false};
  ScriptedServer server([&](int, const httplib::Request&, httplib::Response& res) {
    const auto give_up = Clock::now() + milliseconds(5000);
    while (!release && Clock::now() < give_up) std::this_thread::sleep_for(milliseconds(5));
    res.status = 503;
  });
  RandomUserOptions options = FastOptions(server.url());
  options.timeout = milliseconds(20000);
  auto source = MakeSource(options);
  ASSERT_TRUE(source);
  std::stop_source stop;
  std::jthread stopper([&] {
    while (server.requests() == 0) std::this_thread::sleep_for(milliseconds(5));
    std::this_thread::sleep_for(milliseconds(100));
    stop.request_stop();
  });
  const auto start = Clock::now();
  Drained got = Drain(*source, kMaxRecords, stop.get_token());
  EXPECT_LT(Clock::now() - start, milliseconds(3000));
  release = true;
  EXPECT_EQ(got.status.kind(), ErrorKind::kCancelled) << got.status.message();
}

TEST(RandomUserSourceTest, CredentialsNeverAppearInMessages) {
  ScriptedServer server(
      [](int, const httplib::Request&, httplib::Response& res) { res.status = 500; });
  std::string url = server.url();
  url.insert(std::string("http://").size(), "alice:s3cret@");
  auto source = MakeSource(FastOptions(url));
  ASSERT_TRUE(source);
  EXPECT_EQ(source->Describe().find("s3cret"), std::string::npos) << source->Describe();
  Drained got = Drain(*source);
  ASSERT_EQ(got.status.kind(), ErrorKind::kFatal);
  EXPECT_EQ(got.status.message().find("s3cret"), std::string::npos) << got.status.message();
  EXPECT_NE(got.status.message().find("http://***@127.0.0.1"), std::string::npos)
      << got.status.message();
}

TEST(RandomUserSourceTest, RedactsUrlCredentials) {
  EXPECT_EQ(RedactUrlCredentials("https://u:p@host:8/api/?x=1"), "https://***@host:8/api/?x=1");
  EXPECT_EQ(RedactUrlCredentials("https://token@host/api/"), "https://***@host/api/");
  EXPECT_EQ(RedactUrlCredentials("https://host/api/?email=a@b"), "https://host/api/?email=a@b");
  EXPECT_EQ(RedactUrlCredentials("not a url"), "not a url");
}

TEST(RandomUserSourceTest, CreateValidatesOptions) {
  auto fails = [](auto mutate, std::string_view mentions) {
    RandomUserOptions options;
    mutate(options);
    Result<std::unique_ptr<RandomUserSource>> source = RandomUserSource::Create(options);
    ASSERT_FALSE(source.ok()) << mentions;
    EXPECT_EQ(source.status().kind(), ErrorKind::kFatal);
    EXPECT_NE(source.status().message().find(mentions), std::string::npos)
        << source.status().message();
  };
  fails([](RandomUserOptions& o) { o.page_size = 0; }, "1..5000");
  fails([](RandomUserOptions& o) { o.page_size = 5001; }, "1..5000");
  fails([](RandomUserOptions& o) { o.first_page = 0; }, "first page");
  fails([](RandomUserOptions& o) { o.nationalities = {"au", "zz"}; }, "'zz'");
  fails([](RandomUserOptions& o) { o.base_url = "ftp://example.invalid/"; }, "http://");
  fails([](RandomUserOptions& o) { o.seed.clear(); }, "seed");
  EXPECT_TRUE(RandomUserSource::Create(RandomUserOptions{}).ok());
}

}  // namespace
}  // namespace spate
