// `dynpmnn train --data-parallel` under an MPI launcher: every rank trains the same model on its
// shard of each global minibatch (host/runtime/backend.h: shard_begin, ShardExchange). On CPUs the
// ranks gather each other's shard gradients with MPI_Allgather and sum them in rank order, so the
// run equals one process with data_shards = K bit for bit; on GPUs (one per rank, by local rank)
// NCCL sums them on the device (ncclAllReduce, its order NCCL's), the NCCL id shared over MPI as
// llm.c does. Rank 0 writes the run folder and the checkpoints; the others write nothing.
#pragma once

#include <memory>

#include "host/cli/mpi_world.h"
#include "host/runtime/backend.h"

namespace dynpmnn {

// The exchange of this world's ranks (null unless an MPI launcher started the process; one rank
// under a launcher gets one, so that the single-GPU path runs NCCL's calls): with `gpu`, NCCL's
// (ConfigError when this build has no NCCL), else MPI's. Collective: every rank calls it.
std::shared_ptr<ShardExchange> make_shard_exchange(const MpiWorld& world, bool gpu);

}  // namespace dynpmnn
