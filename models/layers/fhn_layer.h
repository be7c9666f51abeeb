// The DynPMNN's own layer, the neuron layer (kind "fhn", for its first and default model):
// Linear(in → kCoupled·N or N) → optional LayerNorm → activation → N neurons of the layer's neuron
// model (LayerSpec::neuron_model, models/neuron_models.h) integrated over t_end / dt steps → their
// final states (kStates·N values per sample, or the N voltages). The CPU half is in fhn_layer.cpp,
// the CUDA half in fhn_layer.cu; both run the model through kernels/neuron.h's op.
#pragma once

#include <vector>

#include "kernels/neuron.h"
#include "models/dynpmnn.h"
#include "models/layer_unit.h"
#include "models/neuron_models.h"

namespace dynpmnn {

inline constexpr char kFhnLayer[] = "fhn";

bool is_fhn_layer(const LayerSpec& layer);
bool has_fhn_layers(const ModelSpec& spec);
// The neuron op's shape of a neuron layer for a batch (its model's layout); std::logic_error for
// another kind.
NeuronShape fhn_shape(const LayerSpec& layer, int batch);
// Width of the layer's Linear: kCoupled·N with initial-condition coupling, N with current coupling.
int fhn_linear_width(const LayerSpec& layer);
// The table tensor of the layer's neuron parameter k (in the model's order).
const ParamTensor& neuron_param_tensor(const ParamTable& table, int layer, int k);

class FhnUnit final : public LayerUnit {
 public:
  std::string_view kind() const override { return kFhnLayer; }
  void validate(const LayerSpec& layer, const std::string& where) const override;
  int output_width(const LayerSpec& layer) const override;
  void add_params(const LayerSpec& layer, int index, int in_width, ParamTable& table) const override;
  double training_doubles_per_sample(const LayerSpec& layer, int in_width) const override;
  std::unique_ptr<CpuLayer<double>> make_cpu(const LayerContext& at, double) const override;
  std::unique_ptr<CpuLayer<float>> make_cpu(const LayerContext& at, float) const override;
#if DYNPMNN_HAVE_CUDA
  std::unique_ptr<GpuLayer> make_gpu(const LayerContext& at, const GpuLayerResources& res) const override;
#endif
  bool gpu_population() const override { return true; }
};

// The neurons' input of the CPU half's last forward, (B, linear width): initial states or
// currents; what inspect and the stability check read. std::logic_error for another kind.
template <typename T>
const std::vector<T>& fhn_layer_input(const CpuLayer<T>& layer);

}  // namespace dynpmnn
