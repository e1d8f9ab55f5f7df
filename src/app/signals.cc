#include "app/signals.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "app/commands.h"

namespace spate {
namespace {

// SIGUSR1 is spate's own wake-up call (WakeMainThread), not a stop request.
constexpr int kWakeSignal = SIGUSR1;

sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, kWakeSignal);
  return set;
}

// The guard's state. `mutex` orders a signal the guard took against the hand-over: either the
// guard exits the process first, or it sees `handed_over` and gives the signal back.
struct Guard {
  std::mutex mutex;
  bool handed_over = false;
  std::jthread thread;
  std::atomic<bool> running{false};
  bool shutdown = false;  // Which phase the guard covers, for its message.
};

Guard& TheGuard() {
  // Never destroyed: the guard thread may still be deciding when static destructors run.
  static Guard* guard = new Guard;
  return *guard;
}

void GuardLoop(const std::stop_token& stop) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  Guard& guard = TheGuard();
  while (!stop.stop_requested()) {
    // A short timeout bounds how long the hand-over waits for this thread.
    timespec timeout{0, 20 * 1000 * 1000};
    const int sig = sigtimedwait(&set, nullptr, &timeout);
    if (sig <= 0) continue;
    std::lock_guard lock(guard.mutex);
    if (guard.handed_over) {
      // The control loop runs now: it takes the signal from here (still blocked everywhere,
      // so it stays pending for the process until WaitForSignal takes it).
      kill(getpid(), sig);
      return;
    }
    const char* name = sig == SIGINT ? "interrupt" : "terminate";
    const std::string message =
        guard.shutdown ? fmt::format(
                             "{} while finishing: exiting at once; records not yet acknowledged "
                             "were dropped, rerun to store them",
                             name)
                       : fmt::format(
                             "{} during start-up: exiting at once (no records were taken in yet, "
                             "so none are lost)",
                             name);
    if (auto logger = spdlog::get("spate")) {
      logger->warn("{}", message);
      logger->flush();
    } else {
      fmt::print(stderr, "{}\n", message);
      std::fflush(stderr);
    }
    // Not exit(): the main thread is blocked in a library call (a connect, a read) and may
    // hold locks that static destructors would need.
    std::_Exit(kExitAborted);
  }
}

}  // namespace

void BlockStopSignals() {
  const sigset_t set = StopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

namespace {

void StartGuard(bool shutdown) {
  Guard& guard = TheGuard();
  std::lock_guard lock(guard.mutex);
  if (guard.thread.joinable()) return;
  guard.shutdown = shutdown;
  guard.handed_over = false;
  guard.running = true;
  guard.thread = std::jthread(GuardLoop);
}

}  // namespace

void StartStartupGuard() { StartGuard(/*shutdown=*/false); }

void StartShutdownGuard() { StartGuard(/*shutdown=*/true); }

void EndStartup() {
  Guard& guard = TheGuard();
  if (!guard.running.load()) return;
  std::jthread thread;
  {
    std::lock_guard lock(guard.mutex);
    guard.handed_over = true;
    thread = std::move(guard.thread);
    // Under the mutex, and before the join: a StartGuard on another thread after this point
    // sets it true again for its own thread. Clearing it after the join (as before) could
    // overwrite that, leaving a guard that no EndStartup would stop and that took the control
    // loop's Ctrl-C for a start-up one (exit 130 instead of a drain).
    guard.running = false;
  }
  if (thread.joinable()) {
    thread.request_stop();
    thread.join();
  }
}

bool StartupGuardRunning() { return TheGuard().running.load(); }

int WaitForSignal(int timeout_ms) {
  EndStartup();  // The control loop is running: it takes the signals from now on.
  const sigset_t set = StopSignals();
  timespec timeout{timeout_ms / 1000, static_cast<long>(timeout_ms % 1000) * 1000000L};
  const int sig = sigtimedwait(&set, nullptr, &timeout);
  return sig > 0 && sig != kWakeSignal ? sig : 0;
}

void WakeMainThread() {
  // Process-directed: every thread blocks it, so it stays pending until WaitForSignal takes
  // it (now, or at its next call).
  kill(getpid(), kWakeSignal);
}

}  // namespace spate
