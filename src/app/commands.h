// The subcommands. Each takes the merged configuration and returns the process exit code:
// 0 success, 1 the work failed (the message says why), 2 bad usage or configuration,
// 130 aborted by a second interrupt (unstored records were dropped).
#pragma once

#include <string>

#include "config/config.h"

namespace CLI {
class App;
}

namespace spate {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitAborted = 130;

int RunCommand(const Config& config);
int ProduceCommand(const Config& config);
int ProcessCommand(const Config& config);
int MockApiCommand(const Config& config);
int QueryCommand(const Config& config);

// `spate schema`: prints the DDL of the --sink store(s). Its own flag (not a configuration
// property): --upgrade-from VERSION prints the upgrade from that schema version instead.
struct SchemaFlags {
  int upgrade_from = 0;
};
void AddSchemaFlags(CLI::App& command, SchemaFlags& flags);
int SchemaCommand(const Config& config, const SchemaFlags& flags);

// Orchestration (issue 20, cmd_schedule.cc). `spate schedule`: runs the jobs file's jobs
// until SIGTERM/SIGINT (exit 0), 2 for a bad jobs file, 1 when the history store cannot be
// opened or another scheduler holds it.
int ScheduleCommand(const Config& config);
// The own flags (not configuration properties) of runs, trigger and backfill.
struct ScheduleFlags {
  std::string job;    // runs --job J; trigger/backfill: the JOB argument.
  std::string state;  // runs --state S.
  int limit = 100;    // runs --limit N.
  std::string from;   // backfill --from DATE.
  std::string to;     // backfill --to DATE.
};
void AddRunsFlags(CLI::App& command, ScheduleFlags& flags);
void AddTriggerFlags(CLI::App& command, ScheduleFlags& flags);
void AddBackfillFlags(CLI::App& command, ScheduleFlags& flags);
// `spate runs`: the history as a table on stdout, newest first.
int RunsCommand(const Config& config, const ScheduleFlags& flags);
// `spate trigger JOB`: queues a manual run, prints its id.
int TriggerCommand(const Config& config, const ScheduleFlags& flags);
// `spate backfill JOB --from --to`: queues the intervals starting in [from, to].
int BackfillCommand(const Config& config, const ScheduleFlags& flags);

// Blocks SIGINT and SIGTERM (and the wake-up signal) in the calling thread, and so in every
// thread started after: the commands wait for them synchronously with WaitForSignal instead
// of using a handler.
void BlockStopSignals();
// Waits up to `timeout_ms` for SIGINT/SIGTERM; returns the signal number, or 0 on timeout or
// when WakeMainThread was called.
int WaitForSignal(int timeout_ms);
// Makes the current or next WaitForSignal return at once (a pipeline has finished).
void WakeMainThread();

}  // namespace spate
