// ProcessLauncher (issue 20) with real processes: the spate binary as a run's child, and a
// fake executable (a /bin/sh script written here) for the ways a child can end.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "schedule/launcher.h"
#include "spate_process.h"

namespace spate {
namespace {

using spate::testing::ReadFile;
using spate::testing::TempDir;
using spate::testing::WaitFor;
using namespace std::chrono_literals;

// The fake child: $1 (the job's command) says what to do; it leaves its files next to its
// config file ($3), named after its run id.
constexpr const char* kFakeChild = R"SH(#!/bin/sh
out="$(dirname "$3")/$SPATE_RUN_ID"
case "$1" in
  env)
    { echo "args=$*"; env | grep '^SPATE_' | sort; } > "$out.env"
    # What the child was given (the shell blocks signals around its own forks).
    exec grep -E '^(SigBlk|SigIgn):' /proc/self/status > "$out.signals" ;;
  fail)
    echo "starting"
    echo "error: an earlier problem" >&2
    echo "[2026-12-06 12:00:00.000] [error] cannot open the store: disk full" >&2
    echo "spate run: 0 records in 0.01 s (failed: see the error above)" >&2
    exit 3 ;;
  quiet_fail) echo "nothing to see"; exit 4 ;;
  sigkill) echo "about to die"; kill -9 $$ ;;
  sigsegv) kill -SEGV $$ ;;
  graceful)
    trap 'echo "got TERM, stopping"; exit 0' TERM
    echo ready > "$out.ready"
    while :; do sleep 0.1; done ;;
  stubborn)
    trap 'echo term >> "$out.term"' TERM
    echo ready > "$out.ready"
    while :; do sleep 0.1; done ;;
  deaf)
    trap '' TERM
    echo ready > "$out.ready"
    while :; do sleep 0.1; done ;;
  loop)
    echo ready > "$out.ready"
    while :; do sleep 0.1; done ;;
  group)
    sleep 1000 &
    echo $! > "$out.child"
    wait ;;
  leftover)
    sleep 1000 &
    echo $! > "$out.child"
    exit 0 ;;
  orphan)
    n=0
    trap 'n=$((n+1)); echo "term $n" >> "$out.term"; [ $n -ge 2 ] && exit 0' TERM
    echo ready > "$out.ready"
    while :; do sleep 0.1; done ;;
esac
)SH";

class ScheduleLauncher : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = dir_.File("fake-spate");
    std::ofstream(fake_) << kFakeChild;
    std::filesystem::permissions(fake_, std::filesystem::perms::owner_all);
    options_.executable = fake_;
    options_.runs_dir = dir_.File("runs");
    options_.logs_dir = dir_.File("logs");
    // Orphans (a killed helper's child, a shell's background sleep) come to this process
    // rather than to PID 1, which in a container may never reap them: TearDown does.
    prctl(PR_SET_CHILD_SUBREAPER, 1);
  }

  void TearDown() override {
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
  }

  JobSpec Job(const std::string& command) {
    JobSpec job;
    job.name = "tick";
    job.command = command;
    return job;
  }

  static LaunchRequest Request(const JobSpec& job, int64_t run_id, int attempt = 1) {
    LaunchRequest request;
    request.job = &job;
    request.run.run_id = run_id;
    request.run.job = job.name;
    request.run.attempt = attempt;
    request.run.interval_start_ms = 1'796'558'400'000;  // 2026-12-06T12:00:00Z
    request.run.interval_end_ms = 1'796'558'401'000;
    return request;
  }

  std::string RunFile(int64_t run_id, const std::string& suffix) const {
    return options_.runs_dir + "/" + std::to_string(run_id) + suffix;
  }

  // Waits for a file the fake child writes, whole (ends with a newline).
  static std::string AwaitFile(const std::string& path, std::chrono::milliseconds limit = 30s) {
    std::string text;
    WaitFor(
        [&] {
          text = ReadFile(path);
          return !text.empty() && text.back() == '\n';
        },
        limit);
    return text;
  }

  // Reaps until run `run_id` has ended; exits of other runs are kept for their turn.
  std::optional<ChildExit> AwaitExit(ProcessLauncher& launcher, int64_t run_id,
                                     std::chrono::milliseconds limit = 60s) {
    WaitFor(
        [&] {
          for (ChildExit& e : launcher.Reap()) reaped_[e.run_id] = std::move(e);
          return reaped_.count(run_id) != 0;
        },
        limit);
    auto it = reaped_.find(run_id);
    if (it == reaped_.end()) return std::nullopt;
    ChildExit exit = std::move(it->second);
    reaped_.erase(it);
    return exit;
  }

  // Whether process `pid` that started at `start` has ended (a zombie has).
  static bool Gone(int64_t pid, int64_t start) { return ProcessStartTime(pid) != start; }

  TempDir dir_;
  std::string fake_;
  ProcessLauncherOptions options_;
  std::map<int64_t, ChildExit> reaped_;
};

