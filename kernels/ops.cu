// GPU twins of ops.cpp. Per-element arithmetic comes from elementwise_math.h and shuffle_math.h;
// this file holds the indexing and the reductions, each of which sums in a fixed order so that a
// training run is bit-reproducible for a seed (no floating-point atomics anywhere).
#include "kernels/ops_gpu.h"

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <string>
#include <type_traits>

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

// Model blockIdx.y's copy of a per-model value that sits `stride_bytes` after the previous model's.
template <typename T>
__device__ __forceinline__ T* model_at(T* p, std::size_t stride_bytes) {
  using Byte = std::conditional_t<std::is_const_v<T>, const char, char>;
  return reinterpret_cast<T*>(reinterpret_cast<Byte*>(p) + blockIdx.y * stride_bytes);
}

// The launchers of the population forms put the model on gridDim.y; the lone op is one model.
inline dim3 model_grid(unsigned blocks, int models) { return dim3(blocks, static_cast<unsigned>(models), 1); }

__global__ void bias_add_kernel(float* __restrict__ y, const float* __restrict__ bias, std::size_t rows, int cols,
                                std::size_t param_stride) {
  const std::size_t n = rows * static_cast<std::size_t>(cols);
  y += blockIdx.y * n;
  bias += blockIdx.y * param_stride;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    y[i] += bias[i % cols];
}

