// What the `spate schedule` end-to-end tests share: a spate child started in a directory of
// the test's (the scheduler's children run in its working directory, and a job's data_dir
// defaults to ./spate-data there, as the jobs file relies on), and reads of the run
// history the scheduler keeps in DATA_DIR/schedule.db.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "schedule/launcher.h"
#include "schedule/run_store.h"
#include "spate_process.h"

namespace spate::testing {

// A spate child running in `cwd` (the scheduler's children inherit it), its stdout and
// stderr in files of `dir`.
class SpateIn : public SpateProcess {
 public:
  SpateIn(const TempDir& dir, const std::string& cwd, std::vector<std::string> args)
      : SpateProcess(dir, std::move(args), /*stdin_file=*/"", cwd) {}

  // Waits (up to `timeout`) until the child's stderr holds `text`.
  bool WaitForLog(const std::string& text,
                  std::chrono::milliseconds timeout = std::chrono::seconds(60)) const {
    return WaitFor([&] { return Stderr().find(text) != std::string::npos; }, timeout);
  }
};

inline Outcome RunSpateIn(const TempDir& dir, const std::string& cwd,
                          std::vector<std::string> args) {
  SpateIn process(dir, cwd, std::move(args));
  return process.Wait();
}

inline void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// Every run in DATA_DIR/schedule.db, newest first; empty when the history cannot be read
// (not made yet). Opened per call: the scheduler writes it meanwhile.
inline std::vector<RunRecord> History(const std::string& data_dir, const std::string& job = "") {
  auto store = OpenSqliteRunStore(data_dir);
  if (!store.ok()) return {};
  RunFilter filter;
  filter.job = job;
  filter.limit = 100000;
  auto runs = store.value()->List(filter);
  return runs.ok() ? std::move(runs).value() : std::vector<RunRecord>{};
}

// Whether a process with this pid runs (a zombie no one reaped does not: in a container
// the orphans' new parent may never reap them).
inline bool ProcessAlive(int64_t pid) { return ProcessStartTime(pid).has_value(); }

}  // namespace spate::testing
