// How the CLI's OpenMP workers wait between parallel regions (docs/performance.md, "OpenMP wait policy").
// libgomp reads OMP_WAIT_POLICY / GOMP_SPINCOUNT once, before main(), so the CLI chooses a setting at start-up
// and re-executes itself once with it; a setting the user made (either variable) is kept as is.
#pragma once
#include <string>

namespace gaincell::cli {

// Bounded spin of the workers when the machine has a core free for each of them: GOMP_SPINCOUNT iterations of
// `pause` (25-70 ns each on this Zen 3 VM depending on load, ~40 ns on recent Intel, so 25-70 us) keep the threads
// warm across the ~50 parallel regions of one decoded token, whose gaps are a few microseconds of serial work,
// and let them sleep when the next region does not come (between tokens, in I/O). libgomp's default of 300,000
// spins several milliseconds: on a busy machine a spinning worker takes the core from the thread it waits for
// (measured: 4,000 spins already cost 1.3-1.7x passive at load 12; 1,000 did not; docs/performance.md).
constexpr long long kBoundedSpinCount = 1000;

struct WaitChoice {
  const char* variable = nullptr;  // environment variable to set, nullptr: leave the environment as found
  std::string value;
  std::string reason;  // one line for `info`
};

// The choice for a process about to run with `threads` workers on `cpus` processors when the 1-minute load
// average is `load1` (the other runnable work): spin when load1 + threads <= cpus + 0.5, else passive waiting.
WaitChoice choose_wait_policy(double load1, int threads, int cpus);

// Applies the choice to this process's environment unless the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT.
// Returns true when the environment changed (the caller re-executes itself so that libgomp reads it).
bool set_wait_policy_environment();

// "passive", "spin N then sleep (GOMP_SPINCOUNT)", or the user's setting: what `info` prints.
std::string wait_policy_description();

}  // namespace gaincell::cli
