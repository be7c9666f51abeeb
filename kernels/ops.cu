// GPU twins of ops.cpp. Per-element arithmetic comes from elementwise_math.h and shuffle_math.h;
// this file holds the indexing and the reductions, each of which sums in a fixed order so that a
// training run is bit-reproducible for a seed (no floating-point atomics anywhere).
#include "kernels/ops_gpu.h"

#include <cub/device/device_radix_sort.cuh>

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <string>

#include "common/cuda_check.h"
#include "common/cuda_launch.h"
#include "kernels/shuffle_math.h"

namespace dynpmnn {

namespace {

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = kThreads / kWarp;  // LayerNorm: one warp per row
constexpr std::size_t kCublasWorkspaceBytes = 32u << 20;  // cuBLAS's recommendation for Hopper

// All lanes end with the same value: IEEE addition is commutative, so partners add the same pair.
__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset >>= 1) x += __shfl_xor_sync(0xffffffffu, x, offset);
  return x;
}

__global__ void bias_add_kernel(float* __restrict__ y, const float* __restrict__ bias, std::size_t rows, int cols) {
  const std::size_t n = rows * static_cast<std::size_t>(cols);
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    y[i] += bias[i % cols];
}

// Block (cw columns × 256/cw row lanes), one block per cw columns: each thread sums its rows in
// order, then row lane 0 sums the lanes in order.
__global__ void __launch_bounds__(kThreads)
    column_sums_kernel(const float* __restrict__ a, const float* __restrict__ b, int rows, int cols,
                       float* __restrict__ sum_ab, float* __restrict__ sum_a) {
  __shared__ float red_ab[kThreads];
  __shared__ float red_a[kThreads];
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  float s_ab = 0.0f, s_a = 0.0f;
  if (c < cols) {
    for (int r = threadIdx.y; r < rows; r += blockDim.y) {
      const std::size_t at = static_cast<std::size_t>(r) * cols + c;
      const float av = a[at];
      s_a += av;
      if (b) s_ab += av * b[at];
    }
  }
  const int t = threadIdx.y * blockDim.x + threadIdx.x;
  red_ab[t] = s_ab;
  red_a[t] = s_a;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    float tot_ab = 0.0f, tot_a = 0.0f;
    for (int y = 0; y < static_cast<int>(blockDim.y); ++y) {
      tot_ab += red_ab[y * blockDim.x + threadIdx.x];
      tot_a += red_a[y * blockDim.x + threadIdx.x];
    }
    if (sum_ab) sum_ab[c] = tot_ab;
    if (sum_a) sum_a[c] = tot_a;
  }
}

// The arithmetic of layernorm_row_forward (elementwise_math.h), its sums spread over a warp.
__global__ void __launch_bounds__(kThreads)
    layernorm_forward_kernel(const float* __restrict__ x, const float* __restrict__ gamma,
                             const float* __restrict__ beta, int B, int D, float* __restrict__ y,
                             float* __restrict__ xhat, float* __restrict__ rstd_out) {
  const int lane = threadIdx.x % kWarp;
  const long long row = static_cast<long long>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
  if (row >= B) return;  // whole warps leave together; no block barrier below
  const std::size_t base = static_cast<std::size_t>(row) * D;
  const float* xr = x + base;
  float sum = 0.0f;
  for (int i = lane; i < D; i += kWarp) sum += xr[i];
  const float mean = warp_sum(sum) / static_cast<float>(D);
  float sq = 0.0f;
  for (int i = lane; i < D; i += kWarp) {
    const float d = xr[i] - mean;
    sq += d * d;
  }
  const float var = warp_sum(sq) / static_cast<float>(D);
  const float rstd = 1.0f / sqrtf(var + static_cast<float>(kLayerNormEps));
  for (int i = lane; i < D; i += kWarp) {
    const float xh = (xr[i] - mean) * rstd;
    if (xhat) xhat[base + i] = xh;
    y[base + i] = xh * gamma[i] + beta[i];
  }
  if (lane == 0 && rstd_out) rstd_out[row] = rstd;
}