TEST_F(ScheduleLauncher, RealSpateRunSucceedsWithItsCountsAndLog) {
  options_.executable = SPATE_BINARY;
  ProcessLauncher launcher(options_);
  JobSpec job = Job("run");
  const std::string data = dir_.File("data");
  job.options = {{"count", {"100"}}, {"seed", {"tick"}}, {"data_dir", {data}}};
  auto started = launcher.Start(Request(job, 7));
  ASSERT_TRUE(started.ok()) << started.status().message();
  EXPECT_GT(started->pid, 0);
  EXPECT_GT(started->pid_start, 0);
  EXPECT_EQ(started->log_path, options_.logs_dir + "/tick/7-1.log");

  auto exit = AwaitExit(launcher, 7, 120s);
  ASSERT_TRUE(exit.has_value());
  const std::string log = ReadFile(started->log_path);
  EXPECT_EQ(exit->exit_code, 0) << log;
  EXPECT_EQ(exit->term_signal, 0);
  EXPECT_EQ(exit->error, "");
  ASSERT_TRUE(exit->counts.has_value()) << "no result file " << RunFile(7, "-1.result.json");
  EXPECT_EQ(exit->counts->records_in, 100);
  EXPECT_EQ(exit->counts->records_stored, 100);
  EXPECT_EQ(exit->counts->records_rejected, 0);
  EXPECT_TRUE(exit->counts->completed) << "no signal cut it short";
  EXPECT_NE(log.find("spate run: 100 records in"), std::string::npos) << log;
  EXPECT_NE(log.find("100 rows stored, 0 rejected"), std::string::npos) << log;
  EXPECT_TRUE(std::filesystem::exists(data + "/spate.db")) << "data_dir reached the child";

  // The options file: owner-only (options may hold credentials), what the child read.
  struct stat st {};
  ASSERT_EQ(::stat(RunFile(7, ".yaml").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(started->log_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0007, 0u) << "the log is not for every user";
  EXPECT_EQ(ReadFile(RunFile(7, "-1.result.json")),
            "{\"records_in\":100,\"records_stored\":100,\"records_rejected\":0,\"completed\":true,"
            "\"exit_code\":0}\n");
}

TEST_F(ScheduleLauncher, RealSpateWithABadOptionFailsWithItsError) {
  options_.executable = SPATE_BINARY;
  ProcessLauncher launcher(options_);
  JobSpec job = Job("run");
  job.options = {{"count", {"abc"}}, {"data_dir", {dir_.File("data")}}};
  ASSERT_TRUE(launcher.Start(Request(job, 8)).ok());
  auto exit = AwaitExit(launcher, 8, 120s);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->exit_code, 2);
  EXPECT_NE(exit->error.find("count: 'abc' is not an integer"), std::string::npos) << exit->error;
  EXPECT_EQ(exit->error.find("[error]"), std::string::npos) << "the message, not the log line";
  EXPECT_FALSE(exit->counts.has_value()) << "it never ran";
}

TEST_F(ScheduleLauncher, ChildGetsItsArgumentsEnvironmentAndCleanSignalState) {
  // As spate does: SIGTERM and SIGINT blocked, and something ignored.
  sigset_t stop, old;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  ASSERT_EQ(sigprocmask(SIG_BLOCK, &stop, &old), 0);
  auto old_usr2 = signal(SIGUSR2, SIG_IGN);
  ::setenv("SPATE_JOB", "inherited-and-replaced", 1);
  ProcessLauncher launcher(options_);
  const JobSpec job = Job("env");
  auto started = launcher.Start(Request(job, 12, 3));
  sigprocmask(SIG_SETMASK, &old, nullptr);
  signal(SIGUSR2, old_usr2);
  ::unsetenv("SPATE_JOB");
  ASSERT_TRUE(started.ok()) << started.status().message();
  auto exit = AwaitExit(launcher, 12);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->exit_code, 0);
  EXPECT_FALSE(exit->counts.has_value()) << "it wrote no result file";

  const std::string env = ReadFile(RunFile(12, ".env"));
  EXPECT_NE(env.find("args=env --config " + RunFile(12, ".yaml") + "\n"), std::string::npos) << env;
  EXPECT_NE(env.find("SPATE_RUN_RESULT=" + RunFile(12, "-3.result.json") + "\n"), std::string::npos)
      << env;
  EXPECT_NE(env.find("SPATE_RUN_ID=12\n"), std::string::npos) << env;
  EXPECT_NE(env.find("SPATE_JOB=tick\n"), std::string::npos) << env;
  EXPECT_EQ(env.find("inherited-and-replaced"), std::string::npos) << env;
  EXPECT_NE(env.find("SPATE_ATTEMPT=3\n"), std::string::npos) << env;
  EXPECT_NE(env.find("SPATE_INTERVAL_START=2026-12-06T12:00:00.000Z\n"), std::string::npos) << env;
  EXPECT_NE(env.find("SPATE_INTERVAL_END=2026-12-06T12:00:01.000Z\n"), std::string::npos) << env;
  EXPECT_EQ(ReadFile(RunFile(12, ".signals")),
            "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
  EXPECT_TRUE(std::filesystem::exists(options_.logs_dir + "/tick/12-3.log"));
}

TEST_F(ScheduleLauncher, OptionsFileHoldsTheJobsOptions) {
  ProcessLauncher launcher(options_);
  JobSpec job = Job("quiet_fail");
  job.options = {{"count", {"100"}}, {"sink", {"sqlite", "postgres"}}, {"seed", {"a \"b\" \\c"}}};
  ASSERT_TRUE(launcher.Start(Request(job, 3)).ok());
  ASSERT_TRUE(AwaitExit(launcher, 3).has_value());
  const std::string yaml = ReadFile(RunFile(3, ".yaml"));
  EXPECT_NE(yaml.find("count: \"100\"\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("sink:\n  - \"sqlite\"\n  - \"postgres\"\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("seed: \"a \\\"b\\\" \\\\c\"\n"), std::string::npos) << yaml;
}

TEST_F(ScheduleLauncher, FailureGivesItsExitCodeAndLastErrorLine) {
  ProcessLauncher launcher(options_);
  const JobSpec job = Job("fail");
  auto started = launcher.Start(Request(job, 1));
  ASSERT_TRUE(started.ok()) << started.status().message();
  auto exit = AwaitExit(launcher, 1);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->exit_code, 3);
  EXPECT_EQ(exit->term_signal, 0);
  EXPECT_EQ(exit->error, "cannot open the store: disk full");
  EXPECT_FALSE(exit->counts.has_value());
  const std::string log = ReadFile(started->log_path);
  EXPECT_NE(log.find("starting\n"), std::string::npos) << "stdout is in the log: " << log;
  EXPECT_NE(log.find("error: an earlier problem\n"), std::string::npos) << "and stderr: " << log;

  // No error line: the exit code says what happened.
  const JobSpec quiet = Job("quiet_fail");
  ASSERT_TRUE(launcher.Start(Request(quiet, 2)).ok());
  exit = AwaitExit(launcher, 2);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->exit_code, 4);
  EXPECT_EQ(exit->error, "exited with code 4");
}

