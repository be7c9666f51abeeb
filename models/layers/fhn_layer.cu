// The CUDA half of the FHN unit (fhn_layer.h): the twin of FhnCpu in fhn_layer.cpp.
#include <memory>

#include "common/device_buffer.h"
#include "kernels/fhn_gpu.h"
#include "kernels/fhn_param_map_gpu.h"
#include "models/layers/fhn_layer.h"
#include "models/layers/linear_block_gpu.h"

namespace dynpmnn {
namespace {

class FhnGpu final : public GpuLayer {
 public:
  FhnGpu(const LayerContext& at, const GpuLayerResources& res)
      : S_(at.layer_spec()), layer_(at.layer), D_(fhn_linear_width(S_)), training_(res.pass == Pass::kTraining),
        front_(at, res, D_), maps_(S_.param_maps()) {
    const ParamKind kinds[4] = {ParamKind::kFhnA, ParamKind::kFhnB, ParamKind::kFhnG, ParamKind::kFhnI};
    for (int i = 0; i < 4; ++i) {
      raw_[i] = at.offset(kinds[i]);
      trained_[i] = at.param(kinds[i]).trainable;
    }
    const std::size_t B = static_cast<std::size_t>(res.capacity);
    act_ = DeviceBuffer<float>(B * D_);
    if (maps_.any()) phys_ = DeviceBuffer<float>(4 * static_cast<std::size_t>(S_.units));
    if (training_) {
      const NeuronShape full = fhn_shape(S_, res.capacity);
      ckpt_v_ = DeviceBuffer<float>(full.checkpoint_elems());
      ckpt_w_ = DeviceBuffer<float>(full.checkpoint_elems());
      workspace_ = DeviceBuffer<float>(fhn_backward_workspace_floats(full));
    }
  }

  void forward(const float* params, const float* x, int B, float* y, int* flag) override {
    B_ = B;
    front_.forward(params, x, B, act_.data());
    const FhnParamPtrs<float> physical = fhn_param_map_forward_gpu(maps_, raw(params), S_.units, phys_.data(), stream());
    fhn_forward_gpu(fhn_shape(S_, B), act_.data(), physical, y, training_ ? ckpt_v_.data() : nullptr,
                    training_ ? ckpt_w_.data() : nullptr, flag, layer_, stream());
  }

  void backward(const float* params, const float* x, const float* dy, float* dx, float* grad) override {
    // The forward of this step wrote the mapped values; Adam has not run since.
    const FhnParamPtrs<float> r = raw(params);
    const FhnParamPtrs<float> physical = fhn_physical_ptrs(maps_, r, S_.units, phys_.data());
    auto trained = [&](int i) { return trained_[i] ? grad + raw_[i] : nullptr; };
    const FhnGradPtrs<float> g{trained(0), trained(1), trained(2), trained(3)};
    fhn_backward_gpu(fhn_shape(S_, B_), act_.data(), physical, ckpt_v_.data(), ckpt_w_.data(), dy, front_.d_act(), g,
                     workspace_.data(), stream());
    fhn_param_map_backward_gpu(maps_, r, S_.units, g, stream());
    front_.backward(params, x, front_.d_act(), dx, grad);
  }

 private:
  cudaStream_t stream() const { return front_.stream(); }
  FhnParamPtrs<float> raw(const float* params) const {
    return {params + raw_[0], params + raw_[1], params + raw_[2], params + raw_[3]};
  }

  LayerSpec S_;
  int layer_, D_, B_ = 0;
  bool training_;
  LinearBlockGpu front_;
  FhnParamMaps maps_;
  std::size_t raw_[4];
  bool trained_[4];
  DeviceBuffer<float> act_;        // (B, D) the neurons' input
  DeviceBuffer<float> phys_;       // (4, N) mapped FHN parameters, where a map applies
  DeviceBuffer<float> ckpt_v_;     // (checkpoints, B, N) (training)
  DeviceBuffer<float> ckpt_w_;     // (checkpoints, B, N) (training)
  DeviceBuffer<float> workspace_;  // the backward's per-block parameter-gradient partial sums (training)
};

}  // namespace

std::unique_ptr<GpuLayer> FhnUnit::make_gpu(const LayerContext& at, const GpuLayerResources& res) const {
  return std::make_unique<FhnGpu>(at, res);
}

}  // namespace dynpmnn
