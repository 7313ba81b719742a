#include "core/dist.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"

#ifdef GAINCELL_HAVE_MPI
// The C API only (also when the build system does not say so): not the deprecated C++ bindings.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace gaincell {
namespace {

bool g_mpi_started = false;
int g_rank = 0, g_size = 1;
int g_error_fd = 2;                               // where dist_abort writes
int g_local_depth = 0;                            // DistLocalScope
constexpr size_t kReduceChunk = size_t{1} << 20;  // values per gather: rank 0 holds size x 8 MiB of doubles

#ifdef GAINCELL_HAVE_MPI
void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  fail("mpi", std::string(what) + " failed: " + std::string(msg, size_t(len)));
}
#endif

bool launched_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(v) != nullptr) return true;
  return false;
}

}  // namespace

bool dist_built_with_mpi() {
#ifdef GAINCELL_HAVE_MPI
  return true;
#else
  return false;
#endif
}

void dist_init(int* argc, char*** argv) {
  if (g_mpi_started || !launched_by_mpirun()) return;
#ifdef GAINCELL_HAVE_MPI
  int provided = 0;
  // The ranks call MPI from their main thread only (OpenMP threads never do).
  check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  g_mpi_started = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
#else
  (void)argc, (void)argv;
#endif
}

void dist_finalize() {
#ifdef GAINCELL_HAVE_MPI
  if (!g_mpi_started) return;
  MPI_Barrier(MPI_COMM_WORLD);
  MPI_Finalize();
  g_mpi_started = false;
#endif
}

int dist_rank() {
  return g_local_depth > 0 ? 0 : g_rank;
}
int dist_size() {
  return g_local_depth > 0 ? 1 : g_size;
}
DistLocalScope::DistLocalScope() {
  ++g_local_depth;
}
DistLocalScope::~DistLocalScope() {
  --g_local_depth;
}

void dist_barrier() {
#ifdef GAINCELL_HAVE_MPI
  if (dist_size() > 1) check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
#endif
}

namespace {

// Gather to rank 0, sum in rank order in double, broadcast: the fixed-order reduction of dist.h.
template <typename T>
void fixed_order_sum(T* data, size_t n) {
#ifdef GAINCELL_HAVE_MPI
  if (dist_size() <= 1 || n == 0) return;
  std::vector<double> mine, all, sum;
  for (size_t at = 0; at < n; at += kReduceChunk) {
    const size_t m = std::min(kReduceChunk, n - at);
    mine.assign(data + at, data + at + m);
    if (g_rank == 0) all.resize(m * size_t(g_size));
    check_mpi(MPI_Gather(mine.data(), int(m), MPI_DOUBLE, all.data(), int(m), MPI_DOUBLE, 0, MPI_COMM_WORLD),
              "MPI_Gather");
    sum.assign(m, 0.0);
    if (g_rank == 0)
      for (int r = 0; r < g_size; ++r)
        for (size_t i = 0; i < m; ++i) sum[i] += all[size_t(r) * m + i];
    check_mpi(MPI_Bcast(sum.data(), int(m), MPI_DOUBLE, 0, MPI_COMM_WORLD), "MPI_Bcast");
    for (size_t i = 0; i < m; ++i) data[at + i] = static_cast<T>(sum[i]);
  }
#else
  (void)data, (void)n;
#endif
}

}  // namespace

void dist_allreduce_sum(double* data, size_t n) {
  fixed_order_sum(data, n);
}
void dist_allreduce_sum(float* data, size_t n) {
  fixed_order_sum(data, n);
}

void dist_broadcast(std::string& bytes) {
#ifdef GAINCELL_HAVE_MPI
  if (dist_size() <= 1) return;
  uint64_t n = bytes.size();
  check_mpi(MPI_Bcast(&n, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD), "MPI_Bcast");
  bytes.resize(size_t(n));
  if (n > 0) check_mpi(MPI_Bcast(bytes.data(), int(n), MPI_CHAR, 0, MPI_COMM_WORLD), "MPI_Bcast");
#else
  (void)bytes;
#endif
}

void dist_broadcast(double* data, size_t n) {
#ifdef GAINCELL_HAVE_MPI
  if (dist_size() > 1 && n > 0) check_mpi(MPI_Bcast(data, int(n), MPI_DOUBLE, 0, MPI_COMM_WORLD), "MPI_Bcast");
#else
  (void)data, (void)n;
#endif
}

std::vector<double> dist_gather(const std::vector<double>& mine) {
#ifdef GAINCELL_HAVE_MPI
  if (dist_size() > 1) {
    int n = int(mine.size());
    std::vector<int> counts(g_rank == 0 ? size_t(g_size) : 0), offsets;
    check_mpi(MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Gather");
    std::vector<double> all;
    if (g_rank == 0) {
      offsets.resize(size_t(g_size));
      int total = 0;
      for (int r = 0; r < g_size; ++r) offsets[size_t(r)] = total, total += counts[size_t(r)];
      all.resize(size_t(total));
    }
    check_mpi(MPI_Gatherv(mine.data(), n, MPI_DOUBLE, all.data(), counts.data(), offsets.data(), MPI_DOUBLE, 0,
                          MPI_COMM_WORLD),
              "MPI_Gatherv");
    return all;
  }
#endif
  return mine;
}

void dist_quiet_other_ranks() {
  if (g_size <= 1 || g_rank == 0 || g_error_fd != 2) return;
  std::fflush(stdout);
  std::fflush(stderr);
  const int keep = dup(2), null = open("/dev/null", O_WRONLY);
  if (keep < 0 || null < 0) return;  // then every rank prints: noisy, not wrong
  g_error_fd = keep;
  dup2(null, 1);
  dup2(null, 2);
  close(null);
}

void dist_abort(const std::string& message, int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (g_size > 1)
    dprintf(g_error_fd, "gaincell: error: [rank %d of %d] %s\n", g_rank, g_size, message.c_str());
  else
    dprintf(g_error_fd, "gaincell: error: %s\n", message.c_str());
#ifdef GAINCELL_HAVE_MPI
  if (g_mpi_started) MPI_Abort(MPI_COMM_WORLD, code);
#else
  (void)code;
#endif
}

}  // namespace gaincell
