// NCCL's shard exchange (host/runtime/nccl_exchange.h).
#include "host/runtime/nccl_exchange.h"

#include <cstring>
#include <stdexcept>

#if DYNPMNN_HAVE_NCCL
#include <cuda_runtime.h>
#include <nccl.h>
#endif

namespace dynpmnn {

#if DYNPMNN_HAVE_NCCL

static_assert(sizeof(ncclUniqueId) == nccl_unique_id_bytes(), "nccl_unique_id_bytes is NCCL_UNIQUE_ID_BYTES");

namespace {

void nccl_check(ncclResult_t result, const char* what) {
  if (result != ncclSuccess)
    throw std::runtime_error(std::string("NCCL: ") + what + " failed: " + ncclGetErrorString(result));
}

class NcclExchange final : public ShardExchange {
 public:
  NcclExchange(int rank, int size, const std::string& unique_id) : rank_(rank), size_(size) {
    ncclUniqueId id{};
    if (unique_id.size() != sizeof id) throw std::invalid_argument("make_nccl_exchange: not an ncclUniqueId");
    std::memcpy(&id, unique_id.data(), sizeof id);
    nccl_check(ncclCommInitRank(&comm_, size, id, rank), "ncclCommInitRank");
  }
  ~NcclExchange() override { (void)ncclCommDestroy(comm_); }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void allgather(std::span<const double>, std::span<double>) override {
    throw std::logic_error("NcclExchange: the CUDA backend sums on the device; there is no host gather");
  }
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
  int rank_, size_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

bool nccl_built_in() { return true; }

std::string nccl_unique_id() {
  ncclUniqueId id{};
  nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
  return std::string(reinterpret_cast<const char*>(&id), sizeof id);
}

std::shared_ptr<ShardExchange> make_nccl_exchange(int rank, int size, const std::string& unique_id) {
  return std::make_shared<NcclExchange>(rank, size, unique_id);
}

#else

bool nccl_built_in() { return false; }

std::string nccl_unique_id() { throw std::runtime_error("NCCL is not built in (DYNPMNN_NCCL)"); }

std::shared_ptr<ShardExchange> make_nccl_exchange(int, int, const std::string&) {
  throw std::runtime_error("NCCL is not built in (DYNPMNN_NCCL)");
}

#endif

}  // namespace dynpmnn
