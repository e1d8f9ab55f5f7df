// InChild: runs a test body in a forked child with spate's stop signals blocked, as spate's
// main does, so that a body which ends the process (the start-up and shutdown guards exit
// with 130) ends only the child.
#pragma once

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/commands.h"

namespace spate::testing {

// Runs `body` (returning an exit code) in a forked child and returns the child's exit code,
// or 128 + the signal that ended it.
template <typename Body>
int InChild(Body body) {
  const pid_t pid = fork();
  if (pid == 0) {
    BlockStopSignals();
    _exit(body());
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace spate::testing
