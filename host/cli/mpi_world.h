// The MPI world a CLI process runs in. MPI is initialised only when an MPI launcher started the
// process (mpirun/mpiexec of Open MPI or MPICH, SLURM's srun with PMI or PMIx): a plain run of the
// binary behaves exactly as without MPI, as a world of one rank. Built only where CMake finds an
// MPI (DYNPMNN_MPI); elsewhere a launched process is told the feature is not built in.
//
// A sweep over ranks (host/cli/sweep_command.cpp) hands runs out from rank 0: its dispatcher
// thread answers every rank's requests with the next run, longest expected cost first, while rank
// 0's own workers take from the same queue. Each rank trains with its own CPU threads or its own
// local GPU (local rank modulo the devices it sees), writes its run folders on the shared file
// system, and rank 0 reads them all back and writes the results.
#pragma once

#include <cstddef>
#include <mutex>

namespace dynpmnn {

struct MpiWorld {
  int rank = 0;
  int size = 1;
  int local_rank = 0;  // rank among the processes of this machine
  int local_size = 1;
  bool active = false;  // MPI was initialised (a launcher started us)
};

// Whether the environment says an MPI launcher started this process (and with how many ranks).
bool launched_by_mpi(int* world_size = nullptr);
bool mpi_built_in();

// Initialises MPI on first call when launched_by_mpi(), else returns a world of one. Throws
// ConfigError when a launcher started us but this build has no MPI. MPI is finalised at exit.
const MpiWorld& mpi_world();

// Every rank of the world waits here, sleeping between polls: MPI_Finalize's own barrier busy-waits,
// and a rank that has finished its share would take a core from a rank still training. No-op for a
// world of one; throws std::runtime_error when MPI is not built in and the world has several ranks.
void barrier_politely(const MpiWorld& world);

// Rank 0's side of a sweep over ranks: hands out the indices 0 .. count-1 in order, to its own
// workers (next_local) and to the other ranks (serve, run by one thread until every other rank has
// said it is done). Other ranks' side: next_remote asks rank 0. An index of -1 means no more work.
class RunDispatcher {
 public:
  explicit RunDispatcher(std::size_t count) : count_(count) {}
  long next_local() { return take(); }
  // Answers the other ranks until each has called done_remote. Throws std::runtime_error when MPI
  // is not built in.
  void serve(const MpiWorld& world);
  // Thread-safe: the threads of one rank ask one at a time.
  static long next_remote();
  static void done_remote();

 private:
  long take();
  std::size_t count_;
  std::size_t next_ = 0;
  std::mutex mutex_;  // next_ is shared by rank 0's workers and the serving thread
};

}  // namespace dynpmnn
