#include "cli/omp_wait.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace gaincell::cli {

WaitChoice choose_wait_policy(double load1, int threads, int cpus) {
  WaitChoice c;
  if (threads <= 1) return c;  // no parallel regions: nothing to choose
  if (load1 + threads <= cpus + 0.5) {
    c.variable = "GOMP_SPINCOUNT";
    c.value = std::to_string(kBoundedSpinCount);
  } else {
    c.variable = "OMP_WAIT_POLICY";
    c.value = "passive";
  }
  return c;
}

namespace {

double load_average_1min() {
  double load = 1e9;  // unreadable: assume busy (passive waiting is never far off)
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &load) != 1) load = 1e9;
    std::fclose(f);
  }
  return load;
}

}  // namespace

bool set_wait_policy_environment() {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return false;
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  const int n = cpus > 0 ? static_cast<int>(cpus) : 1;
  // The CLI runs with all cores unless --threads says otherwise; that is parsed later, so assume all.
  const WaitChoice c = choose_wait_policy(load_average_1min(), n, n);
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
