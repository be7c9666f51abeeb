// The CUDA half of the neuron layer (fhn_layer.h): the twin of FhnCpu in fhn_layer.cpp. In a
// population (GpuLayerResources::models = P > 1) the neuron op runs every model in one launch with
// its own dt, step count and clamp; the models' neuron parameters, which sit in their flat arrays,
// are gathered into the op's (P, N) arrays before the forward and their gradients scattered back
// after the backward (one 2-D copy per parameter each way).
#include <memory>
#include <string>
#include <vector>

#include "common/cuda_check.h"
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
        training_(res.pass == Pass::kTraining), P_(res.models), ps_(res.param_stride),
        flag_stride_(res.flag_stride_bytes), front_(at, res, D_), maps_(S_.neuron_maps()) {
    require(ops_.forward_gpu != nullptr && ops_.backward_gpu != nullptr, "neuron layer",
            "neuron model " + ops_.name + " has no CUDA kernels in this build (a model compiled as C++ only); use "
            "--device cpu");
    for (int k = 0; k < ops_.params; ++k) {
      const ParamTensor& t = neuron_param_tensor(at.table, at.layer, k);
      raw_[k] = t.offset;
      trained_[k] = t.trainable;
    }
    const std::size_t B = static_cast<std::size_t>(res.capacity);
    const std::size_t PN = static_cast<std::size_t>(P_) * S_.units;  // a parameter of every model
    act_ = DeviceBuffer<float>(P_ * B * D_);
    if (maps_.any()) phys_ = DeviceBuffer<float>(static_cast<std::size_t>(ops_.params) * PN);
    if (P_ > 1) {
      require(static_cast<int>(res.specs.size()) == P_, "neuron layer", "a population needs every model's spec");
      // Each model's dt, steps and clamp, from its own spec; uploaded once.
      for (const ModelSpec& spec : res.specs) {
        const NeuronShape own = fhn_shape(spec.layers.at(layer_), 1);
        steps_.push_back(NeuronModelStep{own.dt, own.steps, own.clip});
      }
      steps_device_ = DeviceBuffer<NeuronModelStep>(steps_.size());
      upload_sync(steps_device_.data(), steps_.data(), steps_.size(), stream());
      raw_models_ = DeviceBuffer<float>(static_cast<std::size_t>(ops_.params) * PN);
      if (training_) grad_models_ = DeviceBuffer<float>(static_cast<std::size_t>(ops_.params) * PN);
    }
    if (training_) {
      const NeuronShape full = shape(res.capacity);
      for (int i = 0; i < ops_.states; ++i) ckpt_.emplace_back(full.checkpoint_elems());
      workspace_ = DeviceBuffer<float>(ops_.workspace_gpu(full));
    }
  }

  void forward(const float* params, const float* x, int B, float* y, int* flag) override {
    B_ = B;
    front_.forward(params, x, B, act_.data());
    if (P_ > 1) gather_models(params);
    const NeuronParamPtrs<float> physical =
        neuron_param_map_forward_gpu(maps_, raw(params), P_ * S_.units, phys_.data(), stream());
    NeuronCheckpoints<float> ck;
    if (training_)
      for (int i = 0; i < ops_.states; ++i) ck.plane[i] = ckpt_[i].data();
    const NeuronShape s = shape(B);
    // The op's flag is one for all models; a population checks each model's outputs instead.
    ops_.forward_gpu(s, act_.data(), physical, y, ck, P_ > 1 ? nullptr : flag, layer_, stream());
    if (P_ > 1 && flag)
      nonfinite_check_models_gpu(P_, y, static_cast<std::size_t>(B) * s.output_width(), flag, flag_stride_, layer_,
                                 stream());
  }

  void backward(const float* params, const float* x, const float* dy, float* dx, float* grad) override {
    // The forward of this step wrote the mapped values; Adam has not run since.
    // (A population's gathered raw values too.)
    const NeuronParamPtrs<float> r = raw(params);
    const int PN = P_ * S_.units;
    const NeuronParamPtrs<float> physical = neuron_physical_ptrs(maps_, r, PN, phys_.data());
    NeuronGradPtrs<float> g;
    for (int k = 0; k < ops_.params; ++k)
      g.p[k] = !trained_[k] ? nullptr : P_ > 1 ? grad_models_.data() + static_cast<std::size_t>(k) * PN : grad + raw_[k];
    NeuronCheckpoints<const float> ck;
    for (int i = 0; i < ops_.states; ++i) ck.plane[i] = ckpt_[i].data();
    ops_.backward_gpu(shape(B_), act_.data(), physical, ck, dy, front_.d_act(), g, workspace_.data(), stream());
    neuron_param_map_backward_gpu(maps_, r, PN, g, stream());
    if (P_ > 1) scatter_models(grad);
    front_.backward(params, x, front_.d_act(), dx, grad);
  }

 private:
  cudaStream_t stream() const { return front_.stream(); }
  // The op's raw parameters: the model's own, or the population's gathered (P, N) arrays.
  NeuronParamPtrs<float> raw(const float* params) const {
    NeuronParamPtrs<float> r;
    for (int k = 0; k < ops_.params; ++k)
      r.p[k] = P_ > 1 ? raw_models_.data() + static_cast<std::size_t>(k) * P_ * S_.units : params + raw_[k];
    return r;
  }

  NeuronShape shape(int B) const {
    NeuronShape s = fhn_shape(S_, B);
    if (P_ > 1) {
      s.models = P_;
      s.per_model = steps_.data();
      s.per_model_device = steps_device_.data();
    }
    return s;
  }

  // Parameter k of model m sits at m·ps_ + raw_[k] of the flat arrays; the op reads (P, N).
  void gather_models(const float* params) {
    const std::size_t row = static_cast<std::size_t>(S_.units) * sizeof(float);
    for (int k = 0; k < ops_.params; ++k)
      DYNPMNN_CUDA_CHECK(cudaMemcpy2DAsync(raw_models_.data() + static_cast<std::size_t>(k) * P_ * S_.units, row,
                                           params + raw_[k], ps_ * sizeof(float), row, P_, cudaMemcpyDeviceToDevice,
                                           stream()));
  }
  void scatter_models(float* grad) {
    const std::size_t row = static_cast<std::size_t>(S_.units) * sizeof(float);
    for (int k = 0; k < ops_.params; ++k)
      if (trained_[k])
        DYNPMNN_CUDA_CHECK(cudaMemcpy2DAsync(grad + raw_[k], ps_ * sizeof(float),
                                             grad_models_.data() + static_cast<std::size_t>(k) * P_ * S_.units, row,
                                             row, P_, cudaMemcpyDeviceToDevice, stream()));
  }

  LayerSpec S_;
  const NeuronModelOps& ops_;
  int layer_, D_, B_ = 0;
  bool training_;
  int P_;                    // models side by side (1: a lone layer)
  std::size_t ps_;           // a model's parameter stride (population)
  std::size_t flag_stride_;  // bytes between the models' divergence flags (population)
  LinearBlockGpu front_;
  NeuronParamMaps maps_;
  std::size_t raw_[kMaxNeuronParams] = {};
  bool trained_[kMaxNeuronParams] = {};
  DeviceBuffer<float> act_;                 // (P, B, D) the neurons' input
  DeviceBuffer<float> phys_;                // (params, P, N) mapped parameters, where a map applies
  std::vector<NeuronModelStep> steps_;      // (P) each model's dt, steps, clamp (population)
  DeviceBuffer<NeuronModelStep> steps_device_;
  DeviceBuffer<float> raw_models_;          // (params, P, N) the models' raw parameters (population)
  DeviceBuffer<float> grad_models_;         // (params, P, N) their gradients (population, training)
  std::vector<DeviceBuffer<float>> ckpt_;   // per state: (checkpoints, B, N) (training)
  DeviceBuffer<float> workspace_;           // the backward's per-block parameter-gradient partial sums (training)
};

}  // namespace

std::unique_ptr<GpuLayer> FhnUnit::make_gpu(const LayerContext& at, const GpuLayerResources& res) const {
  return std::make_unique<FhnGpu>(at, res);
}

}  // namespace dynpmnn
