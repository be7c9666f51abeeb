// A fifth neuron model that exists only in the tests: three states, two of them set by
// initial-condition coupling, no semi-implicit step. test_neuron_toy_model.cpp registers it in the
// CPU test binary and test_gpu_neuron_toy_model.cu, with its CUDA kernels, in the GPU one; it then
// gets every check that goes over neuron_model_names() with no edit anywhere else: the proof that a
// model is one header's worth of code.
//
//   dx/dt = I − α·x − y − x·z,   dy/dt = β (x − y),   dz/dt = γ (tanh x − z)
//
// a damped oscillator (x, y) whose damping z grows with the activity.
#pragma once

#include <cmath>

#include "kernels/neuron_math.h"

namespace dynpmnn::testing {

struct ToyResonator {
  static constexpr const char* kName = "toy_resonator";
  static constexpr int kStates = 3;
  static constexpr int kParams = 4;
  static constexpr int kCoupled = 2;
  static constexpr int kCurrentParam = 3;
  static constexpr bool kSemiImplicit = false;
  static constexpr NeuronParamInfo kParamInfo[kParams] = {
      {"alpha", 0.5, FhnParamMap::kSoftplus, "leak of x, > 0"},
      {"beta", 1.0, FhnParamMap::kSoftplus, "rate of y, > 0"},
      {"gamma", 0.3, FhnParamMap::kSigmoid, "rate of the damping z, in (0, 1)"},
      {"I", 0.0, FhnParamMap::kIdentity, "constant input current"},
  };
  static constexpr NeuronStateInfo kStateInfo[kStates] = {{"x", 0.0}, {"y", 0.0}, {"z", 0.0}};

  template <typename T>
  static DYNPMNN_HD void field(const T (&s)[3], const T (&p)[4], T current, T (&f)[3]) {
    f[0] = current - p[0] * s[0] - s[1] - s[0] * s[2];
    f[1] = p[1] * (s[0] - s[1]);
    f[2] = p[2] * (tanh(s[0]) - s[2]);
  }

  template <typename T>
  static DYNPMNN_HD void field_vjp(const T (&s)[3], const T (&p)[4], T, const T (&lf)[3], T (&ls)[3], T (&lp)[4],
                                   T& lcur) {
    const T t = tanh(s[0]);
    ls[0] += lf[0] * (-p[0] - s[2]) + lf[1] * p[1] + lf[2] * p[2] * (T(1) - t * t);
    ls[1] += -lf[0] - p[1] * lf[1];
    ls[2] += -s[0] * lf[0] - p[2] * lf[2];
    lp[0] -= s[0] * lf[0];
    lp[1] += (s[0] - s[1]) * lf[1];
    lp[2] += (t - s[2]) * lf[2];
    lcur += lf[0];
  }
};

}  // namespace dynpmnn::testing
