// Softmax cross-entropy of one row of K logits against its class: the per-row arithmetic that the
// CPU reference (loss.cpp) and the CUDA kernel (loss.cu) share, in double whatever the logits' type.
// The log-sum-exp is taken around the row's largest logit, so logits of any size give a finite loss
// (exp never sees a positive argument) and a gradient in [-1, 1] · scale.
#pragma once

#include <cmath>

#include "kernels/hd.h"

namespace dynpmnn {

// The class a label value names, or -1 when it is not an integer in [0, K) (NaN included).
DYNPMNN_HD int class_of_label(double label, int K) {
  if (!(label >= 0.0) || !(label < static_cast<double>(K))) return -1;
  const int k = static_cast<int>(label);
  return static_cast<double>(k) == label ? k : -1;
}

// −log softmax(logits)[label] = logsumexp(logits) − logits[label]. With dlogits not null, writes
// scale · (softmax(logits) − onehot(label)) into it (scale = 1/B for a batch mean). A label that is
// no class gives NaN loss and NaN gradient, so training stops on it as on any non-finite value.
template <typename T>
DYNPMNN_HD double softmax_cross_entropy_row(const T* logits, int K, double label, double scale, T* dlogits) {
  const int k_true = class_of_label(label, K);
  if (k_true < 0) {
    if (dlogits)
      for (int k = 0; k < K; ++k) dlogits[k] = static_cast<T>(NAN);
    return NAN;
  }
  double top = static_cast<double>(logits[0]);
  for (int k = 1; k < K; ++k) top = fmax(top, static_cast<double>(logits[k]));
  double sum = 0.0;
  for (int k = 0; k < K; ++k) sum += exp(static_cast<double>(logits[k]) - top);
  const double log_sum = log(sum);
  if (dlogits)
    for (int k = 0; k < K; ++k) {
      const double p = exp(static_cast<double>(logits[k]) - top - log_sum);
      dlogits[k] = static_cast<T>(scale * (p - (k == k_true ? 1.0 : 0.0)));
    }
  return top + log_sum - static_cast<double>(logits[k_true]);
}

// softmax(logits) into probs (K), stable as above.
template <typename T>
DYNPMNN_HD void softmax_row(const T* logits, int K, double* probs) {
  double top = static_cast<double>(logits[0]);
  for (int k = 1; k < K; ++k) top = fmax(top, static_cast<double>(logits[k]));
  double sum = 0.0;
  for (int k = 0; k < K; ++k) sum += (probs[k] = exp(static_cast<double>(logits[k]) - top));
  for (int k = 0; k < K; ++k) probs[k] /= sum;
}

}  // namespace dynpmnn
