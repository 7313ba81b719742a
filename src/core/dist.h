// The distributed layer (docs/scaling.md, "MPI"): rank, size and the few collectives the data-parallel
// training, the sharded evaluation and the MPI sweep need, over MPI when the build has it (GAINCELL_MPI) and the
// process was started by mpirun, else a one-process fallback (rank 0 of 1) where every collective is the identity.
// Reductions are in a fixed order (every rank's buffer is gathered to rank 0 and summed in rank order, then
// broadcast), so a run is the same bits for the same number of ranks, whatever the network does.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gaincell {

// Starts MPI when this process is one rank of an mpirun job (OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_RANK set)
// and the build has MPI; otherwise (or when called twice) does nothing. Call once, first thing in main().
void dist_init(int* argc, char*** argv);
// Ends MPI (after a barrier) when dist_init started it. Call once, at a normal exit.
void dist_finalize();
// True when the build has MPI support (GAINCELL_MPI).
bool dist_built_with_mpi();
int dist_rank();  // 0 without MPI
int dist_size();  // 1 without MPI
inline bool dist_root() {
  return dist_rank() == 0;
}

// While one lives, this rank works alone: dist_rank() is 0, dist_size() 1 and every collective the identity
// (nests). For work that is already spread over the ranks, e.g. the points of an MPI sweep, each of which runs
// the perplexity or the adaptation that would otherwise shard itself over the ranks.
class DistLocalScope {
 public:
  DistLocalScope();
  ~DistLocalScope();
  DistLocalScope(const DistLocalScope&) = delete;
  DistLocalScope& operator=(const DistLocalScope&) = delete;
};

void dist_barrier();
// Sums every rank's n values in rank order (rank 0 + rank 1 + ...; double accumulation for float buffers, then
// rounded once) and leaves the sum in every rank's buffer: the same bits on every rank and in every run with the
// same size. Buffers larger than a chunk are reduced chunk by chunk (rank 0 holds size x chunk values at a time).
void dist_allreduce_sum(double* data, size_t n);
void dist_allreduce_sum(float* data, size_t n);
// Rank 0's bytes (resized on the other ranks) or values, on every rank.
void dist_broadcast(std::string& bytes);
void dist_broadcast(double* data, size_t n);
// Every rank's vector (any lengths), concatenated in rank order, on rank 0 (other ranks: empty).
std::vector<double> dist_gather(const std::vector<double>& mine);
// On ranks other than 0: stdout and stderr go to /dev/null (rank 0 prints the run's output and progress once);
// dist_abort still reaches the terminal. Nothing without MPI or at size 1.
void dist_quiet_other_ranks();
// Prints "gaincell: error: <message>" (with the rank when size > 1) on stderr and, under mpirun, ends the whole
// job with MPI_Abort(code), so that no rank waits forever on one that failed. Without a started MPI job it only
// prints and returns: the caller (the CLI's main()) returns its exit code; library code never exits.
void dist_abort(const std::string& message, int code);

}  // namespace gaincell
