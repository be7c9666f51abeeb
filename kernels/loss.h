// Classification loss, CPU reference (the GPU twin is loss.cu / loss_gpu.h; the per-row math is
// loss_math.h). Row-major; shapes in comments.
#pragma once

namespace dynpmnn {

// Mean over B rows of the softmax cross-entropy of logits (B, K) against labels (B), each the class
// index 0..K-1 as a number. Writes d mean / d logits (B, K) into dlogits when it is not null. NaN
// for a label that is no class. With denom > 0 the sum over the B rows is divided by denom instead
// of B: a data-parallel shard's part of the global minibatch's mean.
template <typename T>
double softmax_cross_entropy_cpu(const T* logits, const T* labels, int B, int K, T* dlogits, int denom = 0);

}  // namespace dynpmnn