// The arithmetic of layernorm_row_backward, its sums spread over a warp.
__global__ void __launch_bounds__(kThreads)
    layernorm_backward_kernel(const float* __restrict__ dy, const float* __restrict__ xhat,
                              const float* __restrict__ rstd, const float* __restrict__ gamma, int B, int D,
                              float* __restrict__ dx) {
  const int lane = threadIdx.x % kWarp;
  const long long row = static_cast<long long>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarp;
  if (row >= B) return;
  const std::size_t base = static_cast<std::size_t>(row) * D;
  float sum_g = 0.0f, sum_gx = 0.0f;
  for (int i = lane; i < D; i += kWarp) {
    const float gi = dy[base + i] * gamma[i];
    sum_g += gi;
    sum_gx += gi * xhat[base + i];
  }
  const float mean_g = warp_sum(sum_g) / static_cast<float>(D);
  const float mean_gx = warp_sum(sum_gx) / static_cast<float>(D);
  const float r = rstd[row];
  for (int i = lane; i < D; i += kWarp)
    dx[base + i] = r * (dy[base + i] * gamma[i] - mean_g - xhat[base + i] * mean_gx);
}

__global__ void activation_forward_kernel(Activation act, const float* x, std::size_t n, float* y) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    y[i] = activation_forward(act, x[i]);
}

__global__ void activation_backward_kernel(Activation act, const float* x, const float* dy, std::size_t n,
                                           float* dx) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    dx[i] = dy[i] * activation_derivative(act, x[i]);
}

// One block: each thread sums its strided elements in order, then a fixed tree.
__global__ void __launch_bounds__(kThreads)
    mse_loss_kernel(const float* __restrict__ pred, const float* __restrict__ target, std::size_t n,
                    float* __restrict__ dpred, double* __restrict__ loss, std::size_t denom) {
  __shared__ double red[kThreads];
  double sum = 0.0;
  for (std::size_t i = threadIdx.x; i < n; i += kThreads) {
    const double d = static_cast<double>(pred[i]) - static_cast<double>(target[i]);
    sum += d * d;
    if (dpred) dpred[i] = static_cast<float>(2.0 * d / static_cast<double>(denom));
  }
  red[threadIdx.x] = sum;
  __syncthreads();
  for (int width = kThreads / 2; width > 0; width >>= 1) {
    if (threadIdx.x < width) red[threadIdx.x] += red[threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0) *loss = denom ? red[0] / static_cast<double>(denom) : 0.0;
}

__global__ void nonfinite_check_kernel(const float* __restrict__ x, std::size_t n, int* flag, int flag_value) {
  bool finite = true;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    finite = finite && is_finite_value(x[i]);
  if (!finite) atomicCAS(flag, kNoNonFinite, flag_value);
}

__global__ void adam_begin_step_kernel(AdamDeviceStep* step, const int* skip_flag, double beta1, double beta2) {
  if (skip_flag != nullptr && *skip_flag != kNoNonFinite) return;
  const long long t = step->t + 1;
  step->t = t;
  step->bias_correction1 = static_cast<float>(1.0 - pow(beta1, static_cast<double>(t)));
  step->bias_correction2_sqrt = static_cast<float>(sqrt(1.0 - pow(beta2, static_cast<double>(t))));
}

__global__ void adam_update_kernel(float* __restrict__ params, const float* __restrict__ grads, float* __restrict__ m,
                                   float* __restrict__ v, const std::uint8_t* __restrict__ trainable, std::size_t n,
                                   float lr, float beta1, float beta2, float eps, float weight_decay,
                                   const AdamDeviceStep* step, const int* skip_flag) {
  if (skip_flag != nullptr && *skip_flag != kNoNonFinite) return;
  const float bc1 = step->bias_correction1;
  const float bc2_sqrt = step->bias_correction2_sqrt;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    if (trainable != nullptr && trainable[i] == 0) continue;
    float p = params[i], mi = m[i], vi = v[i];
    adam_update(p, grads[i], mi, vi, lr, beta1, beta2, eps, weight_decay, bc1, bc2_sqrt);
    params[i] = p;
    m[i] = mi;
    v[i] = vi;
  }
}