// Block (cw columns × 256/cw row lanes), one block per cw columns: each thread sums its rows in
// order, then row lane 0 sums the lanes in order.
__global__ void __launch_bounds__(kThreads)
    column_sums_kernel(const float* __restrict__ a, const float* __restrict__ b, int rows, int cols,
                       float* __restrict__ sum_ab, float* __restrict__ sum_a, std::size_t sum_stride) {
  __shared__ float red_ab[kThreads];
  // Model blockIdx.y: its (rows, cols) block of a and b, its sums sum_stride further on.
  const std::size_t block = static_cast<std::size_t>(blockIdx.y) * rows * cols;
  a += block;
  if (b) b += block;
  if (sum_ab) sum_ab += blockIdx.y * sum_stride;
  if (sum_a) sum_a += blockIdx.y * sum_stride;
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
                             float* __restrict__ xhat, float* __restrict__ rstd_out, std::size_t param_stride) {
  const int lane = threadIdx.x % kWarp;
  // Model blockIdx.y: its B rows, its gamma and beta.
  const std::size_t block = static_cast<std::size_t>(blockIdx.y) * B * D;
  x += block;
  y += block;
  if (xhat) xhat += block;
  if (rstd_out) rstd_out += static_cast<std::size_t>(blockIdx.y) * B;
  gamma += blockIdx.y * param_stride;
  beta += blockIdx.y * param_stride;
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
                              float* __restrict__ dx, std::size_t param_stride) {
  const int lane = threadIdx.x % kWarp;
  const std::size_t block = static_cast<std::size_t>(blockIdx.y) * B * D;
  dy += block;
  xhat += block;
  dx += block;
  rstd += static_cast<std::size_t>(blockIdx.y) * B;
  gamma += blockIdx.y * param_stride;
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
                    float* __restrict__ dpred, double* __restrict__ loss, std::size_t denom,
                    std::size_t loss_stride_bytes) {
  __shared__ double red[kThreads];
  // Model blockIdx.y (one block a model): its n values, its loss.
  pred += blockIdx.y * n;
  target += blockIdx.y * n;
  if (dpred) dpred += blockIdx.y * n;
  loss = model_at(loss, loss_stride_bytes);
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

__global__ void nonfinite_check_kernel(const float* __restrict__ x, std::size_t n, int* flag, int flag_value,
                                       std::size_t flag_stride_bytes) {
  x += blockIdx.y * n;
  flag = model_at(flag, flag_stride_bytes);
  bool finite = true;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    finite = finite && is_finite_value(x[i]);
  if (!finite) atomicCAS(flag, kNoNonFinite, flag_value);
}

// One thread a model (blockIdx.y); per-model betas from `models` when not null.
__global__ void adam_begin_step_kernel(AdamDeviceStep* step, const int* skip_flag, double beta1, double beta2,
                                       const AdamHyper* models, std::size_t state_stride_bytes) {
  step = model_at(step, state_stride_bytes);
  if (skip_flag) skip_flag = model_at(skip_flag, state_stride_bytes);
  if (models) {
    beta1 = models[blockIdx.y].beta1;
    beta2 = models[blockIdx.y].beta2;
  }
  if (skip_flag != nullptr && *skip_flag != kNoNonFinite) return;
  const long long t = step->t + 1;
  step->t = t;
  step->bias_correction1 = static_cast<float>(1.0 - pow(beta1, static_cast<double>(t)));
  step->bias_correction2_sqrt = static_cast<float>(sqrt(1.0 - pow(beta2, static_cast<double>(t))));
}

__global__ void adam_update_kernel(float* __restrict__ params, const float* __restrict__ grads, float* __restrict__ m,
                                   float* __restrict__ v, const std::uint8_t* __restrict__ trainable, std::size_t n,
                                   float lr, float beta1, float beta2, float eps, float weight_decay,
                                   const AdamDeviceStep* step, const int* skip_flag, const AdamHyper* models,
                                   std::size_t state_stride_bytes) {
  // Model blockIdx.y: its n parameters and moments, its step and flag, its hyperparameters.
  const std::size_t block = static_cast<std::size_t>(blockIdx.y) * n;
  params += block;
  grads += block;
  m += block;
  v += block;
  step = model_at(step, state_stride_bytes);
  if (skip_flag) skip_flag = model_at(skip_flag, state_stride_bytes);
  if (models) {
    const AdamHyper h = models[blockIdx.y];
    lr = static_cast<float>(h.lr);
    beta1 = static_cast<float>(h.beta1);
    beta2 = static_cast<float>(h.beta2);
    eps = static_cast<float>(h.eps);
    weight_decay = static_cast<float>(h.weight_decay);
  }
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
                                   float* __restrict__ dst, std::size_t step_stride_bytes) {
  // Model blockIdx.y: its order, its step index, its block of dst.
  order += blockIdx.y * order_len;
  dst += static_cast<std::size_t>(blockIdx.y) * count * cols;
  if (step) step = model_at(step, step_stride_bytes);
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

// Model active[a] (a = i / rows; active null: a itself) and row i % rows: the key of its epoch order.
__global__ void model_keys_kernel(const std::uint64_t* seeds, std::size_t seed_stride, const int* epochs,
                                  std::size_t epoch_stride, const int* active, int count, std::uint32_t rows,
                                  std::uint64_t* keys, std::uint32_t* row_ids) {
  const std::size_t n = static_cast<std::size_t>(count) * rows;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const std::size_t a = i / rows;
    const std::size_t k = active ? static_cast<std::size_t>(active[a]) : a;
    const std::uint64_t seed = *reinterpret_cast<const std::uint64_t*>(reinterpret_cast<const char*>(seeds) + k * seed_stride);
    const int epoch = *reinterpret_cast<const int*>(reinterpret_cast<const char*>(epochs) + k * epoch_stride);
    const std::uint32_t row = static_cast<std::uint32_t>(i % rows);
    keys[i] = shuffle_key_of(seed, epoch, row);
    row_ids[i] = row;
  }
}

__global__ void segment_offsets_kernel(int count, std::uint32_t rows, int* offsets) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i <= count; i += gridDim.x * blockDim.x)
    offsets[i] = static_cast<int>(static_cast<std::size_t>(i) * rows);
}

__global__ void repeat_kernel(const float* __restrict__ src, std::size_t n, float* __restrict__ dst) {
  dst += blockIdx.y * n;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x)
    dst[i] = src[i];
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
    bias_add_kernel<<<stride_blocks(n), kThreads, 0, ctx.stream()>>>(y, bias, static_cast<std::size_t>(B), out, 0);
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
  column_sums_kernel<<<blocks, block, 0, stream>>>(a, b, rows, cols, sum_ab, sum_a, 0);
  DYNPMNN_CUDA_CHECK_LAUNCH("column_sums_kernel");
}