TEST_F(ScheduleLauncher, LogOfEachAttemptIsItsOwnAndAppended) {
  ProcessLauncher launcher(options_);
  const JobSpec job = Job("fail");
  for (int attempt : {1, 2, 2}) {
    ASSERT_TRUE(launcher.Start(Request(job, 5, attempt)).ok());
    ASSERT_TRUE(AwaitExit(launcher, 5).has_value());
  }
  const auto count = [](const std::string& text) {
    size_t n = 0;
    for (size_t at = text.find("starting"); at != std::string::npos;
         at = text.find("starting", at + 1)) {
      ++n;
    }
    return n;
  };
  EXPECT_EQ(count(ReadFile(options_.logs_dir + "/tick/5-1.log")), 1u);
  EXPECT_EQ(count(ReadFile(options_.logs_dir + "/tick/5-2.log")), 2u);
}

TEST_F(ScheduleLauncher, CrashBySignalIs128PlusTheSignal) {
  ProcessLauncher launcher(options_);
  const JobSpec killed = Job("sigkill");
  const JobSpec segv = Job("sigsegv");
  ASSERT_TRUE(launcher.Start(Request(killed, 1)).ok());
  ASSERT_TRUE(launcher.Start(Request(segv, 2)).ok());
  auto first = AwaitExit(launcher, 1);
  auto second = AwaitExit(launcher, 2);
  ASSERT_TRUE(first.has_value() && second.has_value());
  EXPECT_EQ(first->exit_code, 128 + SIGKILL);
  EXPECT_EQ(first->term_signal, SIGKILL);
  EXPECT_EQ(first->error, "ended by signal 9 (SIGKILL)");
  EXPECT_EQ(second->exit_code, 128 + SIGSEGV);
  EXPECT_EQ(second->term_signal, SIGSEGV);
}

