// FUZZ_CHECK: the invariant check of a fuzz target.
//
// A fuzz target says what must hold on every input; when it does not, the process must die
// loudly so that libFuzzer saves the input (and the replay test fails). assert() would vanish
// in release builds, where the replay tests also run, so this aborts unconditionally.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, what)                                                                    \
  do {                                                                                            \
    if (!(cond)) {                                                                                \
      std::fprintf(stderr, "fuzz invariant broken at %s:%d: %s: %s\n", __FILE__, __LINE__, #cond, \
                   what);                                                                         \
      std::abort();                                                                               \
    }                                                                                             \
  } while (0)
