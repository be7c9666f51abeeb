// A DynPMNN: a stack of FitzHugh–Nagumo layers and a linear readout. Each layer:
//   Linear(in → 2N or N) → optional LayerNorm → activation → N FHN neurons → (v_T, w_T) (2N values)
// The baselines of docs/baselines.md are stacks of other layer kinds before the same readout. Each
// kind is a unit (models/layer_unit.h, models/layers/) that owns its parameters, buffers and CPU and
// CUDA halves. This file holds the architecture (ModelSpec), the table that lays all parameters
// out in one flat array (shared by both backends, the optimizer and checkpoints) and the
// initialisation.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "kernels/elementwise_math.h"
#include "kernels/fhn.h"
#include "kernels/ode_math.h"
#include "kernels/fhn_param_map.h"

namespace dynpmnn {

// The most time steps a layer may take: far beyond any sensible run, so that a typo (an extra zero
// or two) is refused with a message rather than by an hours-long first epoch.
inline constexpr double kMaxTimeSteps = 1e7;

// The one check of dt and t_end, wherever they enter (the config, a ModelSpec): both finite and
// > 0, t_end a whole number of steps of dt, at most kMaxTimeSteps of them. Returns t_end / dt;
// std::invalid_argument otherwise, its message starting with the key and value ("t_end = 501 is not
// a multiple of dt = 20 ...").
int time_steps(double dt, double t_end);

// One layer of a model. `kind` names its unit in the layer registry (models/layer_unit.h): "fhn",
// "dense", "cfc" and "ode" are built in (models/layers/), and a unit registered elsewhere (a test's
// toy layer, say) is as good. The unit decides what the layer computes and which of the fields
// below it reads; the others are ignored.
struct LayerSpec {
  std::string kind = "fhn";
  // How many units the layer has: an FHN layer's neurons, a dense layer's outputs, a CfC layer's
  // cells, a Neural ODE block's state width. What it outputs per unit is the unit's business (an
  // FHN neuron gives (v_T, w_T), two values).
  int units = 1;
  Coupling coupling = Coupling::kInitialCondition;
  Integrator integrator = Integrator::kEuler;
  bool layernorm = true;
  Activation activation = Activation::kSiLU;
  double dt = 20.0;
  double t_end = 500.0;
  double clip = 0.0;  // <= 0: none
  double cfc_time = 1.0;  // cfc: the elapsed time t of the gate σ(t_a·t + t_b)
  // Initial values of the per-neuron FHN parameters and whether each is trained.
  double a = 0.2, b = 0.02, g = 3.0, I = 0.0;
  bool train_a = false, train_b = false, train_g = false, train_I = false;
  // How the trained ones are stored (kPhysical: through fhn_param_map_math.h's maps; kRaw: as they
  // are, the only space before the maps existed). The config key fhn_param_space reads this default.
  FhnParamSpace param_space = FhnParamSpace::kPhysical;
  // The neuron model of an FHN-kind layer (models/neuron_models.h; the config key neuron_model):
  // "fhn" reads a, b, g, I and train_a ... train_I above; any model also takes starting values
  // by parameter name (over its defaults, and over a ... I) and trains the parameters named in
  // train_params. voltage_readout: the layer outputs the voltage x[0] of each neuron (N values)
  // instead of every state.
  std::string neuron_model = "fhn";
  std::vector<std::pair<std::string, double>> neuron_params;
  std::vector<std::string> train_params;
  bool voltage_readout = false;

  // ode: the vector field f(h, t) is an MLP of ode_vf_layers Linears over [h, t], width
  // ode_vf_width, LayerNorm and tanh after every Linear but the last; solved by ode_solver with
  // ode_steps fixed steps (rk4) or adaptively (dopri5: ode_rtol, ode_atol, at most ode_max_steps
  // attempted steps).
  int ode_vf_width = 128;
  int ode_vf_layers = 3;
  OdeSolver ode_solver = OdeSolver::kRk4;
  int ode_steps = 4;
  double ode_rtol = 1e-7, ode_atol = 1e-9;
  int ode_max_steps = 1000;

  // t_end / dt of a validated spec (time_steps checked it there).
  int steps() const;
  // Per parameter: the identity unless it is trained and param_space is kPhysical.
  FhnParamMaps param_maps() const;
  // The neuron model's parameters, in its order: starting values, whether each is trained, and
  // their maps (the model's where trained under kPhysical, else the identity). std::invalid_argument
  // naming an unknown model or parameter name.
  std::vector<double> neuron_values() const;
  std::vector<bool> neuron_trained() const;
  NeuronParamMaps neuron_maps() const;
};

struct ModelSpec {
  int inputs = 8;
  int outputs = 1;
  std::vector<LayerSpec> layers;

  // Throws std::invalid_argument naming the layer and field: the one check of every layer's
  // values (each unit's own checks included), so what is built from a validated spec trusts it.
  void validate() const;
  int layer_input_width(int layer) const;
  int layer_output_width(int layer) const;  // what the layer's unit outputs per sample
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
  // A neuron model's parameter other than FitzHugh–Nagumo's (kFhnA ... kFhnI), (N) each, in the
  // model's order within its layer: "layer0.hodgkin_huxley.gK".
  kNeuronParam,
  // A tensor only its own unit reads, by its offset (a test's toy layer, say).
  kOther,
};

// How init_params fills a tensor: PyTorch's U(−1/√fan_in, 1/√fan_in) for Linear weights and
// biases, or a constant (LayerNorm's 1 and 0, an FHN parameter's stored starting value).
struct ParamInit {
  enum class Rule : int { kUniformFanIn = 0, kConstant = 1 };
  Rule rule = Rule::kConstant;
  double value = 0;  // kUniformFanIn: the fan-in; kConstant: the value

  static ParamInit uniform_fan_in(int fan_in) { return {Rule::kUniformFanIn, static_cast<double>(fan_in)}; }
  static ParamInit constant(double v) { return {Rule::kConstant, v}; }
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
  ParamInit init;
};

class ParamTable {
 public:
  // Validates spec, then asks each layer's unit for its tensors in layer order; the readout last.
  explicit ParamTable(const ModelSpec& spec);
  // Appends a tensor at the end of the table (units call it while the table is built).
  void add(std::string name, ParamKind kind, int layer, std::vector<int> shape, bool trainable, ParamInit init,
           FhnParamMap map = FhnParamMap::kIdentity);
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

// Every tensor by its ParamInit, in table order (the units chose PyTorch's defaults: Linear weights
// and biases U(−1/√fan_in, 1/√fan_in), LayerNorm gamma 1 and beta 0, FHN parameters at the spec's
// values stored through the inverse of the tensor's map). Deterministic for a seed, on every machine.
void init_params(const ModelSpec& spec, const ParamTable& table, std::uint64_t seed, std::span<double> out);

// The parameters as the model uses them: every tensor's map applied to the stored values (a copy of
// `stored` when no map applies). What users read (best_params.json, inspect) is this.
std::vector<double> physical_params(const ParamTable& table, std::span<const double> stored);

}  // namespace dynpmnn
