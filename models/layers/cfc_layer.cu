// The CUDA half of the CfC unit (cfc_layer.h): the twin of CfcCpu in cfc_layer.cpp.
#include <memory>

#include "common/device_buffer.h"
#include "kernels/cfc_gpu.h"
#include "models/gpu_layer.h"
#include "models/layers/cfc_layer.h"

namespace dynpmnn {
namespace {

class CfcGpu final : public GpuLayer {
 public:
  CfcGpu(const LayerContext& at, const GpuLayerResources& res)
      : ctx_(res.cublas), layer_(at.layer), N_(at.layer_spec().units), in_w_(at.in_width()),
        t_(static_cast<float>(at.layer_spec().cfc_time)), W_(at.offset(ParamKind::kWeight)),
        bias_(at.offset(ParamKind::kBias)) {
    const std::size_t n = static_cast<std::size_t>(res.capacity) * 4 * N_;
    lin_ = DeviceBuffer<float>(n);
    if (res.pass == Pass::kTraining) d_lin_ = DeviceBuffer<float>(n);
  }

  void forward(const float* params, const float* x, int B, float* y, int* flag) override {
    B_ = B;
    dense_forward_gpu(ctx_, x, params + W_, params + bias_, B, in_w_, 4 * N_, lin_.data());
    cfc_forward_gpu(lin_.data(), B, N_, t_, y, ctx_.stream());
    if (flag) nonfinite_check_gpu(y, static_cast<std::size_t>(B) * N_, flag, layer_, ctx_.stream());
  }

  void backward(const float* params, const float* x, const float* dy, float* dx, float* grad) override {
    cfc_backward_gpu(lin_.data(), dy, B_, N_, t_, d_lin_.data(), ctx_.stream());
    dense_backward_gpu(ctx_, x, params + W_, d_lin_.data(), B_, in_w_, 4 * N_, dx, grad + W_, grad + bias_);
  }

 private:
  const CublasContext& ctx_;
  int layer_, N_, in_w_, B_ = 0;
  float t_;
  std::size_t W_, bias_;
  DeviceBuffer<float> lin_;    // (B, 4N) [ff1 | ff2 | t_a | t_b]
  DeviceBuffer<float> d_lin_;  // (B, 4N) (training)
};

}  // namespace

std::unique_ptr<GpuLayer> CfcUnit::make_gpu(const LayerContext& at, const GpuLayerResources& res) const {
  return std::make_unique<CfcGpu>(at, res);
}

}  // namespace dynpmnn
