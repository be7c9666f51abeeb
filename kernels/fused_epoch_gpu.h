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

// The visiting orders of the active models' epochs, each epoch_permutation(seed, epoch, R), in one
// segmented radix sort (stable: ties keep the row order, as on the CPU).
class FusedOrdersGpu {
 public:
  FusedOrdersGpu(int models, std::uint32_t rows);
  // active: (A) model indices (device); their seeds and epochs from models.hyper and models.status.
  void compute(const FusedDeviceModels& models, const int* active, int count, cudaStream_t stream);
  const std::uint32_t* orders() const { return order_.data(); }  // (A, R), in active order

 private:
  int models_ = 0;
  std::uint32_t rows_ = 0;
  DeviceBuffer<std::uint64_t> keys_, sorted_keys_;  // (P, R)
  DeviceBuffer<std::uint32_t> row_ids_, order_;     // (P, R)
  DeviceBuffer<int> offsets_;                       // (P + 1)
  DeviceBuffer<unsigned char> sort_temp_;
};

// Minibatches [s_begin, s_end) of the epoch of each active model (status[k].epoch > 0): the whole
// epoch in one launch (0, fused_epoch_steps), or a launch per minibatch. x (R, F), y (R, O): the
// training split; orders (A, R) from FusedOrdersGpu; ck (P, ck_elems) the checkpoint planes. clamp:
// whether the kernel clamps (any model of the population has clip > 0).
void fused_epoch_gpu(const FusedLayout& L, Integrator integrator, bool clamp, const FusedDeviceModels& models,
                     const int* active, int count, const float* x, const float* y, const std::uint32_t* orders,
                     float* ck, std::size_t ck_elems, int s_begin, int s_end, cudaStream_t stream);

// pred (P, rows, O) = every model's predictions over x (rows, F).
void fused_predict_gpu(const FusedLayout& L, Integrator integrator, bool clamp, const FusedDeviceModels& models,
                       int count, const float* x, int rows, float* pred, cudaStream_t stream);

}  // namespace dynpmnn