void layernorm_forward_gpu(const float* x, const float* gamma, const float* beta, int B, int D, float* y, float* xhat,
                           float* rstd, cudaStream_t stream) {
  constexpr const char* op = "layernorm_forward_gpu";
  require(B >= 0 && D > 0, op, "bad shape B=" + std::to_string(B) + " D=" + std::to_string(D));
  if (B == 0) return;
  require(x && gamma && beta && y, op, "x, gamma, beta and y must not be null");
  const unsigned blocks = static_cast<unsigned>((static_cast<long long>(B) + kRowsPerBlock - 1) / kRowsPerBlock);
  layernorm_forward_kernel<<<blocks, kThreads, 0, stream>>>(x, gamma, beta, B, D, y, xhat, rstd, 0);
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
  layernorm_backward_kernel<<<blocks, kThreads, 0, stream>>>(dy, xhat, rstd, gamma, B, D, dx, 0);
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
  mse_loss_kernel<<<1, kThreads, 0, stream>>>(pred, target, n, dpred, loss, denom ? denom : n, 0);
  DYNPMNN_CUDA_CHECK_LAUNCH("mse_loss_kernel");
}

void nonfinite_check_gpu(const float* x, std::size_t n, int* flag, int flag_value, cudaStream_t stream) {
  require(flag != nullptr, "nonfinite_check_gpu", "flag must not be null");
  require(flag_value != kNoNonFinite, "nonfinite_check_gpu", "flag_value must differ from the sentinel -1");
  if (n == 0) return;
  require(x != nullptr, "nonfinite_check_gpu", "x must not be null");
  nonfinite_check_kernel<<<stride_blocks(n), kThreads, 0, stream>>>(x, n, flag, flag_value, 0);
  DYNPMNN_CUDA_CHECK_LAUNCH("nonfinite_check_kernel");
}

// --- Adam ------------------------------------------------------------------------------------

void adam_begin_step_gpu(AdamDeviceStep* step, const int* skip_flag, double beta1, double beta2, cudaStream_t stream) {
  require(step != nullptr, "adam_begin_step_gpu", "step must not be null");
  adam_begin_step_kernel<<<1, 1, 0, stream>>>(step, skip_flag, beta1, beta2, nullptr, 0);
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
      skip_flag, nullptr, 0);
  DYNPMNN_CUDA_CHECK_LAUNCH("adam_update_kernel");
}

// --- populations: the ops above over P models side by side --------------------------------------

void dense_forward_models_gpu(const CublasContext& ctx, int P, const float* x, std::size_t x_stride, const float* W,
                              const float* bias, std::size_t param_stride, int B, int in, int out, float* y) {
  // A lone model takes the lone op: the same GEMM call as ever (a batched one may pick another algorithm).
  if (P == 1) return dense_forward_gpu(ctx, x, W, bias, B, in, out, y);
  constexpr const char* op = "dense_forward_models_gpu";
  require(P >= 1 && B > 0 && in > 0 && out > 0, op,
          "bad shape P=" + std::to_string(P) + " B=" + std::to_string(B) + " in=" + std::to_string(in) +
              " out=" + std::to_string(out));
  require(x && W && y, op, "x, W and y must not be null");
  const float one = 1.0f, zero = 0.0f;
  // dense_forward_gpu's product for every model: W_m at m·param_stride, x_m at m·x_stride.
  DYNPMNN_CUBLAS_CHECK(cublasSgemmStridedBatched(
      ctx.handle(), CUBLAS_OP_T, CUBLAS_OP_N, out, B, in, &one, W, in, static_cast<long long>(param_stride), x, in,
      static_cast<long long>(x_stride), &zero, y, out, static_cast<long long>(B) * out, P));
  if (bias) {
    const std::size_t n = static_cast<std::size_t>(B) * out;
    bias_add_kernel<<<model_grid(stride_blocks(n), P), kThreads, 0, ctx.stream()>>>(y, bias, static_cast<std::size_t>(B),
                                                                                     out, param_stride);
    DYNPMNN_CUDA_CHECK_LAUNCH("bias_add_kernel");
  }
}

