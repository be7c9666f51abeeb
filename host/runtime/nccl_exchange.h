// The GPU shard exchange of data-parallel training (host/runtime/backend.h: ShardExchange): NCCL
// sums the shards' device arrays on the backend's stream. Built where CMake finds NCCL with CUDA
// (DYNPMNN_NCCL); the id that joins the ranks travels however the caller's ranks talk (MPI_Bcast
// in host/cli/data_parallel.cpp; nothing for a world of one).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "host/runtime/backend.h"

namespace dynpmnn {

bool nccl_built_in();

// ncclUniqueId's bytes (rank 0 makes it, every rank passes the same to make_nccl_exchange), and
// their count (NCCL_UNIQUE_ID_BYTES, 128).
std::string nccl_unique_id();
inline constexpr std::size_t nccl_unique_id_bytes() { return 128; }

// Joins the communicator of `size` ranks as `rank` on the calling thread's current device
// (collective over the ranks). Its allgather, a host-side call the CUDA backend never makes,
// throws std::logic_error. std::runtime_error naming NCCL's error, or that NCCL is not built in.
std::shared_ptr<ShardExchange> make_nccl_exchange(int rank, int size, const std::string& unique_id);

}  // namespace dynpmnn
