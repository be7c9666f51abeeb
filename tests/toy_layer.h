// A layer kind that exists only in the tests: y = gain ⊙ (W x + bias)², with a trained per-unit
// gain. It shows that a new kind is one unit in one file plus its registration, nothing else: its
// CPU half, its CUDA half (compiled where this header is included by a .cu file) and the checks it
// gets for free from the tests that go over layer_kinds() (test_layer_units.cpp,
// test_gpu_layer_units.cu). Each test binary registers it once with
//   const RegisterLayerUnit kToyRegistered{toy_unit()};
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "models/layer_unit.h"

#if defined(__CUDACC__)
#include "common/cuda_check.h"
#include "common/device_buffer.h"
#include "models/gpu_layer.h"
#endif

namespace dynpmnn::test {

inline constexpr char kToyLayer[] = "toy_square";

// The table offset of this layer's tensor whose name ends in `suffix`.
inline std::size_t toy_offset(const LayerContext& at, const std::string& suffix) {
  for (const auto& t : at.table.tensors())
    if (t.layer == at.layer && t.name.size() >= suffix.size() &&
        t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix) == 0)
      return t.offset;
  throw std::logic_error("toy layer: no tensor " + suffix);
}

template <typename T>
class ToyCpu final : public CpuLayer<T> {
 public:
  explicit ToyCpu(const LayerContext& at)
      : N_(at.layer_spec().units), in_w_(at.in_width()), W_(toy_offset(at, ".toy.weight")),
        bias_(toy_offset(at, ".toy.bias")), gain_(toy_offset(at, ".toy.gain")) {}
  void resize(int B) override {
    B_ = B;
    lin_.resize(static_cast<std::size_t>(B) * N_);
    d_lin_.resize(lin_.size());
  }
  bool forward(const T* params, const T* x, int B, T* y) override {
    dense_forward_cpu(x, params + W_, params + bias_, B, in_w_, N_, lin_.data());
    for (int b = 0; b < B; ++b)
      for (int j = 0; j < N_; ++j) {
        const T z = lin_[static_cast<std::size_t>(b) * N_ + j];
        y[static_cast<std::size_t>(b) * N_ + j] = params[gain_ + j] * z * z;
      }
    return std::all_of(y, y + static_cast<std::size_t>(B) * N_, [](T v) { return is_finite_value(v); });
  }
  void backward(const T* params, const T* x, const T* dy, T* dx, T* grad) override {
    for (int j = 0; j < N_; ++j) {
      T dg = 0;
      for (int b = 0; b < B_; ++b) {
        const std::size_t i = static_cast<std::size_t>(b) * N_ + j;
        dg += dy[i] * lin_[i] * lin_[i];
        d_lin_[i] = dy[i] * 2 * params[gain_ + j] * lin_[i];
      }
      grad[gain_ + j] = dg;
    }
    dense_backward_cpu(x, params + W_, d_lin_.data(), B_, in_w_, N_, dx, grad + W_, grad + bias_);
  }

 private:
  int N_, in_w_, B_ = 0;
  std::size_t W_, bias_, gain_;
  std::vector<T> lin_, d_lin_;  // (B, N) each
};

#if defined(__CUDACC__)
// One thread per unit j: the gain's gradient summed over the batch in order (deterministic).
__global__ void toy_backward_kernel(const float* lin, const float* dy, const float* gain, int B, int N, float* d_lin,
                                    float* d_gain) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= N) return;
  float dg = 0;
  for (int b = 0; b < B; ++b) {
    const std::size_t i = static_cast<std::size_t>(b) * N + j;
    dg += dy[i] * lin[i] * lin[i];
    d_lin[i] = dy[i] * 2 * gain[j] * lin[i];
  }
  d_gain[j] = dg;
}

__global__ void toy_forward_kernel(const float* lin, const float* gain, int B, int N, float* y) {
  const std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<std::size_t>(B) * N) return;
  y[i] = gain[i % N] * lin[i] * lin[i];
}

class ToyGpu final : public GpuLayer {
 public:
  ToyGpu(const LayerContext& at, const GpuLayerResources& res)
      : ctx_(res.cublas), layer_(at.layer), N_(at.layer_spec().units), in_w_(at.in_width()),
        W_(toy_offset(at, ".toy.weight")), bias_(toy_offset(at, ".toy.bias")), gain_(toy_offset(at, ".toy.gain")),
        lin_(static_cast<std::size_t>(res.capacity) * N_), d_lin_(static_cast<std::size_t>(res.capacity) * N_) {}
  void forward(const float* params, const float* x, int B, float* y, int* flag) override {
    B_ = B;
    dense_forward_gpu(ctx_, x, params + W_, params + bias_, B, in_w_, N_, lin_.data());
    const std::size_t n = static_cast<std::size_t>(B) * N_;
    toy_forward_kernel<<<static_cast<unsigned>((n + 255) / 256), 256, 0, ctx_.stream()>>>(lin_.data(), params + gain_,
                                                                                           B, N_, y);
    DYNPMNN_CUDA_CHECK_LAUNCH("toy_forward_kernel");
    if (flag) nonfinite_check_gpu(y, n, flag, layer_, ctx_.stream());
  }
  void backward(const float* params, const float* x, const float* dy, float* dx, float* grad) override {
    toy_backward_kernel<<<(N_ + 127) / 128, 128, 0, ctx_.stream()>>>(lin_.data(), dy, params + gain_, B_, N_,
                                                                     d_lin_.data(), grad + gain_);
    DYNPMNN_CUDA_CHECK_LAUNCH("toy_backward_kernel");
    dense_backward_gpu(ctx_, x, params + W_, d_lin_.data(), B_, in_w_, N_, dx, grad + W_, grad + bias_);
  }

 private:
  const CublasContext& ctx_;
  int layer_, N_, in_w_, B_ = 0;
  std::size_t W_, bias_, gain_;
  DeviceBuffer<float> lin_, d_lin_;  // (B, N) each
};
#endif

class ToyUnit final : public CpuHalves<ToyCpu> {
 public:
  std::string_view kind() const override { return kToyLayer; }
  void validate(const LayerSpec&, const std::string&) const override {}
  int output_width(const LayerSpec& layer) const override { return layer.units; }
  void add_params(const LayerSpec& layer, int index, int in_width, ParamTable& table) const override {
    const std::string p = "layer" + std::to_string(index) + ".toy.";
    table.add(p + "weight", ParamKind::kWeight, index, {layer.units, in_width}, true, ParamInit::uniform_fan_in(in_width));
    table.add(p + "bias", ParamKind::kBias, index, {layer.units}, true, ParamInit::uniform_fan_in(in_width));
    table.add(p + "gain", ParamKind::kOther, index, {layer.units}, true, ParamInit::constant(0.5));
  }
  double training_doubles_per_sample(const LayerSpec& layer, int) const override { return 4.0 * layer.units; }
#if defined(__CUDACC__)
  std::unique_ptr<GpuLayer> make_gpu(const LayerContext& at, const GpuLayerResources& res) const override {
    return std::make_unique<ToyGpu>(at, res);
  }
#endif
};

inline const LayerUnit& toy_unit() {
  static const ToyUnit unit;
  return unit;
}

}  // namespace dynpmnn::test
