// Linear(in → H) followed by the Neural ODE block of models/ode_block.h over t ∈ [0, 1]; H outputs
// (the state width, the layer's units). The Neural ODE baseline (docs/baselines.md).
#pragma once

#include "models/dynpmnn.h"
#include "models/layer_unit.h"

namespace dynpmnn {

inline constexpr char kOdeLayer[] = "ode";

template <typename T>
class OdeBlockCpu;
struct OdeLayout;

// Where an ode layer's vector field lives in the table, and its solver settings; std::logic_error
// if `layer` is not an ode layer of this table.
OdeLayout ode_layout(const ModelSpec& spec, const ParamTable& table, int layer);

class OdeUnit final : public LayerUnit {
 public:
  std::string_view kind() const override { return kOdeLayer; }
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

// The ODE block of the CPU half of an ode layer, for its step statistics; std::logic_error for
// another kind.
template <typename T>
const OdeBlockCpu<T>& ode_layer_block(const CpuLayer<T>& layer);

}  // namespace dynpmnn
