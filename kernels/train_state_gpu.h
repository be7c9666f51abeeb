// What a training step on the GPU reads and writes besides tensors, kept on the device so that a
// step needs no host round trip and can be captured as a graph (host/runtime/cuda_backend.cu).
#pragma once

#include <cuda_runtime.h>

#include <type_traits>

#include "kernels/ops_gpu.h"

namespace dynpmnn {

// Divergence cause for the loss or the gradients (Divergence::layer), as the CPU backend reports.
inline constexpr int kLossOrGradient = -2;

struct TrainState {
  int flag;            // kNoNonFinite, or where the first non-finite value of the epoch appeared
  int diverged_step;   // -1, or the minibatch index at which flag was first seen set
  int step;            // minibatch index of the step being run (the gather reads it)
  int steps_done;      // steps whose Adam update was applied
  double batch_loss;   // this step's loss (MSE or cross-entropy)
  double loss_sum;     // Σ batch_loss over the applied steps, in step order
  AdamDeviceStep adam; // Adam's step count and bias corrections (persist across epochs)
};

static_assert(std::is_trivially_copyable_v<TrainState>, "TrainState is copied to the host as bytes");

// Clears the epoch's fields (flag, steps, sums); Adam's step count persists.
// `models` consecutive states (a population's, one a model; 1 for a lone model).
void train_state_epoch_begin_gpu(TrainState* s, cudaStream_t stream, int models = 1);

// After the backward, before Adam: as cpu_backend.cpp, a non-finite loss diverges (-2); a step
// that diverged is not counted and records its index once; later steps change nothing.
void train_state_step_end_gpu(TrainState* s, cudaStream_t stream, int models = 1);

}  // namespace dynpmnn