TEST_F(ScheduleLauncher, TerminateLetsTheChildStopGracefully) {
  ProcessLauncher launcher(options_);
  const JobSpec job = Job("graceful");
  auto started = launcher.Start(Request(job, 1));
  ASSERT_TRUE(started.ok());
  EXPECT_EQ(getpgid(static_cast<pid_t>(started->pid)), started->pid) << "it leads its own group";
  ASSERT_EQ(AwaitFile(RunFile(1, ".ready")), "ready\n");
  launcher.Terminate(1);
  auto exit = AwaitExit(launcher, 1);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->exit_code, 0);
  EXPECT_EQ(exit->term_signal, 0);
  EXPECT_NE(ReadFile(started->log_path).find("got TERM, stopping"), std::string::npos);
}

TEST_F(ScheduleLauncher, KillEndsAChildThatOutlivesTerminate) {
  ProcessLauncher launcher(options_);
  const JobSpec job = Job("stubborn");
  ASSERT_TRUE(launcher.Start(Request(job, 1)).ok());
  ASSERT_EQ(AwaitFile(RunFile(1, ".ready")), "ready\n");
  launcher.Terminate(1);
  ASSERT_EQ(AwaitFile(RunFile(1, ".term")), "term\n") << "SIGTERM reached it";
  EXPECT_TRUE(launcher.Reap().empty()) << "it took SIGTERM and went on";
  launcher.Kill(1);
  auto exit = AwaitExit(launcher, 1);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->exit_code, 128 + SIGKILL);
  EXPECT_EQ(exit->term_signal, SIGKILL);
}

TEST_F(ScheduleLauncher, ChildsOwnChildrenDieWithItsGroup) {
  ProcessLauncher launcher(options_);
  const JobSpec job = Job("group");
  ASSERT_TRUE(launcher.Start(Request(job, 1)).ok());
  const int64_t grandchild = std::stoll(AwaitFile(RunFile(1, ".child")));
  const auto start = ProcessStartTime(grandchild);
  ASSERT_TRUE(start.has_value());
  launcher.Terminate(1);  // Neither traps SIGTERM: both end.
  ASSERT_TRUE(AwaitExit(launcher, 1).has_value());
  EXPECT_TRUE(WaitFor([&] { return Gone(grandchild, *start); }, 30s));

  // What a child leaves running when it ends goes too.
  const JobSpec leftover = Job("leftover");
  ASSERT_TRUE(launcher.Start(Request(leftover, 2)).ok());
  const int64_t left = std::stoll(AwaitFile(RunFile(2, ".child")));
  const auto left_start = ProcessStartTime(left);
  ASSERT_TRUE(left_start.has_value()) << "it lives until its run is reaped";
  ASSERT_TRUE(AwaitExit(launcher, 2).has_value());
  EXPECT_TRUE(WaitFor([&] { return Gone(left, *left_start); }, 30s));
}

// A launcher in another process (a scheduler), started by fork: it starts `job`'s child,
// sends back the child's pid and start time, then waits to be killed.
struct Helper {
  pid_t pid = -1;
  int64_t child_pid = -1;
  int64_t child_start = 0;
};

