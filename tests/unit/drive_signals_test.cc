// Issue 17, item 11: a Ctrl-C that arrives after the control loop's last signal check but
// before the shutdown guard starts belongs to the loop (a first interrupt: summary, exit 0),
// not to the guard (which ends the process with 130 and "records dropped").
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "app/commands.h"
#include "app/components.h"
#include "app/signals.h"
#include "child_process.h"
#include "config/config.h"
#include "pipeline/pipeline.h"

namespace spate {
namespace {

using spate::testing::InChild;

class EmptySource final : public Source {
 public:
  Result<SourceState> Next(Batch&, size_t, std::stop_token) override {
    return SourceState::kFinished;
  }
  std::string Describe() const override { return "empty"; }
};

class NullSink final : public Sink {
 public:
  Status Open() override { return Status::Ok(); }
  Status Write(const Batch&) override { return Status::Ok(); }
  Status Close() override { return Status::Ok(); }
  std::string Describe() const override { return "null"; }
};

// The child's exit code: 0 when Drive counted the signal as its first interrupt and the
// process lived on through "closing the sinks"; 130 when the guard took it.
int DriveWithALateSignal(int sig) {
  EmptySource source;
  NullSink sink;
  PipelineOptions options;
  options.batch_size = 8;
  options.queue_capacity = 2;
  Pipeline pipeline(source, {&sink}, options);
  pipeline.Start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!pipeline.Done()) {
    if (std::chrono::steady_clock::now() > deadline) return 5;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  Config config;
  if (!config.Set("progress", "never").ok()) return 6;
  bool sent = false;
  DriveHooks hooks;
  // The pipeline is done before Drive starts, so the loop body never runs: the tick after
  // the loop is exactly the gap between its last check and the guard.
  hooks.tick = [&] {
    if (!sent) kill(getpid(), sig);
    sent = true;
  };
  const DriveResult result = Drive({&pipeline}, config, hooks);
  // Closing the sinks: a guard that took the signal ends the process meanwhile (it waits
  // in 20 ms steps; a second leaves room for a loaded machine to schedule it).
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EndStartup();
  if (!pipeline.Wait().ok()) return 7;
  if (!sent) return 8;
  return result.interrupts == 1 ? 0 : 10 + result.interrupts;
}

TEST(DriveSignals, ASignalJustBeforeTheShutdownGuardIsTheLoopsFirstInterrupt) {
  for (const int sig : {SIGINT, SIGTERM}) {
    EXPECT_EQ(InChild([sig] { return DriveWithALateSignal(sig); }), 0) << sig;
  }
}

// The guard still ends the process on a signal that comes once it runs (a hung close).
TEST(DriveSignals, ASignalWhileClosingStillEndsTheProcess) {
  const int code = InChild([] {
    EmptySource source;
    NullSink sink;
    PipelineOptions options;
    Pipeline pipeline(source, {&sink}, options);
    pipeline.Start();
    while (!pipeline.Done()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    Config config;
    if (!config.Set("progress", "never").ok()) return 6;
    (void)Drive({&pipeline}, config, DriveHooks{});
    kill(getpid(), SIGINT);
    std::this_thread::sleep_for(std::chrono::seconds(60));
    return 0;
  });
  EXPECT_EQ(code, kExitAborted);
}

}  // namespace
}  // namespace spate
