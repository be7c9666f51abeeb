// The CUDA half of the dense unit (dense_layer.h): the twin of DenseCpu in dense_layer.cpp.
#include <memory>

#include "models/layers/dense_layer.h"
#include "models/layers/linear_block_gpu.h"

namespace dynpmnn {
namespace {

class DenseGpu final : public GpuLayer {
 public:
  DenseGpu(const LayerContext& at, const GpuLayerResources& res)
      : layer_(at.layer), width_(at.layer_spec().units), P_(res.models), flag_stride_(res.flag_stride_bytes),
        front_(at, res, width_) {}

  // The activation is the layer's output; a dense layer has no kernel of its own to flag a
  // non-finite value, so its output is checked (each model's, in a population).
  void forward(const float* params, const float* x, int B, float* y, int* flag) override {
    front_.forward(params, x, B, y);
    if (flag)
      nonfinite_check_models_gpu(P_, y, static_cast<std::size_t>(B) * width_, flag, flag_stride_, layer_,
                                 front_.stream());
  }

  void backward(const float* params, const float* x, const float* dy, float* dx, float* grad) override {
    front_.backward(params, x, dy, dx, grad);
  }

 private:
  int layer_, width_;
  int P_;                    // models side by side
  std::size_t flag_stride_;  // bytes between the models' flags
  LinearBlockGpu front_;
};

}  // namespace

std::unique_ptr<GpuLayer> DenseUnit::make_gpu(const LayerContext& at, const GpuLayerResources& res) const {
  return std::make_unique<DenseGpu>(at, res);
}

}  // namespace dynpmnn
