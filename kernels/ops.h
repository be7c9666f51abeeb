// CPU reference ops composed by the models (the GPU twins are in ops.cu / ops_gpu.h).
// Row-major throughout; shapes in comments.
#pragma once

#include <cstddef>

#include "kernels/elementwise_math.h"

namespace dynpmnn {

// y (B, out) = x (B, in) · Wᵀ (in, out) + bias (out); bias may be null.
template <typename T>
void dense_forward_cpu(const T* x, const T* W, const T* bias, int B, int in, int out, T* y);

// dx (B, in) = dy · W (may be null: not needed), dW (out, in) = dyᵀ · x, dbias (out) = Σ_B dy.
// Overwrites the outputs.
template <typename T>
void dense_backward_cpu(const T* x, const T* W, const T* dy, int B, int in, int out, T* dx, T* dW, T* dbias);

// Rows of D: y = LN(x)·gamma + beta. xhat (B, D) and rstd (B) are saved for the backward.
template <typename T>
void layernorm_forward_cpu(const T* x, const T* gamma, const T* beta, int B, int D, T* y, T* xhat, T* rstd);

// dx (B, D); dgamma, dbeta (D) overwritten with the batch sums.
template <typename T>
void layernorm_backward_cpu(const T* dy, const T* xhat, const T* rstd, const T* gamma, int B, int D, T* dx,
                            T* dgamma, T* dbeta);

// y = act(x), elementwise over n.
template <typename T>
void activation_forward_cpu(Activation act, const T* x, std::size_t n, T* y);
// dx = dy · act'(x); dx may alias dy.
template <typename T>
void activation_backward_cpu(Activation act, const T* x, const T* dy, std::size_t n, T* dx);

// Mean squared error over n values; writes d loss / d pred into dpred when it is not null. With
// denom > 0 the sum is divided by denom instead of n: a data-parallel shard's part of the global
// minibatch's mean (host/runtime/backend.h, shard_begin).
template <typename T>
double mse_loss_cpu(const T* pred, const T* target, std::size_t n, T* dpred, std::size_t denom = 0);

}  // namespace dynpmnn
