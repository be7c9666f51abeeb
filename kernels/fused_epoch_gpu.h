// The fused population's CUDA kernels (fused_epoch.cu): fused_epoch.h's epoch, one block per model,
// one launch an epoch for any number of models; the models' epoch orders in one segmented sort; and
// every model's predictions over a split in one launch. float32. Shapes in comments; P: the
// population's models, A: the models of this epoch (active), R: training rows.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "common/device_buffer.h"
#include "kernels/fused_epoch.h"

namespace dynpmnn {

// What the kernels of one population read, all on the device.
struct FusedDeviceModels {
  const FusedHyper* hyper = nullptr;    // (P); a model without the clamp in a clamping launch has clip = +inf
  FusedStatus* status = nullptr;        // (P)
  const FusedParamInfo* info = nullptr; // (total)
  float* params = nullptr;              // (P, total)
  float* m = nullptr;                   // (P, total)
  float* v = nullptr;                   // (P, total)
};

// Minibatches [s_begin, s_end) of the epoch of each active model (status[k].epoch > 0): the whole
// epoch in one launch (0, fused_epoch_steps), or a launch per minibatch. x (R, F), y (R, O): the
// training split; orders (A, R) from ModelOrdersGpu (ops_gpu.h), row a the order of active[a]; ck
// (P, ck_elems) the checkpoint planes. clamp: whether the kernel clamps; the caller launches the
// models with clip > 0 and those without apart, so that each runs the stepper it runs alone (and
// in the CPU reference).
void fused_epoch_gpu(const FusedLayout& L, Integrator integrator, bool clamp, const FusedDeviceModels& models,
                     const int* active, int count, const float* x, const float* y, const std::uint32_t* orders,
                     float* ck, std::size_t ck_elems, int s_begin, int s_end, cudaStream_t stream);

// pred (P, rows, O): the predictions over x (rows, F) of the `count` models list[0..count) (device;
// null: models 0..count-1), each into its block k of pred. clamp as above.
void fused_predict_gpu(const FusedLayout& L, Integrator integrator, bool clamp, const FusedDeviceModels& models,
                       const int* list, int count, const float* x, int rows, float* pred, cudaStream_t stream);

}  // namespace dynpmnn
