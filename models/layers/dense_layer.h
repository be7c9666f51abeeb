// Linear(in → N) → optional LayerNorm → activation; N outputs. The DNN baseline's hidden layers
// (docs/baselines.md) and the Neural ODE's input map are made of it.
#pragma once

#include "models/dynpmnn.h"
#include "models/layer_unit.h"

namespace dynpmnn {

inline constexpr char kDenseLayer[] = "dense";

LayerSpec dense_layer(int width, Activation act, bool layernorm);

class DenseUnit final : public LayerUnit {
 public:
  std::string_view kind() const override { return kDenseLayer; }
  void validate(const LayerSpec&, const std::string&) const override {}
  int output_width(const LayerSpec& layer) const override { return layer.units; }
  void add_params(const LayerSpec& layer, int index, int in_width, ParamTable& table) const override;
  double training_doubles_per_sample(const LayerSpec& layer, int in_width) const override;
  std::unique_ptr<CpuLayer<double>> make_cpu(const LayerContext& at, double) const override;
  std::unique_ptr<CpuLayer<float>> make_cpu(const LayerContext& at, float) const override;
#if DYNPMNN_HAVE_CUDA
  std::unique_ptr<GpuLayer> make_gpu(const LayerContext& at, const GpuLayerResources& res) const override;
#endif
  bool gpu_population() const override { return true; }
};

}  // namespace dynpmnn