void dense_backward_models_gpu(const CublasContext& ctx, int P, const float* x, std::size_t x_stride, const float* W,
                               std::size_t param_stride, const float* dy, int B, int in, int out, float* dx,
                               float* dW, float* dbias) {
  if (P == 1) return dense_backward_gpu(ctx, x, W, dy, B, in, out, dx, dW, dbias);
  constexpr const char* op = "dense_backward_models_gpu";
  require(P >= 1 && B > 0 && in > 0 && out > 0, op,
          "bad shape P=" + std::to_string(P) + " B=" + std::to_string(B) + " in=" + std::to_string(in) +
              " out=" + std::to_string(out));
  require(dy != nullptr, op, "dy must not be null");
  const float one = 1.0f, zero = 0.0f;
  const long long dy_stride = static_cast<long long>(B) * out, ps = static_cast<long long>(param_stride);
  if (dx) {
    require(W != nullptr, op, "W must not be null when dx is wanted");
    DYNPMNN_CUBLAS_CHECK(cublasSgemmStridedBatched(ctx.handle(), CUBLAS_OP_N, CUBLAS_OP_N, in, B, out, &one, W, in, ps,
                                                   dy, out, dy_stride, &zero, dx, in, static_cast<long long>(B) * in,
                                                   P));
  }
  if (dW) {
    require(x != nullptr, op, "x must not be null when dW is wanted");
    DYNPMNN_CUBLAS_CHECK(cublasSgemmStridedBatched(ctx.handle(), CUBLAS_OP_N, CUBLAS_OP_T, in, out, B, &one, x, in,
                                                   static_cast<long long>(x_stride), dy, out, dy_stride, &zero, dW, in,
                                                   ps, P));
  }
  if (dbias) column_sums_models_gpu(P, dy, nullptr, B, out, nullptr, dbias, param_stride, ctx.stream());
}

void column_sums_models_gpu(int P, const float* a, const float* b, int rows, int cols, float* sum_ab, float* sum_a,
                            std::size_t sum_stride, cudaStream_t stream) {
  if (P == 1) return column_sums_gpu(a, b, rows, cols, sum_ab, sum_a, stream);
  constexpr const char* op = "column_sums_models_gpu";
  require(P >= 1 && rows > 0 && cols > 0, op,
          "bad shape P=" + std::to_string(P) + " rows=" + std::to_string(rows) + " cols=" + std::to_string(cols));
  if (!sum_ab && !sum_a) return;
  require(a != nullptr, op, "a must not be null");
  require(sum_ab == nullptr || b != nullptr, op, "b must not be null when sum_ab is wanted");
  int cw = 1;
  while (cw < cols && cw < kWarp) cw *= 2;
  const dim3 block(cw, kThreads / cw, 1);
  const unsigned blocks = static_cast<unsigned>((cols + cw - 1) / cw);
  column_sums_kernel<<<model_grid(blocks, P), block, 0, stream>>>(a, b, rows, cols, sum_ab, sum_a, sum_stride);
  DYNPMNN_CUDA_CHECK_LAUNCH("column_sums_kernel");
}

void layernorm_forward_models_gpu(int P, const float* x, const float* gamma, const float* beta,
                                  std::size_t param_stride, int B, int D, float* y, float* xhat, float* rstd,
                                  cudaStream_t stream) {
  if (P == 1) return layernorm_forward_gpu(x, gamma, beta, B, D, y, xhat, rstd, stream);
  constexpr const char* op = "layernorm_forward_models_gpu";
  require(P >= 1 && B > 0 && D > 0, op,
          "bad shape P=" + std::to_string(P) + " B=" + std::to_string(B) + " D=" + std::to_string(D));
  require(x && gamma && beta && y, op, "x, gamma, beta and y must not be null");
  const unsigned blocks = static_cast<unsigned>((static_cast<long long>(B) + kRowsPerBlock - 1) / kRowsPerBlock);
  layernorm_forward_kernel<<<model_grid(blocks, P), kThreads, 0, stream>>>(x, gamma, beta, B, D, y, xhat, rstd,
                                                                            param_stride);
  DYNPMNN_CUDA_CHECK_LAUNCH("layernorm_forward_kernel");
}

void layernorm_backward_models_gpu(int P, const float* dy, const float* xhat, const float* rstd, const float* gamma,
                                   std::size_t param_stride, int B, int D, float* dx, float* dgamma, float* dbeta,
                                   cudaStream_t stream) {
  if (P == 1) return layernorm_backward_gpu(dy, xhat, rstd, gamma, B, D, dx, dgamma, dbeta, stream);
  constexpr const char* op = "layernorm_backward_models_gpu";
  require(P >= 1 && B > 0 && D > 0, op,
          "bad shape P=" + std::to_string(P) + " B=" + std::to_string(B) + " D=" + std::to_string(D));
  require(dy && xhat && rstd && gamma && dx, op, "dy, xhat, rstd, gamma and dx must not be null");
  require(dx != dy, op, "dx must not alias dy");
  column_sums_models_gpu(P, dy, xhat, B, D, dgamma, dbeta, param_stride, stream);
  const unsigned blocks = static_cast<unsigned>((static_cast<long long>(B) + kRowsPerBlock - 1) / kRowsPerBlock);
  layernorm_backward_kernel<<<model_grid(blocks, P), kThreads, 0, stream>>>(dy, xhat, rstd, gamma, B, D, dx,
                                                                             param_stride);
  DYNPMNN_CUDA_CHECK_LAUNCH("layernorm_backward_kernel");
}

