// Linear(in → D) → optional LayerNorm → activation: the front of the FHN and dense units, on the
// CPU (this file) and the GPU (linear_block_gpu.h). Its tensors are the layer's kWeight (D, in),
// kBias (D) and, with LayerNorm, kLnGamma and kLnBeta (D).
#pragma once

#include <string>
#include <vector>

#include "kernels/ops.h"
#include "models/layer_unit.h"

namespace dynpmnn {

// "layerL.linear.weight", "layerL.linear.bias", then "layerL.norm.weight", "layerL.norm.bias".
void add_linear_block_params(const LayerSpec& layer, int index, int in_width, int D, ParamTable& table);

template <typename T>
class LinearBlockCpu {
 public:
  LinearBlockCpu(const LayerContext& at, int D)
      : S_(at.layer_spec()), in_w_(at.in_width()), D_(D), W_(at.offset(ParamKind::kWeight)),
        bias_(at.offset(ParamKind::kBias)), gamma_(S_.layernorm ? at.offset(ParamKind::kLnGamma) : 0),
        beta_(S_.layernorm ? at.offset(ParamKind::kLnBeta) : 0) {}

  void resize(int B) {
    B_ = B;
    const std::size_t n = static_cast<std::size_t>(B) * D_;
    lin_.resize(n);
    xhat_.resize(n);
    rstd_.resize(B);
    normed_.resize(n);
    d_act_.resize(n);
  }

  // x (B, in) → act (B, D).
  void forward(const T* params, const T* x, T* act) {
    dense_forward_cpu(x, params + W_, params + bias_, B_, in_w_, D_, lin_.data());
    if (S_.layernorm)
      layernorm_forward_cpu(lin_.data(), params + gamma_, params + beta_, B_, D_, normed_.data(), xhat_.data(),
                            rstd_.data());
    activation_forward_cpu(S_.activation, pre_act(), static_cast<std::size_t>(B_) * D_, act);
  }

  // d_post (B, D), the gradient at the activation's output (it may be d_act() itself) → dx (B, in)
  // (null: not needed), gradients of W, bias, gamma, beta.
  void backward(const T* params, const T* x, const T* d_post, T* dx, T* grad) {
    const std::size_t n = static_cast<std::size_t>(B_) * D_;
    activation_backward_cpu(S_.activation, pre_act(), d_post, n, d_act_.data());
    if (S_.layernorm) {
      d_lin_.resize(n);
      layernorm_backward_cpu(d_act_.data(), xhat_.data(), rstd_.data(), params + gamma_, B_, D_, d_lin_.data(),
                             grad + gamma_, grad + beta_);
      std::copy(d_lin_.begin(), d_lin_.end(), d_act_.begin());
    }
    dense_backward_cpu(x, params + W_, d_act_.data(), B_, in_w_, D_, dx, grad + W_, grad + bias_);
  }

  T* d_act() { return d_act_.data(); }  // (B, D) scratch a unit may fill before backward

 private:
  const T* pre_act() const { return S_.layernorm ? normed_.data() : lin_.data(); }

  LayerSpec S_;
  int in_w_, D_, B_ = 0;
  std::size_t W_, bias_, gamma_, beta_;  // table offsets
  std::vector<T> lin_;     // (B, D) Linear output
  std::vector<T> xhat_;    // (B, D) LayerNorm's normalised input
  std::vector<T> rstd_;    // (B)
  std::vector<T> normed_;  // (B, D) LayerNorm output (the activation's input)
  std::vector<T> d_act_;   // (B, D) gradient at the activation's output, then at the Linear's
  std::vector<T> d_lin_;   // (B, D) LayerNorm backward's output
};

}  // namespace dynpmnn
