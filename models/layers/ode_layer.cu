// The CUDA half of the ode unit (ode_layer.h): the twin of OdeCpu in ode_layer.cpp.
#include <memory>

#include "common/device_buffer.h"
#include "models/gpu_layer.h"
#include "models/layers/ode_layer.h"
#include "models/ode_block_gpu.h"

namespace dynpmnn {
namespace {

class OdeGpu final : public GpuLayer {
 public:
  OdeGpu(const LayerContext& at, const GpuLayerResources& res)
      : ctx_(res.cublas), H_(at.layer_spec().units), in_w_(at.in_width()), W_(at.offset(ParamKind::kWeight)),
        bias_(at.offset(ParamKind::kBias)),
        block_(ode_layout(at.spec, at.table, at.layer), at.layer, res.cublas, res.capacity,
               res.pass == Pass::kTraining ? OdeRecords::kKeep : OdeRecords::kScratchOnly) {
    const std::size_t n = static_cast<std::size_t>(res.capacity) * H_;
    h0_ = DeviceBuffer<float>(n);
    if (res.pass == Pass::kTraining) d_h0_ = DeviceBuffer<float>(n);
  }

  bool capturable() const override { return block_.capturable(); }

  void forward(const float* params, const float* x, int B, float* y, int* flag) override {
    B_ = B;
    dense_forward_gpu(ctx_, x, params + W_, params + bias_, B, in_w_, H_, h0_.data());
    block_.forward(params, h0_.data(), B, y, flag);
  }

  void backward(const float* params, const float* x, const float* dy, float* dx, float* grad) override {
    block_.backward(params, dy, d_h0_.data(), grad);
    dense_backward_gpu(ctx_, x, params + W_, d_h0_.data(), B_, in_w_, H_, dx, grad + W_, grad + bias_);
  }

 private:
  const CublasContext& ctx_;
  int H_, in_w_, B_ = 0;
  std::size_t W_, bias_;
  OdeBlockGpu block_;
  DeviceBuffer<float> h0_;    // (B, H) the Linear's output, the state at t = 0
  DeviceBuffer<float> d_h0_;  // (B, H) (training)
};

}  // namespace

std::unique_ptr<GpuLayer> OdeUnit::make_gpu(const LayerContext& at, const GpuLayerResources& res) const {
  return std::make_unique<OdeGpu>(at, res);
}

}  // namespace dynpmnn
