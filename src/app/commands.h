// The subcommands. Each takes the merged configuration and returns the process exit code:
// 0 success, 1 the work failed (the message says why), 2 bad usage or configuration,
// 130 aborted by a second interrupt (unstored records were dropped).
#pragma once

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
