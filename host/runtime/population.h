// A population: P models that share an architecture trained together, epoch by epoch (issue 11,
// docs/populations.md). Each model is trained exactly as it would be alone (its own initial
// weights, minibatch order, Adam hyperparameters, stopping and divergence); the trainer
// (continue_training_population, trainer.h) decides which models take the next epoch, and a model
// that stopped or diverged is handed no more epochs, so it costs nothing afterwards.
//
// make_member_population keeps one Backend per model and trains the models of an epoch on up to
// `threads` threads: on the CPU each model's arithmetic is its lone run's, so a population member
// is bit for bit the run trained alone (tests/test_population.cpp). A backend that fuses the
// models' kernels implements the same interface.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "host/runtime/backend.h"
#include "kernels/fused_epoch.h"

namespace dynpmnn {

class PopulationBackend {
 public:
  virtual ~PopulationBackend() = default;
  virtual int size() const = 0;
  virtual std::string name() const = 0;
  // Model m: its parameters, optimizer state and predictions, as a lone Backend's. Its train_epoch
  // trains model m alone.
  virtual Backend& member(int m) = 0;
  // One training epoch of every model m with epochs[m] > 0 (the epoch's number, which orders its
  // minibatches); a model with 0 is left as it is. stats[m] of the others are default.
  virtual std::vector<EpochStats> train_epochs(std::span<const int> epochs) = 0;
};

// A population of separate backends (any device), each model's epoch timed on its own; `threads`
// (>= 1) models train at once. Takes ownership of the backends.
std::unique_ptr<PopulationBackend> make_member_population(std::vector<std::unique_ptr<Backend>> members,
                                                          int threads = 1);
// A population of one over a backend the caller keeps: what a lone run trains through.
std::unique_ptr<PopulationBackend> make_single_population(Backend& backend);

// The fused population (kernels/fused_epoch.h, docs/populations.md): tiny models of one layout
// trained on the GPU one block a model, an epoch of every model in one launch. Whether specs and
// hypers (one each per model) are such a population over data: every model one FitzHugh–Nagumo
// layer that fused_layout_for takes, all with the same layout and trained tensors, MSE loss, one
// shard and no exchange, and DYNPMNN_FUSED not 0 in the environment (the switch that makes CUDA
// runs take the layer-by-layer backend, for comparisons; DYNPMNN_FUSED=step launches the fused
// kernel once per minibatch instead of once an epoch, the other form the benchmarks time). Fills the shared layout (its checkpoints
// the longest model's) and each model's settings; false with the reason in *why otherwise.
bool fused_population_layout(std::span<const ModelSpec> specs, std::span<const TrainHyper> hypers,
                             const SplitData& data, FusedLayout& layout, std::vector<FusedParamInfo>& info,
                             std::vector<FusedHyper>& hyper, std::string* why);

// That population on the GPU, or null with the reason in *why (not such a population, or no CUDA
// device or build). Its members are the models' Backends (set_params, predict, checkpoints as a
// lone backend's); data's target scaler is applied as with_target_scaling does.
std::unique_ptr<PopulationBackend> make_fused_cuda_population(std::span<const ModelSpec> specs,
                                                              std::span<const TrainHyper> hypers,
                                                              const SplitData& data, std::string* why);

// The batched population (issue 11, docs/populations.md): models the fused kernels do not take,
// trained layer by layer in the same launches (GEMMs strided-batched over the models, the neuron op
// over (model, sample, neuron) with each model's dt, steps and clamp, one loss, check and Adam launch
// for all). Whether specs and hypers are such a population: every layer's unit has a population
// half (LayerUnit::gpu_population: the neuron and dense layers), the models' layers and parameter
// tables are the same but for each model's dt, t_end, clamp value (all clamp or none do) and neuron
// parameters' starting values,
// the same batch size, MSE loss, one shard and no exchange, at most 1024 models, and DYNPMNN_BATCHED
// not 0 in the environment (which keeps separate backends, for comparisons). False with the reason
// in *why otherwise.
bool batched_population_layout(std::span<const ModelSpec> specs, std::span<const TrainHyper> hypers,
                               std::string* why);

// That population on the GPU, or null with the reason in *why. Members as make_fused_cuda_population's.
std::unique_ptr<PopulationBackend> make_batched_cuda_population(std::span<const ModelSpec> specs,
                                                                std::span<const TrainHyper> hypers,
                                                                const SplitData& data, std::string* why);

}  // namespace dynpmnn
