// The model on the CPU reference backend: each layer's CPU half (models/layer_unit.h) in order,
// then the linear readout, forward and exact backward over the flat parameter array of ParamTable.
// Double precision for training and gradient checks; float for comparisons. Its twin on the GPU is
// GpuModel (gpu_model.h), with the same API.
#pragma once

#include <memory>
#include <vector>

#include "models/dynpmnn.h"
#include "models/layer_unit.h"

namespace dynpmnn {

// Where a forward pass first produced a non-finite value: the layer index, or the number of
// layers for the readout; -1 when everything is finite.
inline constexpr int kAllFinite = -1;

template <typename T>
class CpuModel {
 public:
  CpuModel(const ModelSpec& spec, const ParamTable& table);
  CpuModel(const CpuModel&) = delete;
  CpuModel& operator=(const CpuModel&) = delete;

  // x (B, inputs) → pred (B, outputs). Keeps what backward needs. Returns kAllFinite or the first
  // layer whose output was NaN or ±Inf.
  int forward(const T* params, const T* x, int B, T* pred);

  // After forward on the same x: dpred (B, outputs) → grad (table.total()), overwritten; frozen
  // parameters get 0.
  void backward(const T* params, const T* x, const T* dpred, T* grad);

  // Layer l's CPU half (fhn_layer_input and ode_layer_block read inside it).
  const CpuLayer<T>& layer(int l) const { return *layers_[l]; }
  CpuLayer<T>& layer(int l) { return *layers_[l]; }

 private:
  void resize(int B);

  ModelSpec spec_;
  const ParamTable& table_;
  int batch_ = -1;
  std::vector<std::unique_ptr<CpuLayer<T>>> layers_;
  std::vector<std::vector<T>> out_;    // per layer (B, output width)
  std::vector<std::vector<T>> d_out_;  // per layer (B, output width)
};

}  // namespace dynpmnn
