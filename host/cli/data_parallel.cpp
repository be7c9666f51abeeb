// The shard exchanges of `train --data-parallel` (host/cli/data_parallel.h).
#include "host/cli/data_parallel.h"

#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "host/config/config.h"
#include "host/runtime/nccl_exchange.h"

#if DYNPMNN_HAVE_MPI
#include <mpi.h>
#endif

namespace dynpmnn {

#if DYNPMNN_HAVE_MPI

namespace {

// CPUs: the shards' results gathered in rank order; the backend sums them as one process would.
// (MPI_Allreduce's order is the MPI library's choice, by message size and rank count, so its sum
// could not equal the single process's.)
class MpiExchange final : public ShardExchange {
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

}  // namespace

std::shared_ptr<ShardExchange> make_shard_exchange(const MpiWorld& world, bool gpu) {
  if (!world.active) return nullptr;
  if (!gpu) return std::make_shared<MpiExchange>(world);
  if (nccl_built_in()) {
    std::string id = world.rank == 0 ? nccl_unique_id() : std::string(nccl_unique_id_bytes(), '\0');
    MPI_Bcast(id.data(), static_cast<int>(id.size()), MPI_BYTE, 0, MPI_COMM_WORLD);
    return make_nccl_exchange(world.rank, world.size, id);
  }
  throw ConfigError("train --data-parallel on GPUs sums the gradients with NCCL, and this dynpmnn was built without "
                    "it (NCCL's nccl.h and libnccl from the CUDA toolkit or Debian's libnccl-dev; DYNPMNN_NCCL); "
                    "--device cpu trains data-parallel over MPI");
}

#else

std::shared_ptr<ShardExchange> make_shard_exchange(const MpiWorld& world, bool) {
  if (!world.active) return nullptr;
  throw ConfigError("train --data-parallel over several processes needs MPI, and this dynpmnn was built without it");
}

#endif

}  // namespace dynpmnn
