// spate query and spate run with --data-dir values the system refuses or files SQLite must
// not open (issue 17, items 10, 15): a name too long is a bad option (exit 2, said so, never
// an exception), and a FIFO where spate.db or its WAL belongs is an error at once, never a
// process blocked until some writer appears.
#include <sys/stat.h>

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "spate_process.h"

namespace spate {
namespace {

using spate::testing::Outcome;
using spate::testing::RunSpate;
using spate::testing::TempDir;

TEST(QueryPaths, ADataDirNameTooLongIsABadOptionNotAnException) {
  TempDir dir;
  // One component of 5000 characters (the limit is 255), relative and absolute; and a path
  // of short components past PATH_MAX (4096).
  std::string deep;
  while (deep.size() < 5000) deep += "abcdefghij/";
  for (const std::string& data_dir :
       {std::string(5000, 'a'), dir.File(std::string(5000, 'b')), dir.File(deep)}) {
    const Outcome out = RunSpate(dir, {"query", "--data-dir", data_dir});
    EXPECT_EQ(out.exit_code, 2) << out.err.substr(0, 300);
    EXPECT_NE(out.err.find("File name too long"), std::string::npos) << out.err.substr(0, 300);
    EXPECT_EQ(out.err.find("unexpected error"), std::string::npos) << out.err.substr(0, 300);
  }
}

TEST(QueryPaths, ADataDirThatIsAFileIsABadOption) {
  TempDir dir;
  const std::string file = dir.File("plain");
  ASSERT_EQ(RunSpate(dir, {"run", "--count", "1", "--data-dir", dir.File("d")}).exit_code, 0);
  ASSERT_EQ(::rename(dir.File("d/spate.db").c_str(), file.c_str()), 0);
  const Outcome out = RunSpate(dir, {"query", "--data-dir", file});
  EXPECT_EQ(out.exit_code, 2) << out.err;
  EXPECT_NE(out.err.find("not a directory"), std::string::npos) << out.err;
}

TEST(QueryPaths, AFifoInsteadOfTheDatabaseOrItsWalIsAnErrorAtOnce) {
  for (const char* name : {"spate.db", "spate.db-wal"}) {
    TempDir dir;
    const std::string data_dir = dir.File("data");
    if (std::string(name) == "spate.db-wal") {
      // A real database first, so that only its WAL is wrong.
      ASSERT_EQ(RunSpate(dir, {"run", "--count", "3", "--data-dir", data_dir}).exit_code, 0);
      ::unlink((data_dir + "/spate.db-wal").c_str());
    } else {
      ASSERT_EQ(::mkdir(data_dir.c_str(), 0755), 0);
    }
    ASSERT_EQ(::mkfifo((data_dir + "/" + name).c_str(), 0644), 0);
    for (const std::vector<std::string>& args :
         {std::vector<std::string>{"query", "--data-dir", data_dir},
          std::vector<std::string>{"run", "--count", "1", "--data-dir", data_dir}}) {
      const auto started = std::chrono::steady_clock::now();
      spate::testing::SpateProcess process(dir, args);
      // Blocked, it would wait forever: 60 s is far beyond what the refusal takes, even on a
      // loaded machine, and Wait reports -1 (after killing it) if it is still blocked.
      const Outcome out = process.Wait(std::chrono::seconds(60));
      EXPECT_EQ(out.exit_code, 1) << name << " " << args[0] << ": " << out.err;
      EXPECT_NE(out.err.find("not a regular file"), std::string::npos)
          << name << " " << args[0] << ": " << out.err;
      EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(60));
    }
  }
}

}  // namespace
}  // namespace spate
