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

struct FhnShape {
  int batch = 0;
  int neurons = 0;
  int steps = 0;
  double dt = 0;
  double clip = 0;  // <= 0: no clamping
  Coupling coupling = Coupling::kInitialCondition;
  Integrator integrator = Integrator::kEuler;

  int input_width() const { return coupling == Coupling::kInitialCondition ? 2 * neurons : neurons; }
  int output_width() const { return 2 * neurons; }
  // Elements of each of the two checkpoint arrays (v and w): (checkpoints, batch, neurons).
  std::size_t checkpoint_elems() const {
    return static_cast<std::size_t>(fhn_num_checkpoints(steps)) * batch * neurons;
  }
  void validate() const;  // throws std::invalid_argument with what is wrong
};

// Per-neuron parameters, each (N).
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

// in: (B, input_width). out: (B, 2N) = [v_T | w_T]. ckpt_v, ckpt_w: (checkpoint_elems) or null
// for inference. Returns false if any output is NaN or ±Inf.
template <typename T>
bool fhn_forward_cpu(const FhnShape& s, const T* in, FhnParamPtrs<T> p, T* out, T* ckpt_v, T* ckpt_w);

// d_out: (B, 2N). d_in: (B, input_width), overwritten. d_params: (N) each, overwritten with the
// batch sum; a null member skips that parameter (frozen).
template <typename T>
void fhn_backward_cpu(const FhnShape& s, const T* in, FhnParamPtrs<T> p, const T* ckpt_v,
                      const T* ckpt_w, const T* d_out, T* d_in, FhnGradPtrs<T> d_params);

}  // namespace dynpmnn
