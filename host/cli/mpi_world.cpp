// The MPI world of a CLI process and the sweep's run hand-out (host/cli/mpi_world.h).
#include "host/cli/mpi_world.h"

#include <chrono>
#include <cstdlib>
#include <thread>
#include <mutex>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "host/config/config.h"
#include "host/io/run_claim.h"

#if DYNPMNN_HAVE_MPI
#include <mpi.h>
#endif

namespace dynpmnn {

namespace {

// Message tags of the hand-out: a request for a run, its answer (an index or -1), a rank's done.
constexpr int kTagRequest = 101;
constexpr int kTagRun = 102;
constexpr int kTagDone = 103;

int env_int(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : -1;
}

}  // namespace

bool launched_by_mpi(int* world_size) {
  // Open MPI's mpirun; MPICH's and Intel MPI's hydra; SLURM's srun through PMI-1/2 or PMIx.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"}) {
    const int n = env_int(name);
    if (n >= 1) {
      if (world_size != nullptr) *world_size = n;
      return true;
    }
  }
  if (env_int("PMIX_RANK") >= 0) {
    if (world_size != nullptr) *world_size = -1;  // PMIx without a size variable: ask MPI
    return true;
  }
  return false;
}

bool mpi_built_in() {
#if DYNPMNN_HAVE_MPI
  return true;
#else
  return false;
#endif
}

#if DYNPMNN_HAVE_MPI

namespace {

std::mutex remote_mutex;  // one request at a time per rank (MPI_THREAD_SERIALIZED)

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

}  // namespace

const MpiWorld& mpi_world() {
  static const MpiWorld world = [] {
    MpiWorld w;
    if (!launched_by_mpi()) return w;
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
    if (provided < MPI_THREAD_SERIALIZED)
      throw ConfigError(fmt::format("this MPI offers thread level {}; a sweep over ranks needs MPI_THREAD_SERIALIZED",
                                    provided));
    std::atexit(finalize_at_exit);
    MPI_Comm_rank(MPI_COMM_WORLD, &w.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &w.size);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, w.rank, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &w.local_rank);
    MPI_Comm_size(local, &w.local_size);
    MPI_Comm_free(&local);
    w.active = true;
    set_process_rank(w.rank);
    return w;
  }();
  return world;
}

namespace {

// Waits for `request` by polling every millisecond: a blocking MPI_Recv busy-waits in Open MPI, and
// the serving thread would take a core from rank 0's own workers for the whole sweep.
void wait_politely(MPI_Request& request, MPI_Status* status) {
  for (int done = 0;;) {
    MPI_Test(&request, &done, status);
    if (done) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace

void barrier_politely(const MpiWorld& world) {
  if (world.size == 1) return;
  MPI_Request request;
  MPI_Ibarrier(MPI_COMM_WORLD, &request);
  wait_politely(request, MPI_STATUS_IGNORE);
}

void RunDispatcher::serve(const MpiWorld& world) {
  int done = 0;
  while (done < world.size - 1) {
    long ignored = 0;
    MPI_Status status;
    MPI_Request request;
    MPI_Irecv(&ignored, 1, MPI_LONG, MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &request);
    wait_politely(request, &status);
    if (status.MPI_TAG == kTagDone) {
      ++done;
      continue;
    }
    const long index = take();
    MPI_Send(&index, 1, MPI_LONG, status.MPI_SOURCE, kTagRun, MPI_COMM_WORLD);
  }
}

long RunDispatcher::next_remote() {
  const std::lock_guard lock(remote_mutex);
  const long ask = 0;
  long index = -1;
  MPI_Send(&ask, 1, MPI_LONG, 0, kTagRequest, MPI_COMM_WORLD);
  MPI_Request request;
  MPI_Irecv(&index, 1, MPI_LONG, 0, kTagRun, MPI_COMM_WORLD, &request);
  wait_politely(request, MPI_STATUS_IGNORE);
  return index;
}

void RunDispatcher::done_remote() {
  const std::lock_guard lock(remote_mutex);
  const long done = 0;
  MPI_Send(&done, 1, MPI_LONG, 0, kTagDone, MPI_COMM_WORLD);
}

#else

const MpiWorld& mpi_world() {
  static const MpiWorld world;
  int size = 0;
  if (launched_by_mpi(&size) && size != 1)
    throw ConfigError("this process was started by an MPI launcher, but this dynpmnn was built without MPI "
                      "(install an MPI, e.g. Debian's libopenmpi-dev, and reconfigure; DYNPMNN_MPI)");
  return world;
}

void barrier_politely(const MpiWorld& world) {
  if (world.size != 1) throw std::runtime_error("barrier_politely: MPI is not built in");
}
void RunDispatcher::serve(const MpiWorld&) { throw std::runtime_error("RunDispatcher::serve: MPI is not built in"); }
long RunDispatcher::next_remote() { throw std::runtime_error("RunDispatcher::next_remote: MPI is not built in"); }
void RunDispatcher::done_remote() { throw std::runtime_error("RunDispatcher::done_remote: MPI is not built in"); }

#endif

long RunDispatcher::take() {
  const std::lock_guard lock(mutex_);
  return next_ < count_ ? static_cast<long>(next_++) : -1L;
}

}  // namespace dynpmnn
