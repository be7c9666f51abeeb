// A DynPMNN: a stack of FitzHugh–Nagumo layers and a linear readout. Each layer:
//   Linear(in → 2N or N) → optional LayerNorm → activation → N FHN neurons → (v_T, w_T) (2N values)
// The baselines of docs/baselines.md are stacks of other layer kinds (LayerKind) before the same readout.
// This file holds the architecture (ModelSpec), the table that lays all parameters out in one flat
// array (shared by both backends, the optimizer and checkpoints) and the initialisation.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kernels/elementwise_math.h"
#include "kernels/fhn.h"
#include "kernels/ode_math.h"
#include "kernels/fhn_param_map.h"

namespace dynpmnn {

// What a layer computes. The fields of FhnLayerSpec below that a kind does not use are ignored.
//   kFhn:   the DynPMNN layer above; output 2N.
//   kDense: Linear(in → N) → optional LayerNorm → activation; output N.
//   kCfc:   the closed-form continuous-time cell (Hasani et al. 2022, ncps's CfCCell "default") as
//           one step from h0 = 0: Linear(in → 4N) → gate (kernels/cfc_math.h); output N.
//   kOde:   Linear(in → N) followed by the Neural ODE block of models/ode_block.h over t ∈ [0, 1];
//           output N (the state width H).
enum class LayerKind : int { kFhn = 0, kDense = 1, kCfc = 2, kOde = 3 };

const char* to_string(LayerKind k);

struct FhnLayerSpec {
  LayerKind kind = LayerKind::kFhn;
  int neurons = 1;  // FHN neurons; kDense: width; kCfc: units; kOde: the state width H
  Coupling coupling = Coupling::kInitialCondition;
  Integrator integrator = Integrator::kEuler;
  bool layernorm = true;
  Activation activation = Activation::kSiLU;
  double dt = 20.0;
  double t_end = 500.0;
  double clip = 0.0;  // <= 0: none
  double cfc_time = 1.0;  // kCfc: the elapsed time t of the gate σ(t_a·t + t_b)
  // Initial values of the per-neuron FHN parameters and whether each is trained.
  double a = 0.2, b = 0.02, g = 3.0, I = 0.0;
  bool train_a = false, train_b = false, train_g = false, train_I = false;
  // How the trained ones are stored (kPhysical: through fhn_param_map_math.h's maps). kRaw here, as
  // before the maps existed; the config key fhn_param_space defaults to physical.
  FhnParamSpace param_space = FhnParamSpace::kRaw;

  // kOde: the vector field f(h, t) is an MLP of ode_vf_layers Linears over [h, t], width
  // ode_vf_width, LayerNorm and tanh after every Linear but the last; solved by ode_solver with
  // ode_steps fixed steps (rk4) or adaptively (dopri5: ode_rtol, ode_atol, at most ode_max_steps
  // attempted steps).
  int ode_vf_width = 128;
  int ode_vf_layers = 3;
  OdeSolver ode_solver = OdeSolver::kRk4;
  int ode_steps = 4;
  double ode_rtol = 1e-7, ode_atol = 1e-9;
  int ode_max_steps = 1000;

  int steps() const;  // t_end / dt; throws if it does not divide
  // Per parameter: the identity unless it is trained and param_space is kPhysical.
  FhnParamMaps param_maps() const;
};

// The baselines' layers (docs/baselines.md): Linear(in → width) → optional LayerNorm → act, and
// the CfC cell head with `units` units and elapsed time t.
FhnLayerSpec dense_layer(int width, Activation act, bool layernorm);
FhnLayerSpec cfc_layer(int units, double t);

struct ModelSpec {
  int inputs = 8;
  int outputs = 1;
  std::vector<FhnLayerSpec> layers;

  void validate() const;  // throws std::invalid_argument naming the layer and field
  FhnShape fhn_shape(int layer, int batch) const;  // kFhn layers only
  // Width of the layer's Linear: kFhn 2N (initial-condition coupling) or N (current); kDense N;
  // kCfc 4N (ff1, ff2, t_a, t_b).
  int linear_width(int layer) const;
  int layer_input_width(int layer) const;
  int layer_output_width(int layer) const;  // kFhn 2N (v_T, w_T); the other kinds N
  bool has_fhn_layers() const;
};

enum class ParamKind : int {
  kWeight,     // (out, in) of a layer's Linear or of the readout
  kBias,       // (out)
  kLnGamma,    // (D)
  kLnBeta,     // (D)
  kFhnA,       // (N)
  kFhnB,       // (N)
  kFhnG,       // (N)
  kFhnI,       // (N)
  // The Neural ODE block's vector field, several of each per layer in table order: f0.weight,
  // f0.bias, norm0.weight, norm0.bias, f1.weight, ... (models/ode_block.h).
  kOdeWeight,   // (out, in)
  kOdeBias,     // (out)
  kOdeLnGamma,  // (V)
  kOdeLnBeta,   // (V)
};

struct ParamTensor {
  std::string name;  // e.g. "layer0.linear.weight", "readout.bias", "layer0.fhn.a"
  ParamKind kind;
  int layer;  // FHN layer index, or -1 for the readout
  std::vector<int> shape;
  std::size_t offset = 0;
  std::size_t size = 0;
  bool trainable = true;
  // How a stored value becomes the value the model uses (not the identity only for a trained FHN
  // parameter under FhnParamSpace::kPhysical); physical_params() applies it.
  FhnParamMap map = FhnParamMap::kIdentity;
};

class ParamTable {
 public:
  explicit ParamTable(const ModelSpec& spec);
  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  std::size_t total() const { return total_; }
  std::size_t trainable_count() const;
  // The tensor of this kind in this layer (layer -1: readout); throws if there is none.
  const ParamTensor& at(int layer, ParamKind kind) const;
  const ParamTensor* find(int layer, ParamKind kind) const;

 private:
  std::vector<ParamTensor> tensors_;
  std::size_t total_ = 0;
};

// PyTorch's defaults: Linear weights and biases U(−1/√fan_in, 1/√fan_in), LayerNorm gamma 1 and
// beta 0, FHN parameters at the spec's values (stored through the inverse of the tensor's map).
// Deterministic for a seed, on every machine.
void init_params(const ModelSpec& spec, const ParamTable& table, std::uint64_t seed, std::span<double> out);

// The parameters as the model uses them: every tensor's map applied to the stored values (a copy of
// `stored` when no map applies). What users read (best_params.json, inspect) is this.
std::vector<double> physical_params(const ParamTable& table, std::span<const double> stored);

}  // namespace dynpmnn