__global__ void gather_rows_kernel(const float* __restrict__ src, int cols, const std::uint32_t* __restrict__ order,
                                   std::size_t order_len, const int* step, int step_stride, int offset, int count,
                                   float* __restrict__ dst) {
  const std::size_t base =
      (step ? static_cast<std::size_t>(*step) * static_cast<std::size_t>(step_stride) : 0) + static_cast<std::size_t>(offset);
  const std::size_t n = static_cast<std::size_t>(count) * cols;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const std::size_t r = i / cols;
    const std::size_t c = i % cols;
    const std::size_t k = base + r;
    dst[i] = k < order_len ? src[static_cast<std::size_t>(order[k]) * cols + c] : __int_as_float(0x7fffffff);
  }
}

__global__ void shuffle_keys_kernel(std::uint64_t seed, int epoch, std::uint32_t rows, std::uint64_t* __restrict__ keys,
                                    std::uint32_t* __restrict__ row_ids) {
  for (std::uint32_t r = blockIdx.x * blockDim.x + threadIdx.x; r < rows; r += gridDim.x * blockDim.x) {
    keys[r] = shuffle_key_of(seed, epoch, r);
    row_ids[r] = r;
  }
}

}  // namespace

// --- cuBLAS ----------------------------------------------------------------------------------

CublasContext::CublasContext(cudaStream_t stream, GemmMath math) : stream_(stream), math_(math) {
  DYNPMNN_CUBLAS_CHECK(cublasCreate(&handle_));
  try {
    // cublasSetStream resets the workspace to cuBLAS's own pool, so the workspace is set after it.
    DYNPMNN_CUBLAS_CHECK(cublasSetStream(handle_, stream_));
    workspace_ = DeviceBuffer<unsigned char>(kCublasWorkspaceBytes);
    DYNPMNN_CUBLAS_CHECK(cublasSetWorkspace(handle_, workspace_.data(), workspace_.bytes()));
    cublasMath_t mode = CUBLAS_DEFAULT_MATH;  // FP32 stays FP32: no TF32 unless asked for
    switch (math_) {
      case GemmMath::kFp32: mode = CUBLAS_DEFAULT_MATH; break;
      case GemmMath::kTf32: mode = CUBLAS_TF32_TENSOR_OP_MATH; break;
      default:
        throw std::invalid_argument("CublasContext: unknown GemmMath " + std::to_string(static_cast<int>(math_)) +
                                    " (expected kFp32 or kTf32)");
    }
    DYNPMNN_CUBLAS_CHECK(cublasSetMathMode(handle_, mode));
    DYNPMNN_CUBLAS_CHECK(cublasSetPointerMode(handle_, CUBLAS_POINTER_MODE_HOST));
  } catch (...) {
    (void)cublasDestroy(handle_);
    throw;
  }
}

CublasContext::~CublasContext() {
  if (handle_) (void)cublasDestroy(handle_);
}

void dense_forward_gpu(const CublasContext& ctx, const float* x, const float* W, const float* bias, int B, int in,
                       int out, float* y) {
  constexpr const char* op = "dense_forward_gpu";
  require(B >= 0 && in > 0 && out > 0, op,
          "bad shape B=" + std::to_string(B) + " in=" + std::to_string(in) + " out=" + std::to_string(out));
  if (B == 0) return;
  require(x && W && y, op, "x, W and y must not be null");
  const float one = 1.0f, zero = 0.0f;
  // Row-major y = x·Wᵀ is column-major yᵀ (out, B) = W_cmᵀ · x_cm, W_cm being Wᵀ (in, out).
  DYNPMNN_CUBLAS_CHECK(cublasSgemm(ctx.handle(), CUBLAS_OP_T, CUBLAS_OP_N, out, B, in, &one, W, in, x, in, &zero, y, out));
  if (bias) {
    const std::size_t n = static_cast<std::size_t>(B) * out;
    bias_add_kernel<<<stride_blocks(n), kThreads, 0, ctx.stream()>>>(y, bias, static_cast<std::size_t>(B), out);
    DYNPMNN_CUDA_CHECK_LAUNCH("bias_add_kernel");
  }
}

