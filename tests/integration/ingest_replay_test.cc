// Replaying the same input gives the same dead letters (issue 17, item 6), end to end: the
// same bad input fed as `f/x`, `./f/x`, an absolute path and stdin into `spate run --source
// file` with SQLite leaves the same rejected_users rows (count and ids), not four copies.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "db_query.h"
#include "spate_process.h"

namespace spate {
namespace {

using spate::testing::Fixture;
using spate::testing::Outcome;
using spate::testing::QueryInt;
using spate::testing::QueryStrings;
using spate::testing::RunSpate;
using spate::testing::TempDir;

// Runs with the working directory at `dir`, so relative input paths mean something.
class InDirectory {
 public:
  explicit InDirectory(const std::string& dir) : old_(std::filesystem::current_path()) {
    std::filesystem::current_path(dir);
  }
  ~InDirectory() { std::filesystem::current_path(old_); }

 private:
  std::filesystem::path old_;
};

TEST(IngestReplay, SameBadInputFourWaysGivesTheSameDeadLetters) {
  TempDir dir;
  std::filesystem::create_directories(dir.File("f"));
  const std::string input = dir.File("f/x");
  {
    std::string response;
    for (char c : Fixture("v1.4-2-users-de-nz-null-id.json")) {
      if (c != '\n') response.push_back(c);
    }
    std::ofstream out(input, std::ios::binary);
    out << "not json\n";
    out << R"({"results":[1,1,"x","x",{"a":1},{"a":1}]})"
        << "\n";  // Six rejected, item by item.
    out << R"({"gender":male","login":{"password":"hunter2"}})"
        << "\n";
    out << response << "\n";  // Two good users.
    out << "{\"truncated\": \n";
  }
  const std::string data = dir.File("data");
  InDirectory in_dir(dir.path());
  std::set<std::string> first_ids;
  int64_t first_count = -1;
  int run = 0;
  for (const std::vector<std::string>& how :
       {std::vector<std::string>{"--input", "f/x"}, std::vector<std::string>{"--input", "./f/x"},
        std::vector<std::string>{"--input", input}, std::vector<std::string>{}}) {
    SCOPED_TRACE(how.empty() ? "stdin" : how[1]);
    std::vector<std::string> args = {"run", "--source", "file", "--data-dir", data};
    args.insert(args.end(), how.begin(), how.end());
    Outcome outcome = RunSpate(dir, args, how.empty() ? input : "");
    ASSERT_EQ(outcome.exit_code, 0) << outcome.err;
    EXPECT_EQ(QueryInt(data, "SELECT count(*) FROM created_users"), 2);
    const int64_t count = QueryInt(data, "SELECT count(*) FROM rejected_users");
    const std::set<std::string> ids = QueryStrings(data, "SELECT id FROM rejected_users");
    if (run++ == 0) {
      first_count = count;
      first_ids = ids;
      // not json, six elements, the broken line, the truncated tail: each its own row.
      EXPECT_EQ(count, 9);
      EXPECT_EQ(ids.size(), 9u);
    } else {
      EXPECT_EQ(count, first_count);
      EXPECT_EQ(ids, first_ids);
    }
  }
  // No login secret reached the store.
  EXPECT_EQ(QueryInt(data,
                     "SELECT count(*) FROM rejected_users WHERE CAST(raw AS TEXT) LIKE "
                     "'%hunter2%' OR reason LIKE '%hunter2%'"),
            0);
}

}  // namespace
}  // namespace spate
