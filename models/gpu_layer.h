// The CUDA half of a layer unit (models/layer_unit.h), float32: the twin of CpuLayer<T> with the
// same layouts, on the stream of the cuBLAS context it is given. Built only with CUDA.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <span>

#include "kernels/ops_gpu.h"
#include "models/layer_unit.h"

namespace dynpmnn {

// Training keeps what the backward needs; inference keeps only the outputs.
enum class Pass : int { kInference = 0, kTraining = 1 };

struct GpuLayerResources {
  const CublasContext& cublas;  // its stream is the layer's stream
  int capacity;                 // the largest batch (of each model)
  Pass pass;
  // A population (issue 11, docs/populations.md): `models` models of one architecture side by
  // side, for a unit whose gpu_population() is true. Their parameters and gradients are (models,
  // param_stride) flat arrays, activations (models, B, width) arrays, and model m's divergence flag
  // lies m·flag_stride_bytes after the flag pointer; specs[m] is model m's spec (its own dt, step
  // count, clamp and neuron parameters). 1 model: a lone layer, and the rest unused.
  int models = 1;
  std::size_t param_stride = 0;
  std::size_t flag_stride_bytes = 0;
  std::span<const ModelSpec> specs = {};
};

class GpuLayer {
 public:
  virtual ~GpuLayer() = default;
  // False when a forward needs the host between kernels (dopri5's step control): such a model is
  // not captured as a CUDA graph.
  virtual bool capturable() const { return true; }
  // x (B, in) → y (B, out) on the device. When flag is not null and an output is NaN or ±Inf, *flag
  // is set from kNoNonFinite to the layer index (an earlier value is kept). In a population every
  // array has the model axis in front and each model's flag is its own.
  virtual void forward(const float* params, const float* x, int B, float* y, int* flag) = 0;
  // After a training forward on the same x and params: dy (B, out) → dx (B, in) (null: not
  // needed), the layer's trained gradients overwritten in grad (the flat array; frozen entries
  // are left as they are).
  virtual void backward(const float* params, const float* x, const float* dy, float* dx, float* grad) = 0;
};

}  // namespace dynpmnn
