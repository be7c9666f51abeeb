// The neuron layer op, forward and backward, for any neuron model of kernels/neurons/ (the model is
// the template parameter M; kernels/neuron_math.h describes the interface): on the CPU
// (neuron_cpu.h, any float type) and on the GPU (neuron_gpu.h, float). Both run neuron_math.h's
// trajectories per (sample, neuron); only indexing and the batch reduction of the parameter
// gradients differ.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

#include "kernels/neuron_math.h"

namespace dynpmnn {

enum class Coupling : int {
  // The layer's Linear gives kCoupled·N values per sample: the initial values of the model's first
  // kCoupled states (FitzHugh–Nagumo: v0 for the first N, w0 for the last N; the paper's). The
  // other states start at the model's resting values.
  kInitialCondition = 0,
  // The Linear gives N values: each neuron's input current, added to its constant current
  // parameter; every state starts at the model's resting value (FitzHugh–Nagumo: v0 = w0 = 0).
  kCurrent = 1,
};

const char* to_string(Coupling c);
Coupling coupling_from_string(const std::string& s);  // throws std::invalid_argument naming s
const char* to_string(Integrator i);
Integrator integrator_from_string(const std::string& s);  // throws std::invalid_argument naming s

// The state variables of one FitzHugh–Nagumo neuron (v, w).
inline constexpr int kFhnStates = 2;

// What may differ between the models of a population that share one layer architecture (the
// population issue): each model's time step, step count and clamp.
struct NeuronModelStep {
  double dt = 0;
  int steps = 0;
  double clip = 0;  // <= 0: no clamping
};

struct NeuronShape {
  // P models side by side, each with its own parameters, inputs and outputs: the arrays gain a
  // leading model axis (in (P, B, input_width), out (P, B, output_width), every parameter (P, N),
  // checkpoints (checkpoints, P, B, N) per state). 1 is a lone model.
  int models = 1;
  int batch = 0;
  int neurons = 0;
  int steps = 0;
  double dt = 0;
  double clip = 0;  // <= 0: no clamping
  Coupling coupling = Coupling::kInitialCondition;
  Integrator integrator = Integrator::kEuler;
  // The neuron model's layout: its state count, how many leading states initial-condition coupling
  // sets (both M's constants; the op checks them), and whether the output is the voltage x[0]
  // only (N values per sample) or every state (states · N, state-major: [x0_T | x1_T | ...]).
  int states = kFhnStates;
  int coupled = kFhnStates;
  bool voltage_readout = false;
  // (models) host array: model m's dt, steps and clip; null: every model has the three above.
  const NeuronModelStep* per_model = nullptr;
  // (models) device array holding per_model's values, which the CUDA op's kernels read (the host
  // array stays the one the op checks and sizes by); the caller uploads it, once for a population.
  // Needed by the CUDA op where models > 1 and per_model is set; the CPU op ignores it.
  const NeuronModelStep* per_model_device = nullptr;

  NeuronModelStep step_of(int model) const {
    return per_model ? per_model[model] : NeuronModelStep{dt, steps, clip};
  }
  int max_steps() const;
  int input_width() const { return coupling == Coupling::kInitialCondition ? coupled * neurons : neurons; }
  int output_width() const { return voltage_readout ? neurons : states * neurons; }
  // Elements of each state's checkpoint array: (checkpoints of the longest model, models, batch,
  // neurons); a model with fewer steps uses the first of them.
  std::size_t checkpoint_elems() const {
    return static_cast<std::size_t>(fhn_num_checkpoints(max_steps())) * models * batch * neurons;
  }
  void validate() const;  // throws std::invalid_argument with what is wrong
};

// A neuron shape with model M's layout.
template <class M>
NeuronShape neuron_shape_of() {
  NeuronShape s;
  s.states = M::kStates;
  s.coupled = M::kCoupled;
  return s;
}

// Per-neuron parameters, in the model's order: kParams arrays of (N), or (P, N) for a population.
template <typename T>
struct NeuronParamPtrs {
  const T* p[kMaxNeuronParams] = {};
};
// Their gradients, likewise; a null member skips that parameter (frozen).
template <typename T>
struct NeuronGradPtrs {
  T* p[kMaxNeuronParams] = {};
  bool any() const {
    for (T* q : p)
      if (q) return true;
    return false;
  }
};
// One checkpoint array per state, each (checkpoint_elems); all null for inference.
template <typename T>
struct NeuronCheckpoints {
  T* plane[kMaxNeuronStates] = {};
};

// in: (P, B, input_width). out: (P, B, output_width). Returns false if any output is NaN or ±Inf.
// Model m of a population computes exactly what a lone model (P = 1) with its step, parameters and
// rows would. Defined in neuron_cpu.h, instantiated for the built-in models in neuron.cpp.
template <class M, typename T>
bool neuron_forward_cpu(const NeuronShape& s, const T* in, NeuronParamPtrs<T> p, T* out, NeuronCheckpoints<T> ck);

// d_out: (P, B, output_width). d_in: (P, B, input_width), overwritten. d_params: (P, N) each,
// overwritten with each model's batch sum.
template <class M, typename T>
void neuron_backward_cpu(const NeuronShape& s, const T* in, NeuronParamPtrs<T> p, NeuronCheckpoints<const T> ck,
                         const T* d_out, T* d_in, NeuronGradPtrs<T> d_params);

}  // namespace dynpmnn
