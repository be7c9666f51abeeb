// The GPU twin of loss.h (loss.cu), float32 logits, asynchronous on the given stream.
#pragma once

#include <cuda_runtime.h>

namespace dynpmnn {

// *loss (device) = mean over B rows of the softmax cross-entropy of logits (B, K) against labels
// (B), class indices as floats; dlogits (B, K) = d loss / d logits when not null, as
// softmax_cross_entropy_cpu. One block: each thread sums its rows in order, then a fixed-order tree
// sums the threads, so the loss is bit-reproducible (no atomics). With denom > 0 the sum is divided
// by denom instead of B (a data-parallel shard's part of the global minibatch's mean).
void softmax_cross_entropy_gpu(const float* logits, const float* labels, int B, int K, float* dlogits, double* loss,
                               cudaStream_t stream, int denom = 0);

}  // namespace dynpmnn
