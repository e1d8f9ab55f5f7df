// FileSource: layouts, counting, secrets in bad lines, and never blocking past a stop.
#include "sources/file_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "test_util.h"

namespace spate {
namespace {

using spate::testing::Fixture;
using spate::testing::TempDir;

struct Drained {
  std::vector<RawRecord> records;
  std::vector<DeadLetter> dead;
  uint64_t source_records = 0;
};

Drained Drain(FileSource& source, size_t max = 1000) {
  Drained out;
  std::stop_source stop;
  for (int i = 0; i < 10000; ++i) {
    Batch batch;
    auto state = source.Next(batch, max, stop.get_token());
    EXPECT_TRUE(state.ok()) << state.status().message();
    for (auto& r : batch.records) out.records.push_back(std::move(r));
    for (auto& d : batch.dead) out.dead.push_back(std::move(d));
    out.source_records += batch.source_records;
    if (!state.ok() || state.value() == SourceState::kFinished) break;
  }
  return out;
}

Drained ReadText(const std::string& text, uint64_t count = 0) {
  TempDir dir;
  const std::string path = dir.File("in");
  std::ofstream(path, std::ios::binary) << text;
  FileSource source(path, count);
  EXPECT_TRUE(source.Open().ok());
  return Drain(source);
}

// The fixture's users, one compact object per line (with their login secrets).
std::vector<std::string> UserLines() {
  const std::string doc = Fixture("v1.4-111-users-all-nats.json");
  Ingestor ingestor;
  std::vector<std::string> lines;
  // Split without stripping: walk the results array by brace depth.
  const size_t start = doc.find('[');
  int depth = 0;
  size_t begin = 0;
  bool in_string = false;
  for (size_t i = start + 1; i < doc.size(); ++i) {
    const char c = doc[i];
    if (in_string) {
      if (c == '\\') ++i;
      if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '{' && depth++ == 0) begin = i;
    if (c == '}' && --depth == 0) {
      std::string line;
      for (char ch : doc.substr(begin, i + 1 - begin)) {
        if (ch != '\n') line.push_back(ch);
      }
      lines.push_back(line);
    }
    if (c == ']' && depth == 0) break;
  }
  return lines;
}

TEST(FileSource, PrettyDocument) {
  const std::string text = Fixture("v1.4-111-users-all-nats.json");
  Drained d = ReadText(text);
  EXPECT_EQ(d.records.size(), 111u);
  EXPECT_EQ(d.source_records, 111u);
  // Each user's position is the line where it starts (issue 17, item 4): the line that
  // holds only its opening brace.
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  uint64_t previous = 0;
  for (const RawRecord& r : d.records) {
    ASSERT_GT(r.position, previous);
    ASSERT_LE(r.position, lines.size());
    EXPECT_EQ(lines[r.position - 1].find_first_not_of(' '), lines[r.position - 1].find('{'));
    EXPECT_EQ(r.item, 0u);
    previous = r.position;
  }
}

TEST(FileSource, JsonLinesWithBomAndBadLines) {
  std::vector<std::string> users = UserLines();
  ASSERT_EQ(users.size(), 111u);
  std::string text = "\xEF\xBB\xBF" + users[0] + "\n\n" + "not json\n" + users[1] + "\r\n";
  Drained d = ReadText(text);
  ASSERT_EQ(d.records.size(), 2u);
  ASSERT_EQ(d.dead.size(), 1u);
  EXPECT_EQ(d.dead[0].position, 3u);
  EXPECT_EQ(d.records[1].position, 4u);
}

TEST(FileSource, BrokenFirstLineCostsOnlyThatLine) {
  std::vector<std::string> users = UserLines();
  std::string text = users[0].substr(0, 50) + "\n";
  for (int i = 1; i <= 20; ++i) text += users[i] + "\n";
  Drained d = ReadText(text);
  EXPECT_EQ(d.records.size(), 20u);
  ASSERT_EQ(d.dead.size(), 1u);
  EXPECT_EQ(d.dead[0].position, 1u);
}

TEST(FileSource, TopLevelArrayOfUsers) {
  std::vector<std::string> users = UserLines();
  Drained d = ReadText("[\n" + users[0] + ",\n" + users[1] + ",\n" + users[2] + "\n]\n");
  EXPECT_EQ(d.records.size(), 3u);
  EXPECT_TRUE(d.dead.empty());
}

TEST(FileSource, CountIsNeverExceededEvenInsideOneLine) {
  // One response of 111 users on one line, then more lines.
  std::string doc = Fixture("v1.4-111-users-all-nats.json");
  std::string line;
  for (char c : doc) {
    if (c != '\n') line.push_back(c);
  }
  Drained d = ReadText(line + "\n" + line + "\n", 5);
  EXPECT_EQ(d.records.size(), 5u);
  EXPECT_EQ(d.source_records, 5u);
  Drained document = ReadText(doc, 7);
  EXPECT_EQ(document.records.size(), 7u);
}

TEST(FileSource, SecretsNeverReachDeadLetters) {
  const std::string secret = "hunter2-SECRET";
  std::vector<std::string> users = UserLines();
  // A valid user with a known password, and broken lines that still carry secrets.
  std::string user = users[0];
  const size_t key = user.find("\"password\": \"");  // The fixture is pretty-printed.
  ASSERT_NE(key, std::string::npos);
  const size_t at = key + 13;
  user.replace(at, user.find('"', at) - at, secret);
  std::string text = user + "\n";
  text += user.substr(0, user.size() - 20) + "\n";  // Truncated.
  text += R"({"login":{"password": ")" + secret +
          R"(", "sha256":12)"
          "\n";  // Broken.
  text += R"({"results":[{"login":{"salt":")" + secret +
          R"("}}, 7]})"
          "\n";  // Element dead.
  Drained d = ReadText(text);
  ASSERT_EQ(d.records.size(), 2u);  // The user and the login-only object inside results.
  ASSERT_EQ(d.dead.size(), 3u);
  for (const RawRecord& r : d.records) EXPECT_EQ(r.json.find(secret), std::string::npos);
  for (const DeadLetter& dead : d.dead) {
    EXPECT_EQ(dead.raw.find(secret), std::string::npos) << dead.raw;
    EXPECT_EQ(dead.raw.find("sha256\":12"), std::string::npos) << dead.raw;
  }
}

