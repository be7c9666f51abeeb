// GPU twin of loss.cpp: the per-row math is loss_math.h's; this file holds the indexing and the
// fixed-order batch sum.
#include "kernels/loss_gpu.h"

#include <cstddef>
#include <string>

#include "common/cuda_check.h"
#include "common/cuda_launch.h"
#include "kernels/loss_math.h"

namespace dynpmnn {

namespace {

__global__ void __launch_bounds__(kThreads)
    softmax_cross_entropy_kernel(const float* __restrict__ logits, const float* __restrict__ labels, int B, int K,
                                 float* __restrict__ dlogits, double* __restrict__ loss, int denom) {
  __shared__ double red[kThreads];
  const double scale = 1.0 / static_cast<double>(denom);
  double sum = 0.0;
  for (int i = threadIdx.x; i < B; i += kThreads) {
    const std::size_t at = static_cast<std::size_t>(i) * K;
    sum += softmax_cross_entropy_row(logits + at, K, static_cast<double>(labels[i]), scale,
                                     dlogits ? dlogits + at : nullptr);
  }
  red[threadIdx.x] = sum;
  __syncthreads();
  for (int width = kThreads / 2; width > 0; width >>= 1) {
    if (threadIdx.x < width) red[threadIdx.x] += red[threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0) *loss = red[0] * scale;
}

}  // namespace

void softmax_cross_entropy_gpu(const float* logits, const float* labels, int B, int K, float* dlogits, double* loss,
                               cudaStream_t stream, int denom) {
  constexpr const char* op = "softmax_cross_entropy_gpu";
  require(loss != nullptr, op, "loss must not be null");
  require(B >= 0 && K >= 1, op, "bad shape B=" + std::to_string(B) + " K=" + std::to_string(K));
  require(B == 0 || (logits != nullptr && labels != nullptr), op, "logits and labels must not be null");
  if (B == 0) {
    DYNPMNN_CUDA_CHECK(cudaMemsetAsync(loss, 0, sizeof(double), stream));
    return;
  }
  softmax_cross_entropy_kernel<<<1, kThreads, 0, stream>>>(logits, labels, B, K, dlogits, loss,
                                                           denom > 0 ? denom : B);
  DYNPMNN_CUDA_CHECK_LAUNCH("softmax_cross_entropy_kernel");
}

}  // namespace dynpmnn
