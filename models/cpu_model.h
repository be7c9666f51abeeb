// The DynPMNN on the CPU reference backend: forward and exact backward over the flat parameter
// array of ParamTable. Double precision for training and gradient checks; float for comparisons.
#pragma once

#include <vector>

#include "models/dynpmnn.h"

namespace dynpmnn {

// Where a forward pass first produced a non-finite value: the FHN layer index, or the number of
// layers for the readout; -1 when everything is finite.
inline constexpr int kAllFinite = -1;

template <typename T>
class CpuModel {
 public:
  CpuModel(const ModelSpec& spec, const ParamTable& table);

  // x (B, inputs) → pred (B, outputs). Keeps what backward needs. Returns kAllFinite or the first
  // layer whose output was NaN or ±Inf.
  int forward(const T* params, const T* x, int B, T* pred);

  // After forward on the same x: dpred (B, outputs) → grad (table.total()), overwritten; frozen
  // parameters get 0.
  void backward(const T* params, const T* x, const T* dpred, T* grad);

  // The FHN layer's initial states/currents (B, linear width) of the last forward, for inspection.
  const std::vector<T>& fhn_input(int layer) const { return layers_[layer].act; }

 private:
  struct LayerBuffers {
    std::vector<T> lin;      // (B, D) Linear output
    std::vector<T> xhat;     // (B, D) LayerNorm's normalised input
    std::vector<T> rstd;     // (B)
    std::vector<T> normed;   // (B, D) LayerNorm output (activation input)
    std::vector<T> act;      // (B, D) FHN input
    std::vector<T> ckpt_v;   // (checkpoints, B, N)
    std::vector<T> ckpt_w;   // (checkpoints, B, N)
    std::vector<T> out;      // (B, 2N)
    std::vector<T> d_out;    // (B, 2N)
    std::vector<T> d_act;    // (B, D)
    std::vector<T> fhn_phys; // (4, N) the mapped FHN parameters (fhn_param_map.h), where a map applies
  };
  void resize(int B);

  ModelSpec spec_;
  const ParamTable& table_;
  int batch_ = -1;
  std::vector<LayerBuffers> layers_;
  std::vector<T> d_in_scratch_;
};

}  // namespace dynpmnn
