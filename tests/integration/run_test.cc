// End to end: the spate binary, as a user runs it.
#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>
#include <sqlite3.h>

#include <sys/stat.h>

#include <fstream>
#include <set>

#include "db_query.h"
#include "http/mock_api.h"
#include "sinks/sqlite_db.h"
#include "spate_process.h"

namespace spate {
namespace {

using spate::testing::Fixture;
using spate::testing::Outcome;
using spate::testing::QueryInt;
using spate::testing::QueryStrings;
using spate::testing::RunSpate;
using spate::testing::SpateProcess;
using spate::testing::TempDir;

int64_t Count(const std::string& data_dir, const std::string& sql) {
  const int64_t n = QueryInt(data_dir, sql);
  EXPECT_GE(n, 0) << "cannot query " << data_dir << "/spate.db: " << sql;
  return n;
}

std::set<std::string> Strings(const std::string& data_dir, const std::string& sql) {
  return QueryStrings(data_dir, sql);
}

TEST(Run, CountGivesThatManyRowsAndRerunKeepsThem) {
  TempDir dir;
  const std::string data = dir.File("data");
  Outcome first = RunSpate(dir, {"run", "--count", "2500", "--data-dir", data});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(Count(data, "SELECT count(*) FROM created_users"), 2500);
  EXPECT_NE(first.err.find("2,500 rows stored"), std::string::npos) << first.err;
  EXPECT_NE(first.err.find(data), std::string::npos) << "summary says where the data is";

  Outcome second = RunSpate(dir, {"run", "--count", "2500", "--data-dir", data});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(Count(data, "SELECT count(*) FROM created_users"), 2500);
  EXPECT_EQ(Count(data, "SELECT count(DISTINCT id) FROM created_users"), 2500);
  EXPECT_EQ(Count(data, "SELECT count(*) FROM rejected_users"), 0);

  // A different seed is different users.
  Outcome third = RunSpate(dir, {"run", "--count", "100", "--seed", "other", "--data-dir", data});
  ASSERT_EQ(third.exit_code, 0) << third.err;
  EXPECT_EQ(Count(data, "SELECT count(*) FROM created_users"), 2600);
}

TEST(Run, NoLoginSecretsAreStored) {
  // The mock API sends login secrets, like the real one. Learn some of their values first.
  MockApiServer server;
  ASSERT_TRUE(server.Start(MockApiOptions{}).ok());
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/api/";
  httplib::Client client("127.0.0.1", server.port());
  auto page = client.Get("/api/?results=300&seed=secrets&page=1");
  ASSERT_TRUE(page && page->status == 200);
  std::vector<std::string> secrets;
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(page->body);
  for (simdjson::dom::element user : doc["results"].get_array()) {
    for (const char* field : {"password", "sha256", "md5"}) {
      secrets.emplace_back(std::string_view(user["login"][field]));
    }
  }
  ASSERT_EQ(secrets.size(), 900u);

  TempDir dir;
  const std::string data = dir.File("data");
  Outcome run = RunSpate(dir, {"run", "--source", "randomuser", "--url", url, "--seed", "secrets",
                               "--count", "300", "--page-size", "300", "--data-dir", data});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ASSERT_EQ(Count(data, "SELECT count(*) FROM created_users"), 300);
  // Broken input carrying secrets goes to rejected_users; the secrets must not go with it.
  const std::string input = dir.File("broken.jsonl");
  std::ofstream(input) << R"({"login":{"uuid":"x","password":")" << secrets[0] << R"(",)"
                       << "\n"
                       << R"({"results":[{"login":{"sha256":")" << secrets[1] << R"("}}, 7]})"
                       << "\n";
  Outcome file = RunSpate(dir, {"run", "--source", "file", "--input", input, "--data-dir", data});
  ASSERT_EQ(file.exit_code, 0) << file.err;
  ASSERT_EQ(Count(data, "SELECT count(*) FROM rejected_users"), 3);

  // Not a single secret value anywhere in the database file.
  const std::string bytes = spate::testing::ReadFile(data + "/spate.db");
  for (const std::string& secret : secrets) {
    ASSERT_EQ(bytes.find(secret), std::string::npos) << secret;
  }
  // Dead letters keep the keys (so a human sees what was there) but never a value.
  for (const char* name : {"password", "sha256", "salt"}) {
    const std::string key = std::string("\"") + name + "\":\"";
    for (size_t at = bytes.find(key); at != std::string::npos; at = bytes.find(key, at + 1)) {
      EXPECT_EQ(bytes.compare(at + key.size(), 10, "[removed]\""), 0) << bytes.substr(at, 40);
    }
  }
}

TEST(Run, RandomUserSourceAgainstMockApi) {
  MockApiServer server;
  ASSERT_TRUE(server.Start(MockApiOptions{}).ok());
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/api/";
  TempDir dir;
  const std::string http_data = dir.File("http");
  const std::string gen_data = dir.File("gen");
  Outcome http = RunSpate(dir, {"run", "--source", "randomuser", "--url", url, "--count", "1234",
                                "--page-size", "500", "--seed", "abc", "--data-dir", http_data});
  ASSERT_EQ(http.exit_code, 0) << http.err;
  EXPECT_EQ(Count(http_data, "SELECT count(*) FROM created_users"), 1234);
  EXPECT_GE(server.requests_served(), 3u);
  // The same seed through the generator gives the very same users.
  Outcome gen = RunSpate(dir, {"run", "--count", "1234", "--seed", "abc", "--data-dir", gen_data});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  const std::string sql =
      "SELECT id || first_name || address || post_code || email FROM created_users";
  EXPECT_EQ(Strings(http_data, sql), Strings(gen_data, sql));
}

TEST(Run, RandomUserSourceAgainstTheMockApiCommand) {
  TempDir dir;
  // `spate mock-api --port 0` picks a free port and prints its URL on stdout.
  SpateProcess mock(dir, {"mock-api", "--port", "0"});
  std::string url;
  for (int i = 0; i < 500 && url.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const std::string out = mock.Stdout();
    if (out.find('\n') != std::string::npos) url = out.substr(0, out.find('\n'));
  }
  ASSERT_EQ(url.rfind("http://127.0.0.1:", 0), 0u) << url << mock.Stderr();
  const std::string data = dir.File("data");
  Outcome run = RunSpate(dir, {"run", "--source", "randomuser", "--url", url, "--count", "700",
                               "--page-size", "300", "--nat", "gb,ir", "--data-dir", data});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(Count(data, "SELECT count(*) FROM created_users"), 700);
  EXPECT_EQ(Count(data, "SELECT count(*) FROM created_users WHERE nat NOT IN ('GB', 'IR')"), 0);
  EXPECT_EQ(Strings(data, "SELECT country FROM created_users"),
            (std::set<std::string>{"Iran", "United Kingdom"}));
  mock.Signal(SIGTERM);
  Outcome stopped = mock.Wait(std::chrono::seconds(30));
  EXPECT_EQ(stopped.exit_code, 0) << stopped.err;
}

TEST(Run, UnreachableApiIsAClearErrorNotAHang) {
  TempDir dir;
  const auto started = std::chrono::steady_clock::now();
  // Port 9 (discard) on loopback: nothing listens there on a test machine.
  Outcome outcome =
      RunSpate(dir, {"run", "--source", "randomuser", "--url", "http://127.0.0.1:9/api/",
                     "--retries", "2", "--retry-backoff", "10ms", "--data-dir", dir.File("data")});
  EXPECT_EQ(outcome.exit_code, 1) << outcome.err;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));
  EXPECT_NE(outcome.err.find("127.0.0.1:9"), std::string::npos) << outcome.err;
}

