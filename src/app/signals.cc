#include <unistd.h>

#include <csignal>
#include <ctime>

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

}  // namespace

void BlockStopSignals() {
  const sigset_t set = StopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForSignal(int timeout_ms) {
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