void mse_loss_models_gpu(int P, const float* pred, const float* target, std::size_t n, float* dpred, double* loss,
                         std::size_t loss_stride_bytes, cudaStream_t stream) {
  if (P == 1) return mse_loss_gpu(pred, target, n, dpred, loss, stream);
  require(P >= 1 && loss != nullptr, "mse_loss_models_gpu", "needs P >= 1 and a loss");
  require(n == 0 || (pred && target), "mse_loss_models_gpu", "pred and target must not be null");
  mse_loss_kernel<<<model_grid(1, P), kThreads, 0, stream>>>(pred, target, n, dpred, loss, n, loss_stride_bytes);
  DYNPMNN_CUDA_CHECK_LAUNCH("mse_loss_kernel");
}

void nonfinite_check_models_gpu(int P, const float* x, std::size_t n, int* flag, std::size_t flag_stride_bytes,
                                int flag_value, cudaStream_t stream) {
  if (P == 1) return nonfinite_check_gpu(x, n, flag, flag_value, stream);
  require(P >= 1 && flag != nullptr, "nonfinite_check_models_gpu", "needs P >= 1 and a flag");
  require(flag_value != kNoNonFinite, "nonfinite_check_models_gpu", "flag_value must differ from the sentinel -1");
  if (n == 0) return;
  require(x != nullptr, "nonfinite_check_models_gpu", "x must not be null");
  // A model's values are few: a handful of blocks each.
  const unsigned blocks = std::min(stride_blocks(n), 64u);
  nonfinite_check_kernel<<<model_grid(blocks, P), kThreads, 0, stream>>>(x, n, flag, flag_value, flag_stride_bytes);
  DYNPMNN_CUDA_CHECK_LAUNCH("nonfinite_check_kernel");
}

void adam_begin_step_models_gpu(int P, AdamDeviceStep* step, const int* skip_flag, std::size_t state_stride_bytes,
                                const AdamHyper* hyper, cudaStream_t stream) {
  require(P >= 1 && step && hyper, "adam_begin_step_models_gpu", "needs P >= 1, the steps and the hyperparameters");
  adam_begin_step_kernel<<<model_grid(1, P), 1, 0, stream>>>(step, skip_flag, 0.0, 0.0, hyper, state_stride_bytes);
  DYNPMNN_CUDA_CHECK_LAUNCH("adam_begin_step_kernel");
}

void adam_update_models_gpu(int P, float* params, const float* grads, float* m, float* v,
                            const std::uint8_t* trainable, std::size_t n, const AdamHyper* hyper,
                            const AdamDeviceStep* step, const int* skip_flag, std::size_t state_stride_bytes,
                            cudaStream_t stream) {
  if (n == 0) return;
  require(P >= 1 && params && grads && m && v && step && hyper, "adam_update_models_gpu",
          "params, grads, m, v, step and hyper must not be null");
  const unsigned blocks = std::min(stride_blocks(n), 64u);
  adam_update_kernel<<<model_grid(blocks, P), kThreads, 0, stream>>>(params, grads, m, v, trainable, n, 0.f, 0.f, 0.f,
                                                                     0.f, 0.f, step, skip_flag, hyper,
                                                                     state_stride_bytes);
  DYNPMNN_CUDA_CHECK_LAUNCH("adam_update_kernel");
}

