// How the CLI's OpenMP workers wait between parallel regions (docs/performance.md, "OpenMP wait policy").
// libgomp reads OMP_WAIT_POLICY / GOMP_SPINCOUNT once, before main(), so the CLI chooses a setting at start-up
// and re-executes itself once with it; a setting the user made (either variable) is kept as is.
#pragma once
#include <string>

namespace gaincell::cli {

// Spin of the workers when the machine has a core free for each of them: GOMP_SPINCOUNT iterations of `pause`
// (~40-140 cycles each, so about 0.3-0.6 ms) keep the threads warm across the ~50 parallel regions of one decoded
// token, whose gaps are a few microseconds of serial work, and let them sleep when no region follows (between
// tokens, in I/O). Measured on the Intel AMX host (gpt2 generate, 2 threads, docs/performance.md): idle, passive
// waiting 26-27 ms/token, 1,000 spins 19.7-20.8, 10,000 spins 18.7-18.8 (= active waiting, 18.4-18.7); with one
// busy process beside it, passive 36-37, 1,000 spins 39-42, 10,000 spins 60, active 49-55.
constexpr long long kIdleSpinCount = 10000;

struct WaitChoice {
  const char* variable = nullptr;  // environment variable to set, nullptr: leave the environment as found
  std::string value;
};

// The choice for a process about to run `threads` workers on `cpus` processors while `others_running` other
// threads are runnable (a snapshot of the kernel's run queue): spin when others_running + threads <= cpus, else
// passive waiting (a spinning worker would take the core from the thread it waits for).
WaitChoice choose_wait_policy(int others_running, int threads, int cpus);

// Applies the choice to this process's environment unless the user set OMP_WAIT_POLICY or GOMP_SPINCOUNT.
// Returns true when the environment changed (the caller re-executes itself so that libgomp reads it).
bool set_wait_policy_environment();

// "passive", "spin N then sleep (GOMP_SPINCOUNT)", or the user's setting: what `info` prints.
std::string wait_policy_description();

}  // namespace gaincell::cli
