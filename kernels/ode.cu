// GPU twins of ode.cpp: indexing and reductions only; the arithmetic is ode_math.h's. The sums run
// in one block in a fixed order (no atomics), so they are bit-reproducible.
#include "kernels/ode_gpu.h"

#include <stdexcept>
#include <string>

#include "common/cuda_check.h"
#include "common/cuda_launch.h"

namespace dynpmnn {

namespace {

__global__ void combine_kernel(const float* base, OdeTerms<float> terms, std::size_t n, float* out) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    out[i] = ode_combine_element(base, terms, i);
}

__global__ void concat_time_kernel(const float* __restrict__ y, float t, int B, int H, float* __restrict__ z) {
  const std::size_t n = static_cast<std::size_t>(B) * (H + 1);
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const std::size_t b = i / (H + 1);
    const int c = static_cast<int>(i % (H + 1));
    z[i] = c < H ? y[b * H + c] : t;
  }
}

__global__ void add_state_grad_kernel(const float* __restrict__ dz, int B, int H, float* __restrict__ dy) {
  const std::size_t n = static_cast<std::size_t>(B) * H;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const std::size_t b = i / H;
    dy[i] += dz[b * (H + 1) + i % H];
  }
}

// One block: each thread sums its strided elements in order, then a fixed tree.
__device__ void block_sum_store(double sum, double* out) {
  __shared__ double red[kThreads];
  red[threadIdx.x] = sum;
  __syncthreads();
  for (int width = kThreads / 2; width > 0; width >>= 1) {
    if (threadIdx.x < width) red[threadIdx.x] += red[threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0) *out = red[0];
}

__global__ void __launch_bounds__(kThreads)
    error_sq_sum_kernel(OdeTerms<float> err, const float* __restrict__ y0, const float* __restrict__ y1, std::size_t n,
                        double rtol, double atol, double* sum) {
  double s = 0.0;
  for (std::size_t i = threadIdx.x; i < n; i += kThreads)
    s += ode_error_term(ode_combine_element<float>(nullptr, err, i), y0[i], y1[i], rtol, atol);
  block_sum_store(s, sum);
}

__global__ void __launch_bounds__(kThreads)
    scaled_sq_sum_kernel(const float* __restrict__ x, const float* __restrict__ minus, const float* __restrict__ y0,
                         std::size_t n, double rtol, double atol, double* sum) {
  double s = 0.0;
  for (std::size_t i = threadIdx.x; i < n; i += kThreads)
    s += ode_scaled_term(x[i], minus ? minus[i] : 0.0f, y0[i], rtol, atol);
  block_sum_store(s, sum);
}

void require_terms(const OdeTerms<float>& terms, const char* op) {
  require(terms.count >= 0 && terms.count <= kOdeMaxTerms, op, "bad term count " + std::to_string(terms.count));
  for (int j = 0; j < terms.count; ++j) require(terms.x[j] != nullptr, op, "a term's array is null");
}

}  // namespace

void ode_combine_gpu(const float* base, const OdeTerms<float>& terms, std::size_t n, float* out, cudaStream_t stream) {
  if (n == 0) return;
  require(out != nullptr, "ode_combine_gpu", "out must not be null");
  require_terms(terms, "ode_combine_gpu");
  combine_kernel<<<stride_blocks(n), kThreads, 0, stream>>>(base, terms, n, out);
  DYNPMNN_CUDA_CHECK_LAUNCH("combine_kernel");
}

void ode_concat_time_gpu(const float* y, float t, int B, int H, float* z, cudaStream_t stream) {
  require(B >= 0 && H > 0, "ode_concat_time_gpu", "bad shape");
  if (B == 0) return;
  require(y && z, "ode_concat_time_gpu", "y and z must not be null");
  concat_time_kernel<<<stride_blocks(static_cast<std::size_t>(B) * (H + 1)), kThreads, 0, stream>>>(y, t, B, H, z);
  DYNPMNN_CUDA_CHECK_LAUNCH("concat_time_kernel");
}

void ode_add_state_grad_gpu(const float* dz, int B, int H, float* dy, cudaStream_t stream) {
  require(B >= 0 && H > 0, "ode_add_state_grad_gpu", "bad shape");
  if (B == 0) return;
  require(dz && dy, "ode_add_state_grad_gpu", "dz and dy must not be null");
  add_state_grad_kernel<<<stride_blocks(static_cast<std::size_t>(B) * H), kThreads, 0, stream>>>(dz, B, H, dy);
  DYNPMNN_CUDA_CHECK_LAUNCH("add_state_grad_kernel");
}

void ode_error_sq_sum_gpu(const OdeTerms<float>& err, const float* y0, const float* y1, std::size_t n, double rtol,
                          double atol, double* sum, cudaStream_t stream) {
  require(sum != nullptr, "ode_error_sq_sum_gpu", "sum must not be null");
  require(n == 0 || (y0 && y1), "ode_error_sq_sum_gpu", "y0 and y1 must not be null");
  require_terms(err, "ode_error_sq_sum_gpu");
  error_sq_sum_kernel<<<1, kThreads, 0, stream>>>(err, y0, y1, n, rtol, atol, sum);
  DYNPMNN_CUDA_CHECK_LAUNCH("error_sq_sum_kernel");
}

void ode_scaled_sq_sum_gpu(const float* x, const float* minus, const float* y0, std::size_t n, double rtol, double atol,
                           double* sum, cudaStream_t stream) {
  require(sum != nullptr, "ode_scaled_sq_sum_gpu", "sum must not be null");
  require(n == 0 || (x && y0), "ode_scaled_sq_sum_gpu", "x and y0 must not be null");
  scaled_sq_sum_kernel<<<1, kThreads, 0, stream>>>(x, minus, y0, n, rtol, atol, sum);
  DYNPMNN_CUDA_CHECK_LAUNCH("scaled_sq_sum_kernel");
}

}  // namespace dynpmnn
