// ProcessLauncher: each run attempt as a child `spate` process (issue 20).
//
// The child is `EXE COMMAND --config RUNS_DIR/RUN_ID.yaml` (EXE: /proc/self/exe unless
// given), where the YAML file holds the job's options (OptionsYaml, mode 0600: options may
// hold credentials, and a command line is visible to every user in `ps`). It runs in the
// scheduler's working directory (relative data_dir means what the user wrote) with its
// environment (SPATE_PG_DSN and friends reach it), plus
//   SPATE_RUN_RESULT=RUNS_DIR/RUN_ID-ATTEMPT.result.json
//   SPATE_RUN_ID, SPATE_JOB, SPATE_ATTEMPT, SPATE_INTERVAL_START, SPATE_INTERVAL_END (RFC 3339)
// `spate run/produce/process` write their counts to SPATE_RUN_RESULT as they exit:
//   {"records_in":N,"records_stored":N,"records_rejected":N,"completed":B,"exit_code":N}
// (completed: no signal cut the work short; see RunCounts)
// (written to a temporary name and renamed, so a half-written file is never read).
//
// stdout and stderr go to LOGS_DIR/JOB/RUN_ID-ATTEMPT.log (created, appended, 0640).
// The child starts its own process group (setpgid), so Terminate/Kill reach whatever it
// started, and a Ctrl-C at the scheduler's terminal reaches only the scheduler, which then
// stops its children in order. PR_SET_PDEATHSIG(SIGTERM): a child whose scheduler died
// (SIGKILL) stops gracefully on its own; the restarted scheduler waits for it (EndOrphan).
// Signal mask and dispositions are reset to defaults in the child (spate blocks SIGINT and
// SIGTERM in every thread; a child inheriting that and exec'ing something else would ignore
// them; spate itself blocks them again in main).
//
// PR_SET_PDEATHSIG fires when the *thread* that forked exits, not the process: call Start()
// from the thread that outlives the children (the scheduler's main loop), never from a
// short-lived worker.
//
// Reap() uses waitpid(pid, WNOHANG) for each child it started (never waitpid(-1): the
// process may have other children, e.g. a test harness's). A run is over when its child is:
// what the child left running in its group is SIGKILLed as it is reaped (before the reap,
// so the group id cannot have been reused). ChildExit::error is the message of the last
// error line in the log's final 64 KiB (spdlog's "[error]"/"[critical]" lines, or lines
// starting "error"/"fatal"/"panic" or holding "error:"), else "exited with code N" or
// "ended by signal N (SIGNAME)".
//
// Note for the scheduler: spate run/produce/process stop gracefully on one SIGTERM and exit
// 0 (summary "(stopped early by a signal)", result file written), so the exit code of a run
// it terminated (timeout, shutdown) says nothing: the scheduler decides that run's state.
//
// A child that cannot exec (no such executable) fails Start() and is collected there.
//
// Thread-safety: one thread (the scheduler's).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "schedule/scheduler.h"

namespace spate {

struct ProcessLauncherOptions {
  std::string executable;  // Empty: /proc/self/exe.
  std::string runs_dir;    // DATA_DIR/runs: the per-run config files and results.
  std::string logs_dir;    // DATA_DIR/logs.
};

class ProcessLauncher : public Launcher {
 public:
  explicit ProcessLauncher(ProcessLauncherOptions options);
  // Kills (SIGKILL) and reaps children still running: a launcher never leaves zombies.
  ~ProcessLauncher() override;

  Result<LaunchedChild> Start(const LaunchRequest& request) override;
  void Terminate(int64_t run_id) override;
  void Kill(int64_t run_id) override;
  std::vector<ChildExit> Reap() override;
  void EndOrphan(int64_t pid, int64_t pid_start, int64_t grace_ms) override;

 private:
  struct Child {
    int64_t pid = 0;
    std::string result_path;
    std::string log_path;
  };
  ProcessLauncherOptions options_;
  std::map<int64_t, Child> children_;  // By run_id.
};

// The start time of process `pid` (/proc/PID/stat field 22); nullopt when there is no such
// process (or it is a zombie).
std::optional<int64_t> ProcessStartTime(int64_t pid);

// Writes the result file named by SPATE_RUN_RESULT, when set (spate's commands call this as
// they exit). Errors are logged, never fatal: a run's work matters more than its report.
void WriteRunResult(const RunCounts& counts, int exit_code);

}  // namespace spate