void dense_backward_gpu(const CublasContext& ctx, const float* x, const float* W, const float* dy, int B, int in,
                        int out, float* dx, float* dW, float* dbias) {
  constexpr const char* op = "dense_backward_gpu";
  require(B >= 0 && in > 0 && out > 0, op,
          "bad shape B=" + std::to_string(B) + " in=" + std::to_string(in) + " out=" + std::to_string(out));
  if (B == 0) {  // empty sums
    if (dW) DYNPMNN_CUDA_CHECK(cudaMemsetAsync(dW, 0, sizeof(float) * in * out, ctx.stream()));
    if (dbias) DYNPMNN_CUDA_CHECK(cudaMemsetAsync(dbias, 0, sizeof(float) * out, ctx.stream()));
    return;
  }
  require(dy != nullptr, op, "dy must not be null");
  const float one = 1.0f, zero = 0.0f;
  if (dx) {
    require(W != nullptr, op, "W must not be null when dx is wanted");
    // dx_cm (in, B) = W_cm (in, out) · dy_cm (out, B)
    DYNPMNN_CUBLAS_CHECK(cublasSgemm(ctx.handle(), CUBLAS_OP_N, CUBLAS_OP_N, in, B, out, &one, W, in, dy, out, &zero,
                                     dx, in));
  }
  if (dW) {
    require(x != nullptr, op, "x must not be null when dW is wanted");
    // dW_cm (in, out) = x_cm (in, B) · dy_cmᵀ (B, out)
    DYNPMNN_CUBLAS_CHECK(cublasSgemm(ctx.handle(), CUBLAS_OP_N, CUBLAS_OP_T, in, out, B, &one, x, in, dy, out, &zero,
                                     dW, in));
  }
  if (dbias) column_sums_gpu(dy, nullptr, B, out, nullptr, dbias, ctx.stream());
}

// --- reductions and elementwise ----------------------------------------------------------------

void column_sums_gpu(const float* a, const float* b, int rows, int cols, float* sum_ab, float* sum_a,
                     cudaStream_t stream) {
  constexpr const char* op = "column_sums_gpu";
  require(rows >= 0 && cols > 0, op, "bad shape rows=" + std::to_string(rows) + " cols=" + std::to_string(cols));
  if (!sum_ab && !sum_a) return;
  require(rows == 0 || a != nullptr, op, "a must not be null");
  // With no rows both sums are zero, written by the kernel like any other.
  require(rows == 0 || sum_ab == nullptr || b != nullptr, op, "b must not be null when sum_ab is wanted");
  int cw = 1;
  while (cw < cols && cw < kWarp) cw *= 2;
  const dim3 block(cw, kThreads / cw, 1);
  const unsigned blocks = static_cast<unsigned>((cols + cw - 1) / cw);
  column_sums_kernel<<<blocks, block, 0, stream>>>(a, b, rows, cols, sum_ab, sum_a);
  DYNPMNN_CUDA_CHECK_LAUNCH("column_sums_kernel");
}

