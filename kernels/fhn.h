// The FitzHugh–Nagumo layer op by its parameters' names (a, b, g, I) and states' (v, w): the
// generic neuron op of kernels/neuron.h for the model of kernels/neurons/fhn.h, on the CPU (fhn.cpp,
// any float type) and the GPU (fhn_gpu.h, float). The Python C ABI, the benchmarks and the FHN
// tests call it.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

#include "kernels/neuron.h"
#include "kernels/neurons/fhn.h"

namespace dynpmnn {

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

// The generic op's view of the FHN op's arguments: the parameters in the model's order, and the
// shape with FitzHugh–Nagumo's layout (two states, both coupled, both read out).
template <typename T>
NeuronParamPtrs<T> fhn_neuron_params(FhnParamPtrs<T> p) {
  NeuronParamPtrs<T> q;
  q.p[0] = p.a;
  q.p[1] = p.b;
  q.p[2] = p.g;
  q.p[3] = p.I;
  return q;
}
template <typename T>
NeuronGradPtrs<T> fhn_neuron_grads(FhnGradPtrs<T> g) {
  NeuronGradPtrs<T> q;
  q.p[0] = g.a;
  q.p[1] = g.b;
  q.p[2] = g.g;
  q.p[3] = g.I;
  return q;
}
inline NeuronShape fhn_layout(NeuronShape s) {
  s.states = FitzHughNagumo::kStates;
  s.coupled = FitzHughNagumo::kCoupled;
  s.voltage_readout = false;
  return s;
}

// in: (P, B, input_width). out: (P, B, 2N) = [v_T | w_T] per sample. ckpt_v, ckpt_w:
// (checkpoint_elems) or null for inference. Returns false if any output is NaN or ±Inf. Model m of a
// population computes exactly what a lone model (P = 1) with its step, parameters and rows would.
template <typename T>
bool fhn_forward_cpu(const NeuronShape& s, const T* in, FhnParamPtrs<T> p, T* out, T* ckpt_v, T* ckpt_w);

// d_out: (P, B, 2N). d_in: (P, B, input_width), overwritten. d_params: (P, N) each, overwritten
// with each model's batch sum; a null member skips that parameter (frozen).
template <typename T>
void fhn_backward_cpu(const NeuronShape& s, const T* in, FhnParamPtrs<T> p, const T* ckpt_v,
                      const T* ckpt_w, const T* d_out, T* d_in, FhnGradPtrs<T> d_params);

}  // namespace dynpmnn