TEST(FileSource, StopEndsABlockedReadPromptly) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  // Read end as the source's input: stdin of this process is not ours to take, so use the
  // path /dev/fd/N.
  FileSource source("/dev/fd/" + std::to_string(fds[0]), 0);
  ASSERT_TRUE(source.Open().ok());
  std::stop_source stop;
  std::jthread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop.request_stop();
  });
  const auto started = std::chrono::steady_clock::now();
  Batch batch;
  auto state = source.Next(batch, 100, stop.get_token());
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state.value(), SourceState::kFinished);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
  close(fds[0]);
  close(fds[1]);
}

TEST(FileSource, TrickleIsHandedOnWithoutWaitingForAFullBatch) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  FileSource source("/dev/fd/" + std::to_string(fds[0]), 0);
  ASSERT_TRUE(source.Open().ok());
  const std::string line = UserLines()[0] + "\n";
  ASSERT_EQ(write(fds[1], line.data(), line.size()), static_cast<ssize_t>(line.size()));
  std::stop_source stop;
  Batch batch;
  auto state = source.Next(batch, 1000, stop.get_token());  // Would need 1000 lines to fill.
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state.value(), SourceState::kHaveMore);
  EXPECT_EQ(batch.records.size(), 1u);
  close(fds[1]);
  Batch rest;
  state = source.Next(rest, 1000, stop.get_token());
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state.value(), SourceState::kFinished);
  close(fds[0]);
}

TEST(FileSource, MissingFileNamesThePath) {
  FileSource source("/nonexistent/users.json", 0);
  Status status = source.Open();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("/nonexistent/users.json"), std::string::npos);
}

}  // namespace
}  // namespace spate
