// The CfC cell head on the GPU: the twin of cfc.cpp. A grid-stride loop over the (sample, unit)
// pairs; consecutive threads take consecutive units of a row, so each of the four reads is coalesced.
#include "kernels/cfc_gpu.h"

#include <cstddef>
#include <string>

#include "common/cuda_check.h"
#include "common/cuda_launch.h"
#include "kernels/cfc_math.h"

namespace dynpmnn {

namespace {

void require_shape(const char* op, int B, int U) {
  require(B >= 0 && U > 0, op, "bad shape B=" + std::to_string(B) + " U=" + std::to_string(U));
}

__global__ void cfc_forward_kernel(const float* __restrict__ z, int U, std::size_t n, float t,
                                   float* __restrict__ out) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const std::size_t b = i / U, j = i % U;
    const float* row = z + b * 4 * U;
    out[i] = cfc_unit_forward(row[j], row[U + j], row[2 * U + j], row[3 * U + j], t);
  }
}

__global__ void cfc_backward_kernel(const float* __restrict__ z, const float* __restrict__ d_out, int U,
                                    std::size_t n, float t, float* __restrict__ dz) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const std::size_t b = i / U, j = i % U;
    const std::size_t base = b * 4 * U;
    const float* row = z + base;
    const CfcUnitGrad<float> g = cfc_unit_backward(row[j], row[U + j], row[2 * U + j], row[3 * U + j], t, d_out[i]);
    dz[base + j] = g.ff1;
    dz[base + U + j] = g.ff2;
    dz[base + 2 * U + j] = g.t_a;
    dz[base + 3 * U + j] = g.t_b;
  }
}

}  // namespace

void cfc_forward_gpu(const float* z, int B, int U, float t, float* out, cudaStream_t stream) {
  require_shape("cfc_forward_gpu", B, U);
  if (B == 0) return;
  require(z && out, "cfc_forward_gpu", "z and out must not be null");
  const std::size_t n = static_cast<std::size_t>(B) * U;
  cfc_forward_kernel<<<stride_blocks(n), kThreads, 0, stream>>>(z, U, n, t, out);
  DYNPMNN_CUDA_CHECK_LAUNCH("cfc_forward_kernel");
}

void cfc_backward_gpu(const float* z, const float* d_out, int B, int U, float t, float* dz, cudaStream_t stream) {
  require_shape("cfc_backward_gpu", B, U);
  if (B == 0) return;
  require(z && d_out && dz, "cfc_backward_gpu", "z, d_out and dz must not be null");
  require(dz != z, "cfc_backward_gpu", "dz must not alias z");
  const std::size_t n = static_cast<std::size_t>(B) * U;
  cfc_backward_kernel<<<stride_blocks(n), kThreads, 0, stream>>>(z, d_out, U, n, t, dz);
  DYNPMNN_CUDA_CHECK_LAUNCH("cfc_backward_kernel");
}

}  // namespace dynpmnn
