// The CUDA half of the neuron layer (fhn_layer.h): the twin of FhnCpu in fhn_layer.cpp.
#include <memory>
#include <string>
#include <vector>

#include "common/cuda_launch.h"
#include "common/device_buffer.h"
#include "kernels/fhn_param_map_gpu.h"
#include "kernels/neuron_gpu.h"
#include "models/layers/fhn_layer.h"
#include "models/layers/linear_block_gpu.h"

namespace dynpmnn {
namespace {

class FhnGpu final : public GpuLayer {
 public:
  FhnGpu(const LayerContext& at, const GpuLayerResources& res)
      : S_(at.layer_spec()), ops_(find_neuron_model(S_.neuron_model)), layer_(at.layer), D_(fhn_linear_width(S_)),
        training_(res.pass == Pass::kTraining), front_(at, res, D_), maps_(S_.neuron_maps()) {
    require(ops_.forward_gpu != nullptr && ops_.backward_gpu != nullptr, "neuron layer",
            "neuron model " + ops_.name + " has no CUDA kernels in this build (a model compiled as C++ only); use "
            "--device cpu");
    for (int k = 0; k < ops_.params; ++k) {
      const ParamTensor& t = neuron_param_tensor(at.table, at.layer, k);
      raw_[k] = t.offset;
      trained_[k] = t.trainable;
    }
    const std::size_t B = static_cast<std::size_t>(res.capacity);
    act_ = DeviceBuffer<float>(B * D_);
    if (maps_.any()) phys_ = DeviceBuffer<float>(static_cast<std::size_t>(ops_.params) * S_.units);
    if (training_) {
      const NeuronShape full = fhn_shape(S_, res.capacity);
      for (int i = 0; i < ops_.states; ++i) ckpt_.emplace_back(full.checkpoint_elems());
      workspace_ = DeviceBuffer<float>(ops_.workspace_gpu(full));
    }
  }

  void forward(const float* params, const float* x, int B, float* y, int* flag) override {
    B_ = B;
    front_.forward(params, x, B, act_.data());
    const NeuronParamPtrs<float> physical =
        neuron_param_map_forward_gpu(maps_, raw(params), S_.units, phys_.data(), stream());
    NeuronCheckpoints<float> ck;
    if (training_)
      for (int i = 0; i < ops_.states; ++i) ck.plane[i] = ckpt_[i].data();
    ops_.forward_gpu(fhn_shape(S_, B), act_.data(), physical, y, ck, flag, layer_, stream());
  }

  void backward(const float* params, const float* x, const float* dy, float* dx, float* grad) override {
    // The forward of this step wrote the mapped values; Adam has not run since.
    const NeuronParamPtrs<float> r = raw(params);
    const NeuronParamPtrs<float> physical = neuron_physical_ptrs(maps_, r, S_.units, phys_.data());
    NeuronGradPtrs<float> g;
    for (int k = 0; k < ops_.params; ++k) g.p[k] = trained_[k] ? grad + raw_[k] : nullptr;
    NeuronCheckpoints<const float> ck;
    for (int i = 0; i < ops_.states; ++i) ck.plane[i] = ckpt_[i].data();
    ops_.backward_gpu(fhn_shape(S_, B_), act_.data(), physical, ck, dy, front_.d_act(), g, workspace_.data(),
                      stream());
    neuron_param_map_backward_gpu(maps_, r, S_.units, g, stream());
    front_.backward(params, x, front_.d_act(), dx, grad);
  }

 private:
  cudaStream_t stream() const { return front_.stream(); }
  NeuronParamPtrs<float> raw(const float* params) const {
    NeuronParamPtrs<float> r;
    for (int k = 0; k < ops_.params; ++k) r.p[k] = params + raw_[k];
    return r;
  }

  LayerSpec S_;
  const NeuronModelOps& ops_;
  int layer_, D_, B_ = 0;
  bool training_;
  LinearBlockGpu front_;
  NeuronParamMaps maps_;
  std::size_t raw_[kMaxNeuronParams] = {};
  bool trained_[kMaxNeuronParams] = {};
  DeviceBuffer<float> act_;                 // (B, D) the neurons' input
  DeviceBuffer<float> phys_;                // (params, N) mapped parameters, where a map applies
  std::vector<DeviceBuffer<float>> ckpt_;   // per state: (checkpoints, B, N) (training)
  DeviceBuffer<float> workspace_;           // the backward's per-block parameter-gradient partial sums (training)
};

}  // namespace

std::unique_ptr<GpuLayer> FhnUnit::make_gpu(const LayerContext& at, const GpuLayerResources& res) const {
  return std::make_unique<FhnGpu>(at, res);
}

}  // namespace dynpmnn
