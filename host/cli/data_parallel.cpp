// The shard exchanges of `train --data-parallel` (host/cli/data_parallel.h).
#include "host/cli/data_parallel.h"

#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "host/config/config.h"

#if DYNPMNN_HAVE_MPI
#include <mpi.h>
#endif
#if DYNPMNN_HAVE_NCCL
#include <cuda_runtime.h>
#include <nccl.h>
#endif

namespace dynpmnn {

bool nccl_built_in() {
#if DYNPMNN_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

#if DYNPMNN_HAVE_MPI

namespace {

// CPUs: the shards' results gathered in rank order; the backend sums them as one process would.
// (MPI_Allreduce's order is the MPI library's choice, by message size and rank count, so its sum
// could not equal the single process's.)
class MpiExchange : public ShardExchange {
 public:
  explicit MpiExchange(const MpiWorld& world) : rank_(world.rank), size_(world.size) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void allgather(std::span<const double> mine, std::span<double> all) override {
    if (all.size() != mine.size() * static_cast<std::size_t>(size_))
      throw std::logic_error("MpiExchange::allgather: the table does not hold every rank's values");
    MPI_Allgather(mine.data(), static_cast<int>(mine.size()), MPI_DOUBLE, all.data(), static_cast<int>(mine.size()),
                  MPI_DOUBLE, MPI_COMM_WORLD);
  }

 private:
  int rank_, size_;
};

#if DYNPMNN_HAVE_NCCL

void nccl_check(ncclResult_t result, const char* what) {
  if (result != ncclSuccess)
    throw std::runtime_error(fmt::format("NCCL: {} failed: {}", what, ncclGetErrorString(result)));
}

// GPUs: the device arrays summed by NCCL on the backend's stream; the host-side gather (unused by
// the CUDA backend) stays MPI's.
class NcclExchange final : public MpiExchange {
 public:
  explicit NcclExchange(const MpiWorld& world) : MpiExchange(world) {
    ncclUniqueId id{};
    if (world.rank == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
    nccl_check(ncclCommInitRank(&comm_, world.size, id, world.rank), "ncclCommInitRank");
  }
  ~NcclExchange() override { (void)ncclCommDestroy(comm_); }
  void allreduce_sum_device(float* data, std::size_t count, void* stream) override {
    nccl_check(ncclAllReduce(data, data, count, ncclFloat, ncclSum, comm_, static_cast<cudaStream_t>(stream)),
               "ncclAllReduce");
  }
  void allreduce_sum_device(double* data, std::size_t count, void* stream) override {
    nccl_check(ncclAllReduce(data, data, count, ncclDouble, ncclSum, comm_, static_cast<cudaStream_t>(stream)),
               "ncclAllReduce");
  }
  void allreduce_max_device(int* data, std::size_t count, void* stream) override {
    nccl_check(ncclAllReduce(data, data, count, ncclInt32, ncclMax, comm_, static_cast<cudaStream_t>(stream)),
               "ncclAllReduce");
  }

 private:
  ncclComm_t comm_ = nullptr;
};

#endif

}  // namespace

std::shared_ptr<ShardExchange> make_shard_exchange(const MpiWorld& world, bool gpu) {
  if (!world.active) return nullptr;
  if (!gpu) return std::make_shared<MpiExchange>(world);
#if DYNPMNN_HAVE_NCCL
  return std::make_shared<NcclExchange>(world);
#else
  throw ConfigError("train --data-parallel on GPUs sums the gradients with NCCL, and this dynpmnn was built without "
                    "it (NCCL's nccl.h and libnccl from the CUDA toolkit or Debian's libnccl-dev; DYNPMNN_NCCL); "
                    "--device cpu trains data-parallel over MPI");
#endif
}

#else

std::shared_ptr<ShardExchange> make_shard_exchange(const MpiWorld& world, bool) {
  if (!world.active) return nullptr;
  throw ConfigError("train --data-parallel over several processes needs MPI, and this dynpmnn was built without it");
}

#endif

}  // namespace dynpmnn