Helper StartHelper(const ProcessLauncherOptions& options, const JobSpec& job,
                   const LaunchRequest& request) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  Helper helper;
  helper.pid = fork();
  if (helper.pid == 0) {
    close(fds[0]);
    ProcessLauncher launcher(options);
    auto started = launcher.Start(request);
    int64_t data[2] = {started.ok() ? started->pid : -1, started.ok() ? started->pid_start : 0};
    if (write(fds[1], data, sizeof(data)) != sizeof(data)) _exit(1);
    while (true) pause();
  }
  close(fds[1]);
  int64_t data[2] = {-1, 0};
  if (helper.pid > 0 && read(fds[0], data, sizeof(data)) == sizeof(data)) {
    helper.child_pid = data[0];
    helper.child_start = data[1];
  }
  close(fds[0]);
  (void)job;
  return helper;
}

void KillHelper(const Helper& helper) {
  kill(helper.pid, SIGKILL);
  waitpid(helper.pid, nullptr, 0);
}

TEST_F(ScheduleLauncher, ChildOfAKilledSchedulerGetsSigterm) {
  const JobSpec job = Job("graceful");
  const Helper helper = StartHelper(options_, job, Request(job, 1));
  ASSERT_GT(helper.pid, 0);
  ASSERT_GT(helper.child_pid, 0);
  ASSERT_EQ(AwaitFile(RunFile(1, ".ready")), "ready\n");
  KillHelper(helper);
  EXPECT_TRUE(WaitFor([&] { return Gone(helper.child_pid, helper.child_start); }, 30s));
  EXPECT_NE(ReadFile(options_.logs_dir + "/tick/1-1.log").find("got TERM, stopping"),
            std::string::npos)
      << "it stopped gracefully on SIGTERM";
}

TEST_F(ScheduleLauncher, EndOrphanTerminatesALiveOrphan) {
  const JobSpec job = Job("orphan");
  const Helper helper = StartHelper(options_, job, Request(job, 1));
  ASSERT_GT(helper.child_pid, 0);
  ASSERT_EQ(AwaitFile(RunFile(1, ".ready")), "ready\n");
  KillHelper(helper);
  // PDEATHSIG's SIGTERM, which this orphan survives (it ends on the second).
  ASSERT_EQ(AwaitFile(RunFile(1, ".term")), "term 1\n");
  ASSERT_EQ(ProcessStartTime(helper.child_pid), helper.child_start);

  ProcessLauncher restarted(options_);
  // A long grace: it ends on the SIGTERM, not on a SIGKILL after the grace.
  restarted.EndOrphan(helper.child_pid, helper.child_start, 600'000);
  EXPECT_TRUE(Gone(helper.child_pid, helper.child_start)) << "EndOrphan returns once it is gone";
  EXPECT_EQ(ReadFile(RunFile(1, ".term")), "term 1\nterm 2\n");
}

TEST_F(ScheduleLauncher, EndOrphanKillsAnOrphanThatIgnoresSigterm) {
  const JobSpec job = Job("deaf");
  const Helper helper = StartHelper(options_, job, Request(job, 1));
  ASSERT_GT(helper.child_pid, 0);
  ASSERT_EQ(AwaitFile(RunFile(1, ".ready")), "ready\n");
  KillHelper(helper);
  ASSERT_EQ(ProcessStartTime(helper.child_pid), helper.child_start);
  ProcessLauncher restarted(options_);
  restarted.EndOrphan(helper.child_pid, helper.child_start, 200);
  EXPECT_TRUE(Gone(helper.child_pid, helper.child_start));
}

TEST_F(ScheduleLauncher, EndOrphanLeavesAnotherProcessWithThatPidAlone) {
  ProcessLauncher launcher(options_);
  const JobSpec job = Job("loop");
  auto started = launcher.Start(Request(job, 1));
  ASSERT_TRUE(started.ok());
  ASSERT_EQ(AwaitFile(RunFile(1, ".ready")), "ready\n");
  // The same pid, another start time: a reused pid. No signal may reach it, so it dies of
  // the SIGKILL below, not of a SIGTERM (a fatal signal decides the exit status when sent).
  launcher.EndOrphan(started->pid, started->pid_start + 1, 200);
  launcher.Kill(1);
  auto exit = AwaitExit(launcher, 1);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->term_signal, SIGKILL);

  // A pid no process has any more: nothing to do.
  launcher.EndOrphan(started->pid, started->pid_start, 200);
}

