// The maps from a stored (unconstrained) FitzHugh–Nagumo parameter θ to the physical value the FHN
// layer uses, shared by the CPU op (fhn_param_map.cpp) and the CUDA kernels (fhn_param_map.cu).
//
// With fhn_param_space = "physical" a trained parameter is stored as θ and used as
//   a = sigmoid(θ_a) ∈ (0, 1),   b = softplus(θ_b) > 0,   g = softplus(θ_g) > 0,   I = θ_I,
// so no optimiser step, however large, leaves the physical range; docs/integrators.md says why
// these maps. A frozen parameter, or any parameter with fhn_param_space = "raw", is the identity.
#pragma once

#include <cmath>

#include "kernels/hd.h"

namespace dynpmnn {

enum class FhnParamMap : int {
  kIdentity = 0,  // stored value = physical value
  kSigmoid = 1,   // physical = 1 / (1 + e^-θ), in (0, 1)
  kSoftplus = 2,  // physical = log(1 + e^θ), > 0
};

// Both forms without overflow: e^-|θ| is at most 1.
template <typename T>
DYNPMNN_HD T fhn_map_sigmoid(T x) {
  const T e = exp(-fabs(x));
  return x >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
}

template <typename T>
DYNPMNN_HD T fhn_map_softplus(T x) {
  return (x > T(0) ? x : T(0)) + log1p(exp(-fabs(x)));
}

template <typename T>
DYNPMNN_HD T fhn_param_map_forward(FhnParamMap map, T x) {
  switch (map) {
    case FhnParamMap::kSigmoid: return fhn_map_sigmoid(x);
    case FhnParamMap::kSoftplus: return fhn_map_softplus(x);
    case FhnParamMap::kIdentity: break;
  }
  return x;
}

// d physical / d θ at θ = x: σ(1 − σ) for the sigmoid, σ(x) for the softplus. σ(1 − σ) is
// written as e/(1 + e)² with e = e^-|x|: the product form loses the relative precision of 1 − σ
// where σ is near 1 (float on the GPU was 1e-5 off there).
template <typename T>
DYNPMNN_HD T fhn_param_map_derivative(FhnParamMap map, T x) {
  switch (map) {
    case FhnParamMap::kSigmoid: {
      const T e = exp(-fabs(x));
      const T one_plus = T(1) + e;
      return e / (one_plus * one_plus);
    }
    case FhnParamMap::kSoftplus: return fhn_map_sigmoid(x);
    case FhnParamMap::kIdentity: break;
  }
  return T(1);
}

// θ for a physical value, host side (initialisation): logit, and the softplus inverse written as
// y + log(1 − e^-y), exact for small y (≈ log y) and for large y (≈ y) alike. The caller checks the
// range (a in (0, 1), b and g > 0).
inline double fhn_param_map_inverse(FhnParamMap map, double y) {
  switch (map) {
    case FhnParamMap::kSigmoid: return std::log(y) - std::log1p(-y);
    case FhnParamMap::kSoftplus: return y + std::log(-std::expm1(-y));
    case FhnParamMap::kIdentity: break;
  }
  return y;
}

// Whether y is a value the map can produce.
inline bool fhn_param_map_in_range(FhnParamMap map, double y) {
  switch (map) {
    case FhnParamMap::kSigmoid: return y > 0 && y < 1;
    case FhnParamMap::kSoftplus: return y > 0 && std::isfinite(y);
    case FhnParamMap::kIdentity: break;
  }
  return std::isfinite(y);
}

}  // namespace dynpmnn