void gather_rows_models_gpu(int P, const float* src, int cols, const std::uint32_t* orders, std::size_t order_len,
                            const int* step, std::size_t step_stride_bytes, int step_rows, int count, float* dst,
                            cudaStream_t stream) {
  constexpr const char* op = "gather_rows_models_gpu";
  require(P >= 1 && cols > 0 && count >= 0 && step_rows >= 0, op, "bad shape");
  if (count == 0) return;
  require(src && orders && step && dst, op, "src, orders, step and dst must not be null");
  const std::size_t n = static_cast<std::size_t>(count) * cols;
  gather_rows_kernel<<<model_grid(stride_blocks(n), P), kThreads, 0, stream>>>(
      src, cols, orders, order_len, step, step_rows, 0, count, dst, step_stride_bytes);
  DYNPMNN_CUDA_CHECK_LAUNCH("gather_rows_kernel");
}

void repeat_gpu(const float* src, std::size_t n, int copies, float* dst, cudaStream_t stream) {
  require(copies >= 1, "repeat_gpu", "copies must be >= 1");
  if (n == 0) return;
  require(src && dst, "repeat_gpu", "src and dst must not be null");
  repeat_kernel<<<model_grid(std::min(stride_blocks(n), 64u), copies), kThreads, 0, stream>>>(src, n, dst);
  DYNPMNN_CUDA_CHECK_LAUNCH("repeat_kernel");
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
                                                                count, dst, 0);
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

ModelOrdersGpu::ModelOrdersGpu(int models, std::uint32_t rows) : models_(models), rows_(rows) {
  const std::size_t n = static_cast<std::size_t>(models) * rows;
  require(models >= 1 && n <= static_cast<std::size_t>(INT_MAX), "ModelOrdersGpu",
          std::to_string(models) + " models of " + std::to_string(rows) + " rows is more than the sort handles");
  if (n == 0) return;
  keys_ = DeviceBuffer<std::uint64_t>(n);
  sorted_keys_ = DeviceBuffer<std::uint64_t>(n);
  row_ids_ = DeviceBuffer<std::uint32_t>(n);
  order_ = DeviceBuffer<std::uint32_t>(n);
  offsets_ = DeviceBuffer<int>(models + 1);
  std::size_t temp_bytes = 0;
  DYNPMNN_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortPairs(
      nullptr, temp_bytes, keys_.data(), sorted_keys_.data(), row_ids_.data(), order_.data(), static_cast<int>(n),
      models, offsets_.data(), offsets_.data() + 1));
  sort_temp_ = DeviceBuffer<unsigned char>(std::max<std::size_t>(temp_bytes, 1));
}

void ModelOrdersGpu::compute(const std::uint64_t* seeds, std::size_t seed_stride_bytes, const int* epochs,
                             std::size_t epoch_stride_bytes, const int* active, int count, cudaStream_t stream) {
  require(count >= 0 && count <= models_, "ModelOrdersGpu::compute",
          std::to_string(count) + " active models of " + std::to_string(models_));
  if (count == 0 || rows_ == 0) return;
  require(seeds && epochs, "ModelOrdersGpu::compute", "seeds and epochs must not be null");
  const std::size_t n = static_cast<std::size_t>(count) * rows_;
  model_keys_kernel<<<stride_blocks(n), kThreads, 0, stream>>>(seeds, seed_stride_bytes, epochs, epoch_stride_bytes,
                                                                active, count, rows_, keys_.data(), row_ids_.data());
  DYNPMNN_CUDA_CHECK_LAUNCH("model_keys_kernel");
  segment_offsets_kernel<<<stride_blocks(count + 1), kThreads, 0, stream>>>(count, rows_, offsets_.data());
  DYNPMNN_CUDA_CHECK_LAUNCH("segment_offsets_kernel");
  // The scratch this sort asks for (a host-side query), grown where it asks more than the largest's.
  std::size_t temp_bytes = 0;
  DYNPMNN_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortPairs(
      nullptr, temp_bytes, keys_.data(), sorted_keys_.data(), row_ids_.data(), order_.data(), static_cast<int>(n),
      count, offsets_.data(), offsets_.data() + 1, 0, 64, stream));
  if (temp_bytes > sort_temp_.bytes()) sort_temp_ = DeviceBuffer<unsigned char>(temp_bytes);
  temp_bytes = sort_temp_.bytes();
  DYNPMNN_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortPairs(
      sort_temp_.data(), temp_bytes, keys_.data(), sorted_keys_.data(), row_ids_.data(), order_.data(),
      static_cast<int>(n), count, offsets_.data(), offsets_.data() + 1, 0, 64, stream));
}

}  // namespace dynpmnn
