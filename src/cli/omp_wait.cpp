#include "cli/omp_wait.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace gaincell::cli {

WaitChoice choose_wait_policy(int others_running, int threads, int cpus) {
  WaitChoice c;
  if (threads <= 1) return c;  // no parallel regions: nothing to choose
  if (others_running + threads <= cpus) {
    c.variable = "GOMP_SPINCOUNT";
    c.value = std::to_string(kIdleSpinCount);
  } else {
    c.variable = "OMP_WAIT_POLICY";
    c.value = "passive";
  }
  return c;
}

namespace {

// Runnable threads other than this one, the fewest of three snapshots 1 ms apart (procs_running of /proc/stat
// counts this process too; a shell or a short-lived process caught once is not load). The 1-minute load average
// would still count, for a minute, the work that just ended (on 2 cores the previous gaincell run made every
// next one wait passively: 26 instead of 19 ms/token). Unreadable: a large number, so waiting stays passive.
int other_runnable_threads() {
  int fewest = 1 << 20;
  for (int i = 0; i < 3; ++i) {
    if (i > 0) usleep(1000);
    FILE* f = std::fopen("/proc/stat", "r");
    if (f == nullptr) return fewest;
    char line[256];
    int running = -1;
    while (std::fgets(line, sizeof line, f) != nullptr)
      if (std::sscanf(line, "procs_running %d", &running) == 1) break;
    std::fclose(f);
    if (running >= 1 && running - 1 < fewest) fewest = running - 1;
  }
  return fewest;
}

}  // namespace

bool set_wait_policy_environment() {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return false;
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  const int n = cpus > 0 ? static_cast<int>(cpus) : 1;
  // The CLI runs with all cores unless --threads says otherwise; that is parsed later, so assume all.
  const WaitChoice c = choose_wait_policy(other_runnable_threads(), n, n);
  if (c.variable == nullptr) return false;
  return setenv(c.variable, c.value.c_str(), 1) == 0;
}

std::string wait_policy_description() {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const char* spin = std::getenv("GOMP_SPINCOUNT");
  std::string s;
  if (policy != nullptr) s = policy;
  if (spin != nullptr) s += (s.empty() ? "" : ", ") + std::string("spin ") + spin + " then sleep (GOMP_SPINCOUNT)";
  return s.empty() ? "(unset: libgomp default, active)" : s;
}

}  // namespace gaincell::cli
