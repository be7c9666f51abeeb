// The closed-form continuous-time cell (Hasani et al. 2022, ncps's CfCCell "default") as one step
// from h0 = 0: Linear(in → 4N) → gate (kernels/cfc_math.h); N outputs. The CfC baseline's head.
#pragma once

#include "models/dynpmnn.h"
#include "models/layer_unit.h"

namespace dynpmnn {

inline constexpr char kCfcLayer[] = "cfc";

// `units` cells at elapsed time t.
LayerSpec cfc_layer(int units, double t);

class CfcUnit final : public LayerUnit {
 public:
  std::string_view kind() const override { return kCfcLayer; }
  void validate(const LayerSpec& layer, const std::string& where) const override;
  int output_width(const LayerSpec& layer) const override { return layer.units; }
  void add_params(const LayerSpec& layer, int index, int in_width, ParamTable& table) const override;
  double training_doubles_per_sample(const LayerSpec& layer, int in_width) const override;
  std::unique_ptr<CpuLayer<double>> make_cpu(const LayerContext& at, double) const override;
  std::unique_ptr<CpuLayer<float>> make_cpu(const LayerContext& at, float) const override;
#if DYNPMNN_HAVE_CUDA
  std::unique_ptr<GpuLayer> make_gpu(const LayerContext& at, const GpuLayerResources& res) const override;
#endif
};

}  // namespace dynpmnn