void layernorm_forward_gpu(const float* x, const float* gamma, const float* beta, int B, int D, float* y, float* xhat,
                           float* rstd, cudaStream_t stream) {
  constexpr const char* op = "layernorm_forward_gpu";
  require(B >= 0 && D > 0, op, "bad shape B=" + std::to_string(B) + " D=" + std::to_string(D));
  if (B == 0) return;
  require(x && gamma && beta && y, op, "x, gamma, beta and y must not be null");
  const unsigned blocks = static_cast<unsigned>((static_cast<long long>(B) + kRowsPerBlock - 1) / kRowsPerBlock);
  layernorm_forward_kernel<<<blocks, kThreads, 0, stream>>>(x, gamma, beta, B, D, y, xhat, rstd);
  DYNPMNN_CUDA_CHECK_LAUNCH("layernorm_forward_kernel");
}

void layernorm_backward_gpu(const float* dy, const float* xhat, const float* rstd, const float* gamma, int B, int D,
                            float* dx, float* dgamma, float* dbeta, cudaStream_t stream) {
  constexpr const char* op = "layernorm_backward_gpu";
  require(B >= 0 && D > 0, op, "bad shape B=" + std::to_string(B) + " D=" + std::to_string(D));
  if (B == 0) {
    if (dgamma) DYNPMNN_CUDA_CHECK(cudaMemsetAsync(dgamma, 0, sizeof(float) * D, stream));
    if (dbeta) DYNPMNN_CUDA_CHECK(cudaMemsetAsync(dbeta, 0, sizeof(float) * D, stream));
    return;
  }
  require(dy && xhat && rstd && gamma && dx, op, "dy, xhat, rstd, gamma and dx must not be null");
  require(dx != dy, op, "dx must not alias dy");
  column_sums_gpu(dy, xhat, B, D, dgamma, dbeta, stream);
  const unsigned blocks = static_cast<unsigned>((static_cast<long long>(B) + kRowsPerBlock - 1) / kRowsPerBlock);
  layernorm_backward_kernel<<<blocks, kThreads, 0, stream>>>(dy, xhat, rstd, gamma, B, D, dx);
  DYNPMNN_CUDA_CHECK_LAUNCH("layernorm_backward_kernel");
}

void activation_forward_gpu(Activation act, const float* x, std::size_t n, float* y, cudaStream_t stream) {
  if (n == 0) return;
  require(x && y, "activation_forward_gpu", "x and y must not be null");
  activation_forward_kernel<<<stride_blocks(n), kThreads, 0, stream>>>(act, x, n, y);
  DYNPMNN_CUDA_CHECK_LAUNCH("activation_forward_kernel");
}

void activation_backward_gpu(Activation act, const float* x, const float* dy, std::size_t n, float* dx,
                             cudaStream_t stream) {
  if (n == 0) return;
  require(x && dy && dx, "activation_backward_gpu", "x, dy and dx must not be null");
  activation_backward_kernel<<<stride_blocks(n), kThreads, 0, stream>>>(act, x, dy, n, dx);
  DYNPMNN_CUDA_CHECK_LAUNCH("activation_backward_kernel");
}

void mse_loss_gpu(const float* pred, const float* target, std::size_t n, float* dpred, double* loss,
                  cudaStream_t stream, std::size_t denom) {
  require(loss != nullptr, "mse_loss_gpu", "loss must not be null");
  require(n == 0 || (pred && target), "mse_loss_gpu", "pred and target must not be null");
  mse_loss_kernel<<<1, kThreads, 0, stream>>>(pred, target, n, dpred, loss, denom ? denom : n);
  DYNPMNN_CUDA_CHECK_LAUNCH("mse_loss_kernel");
}

void nonfinite_check_gpu(const float* x, std::size_t n, int* flag, int flag_value, cudaStream_t stream) {
  require(flag != nullptr, "nonfinite_check_gpu", "flag must not be null");
  require(flag_value != kNoNonFinite, "nonfinite_check_gpu", "flag_value must differ from the sentinel -1");
  if (n == 0) return;
  require(x != nullptr, "nonfinite_check_gpu", "x must not be null");
  nonfinite_check_kernel<<<stride_blocks(n), kThreads, 0, stream>>>(x, n, flag, flag_value);
  DYNPMNN_CUDA_CHECK_LAUNCH("nonfinite_check_kernel");
}

