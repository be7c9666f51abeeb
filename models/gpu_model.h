// The model on the GPU, float32: the twin of CpuModel (cpu_model.h) with the same API, each layer's
// CUDA half (models/gpu_layer.h) in order, then the linear readout. It owns the activations of
// batches of up to `capacity` rows; the parameters and gradients are the caller's (the CUDA
// backend keeps them with Adam's state in one allocation). Everything is asynchronous on the cuBLAS
// context's stream and makes no host round trip (but a dopri5 ODE block: capturable() is false).
//
// A population (issue 11): `models` = P models of one architecture side by side, every layer's
// kernels run once for all of them (GEMMs strided-batched over the models). Their parameters and
// gradients are (P, table.total()) arrays, x and pred (P, B, width), model m's divergence flag
// m·flag_stride_bytes after the flag pointer, `population`[m] its spec (`spec` is then unused: a
// population of one is the lone model of population[0]). Every layer's unit must have a
// population half (LayerUnit::gpu_population).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "common/device_buffer.h"
#include "kernels/ops_gpu.h"
#include "models/dynpmnn.h"
#include "models/gpu_layer.h"

namespace dynpmnn {

class GpuModel {
 public:
  GpuModel(const ModelSpec& spec, const ParamTable& table, const CublasContext& cublas, int capacity, Pass pass,
           std::span<const ModelSpec> population = {}, std::size_t flag_stride_bytes = 0);
  GpuModel(const GpuModel&) = delete;
  GpuModel& operator=(const GpuModel&) = delete;

  int capacity() const { return capacity_; }
  int models() const { return models_; }
  bool capturable() const;

  // x (B, inputs) → pred (B, outputs), B <= capacity. flag: the divergence flag (null for none):
  // set from kNoNonFinite to the first layer whose output was NaN or ±Inf, or to the number of
  // layers for the readout, as CpuModel::forward returns.
  void forward(const float* params, const float* x, int B, float* pred, int* flag);

  // After a forward of a kTraining model on the same x: dpred (B, outputs) → the trained
  // gradients, overwritten in grad (table.total(); frozen entries are left as they are).
  void backward(const float* params, const float* x, const float* dpred, float* grad);

 private:
  ModelSpec spec_;
  const ParamTable& table_;
  const CublasContext& cublas_;
  int capacity_;
  int models_;
  std::size_t flag_stride_;
  int batch_ = 0;
  std::vector<std::unique_ptr<GpuLayer>> layers_;
  std::vector<DeviceBuffer<float>> out_;    // per layer (P, B, output width)
  std::vector<DeviceBuffer<float>> d_out_;  // per layer (P, B, output width) (training)
};

}  // namespace dynpmnn
