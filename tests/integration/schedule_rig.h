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

// A spate child running in `cwd`, its stdout and stderr in files of `dir`.
class SpateIn {
 public:
  SpateIn(const TempDir& dir, const std::string& cwd, std::vector<std::string> args)
      : out_path_(dir.File("out-" + std::to_string(counter_))),
        err_path_(dir.File("err-" + std::to_string(counter_++))) {
    std::vector<char*> argv;
    args.insert(args.begin(), SPATE_BINARY);
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    if (posix_spawn(&pid_, SPATE_BINARY, &actions, &attr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
  ~SpateIn() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  SpateIn(const SpateIn&) = delete;
  SpateIn& operator=(const SpateIn&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig) { kill(pid_, sig); }
  std::string Stdout() const { return ReadFile(out_path_); }
  std::string Stderr() const { return ReadFile(err_path_); }

  // Waits up to `timeout` for the exit; on timeout kills the child, exit_code -1.
  Outcome Wait(std::chrono::seconds timeout = std::chrono::seconds(120)) {
    Outcome outcome;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!reaped_) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        reaped_ = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    outcome.out = Stdout();
    outcome.err = Stderr();
    return outcome;
  }

  // Waits (up to `timeout`) until the child's stderr holds `text`.
  bool WaitForLog(const std::string& text,
                  std::chrono::milliseconds timeout = std::chrono::seconds(60)) const {
    return WaitFor([&] { return Stderr().find(text) != std::string::npos; }, timeout);
  }

 private:
  static inline int counter_ = 0;
  std::string out_path_;
  std::string err_path_;
  pid_t pid_ = -1;
  bool reaped_ = false;
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
