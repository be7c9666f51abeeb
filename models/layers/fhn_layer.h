// The DynPMNN's own layer: Linear(in → 2N or N) → optional LayerNorm → activation → N FitzHugh–
// Nagumo neurons integrated over t_end / dt steps → (v_T, w_T), 2N values per sample. The CPU half
// is in fhn_layer.cpp, the CUDA half in fhn_layer.cu; both run kernels/fhn_math.h per (sample,
// neuron).
#pragma once

#include <vector>

#include "kernels/fhn.h"
#include "models/dynpmnn.h"
#include "models/layer_unit.h"

namespace dynpmnn {

inline constexpr char kFhnLayer[] = "fhn";

bool is_fhn_layer(const LayerSpec& layer);
bool has_fhn_layers(const ModelSpec& spec);
// The FHN op's shape of an FHN layer for a batch; std::logic_error for another kind.
NeuronShape fhn_shape(const LayerSpec& layer, int batch);
// Width of the FHN layer's Linear: 2N with initial-condition coupling, N with current coupling.
int fhn_linear_width(const LayerSpec& layer);

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
};

// The neurons' input of the CPU half's last forward, (B, linear width): initial states (v0 | w0)
// or currents; what inspect and the stability check read. std::logic_error for another kind.
template <typename T>
const std::vector<T>& fhn_layer_input(const CpuLayer<T>& layer);

}  // namespace dynpmnn