TEST(Run, FileSourceDeadLettersBadLinesAndKeepsGoing) {
  TempDir dir;
  const std::string input = dir.File("in.jsonl");
  {
    // Users one per line from the real fixture, with bad lines between them.
    std::ofstream out(input);
    out << "{\"results\":["
        << "1"
        << "]}\n";  // A response line whose element is not a user.
    out << "not json\n";
    out << "{\"gender\":\"x\"}\n";  // A user object with nearly everything missing.
    out << "{\"truncated\": \n";
  }
  // Append the 111 real users as one line (an API response on one line).
  {
    std::string doc = Fixture("v1.4-111-users-all-nats.json");
    std::string line;
    for (char c : doc) {
      if (c != '\n') line.push_back(c);
    }
    std::ofstream out(input, std::ios::app);
    out << line << "\n";
  }
  const std::string data = dir.File("data");
  Outcome outcome =
      RunSpate(dir, {"run", "--source", "file", "--input", input, "--data-dir", data});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_EQ(Count(data, "SELECT count(*) FROM created_users"), 111);
  EXPECT_EQ(Count(data, "SELECT count(*) FROM rejected_users"), 4);
  EXPECT_EQ(Count(data,
                  "SELECT count(*) FROM rejected_users WHERE reason LIKE "
                  "'%missing required field%'"),
            1);
  EXPECT_EQ(Count(data, "SELECT position FROM rejected_users WHERE CAST(raw AS TEXT) = 'not json'"),
            2);

  // Query shows it.
  Outcome query = RunSpate(dir, {"query", "--data-dir", data});
  ASSERT_EQ(query.exit_code, 0) << query.err;
  EXPECT_NE(query.out.find("created_users:  111 rows"), std::string::npos) << query.out;
  EXPECT_NE(query.out.find("rejected_users: 4 rows"), std::string::npos) << query.out;
  EXPECT_NE(query.out.find("missing required field"), std::string::npos) << query.out;
}

TEST(Run, FileSourceReadsAPrettyDocumentFromStdin) {
  TempDir dir;
  const std::string input = dir.File("doc.json");
  std::ofstream(input) << Fixture("legacy-0.x-format.json");
  const std::string data = dir.File("data");
  Outcome outcome = RunSpate(dir, {"run", "--source", "file", "--data-dir", data}, input);
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_EQ(Count(data, "SELECT count(*) FROM created_users"), 0);
  EXPECT_EQ(Count(data, "SELECT count(*) FROM rejected_users WHERE reason LIKE '%legacy 0.x%'"),
            100);
}