// --- Adam ------------------------------------------------------------------------------------

void adam_begin_step_gpu(AdamDeviceStep* step, const int* skip_flag, double beta1, double beta2, cudaStream_t stream) {
  require(step != nullptr, "adam_begin_step_gpu", "step must not be null");
  adam_begin_step_kernel<<<1, 1, 0, stream>>>(step, skip_flag, beta1, beta2);
  DYNPMNN_CUDA_CHECK_LAUNCH("adam_begin_step_kernel");
}

void adam_update_gpu(float* params, const float* grads, float* m, float* v, const std::uint8_t* trainable,
                     std::size_t n, const AdamHyper& hyper, const AdamDeviceStep* step, const int* skip_flag,
                     cudaStream_t stream) {
  if (n == 0) return;
  require(params && grads && m && v && step, "adam_update_gpu", "params, grads, m, v and step must not be null");
  adam_update_kernel<<<stride_blocks(n), kThreads, 0, stream>>>(
      params, grads, m, v, trainable, n, static_cast<float>(hyper.lr), static_cast<float>(hyper.beta1),
      static_cast<float>(hyper.beta2), static_cast<float>(hyper.eps), static_cast<float>(hyper.weight_decay), step,
      skip_flag);
  DYNPMNN_CUDA_CHECK_LAUNCH("adam_update_kernel");
}

// --- batches and epoch order -------------------------------------------------------------------

void gather_rows_gpu(const float* src, int cols, const std::uint32_t* order, std::size_t order_len, const int* step,
                     int step_stride, int count, float* dst, cudaStream_t stream, int offset) {
  constexpr const char* op = "gather_rows_gpu";
  require(cols > 0 && count >= 0 && step_stride >= 0 && offset >= 0, op, "bad shape");
  if (count == 0) return;
  require(src && order && dst, op, "src, order and dst must not be null");
  const std::size_t n = static_cast<std::size_t>(count) * cols;
  gather_rows_kernel<<<stride_blocks(n), kThreads, 0, stream>>>(src, cols, order, order_len, step, step_stride, offset,
                                                                count, dst);
  DYNPMNN_CUDA_CHECK_LAUNCH("gather_rows_kernel");
}

EpochOrderGpu::EpochOrderGpu(std::uint32_t rows) : rows_(rows) {
  if (rows > static_cast<std::uint32_t>(INT_MAX))
    throw std::invalid_argument("EpochOrderGpu: " + std::to_string(rows) + " rows is more than the sort handles");
  if (rows == 0) return;
  keys_ = DeviceBuffer<std::uint64_t>(rows);
  sorted_keys_ = DeviceBuffer<std::uint64_t>(rows);
  row_ids_ = DeviceBuffer<std::uint32_t>(rows);
  order_ = DeviceBuffer<std::uint32_t>(rows);
  std::size_t temp_bytes = 0;
  DYNPMNN_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys_.data(), sorted_keys_.data(),
                                                     row_ids_.data(), order_.data(), static_cast<int>(rows)));
  sort_temp_ = DeviceBuffer<unsigned char>(std::max<std::size_t>(temp_bytes, 1));
}

void EpochOrderGpu::compute(std::uint64_t seed, int epoch, cudaStream_t stream) {
  if (rows_ == 0) return;
  shuffle_keys_kernel<<<stride_blocks(rows_), kThreads, 0, stream>>>(seed, epoch, rows_, keys_.data(), row_ids_.data());
  DYNPMNN_CUDA_CHECK_LAUNCH("shuffle_keys_kernel");
  // Radix sort is stable: equal keys keep the row order, the tie-break of epoch_permutation.
  std::size_t temp_bytes = sort_temp_.bytes();
  DYNPMNN_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(sort_temp_.data(), temp_bytes, keys_.data(), sorted_keys_.data(),
                                                     row_ids_.data(), order_.data(), static_cast<int>(rows_), 0,
                                                     64, stream));
}

}  // namespace dynpmnn