TEST_F(ScheduleLauncher, DestructorLeavesNoChildOrZombie) {
  std::vector<int64_t> pids;
  {
    ProcessLauncher launcher(options_);
    const JobSpec loop = Job("loop");
    const JobSpec deaf = Job("deaf");
    auto a = launcher.Start(Request(loop, 1));
    auto b = launcher.Start(Request(deaf, 2));
    ASSERT_TRUE(a.ok() && b.ok());
    pids = {a->pid, b->pid};
    ASSERT_EQ(AwaitFile(RunFile(2, ".ready")), "ready\n");
  }
  for (int64_t pid : pids) {
    errno = 0;
    EXPECT_EQ(waitpid(static_cast<pid_t>(pid), nullptr, WNOHANG), -1) << "not reaped: " << pid;
    EXPECT_EQ(errno, ECHILD);
    EXPECT_FALSE(ProcessStartTime(pid).has_value());
  }
}

TEST_F(ScheduleLauncher, WorksForASchedulerWithoutStdio) {
  // In a process of its own: stdin, stdout and stderr closed (a daemon's), so the launcher's
  // own descriptors get 0-2. Its exit code says what it saw.
  const pid_t helper = fork();
  if (helper == 0) {
    close(0);
    close(1);
    close(2);
    ProcessLauncher launcher(options_);
    const JobSpec job = Job("fail");
    auto started = launcher.Start(Request(job, 1));
    if (!started.ok()) _exit(10);
    for (int i = 0; i < 6000; ++i) {  // 60 s at most.
      for (const ChildExit& e : launcher.Reap()) {
        const std::string log = ReadFile(started->log_path);
        _exit(e.exit_code == 3 && log.find("starting\n") != std::string::npos &&
                      log.find("disk full") != std::string::npos
                  ? 0
                  : 11);
      }
      usleep(10'000);
    }
    _exit(12);
  }
  ASSERT_GT(helper, 0);
  int status = 0;
  ASSERT_EQ(waitpid(helper, &status, 0), helper);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: no start, 11: wrong exit or log, 12: no exit";
}

TEST_F(ScheduleLauncher, ExecutableThatCannotRunFailsTheStart) {
  options_.executable = dir_.File("no-such-spate");
  ProcessLauncher launcher(options_);
  const JobSpec job = Job("run");
  auto started = launcher.Start(Request(job, 1));
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.status().message().find("no-such-spate"), std::string::npos);
  EXPECT_TRUE(launcher.Reap().empty()) << "no child is left to reap";
  errno = 0;
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD) << "it was collected";
}

TEST(ScheduleLauncherResult, WriteRunResultWritesTheNamedFileWhole) {
  TempDir dir;
  const std::string path = dir.File("r.json");
  ::unsetenv("SPATE_RUN_RESULT");
  WriteRunResult({1, 2, 3, true}, 1);  // Not a run of a scheduler: nothing to write.
  EXPECT_FALSE(std::filesystem::exists(path));
  ::setenv("SPATE_RUN_RESULT", path.c_str(), 1);
  WriteRunResult({5, 4, 1, true}, 0);
  ::unsetenv("SPATE_RUN_RESULT");
  EXPECT_EQ(ReadFile(path),
            "{\"records_in\":5,\"records_stored\":4,\"records_rejected\":1,\"completed\":true,"
            "\"exit_code\":0}\n");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(ScheduleLauncherResult, ProcessStartTimeKnowsLiveProcessesOnly) {
  EXPECT_TRUE(ProcessStartTime(getpid()).has_value());
  EXPECT_FALSE(ProcessStartTime(0).has_value());
  EXPECT_FALSE(ProcessStartTime(-5).has_value());
  const pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  // A zombie (ended, not yet reaped) is no live process.
  EXPECT_TRUE(WaitFor([&] { return !ProcessStartTime(child).has_value(); }, 30s));
  waitpid(child, nullptr, 0);
  EXPECT_FALSE(ProcessStartTime(child).has_value());
}

}  // namespace
}  // namespace spate