TEST(Run, InterruptDrainsAndExitsZero) {
  TempDir dir;
  const std::string data = dir.File("data");
  SpateProcess run(dir, {"run", "--count", "0", "--data-dir", data});
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  run.Signal(SIGINT);
  Outcome outcome = run.Wait(std::chrono::seconds(60));
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  const int64_t rows = Count(data, "SELECT count(*) FROM created_users");
  EXPECT_GT(rows, 0);
  // Everything the run says it ingested is stored: nothing in flight was dropped.
  const size_t at = outcome.err.rfind("spate run: ");
  ASSERT_NE(at, std::string::npos) << outcome.err;
  const std::string summary = outcome.err.substr(at + 11);
  std::string digits;
  for (char c : summary.substr(0, summary.find(" records"))) {
    if (c != ',') digits.push_back(c);
  }
  EXPECT_EQ(std::to_string(rows), digits) << summary;
  EXPECT_NE(outcome.err.find("stopped early"), std::string::npos);
}

TEST(Run, InterruptStopsAReadFromAPipeThatNeverEnds) {
  TempDir dir;
  const std::string fifo = dir.File("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const std::string data = dir.File("data");
  // O_RDWR never blocks on a FIFO, and holding a write end lets spate's read-only open
  // succeed at once (posix_spawn waits for the child's opens, so a blocking open here would
  // deadlock). spate then sees a pipe that stays open: no EOF until we close it.
  const int writer = open(fifo.c_str(), O_RDWR);
  ASSERT_GE(writer, 0);
  SpateProcess run(dir, {"run", "--source", "file", "--data-dir", data}, fifo);
  std::string lines;
  const std::string doc = Fixture("v1.4-2-users-de-nz-null-id.json");
  std::string one_line;
  for (char c : doc) {
    if (c != '\n') one_line.push_back(c);
  }
  lines = one_line + "\n";
  ASSERT_EQ(write(writer, lines.data(), lines.size()), static_cast<ssize_t>(lines.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(800));  // The writer stays open.
  run.Signal(SIGINT);
  Outcome outcome = run.Wait(std::chrono::seconds(10));
  close(writer);
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_EQ(Count(data, "SELECT count(*) FROM created_users"), 2);
}

TEST(Cli, HelpExplainsEveryFlag) {
  TempDir dir;
  Outcome outcome = RunSpate(dir, {"run", "--help"});
  EXPECT_EQ(outcome.exit_code, 0);
  for (const char* flag : {"--count", "--seed", "--source", "--sink", "--config", "--data-dir",
                           "--url", "--input", "--nat"}) {
    EXPECT_NE(outcome.out.find(flag), std::string::npos) << flag;
  }
  Outcome top = RunSpate(dir, {"--help"});
  EXPECT_EQ(top.exit_code, 0);
  for (const char* command : {"run", "mock-api", "query"}) {
    EXPECT_NE(top.out.find(command), std::string::npos) << command;
  }
}

TEST(Cli, ConfigFileSetsOptionsAndUnknownKeysAreNamed) {
  TempDir dir;
  const std::string data = dir.File("data");
  const std::string good = dir.File("good.yaml");
  std::ofstream(good) << "count: 321\ndata-dir: " << data << "\nsink:\n  - sqlite\nseed: cfg\n";
  Outcome outcome = RunSpate(dir, {"run", "--config", good});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
  EXPECT_EQ(Count(data, "SELECT count(*) FROM created_users"), 321);
  // Flags override the file.
  ASSERT_EQ(RunSpate(dir, {"run", "--config", good, "--count", "400"}).exit_code, 0);
  EXPECT_EQ(Count(data, "SELECT count(*) FROM created_users"), 400);

  const std::string bad = dir.File("bad.yaml");
  std::ofstream(bad) << "count: 5\ncuont: 7\n";
  Outcome rejected = RunSpate(dir, {"run", "--config", bad});
  EXPECT_EQ(rejected.exit_code, 2);
  EXPECT_NE(rejected.err.find("unknown key 'cuont'"), std::string::npos) << rejected.err;
  EXPECT_NE(rejected.err.find("did you mean 'count'"), std::string::npos) << rejected.err;

  Outcome bad_value = RunSpate(dir, {"run", "--count", "many"});
  EXPECT_EQ(bad_value.exit_code, 2);
  EXPECT_NE(bad_value.err.find("not an integer"), std::string::npos) << bad_value.err;
  Outcome bad_sink = RunSpate(dir, {"run", "--sink", "oracle"});
  EXPECT_EQ(bad_sink.exit_code, 2);
  EXPECT_NE(bad_sink.err.find("'oracle' is not one of"), std::string::npos) << bad_sink.err;
}

}  // namespace
}  // namespace spate
