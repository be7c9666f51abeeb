// Per-element and per-row arithmetic shared by the CPU reference and the CUDA kernels:
// activations, LayerNorm, MSE and Adam. See neuron_math.h for the pattern.
#pragma once

#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/hd.h"

namespace dynpmnn {

// kRelu and kLecunTanh serve the baselines (docs/baselines.md): the paper's DNN uses ReLU, ncps's CfC
// backbone LeCun's scaled tanh 1.7159·tanh(0.666·x).
enum class Activation : int { kSiLU = 0, kTanh = 1, kIdentity = 2, kRelu = 3, kLecunTanh = 4 };

inline constexpr double kLecunScale = 1.7159;
inline constexpr double kLecunSlope = 0.666;

const char* to_string(Activation a);
Activation activation_from_string(const std::string& s);  // throws naming s

template <typename T>
DYNPMNN_HD T sigmoid(T x) {
  return T(1) / (T(1) + exp(-x));
}

template <typename T>
DYNPMNN_HD T activation_forward(Activation act, T x) {
  switch (act) {
    case Activation::kSiLU: return x * sigmoid(x);
    case Activation::kTanh: return tanh(x);
    case Activation::kIdentity: return x;
    case Activation::kRelu: return x > T(0) ? x : T(0);
    case Activation::kLecunTanh: return T(kLecunScale) * tanh(T(kLecunSlope) * x);
  }
  return x;
}

// d act(x) / dx, from the pre-activation x.
template <typename T>
DYNPMNN_HD T activation_derivative(Activation act, T x) {
  switch (act) {
    case Activation::kSiLU: {
      const T s = sigmoid(x);
      return s * (T(1) + x * (T(1) - s));
    }
    case Activation::kTanh: {
      const T t = tanh(x);
      return T(1) - t * t;
    }
    case Activation::kIdentity: return T(1);
    case Activation::kRelu: return x > T(0) ? T(1) : T(0);  // 0 at x = 0, as torch
    case Activation::kLecunTanh: {
      const T t = tanh(T(kLecunSlope) * x);
      return T(kLecunScale * kLecunSlope) * (T(1) - t * t);
    }
  }
  return T(1);
}

// LayerNorm over one row of D values, as torch.nn.LayerNorm (biased variance, eps inside the root).
inline constexpr double kLayerNormEps = 1e-5;

// Writes the normalised row xhat (before gamma/beta) and returns 1/sqrt(var + eps).
template <typename T>
DYNPMNN_HD T layernorm_row_forward(const T* x, int D, const T* gamma, const T* beta, T* y, T* xhat) {
  T mean = 0;
  for (int i = 0; i < D; ++i) mean += x[i];
  mean /= T(D);
  T var = 0;
  for (int i = 0; i < D; ++i) {
    const T d = x[i] - mean;
    var += d * d;
  }
  var /= T(D);
  const T rstd = T(1) / sqrt(var + T(kLayerNormEps));
  for (int i = 0; i < D; ++i) {
    const T xh = (x[i] - mean) * rstd;
    xhat[i] = xh;
    y[i] = xh * gamma[i] + beta[i];
  }
  return rstd;
}

// dx of one row from dy, the saved xhat and rstd. Does not touch the gamma/beta gradients (the
// caller sums dy·xhat and dy over the batch).
template <typename T>
DYNPMNN_HD void layernorm_row_backward(const T* dy, const T* xhat, T rstd, const T* gamma, int D, T* dx) {
  T mean_g = 0, mean_gx = 0;
  for (int i = 0; i < D; ++i) {
    const T gi = dy[i] * gamma[i];
    mean_g += gi;
    mean_gx += gi * xhat[i];
  }
  mean_g /= T(D);
  mean_gx /= T(D);
  for (int i = 0; i < D; ++i) dx[i] = rstd * (dy[i] * gamma[i] - mean_g - xhat[i] * mean_gx);
}

// Adam as torch.optim.Adam (weight_decay is L2 added to the gradient, not AdamW). step >= 1.
struct AdamHyper {
  double lr = 5e-4;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
};

template <typename T>
DYNPMNN_HD void adam_update(T& param, T grad, T& m, T& v, T lr, T beta1, T beta2, T eps, T weight_decay,
                            T bias_correction1, T bias_correction2_sqrt) {
  grad += weight_decay * param;
  m = beta1 * m + (T(1) - beta1) * grad;
  v = beta2 * v + (T(1) - beta2) * grad * grad;
  const T denom = sqrt(v) / bias_correction2_sqrt + eps;
  param -= (lr / bias_correction1) * m / denom;
}

}  // namespace dynpmnn
