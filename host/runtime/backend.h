// A backend trains and evaluates one model on data it holds: the CPU reference (cpu_backend.cpp)
// or CUDA (cuda_backend.cu). The trainer (trainer.h) drives either through this interface and
// owns the host-side master copy of the best parameters.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "data/california.h"
#include "kernels/elementwise_math.h"
#include "models/dynpmnn.h"

namespace dynpmnn {

enum class Split : int { kTrain = 0, kVal = 1, kTest = 2 };

// What a training step minimises: the mean squared error of the outputs against the targets
// (regression), or the mean softmax cross-entropy of the outputs as logits against one class index
// per row (classification; kernels/loss.h).
enum class Loss : int { kMse = 0, kSoftmaxCrossEntropy = 1 };

// Data-parallel training (docs/cluster.md). A global minibatch of n rows is cut into K shards of
// contiguous rows in the epoch order: shard s holds rows [shard_begin(n, K, s), shard_begin(n, K,
// s + 1)), so sizes differ by at most one and a shard is empty when n < K (the epoch's last
// minibatch, say). Each shard's loss and gradient are its part of the global minibatch's mean
// (its rows' sum divided by n); the step's are the shards' summed in shard order, ((g0 + g1) + g2)
// ..., on every process alike. One process computing all K shards in turn (the CPU backend with
// data_shards = K and no exchange) is therefore bit for bit K processes computing one shard each.
inline int shard_begin(int n, int shards, int s) {
  return static_cast<int>(static_cast<long long>(n) * s / shards);
}

// How the processes of a data-parallel run share their shards' results: MPI on CPUs, NCCL on GPUs
// (host/cli/data_parallel.cpp). rank() is the shard this process computes, size() the number of
// shards. A backend built with no exchange computes every shard itself.
class ShardExchange {
 public:
  virtual ~ShardExchange() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Every rank's `mine` (the same length on all) into `all` (size() × mine.size()), in rank order.
  virtual void allgather(std::span<const double> mine, std::span<double> all) = 0;
  // In place on device memory, on a CUDA stream (a cudaStream_t): the sum over the ranks. Only the
  // GPU backend calls these; an exchange without them (MPI on CPUs) throws std::logic_error.
  virtual void allreduce_sum_device(float* data, std::size_t count, void* stream);
  virtual void allreduce_sum_device(double* data, std::size_t count, void* stream);
  virtual void allreduce_max_device(int* data, std::size_t count, void* stream);
};

struct TrainHyper {
  int batch_size = 32;
  Loss loss = Loss::kMse;
  AdamHyper adam;
  std::uint64_t seed = 0;  // shuffling; the parameters are initialised by the caller
  // Shards per minibatch (data_shards); with `exchange` its size(), this process computing shard
  // exchange->rank(). 1 and no exchange: the minibatch in one piece, as before data parallelism.
  int data_shards = 1;
  std::shared_ptr<ShardExchange> exchange;
};

// Where a training epoch first produced a non-finite value.
struct Divergence {
  bool diverged = false;
  int epoch = -1;
  long step = -1;     // minibatch index inside the epoch
  int layer = -1;     // FHN layer index, spec.layers.size() for the readout, -2 for the loss/gradients
};

struct EpochStats {
  double train_loss = 0;  // mean minibatch loss (TrainHyper::loss) over the epoch (up to the divergence, if any)
  long steps = 0;
  Divergence divergence;
  // Wall time of this model's training pass, filled by a PopulationBackend (population.h): a lone
  // backend leaves it to whoever times the call.
  double seconds = 0;
};

// Adam's state beside the parameters: what a checkpoint needs to continue training exactly.
struct OptimizerState {
  long step = 0;             // Adam steps taken (the bias corrections use it)
  std::vector<double> m, v;  // (table.total()) each, first and second moments
};

// The order in which an epoch visits the training rows: rows sorted by a 64-bit hash of
// (seed, epoch, row), ties by row. Both backends use it, the GPU computing it on the device.
std::uint64_t shuffle_key(std::uint64_t seed, int epoch, std::uint32_t row);
std::vector<std::uint32_t> epoch_permutation(std::uint64_t seed, int epoch, std::uint32_t rows);

// Targets per row a loss reads: one per output for the MSE, one class index for the cross-entropy.
int target_columns(Loss loss, const ModelSpec& spec);
// set_data's checks, shared by the backends: every split's features and target columns match the
// model and the loss, its arrays its row count, every class index is an integer in [0, K), and the
// target scaler is the identity (with_target_scaling applies any other).
// std::invalid_argument otherwise.
void check_backend_data(const ModelSpec& spec, Loss loss, const SplitData& data);
// The backends' checks of the arrays they are handed: `call` ("set_params", ...) got `got` values
// where the table has `expected`; an optimizer state's moments and step count. std::invalid_argument
// naming the call and both counts.
void check_param_count(const char* call, std::size_t got, std::size_t expected);
void check_optimizer_state(const OptimizerState& state, std::size_t expected);

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;  // "cpu" or "cuda (<device name>)"
  // Holds the three splits (the GPU copies them to the device once). With the cross-entropy loss,
  // y holds one class index per row and the model one output (logit) per class.
  virtual void set_data(const SplitData& data) = 0;
  // Replaces the parameters (table order) and resets the Adam state and step count.
  virtual void set_params(std::span<const double> params) = 0;
  virtual void get_params(std::span<double> out) const = 0;
  // Adam's step count and moments (in double whatever the backend keeps), so that a run resumed
  // with set_params + set_optimizer_state continues as if never stopped. Set after set_params,
  // which resets them.
  virtual OptimizerState get_optimizer_state() const = 0;
  virtual void set_optimizer_state(const OptimizerState& state) = 0;
  // One pass over the training split in epoch_permutation order, minibatches of batch_size
  // (the last one smaller), an Adam step after each. Stops at the first non-finite value.
  virtual EpochStats train_epoch(int epoch) = 0;
  // Predictions (rows, outputs) for a split, with the current parameters (logits for classification).
  virtual std::vector<double> predict(Split split) = 0;
};

std::unique_ptr<Backend> make_cpu_backend(const ModelSpec& spec, const TrainHyper& hyper);

// `inner`, trained on the targets standardised by SplitData::target_scaler: set_data hands it a copy
// of the splits with y scaled (and the identity scaler), predict maps its outputs back to the
// target's units and train_epoch reports the MSE in those units (× std²). With the identity scaler
// (target_scaling = "none", classification) every call goes through untouched, bit for bit. The one
// place target scaling happens, for every backend; a bare backend refuses data with a scaler.
std::unique_ptr<Backend> with_target_scaling(std::unique_ptr<Backend> inner);

// Null when this build has no CUDA backend or no device is present; `why` says which.
bool cuda_available(std::string* why);
// Devices this process sees (0 without CUDA), and the calling thread's device (cudaSetDevice is
// per thread); select_cuda_device throws std::runtime_error naming the ordinal when it fails.
int cuda_device_count();
void select_cuda_device(int ordinal);
std::unique_ptr<Backend> make_cuda_backend(const ModelSpec& spec, const TrainHyper& hyper);

}  // namespace dynpmnn
