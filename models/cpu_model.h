// The DynPMNN on the CPU reference backend: forward and exact backward over the flat parameter
// array of ParamTable. Double precision for training and gradient checks; float for comparisons.
#pragma once

#include <memory>
#include <vector>

#include "models/dynpmnn.h"
#include "models/ode_block.h"

namespace dynpmnn {

// Where a forward pass first produced a non-finite value: the layer index, or the number of
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

  // The ODE block of a kOde layer (null for other kinds), for its step statistics.
  const OdeBlockCpu<T>* ode_block(int layer) const { return odes_[layer].get(); }

  // The FHN layer's initial states/currents (B, linear width) of the last forward, for inspection;
  // empty for the other layer kinds.
  const std::vector<T>& fhn_input(int layer) const { return layers_[layer].act; }

 private:
  // A kOde layer uses lin (its Linear's output, the initial state), out (the state at t = 1),
  // d_out and d_act (the initial state's adjoint), all (B, N).
  struct LayerBuffers {
    // D = linear width: 2N or N (FHN), N (dense), 4N (CfC); out: (B, layer_output_width).
    std::vector<T> lin;      // (B, D) Linear output
    std::vector<T> xhat;     // (B, D) LayerNorm's normalised input
    std::vector<T> rstd;     // (B)
    std::vector<T> normed;   // (B, D) LayerNorm output (activation input)
    std::vector<T> act;      // (B, D) FHN input (FHN layers only)
    std::vector<T> ckpt_v;   // (checkpoints, B, N)
    std::vector<T> ckpt_w;   // (checkpoints, B, N)
    std::vector<T> out;      // (B, 2N); dense, CfC: (B, N)
    std::vector<T> d_out;    // (B, 2N); dense, CfC: (B, N)
    std::vector<T> d_act;    // (B, D) gradient at the activation's output, then at the Linear's
    std::vector<T> fhn_phys; // (4, N) the mapped FHN parameters (fhn_param_map.h), where a map applies
  };
  void resize(int B);

  ModelSpec spec_;
  const ParamTable& table_;
  int batch_ = -1;
  std::vector<LayerBuffers> layers_;
  std::vector<std::unique_ptr<OdeBlockCpu<T>>> odes_;  // per layer; null but for kOde layers
  std::vector<T> d_in_scratch_;
};

}  // namespace dynpmnn
