// Ctrl-C at every moment (issue 17, item 11).
//
// SIGINT and SIGTERM are blocked in every thread (BlockStopSignals, commands.h) and taken
// synchronously: by the command's control loop (WaitForSignal) once it runs, and before that
// by the start-up guard. Start-up (reading the config, opening sinks, connecting to Kafka,
// PostgreSQL, Cassandra or an HTTP API) can block for as long as a server that accepts but
// never answers makes it; without the guard a Ctrl-C then stayed pending and did nothing.
//
// The guard is one thread that waits for SIGINT/SIGTERM. On one it ends the process at once
// with exit code 130 and a message: nothing has been acknowledged yet (no record stored, no
// offset committed), so nothing is lost. The first WaitForSignal (the control loop starting)
// ends the guard and hands the signals over; a signal the guard takes at that moment is
// raised again for the control loop, never dropped.
//
// Thread-safety: StartStartupGuard and EndStartup may be called from any thread; both are
// idempotent.
#pragma once

namespace spate {

// Starts the guard (again, after EndStartup). Call after BlockStopSignals, so that the
// guard is the only taker.
void StartStartupGuard();

// Ends the guard (joins its thread) and hands the signals to the control loop. A command calls
// it just before it starts its first pipeline (from then on records are taken in, and a
// signal must drain them, not end the process); WaitForSignal and the end of main call it
// too, as a backstop. Harmless when no guard runs.
void EndStartup();

// The same guard for the end of a command, after its control loop returned: closing sinks
// can wait long (a Kafka flush to a broker that is down, a PostgreSQL commit to a silent
// server). A signal then ends the process at once with exit 130, as a second Ctrl-C in the
// loop does: records not yet acknowledged are dropped, and a rerun stores them.
void StartShutdownGuard();

// True while the guard runs (for tests).
bool StartupGuardRunning();

}  // namespace spate
