// The FitzHugh–Nagumo layer op, forward and backward, on the CPU (fhn.cpp, any float type) and on
// the GPU (fhn.cu, float). Both run fhn_math.h per (sample, neuron); only indexing and the batch
// reduction of the parameter gradients differ.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

#include "kernels/fhn_math.h"

namespace dynpmnn {

enum class Coupling : int {
  // The layer's Linear gives 2N values per sample: v0 (first N) and w0 (last N). The paper's.
  kInitialCondition = 0,
  // The Linear gives N values: each neuron's input current, added to its I; v0 = w0 = 0.
  kCurrent = 1,
};

const char* to_string(Coupling c);
Coupling coupling_from_string(const std::string& s);  // throws std::invalid_argument naming s
const char* to_string(Integrator i);
Integrator integrator_from_string(const std::string& s);  // throws std::invalid_argument naming s

// The state variables of one neuron (v, w): the op's output per sample is kFhnStates · N values,
// state-major ([v_T | w_T]); the checkpoints are one plane per state. A neuron model with another
// number of states (the neuron-model issue) changes this count and the math header, not the layout.
inline constexpr int kFhnStates = 2;

// What may differ between the models of a population that share one layer architecture (the
// population issue): each model's time step, step count and clamp.
struct FhnModelStep {
  double dt = 0;
  int steps = 0;
  double clip = 0;  // <= 0: no clamping
};

struct FhnShape {
  // P models side by side, each with its own parameters, inputs and outputs: the arrays gain a
  // leading model axis (in (P, B, input_width), out (P, B, output_width), every parameter (P, N),
  // checkpoints (checkpoints, P, B, N) per state). 1 is a lone model, the only case the CUDA op
  // takes so far.
  int models = 1;
  int batch = 0;
  int neurons = 0;
  int steps = 0;
  double dt = 0;
  double clip = 0;  // <= 0: no clamping
  Coupling coupling = Coupling::kInitialCondition;
  Integrator integrator = Integrator::kEuler;
  // (models) host array: model m's dt, steps and clip; null: every model has the three above.
  const FhnModelStep* per_model = nullptr;

  FhnModelStep step_of(int model) const { return per_model ? per_model[model] : FhnModelStep{dt, steps, clip}; }
  int max_steps() const;
  int input_width() const { return coupling == Coupling::kInitialCondition ? kFhnStates * neurons : neurons; }
  int output_width() const { return kFhnStates * neurons; }
  // Elements of each state's checkpoint array: (checkpoints of the longest model, models, batch,
  // neurons); a model with fewer steps uses the first of them.
  std::size_t checkpoint_elems() const {
    return static_cast<std::size_t>(fhn_num_checkpoints(max_steps())) * models * batch * neurons;
  }
  void validate() const;  // throws std::invalid_argument with what is wrong
};

// Per-neuron parameters, each (N), or (P, N) for a population.
template <typename T>
struct FhnParamPtrs {
  const T* a;
  const T* b;
  const T* g;
  const T* I;
};
template <typename T>
struct FhnGradPtrs {
  T* a;
  T* b;
  T* g;
  T* I;
};

// in: (P, B, input_width). out: (P, B, 2N) = [v_T | w_T] per sample. ckpt_v, ckpt_w:
// (checkpoint_elems) or null for inference. Returns false if any output is NaN or ±Inf. Model m of a
// population computes exactly what a lone model (P = 1) with its step, parameters and rows would.
template <typename T>
bool fhn_forward_cpu(const FhnShape& s, const T* in, FhnParamPtrs<T> p, T* out, T* ckpt_v, T* ckpt_w);

// d_out: (P, B, 2N). d_in: (P, B, input_width), overwritten. d_params: (P, N) each, overwritten
// with each model's batch sum; a null member skips that parameter (frozen).
template <typename T>
void fhn_backward_cpu(const FhnShape& s, const T* in, FhnParamPtrs<T> p, const T* ckpt_v,
                      const T* ckpt_w, const T* d_out, T* d_in, FhnGradPtrs<T> d_params);

}  // namespace dynpmnn
