// The GPU twin of LinearBlockCpu (linear_block.h): Linear(in → D) → optional LayerNorm →
// activation, float32 on the cuBLAS context's stream. For the .cu halves of the FHN and dense units.
// In a population (GpuLayerResources::models = P > 1) the P models' blocks run in the same
// launches: the Linear one strided-batched GEMM, each model with its own W, bias, gamma and beta.
#pragma once

#include "common/device_buffer.h"
#include "kernels/ops_gpu.h"
#include "models/gpu_layer.h"

namespace dynpmnn {

class LinearBlockGpu {
 public:
  LinearBlockGpu(const LayerContext& at, const GpuLayerResources& res, int D)
      : S_(at.layer_spec()), ctx_(res.cublas), training_(res.pass == Pass::kTraining), P_(res.models),
        ps_(res.param_stride), in_w_(at.in_width()), D_(D),
        W_(at.offset(ParamKind::kWeight)), bias_(at.offset(ParamKind::kBias)),
        gamma_(S_.layernorm ? at.offset(ParamKind::kLnGamma) : 0),
        beta_(S_.layernorm ? at.offset(ParamKind::kLnBeta) : 0) {
    const std::size_t rows = static_cast<std::size_t>(P_) * res.capacity, n = rows * D;
    lin_ = DeviceBuffer<float>(n);
    if (S_.layernorm) normed_ = DeviceBuffer<float>(n);
    if (training_) {
      if (S_.layernorm) {
        xhat_ = DeviceBuffer<float>(n);
        rstd_ = DeviceBuffer<float>(rows);
        d_lin_ = DeviceBuffer<float>(n);
      }
      d_act_ = DeviceBuffer<float>(n);
    }
  }

  // x (P, B, in) → act (P, B, D).
  void forward(const float* params, const float* x, int B, float* act) {
    B_ = B;
    dense_forward_models_gpu(ctx_, P_, x, static_cast<std::size_t>(B) * in_w_, params + W_, params + bias_, ps_, B,
                             in_w_, D_, lin_.data());
    if (S_.layernorm)
      layernorm_forward_models_gpu(P_, lin_.data(), params + gamma_, params + beta_, ps_, B, D_, normed_.data(),
                                   training_ ? xhat_.data() : nullptr, training_ ? rstd_.data() : nullptr,
                                   ctx_.stream());
    activation_forward_gpu(S_.activation, pre_act(), values(), act, ctx_.stream());
  }

  // d_post (P, B, D), the gradient at the activation's output (it may be d_act() itself) → dx (P, B, in)
  // (null: not needed), gradients of W, bias, gamma, beta overwritten.
  void backward(const float* params, const float* x, const float* d_post, float* dx, float* grad) {
    activation_backward_gpu(S_.activation, pre_act(), d_post, values(), d_act_.data(), ctx_.stream());
    const float* d_lin = d_act_.data();
    if (S_.layernorm) {
      layernorm_backward_models_gpu(P_, d_act_.data(), xhat_.data(), rstd_.data(), params + gamma_, ps_, B_, D_,
                                    d_lin_.data(), grad + gamma_, grad + beta_, ctx_.stream());
      d_lin = d_lin_.data();
    }
    dense_backward_models_gpu(ctx_, P_, x, static_cast<std::size_t>(B_) * in_w_, params + W_, ps_, d_lin, B_, in_w_,
                              D_, dx, grad + W_, grad + bias_);
  }

  float* d_act() { return d_act_.data(); }  // (P, B, D) scratch a unit may fill before backward
  cudaStream_t stream() const { return ctx_.stream(); }

 private:
  const float* pre_act() const { return S_.layernorm ? normed_.data() : lin_.data(); }
  std::size_t values() const { return static_cast<std::size_t>(P_) * B_ * D_; }

  LayerSpec S_;
  const CublasContext& ctx_;
  bool training_;
  int P_;            // models side by side (1: a lone layer)
  std::size_t ps_;   // a model's parameter stride (population)
  int in_w_, D_, B_ = 0;
  std::size_t W_, bias_, gamma_, beta_;  // table offsets
  DeviceBuffer<float> lin_;     // (P, B, D) Linear output
  DeviceBuffer<float> normed_;  // (P, B, D) LayerNorm output (LayerNorm)
  DeviceBuffer<float> xhat_;    // (P, B, D) LayerNorm's normalised input (training, LayerNorm)
  DeviceBuffer<float> rstd_;    // (P, B) (training, LayerNorm)
  DeviceBuffer<float> d_act_;   // (P, B, D) (training) gradient at the activation's output
  DeviceBuffer<float> d_lin_;   // (P, B, D) (training, LayerNorm)
};

}  // namespace dynpmnn
