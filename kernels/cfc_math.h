// Per-(sample, unit) arithmetic of the closed-form continuous-time (CfC) cell head, shared by the
// CPU reference (cfc.cpp) and the CUDA kernels (cfc.cu).
//
// ncps's CfCCell, mode "default" (Hasani et al. 2022, "Closed-form continuous-time neural networks"):
// from the backbone's features x, four linear maps give ff1, ff2, t_a, t_b per unit, and
//   s   = σ(t_a·t + t_b)                      (ncps: t_interp, t the elapsed time)
//   out = tanh(ff1)·(1 − s) + s·tanh(ff2)
// so s → 0 keeps the first branch, s → 1 the second; the sign convention is ncps's.
#pragma once

#include <cmath>

#include "kernels/hd.h"

namespace dynpmnn {

template <typename T>
DYNPMNN_HD T cfc_gate(T t_a, T t_b, T t) {
  return T(1) / (T(1) + exp(-(t_a * t + t_b)));
}

template <typename T>
DYNPMNN_HD T cfc_unit_forward(T ff1, T ff2, T t_a, T t_b, T t) {
  const T s = cfc_gate(t_a, t_b, t);
  return tanh(ff1) * (T(1) - s) + s * tanh(ff2);
}

// The four pre-activation gradients of one unit from d out, recomputing the forward's values.
template <typename T>
struct CfcUnitGrad {
  T ff1, ff2, t_a, t_b;
};

template <typename T>
DYNPMNN_HD CfcUnitGrad<T> cfc_unit_backward(T ff1, T ff2, T t_a, T t_b, T t, T d_out) {
  const T s = cfc_gate(t_a, t_b, t);
  const T a = tanh(ff1);
  const T c = tanh(ff2);
  const T d_pre = d_out * (c - a) * s * (T(1) - s);  // through s = σ(t_a·t + t_b)
  return CfcUnitGrad<T>{d_out * (T(1) - s) * (T(1) - a * a), d_out * s * (T(1) - c * c), d_pre * t, d_pre};
}

}  // namespace dynpmnn
