// The GPU twins of ops.h (ops.cu), float32, plus the few device-side pieces a training step needs
// so that it runs without a host round trip: batch gather from a device order, the epoch order
// itself, a non-finite check, the Adam step counter. Row-major throughout; shapes in comments.
// Every function is asynchronous on the given stream (the dense ops on the context's stream).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "common/device_buffer.h"
#include "kernels/elementwise_math.h"
#include "kernels/fhn_gpu.h"  // kNoNonFinite

namespace dynpmnn {

// FP32 GEMMs by default: TF32 rounds the inputs to 10 mantissa bits (about 3e-4 relative), which
// the float-vs-double comparisons of the tests would see. kTf32 is there for speed experiments.
enum class GemmMath : int { kFp32 = 0, kTf32 = 1 };

// A cuBLAS handle bound to one stream, with its own workspace (so cuBLAS never allocates while a
// CUDA graph is being captured) and an explicit math mode.
class CublasContext {
 public:
  explicit CublasContext(cudaStream_t stream, GemmMath math = GemmMath::kFp32);
  ~CublasContext();
  CublasContext(const CublasContext&) = delete;
  CublasContext& operator=(const CublasContext&) = delete;

  cublasHandle_t handle() const { return handle_; }
  cudaStream_t stream() const { return stream_; }
  GemmMath math() const { return math_; }

 private:
  cublasHandle_t handle_ = nullptr;
  cudaStream_t stream_ = nullptr;
  GemmMath math_;
  DeviceBuffer<unsigned char> workspace_;
};

// y (B, out) = x (B, in) · Wᵀ (in, out) + bias (out); bias may be null.
void dense_forward_gpu(const CublasContext& ctx, const float* x, const float* W, const float* bias, int B, int in,
                       int out, float* y);

// dx (B, in) = dy · W (null: skipped), dW (out, in) = dyᵀ · x, dbias (out) = Σ_B dy (each may be
// null). Overwrites the outputs; the bias sum is deterministic.
void dense_backward_gpu(const CublasContext& ctx, const float* x, const float* W, const float* dy, int B, int in,
                        int out, float* dx, float* dW, float* dbias);

// Column sums of (rows, cols) arrays in a fixed order: sum_ab[c] = Σ_r a[r,c]·b[r,c] (skipped when
// sum_ab or b is null), sum_a[c] = Σ_r a[r,c] (skipped when null).
void column_sums_gpu(const float* a, const float* b, int rows, int cols, float* sum_ab, float* sum_a,
                     cudaStream_t stream);

// Rows of D: y = LN(x)·gamma + beta. xhat (B, D) and rstd (B) are saved for the backward when not
// null (inference passes null). One warp per row.
void layernorm_forward_gpu(const float* x, const float* gamma, const float* beta, int B, int D, float* y, float* xhat,
                           float* rstd, cudaStream_t stream);

// dx (B, D), which must not alias dy; dgamma, dbeta (D) overwritten with the batch sums (each may be
// null).
void layernorm_backward_gpu(const float* dy, const float* xhat, const float* rstd, const float* gamma, int B, int D,
                            float* dx, float* dgamma, float* dbeta, cudaStream_t stream);

// y = act(x) over n values; y may alias x.
void activation_forward_gpu(Activation act, const float* x, std::size_t n, float* y, cudaStream_t stream);
// dx = dy · act'(x); dx may alias dy.
void activation_backward_gpu(Activation act, const float* x, const float* dy, std::size_t n, float* dx,
                             cudaStream_t stream);

// *loss (device) = mean of (pred − target)² over n values, summed in double in a fixed order (one
// block); dpred (n) = 2 (pred − target) / n when not null, as mse_loss_cpu. With denom > 0 the sum
// is divided by denom instead of n (a data-parallel shard's part of the global minibatch's mean).
void mse_loss_gpu(const float* pred, const float* target, std::size_t n, float* dpred, double* loss,
                  cudaStream_t stream, std::size_t denom = 0);

// If any of x (n) is NaN or ±Inf, sets *flag from kNoNonFinite to flag_value (an earlier value is
// kept).
void nonfinite_check_gpu(const float* x, std::size_t n, int* flag, int flag_value, cudaStream_t stream);

// The Adam step count and bias corrections live on the device, so a captured step advances them.
struct AdamDeviceStep {
  long long t;                  // steps taken
  float bias_correction1;       // 1 − β1^t
  float bias_correction2_sqrt;  // √(1 − β2^t)
};

// Unless *skip_flag (may be null) differs from kNoNonFinite: t += 1 and the corrections for the new
// t, computed in double.
void adam_begin_step_gpu(AdamDeviceStep* step, const int* skip_flag, double beta1, double beta2, cudaStream_t stream);

// adam_update on every element i < n with trainable[i] != 0 (trainable may be null: all), with the
// corrections of *step; does nothing when *skip_flag (may be null) differs from kNoNonFinite.
void adam_update_gpu(float* params, const float* grads, float* m, float* v, const std::uint8_t* trainable,
                     std::size_t n, const AdamHyper& hyper, const AdamDeviceStep* step, const int* skip_flag,
                     cudaStream_t stream);

// dst (count, cols) row i = src row order[base + i], base = (*step) · step_stride + offset (step may
// be null: base offset). An index past order_len gives a NaN row instead of a read out of bounds.
void gather_rows_gpu(const float* src, int cols, const std::uint32_t* order, std::size_t order_len, const int* step,
                     int step_stride, int count, float* dst, cudaStream_t stream, int offset = 0);

// --- Populations (issue 11, docs/populations.md): the ops above over P models side by side ---------
// Model m's activations are its block of (P, B, width) arrays; its parameters sit in the models'
// flat arrays (P, param_stride), W_m = W + m·param_stride and likewise every tensor; its per-model
// scalars (loss, flag, Adam step: a TrainState each) lie `..._stride_bytes` apart. Model m computes
// what the lone op computes on its block, the same kernels with the model on gridDim.y. One launch
// (or one strided-batched GEMM) whatever P.

// y (P, B, out): model m's x at m·x_stride (0: every model reads the same x).
void dense_forward_models_gpu(const CublasContext& ctx, int P, const float* x, std::size_t x_stride, const float* W,
                              const float* bias, std::size_t param_stride, int B, int in, int out, float* y);
// dx (P, B, in) (null: skipped), dW and dbias at each model's offsets (each may be null). B > 0.
void dense_backward_models_gpu(const CublasContext& ctx, int P, const float* x, std::size_t x_stride, const float* W,
                               std::size_t param_stride, const float* dy, int B, int in, int out, float* dx,
                               float* dW, float* dbias);
// a, b (P, rows, cols); model m's sums at m·sum_stride. rows > 0.
void column_sums_models_gpu(int P, const float* a, const float* b, int rows, int cols, float* sum_ab, float* sum_a,
                            std::size_t sum_stride, cudaStream_t stream);
// x, y, xhat (P, B, D), rstd (P, B); gamma, beta (and their gradients) at each model's offsets.
void layernorm_forward_models_gpu(int P, const float* x, const float* gamma, const float* beta,
                                  std::size_t param_stride, int B, int D, float* y, float* xhat, float* rstd,
                                  cudaStream_t stream);
void layernorm_backward_models_gpu(int P, const float* dy, const float* xhat, const float* rstd, const float* gamma,
                                   std::size_t param_stride, int B, int D, float* dx, float* dgamma, float* dbeta,
                                   cudaStream_t stream);
// pred, target, dpred (P, n): model m's mean squared error into its loss.
void mse_loss_models_gpu(int P, const float* pred, const float* target, std::size_t n, float* dpred, double* loss,
                         std::size_t loss_stride_bytes, cudaStream_t stream);
// x (P, n): a model with a NaN or ±Inf among its n values gets its flag set (if still the sentinel).
void nonfinite_check_models_gpu(int P, const float* x, std::size_t n, int* flag, std::size_t flag_stride_bytes,
                                int flag_value, cudaStream_t stream);
// hyper (P) on the device: each model's Adam hyperparameters. Steps and skip flags per model.
void adam_begin_step_models_gpu(int P, AdamDeviceStep* step, const int* skip_flag, std::size_t state_stride_bytes,
                                const AdamHyper* hyper, cudaStream_t stream);
// params, grads, m, v (P, n); trainable (n) shared (null: all).
void adam_update_models_gpu(int P, float* params, const float* grads, float* m, float* v,
                            const std::uint8_t* trainable, std::size_t n, const AdamHyper* hyper,
                            const AdamDeviceStep* step, const int* skip_flag, std::size_t state_stride_bytes,
                            cudaStream_t stream);
// dst (P, count, cols): model m's rows orders[m][*step_m · step_rows + i] of src (rows, cols);
// orders (P, order_len). An index past order_len gives a NaN row.
void gather_rows_models_gpu(int P, const float* src, int cols, const std::uint32_t* orders, std::size_t order_len,
                            const int* step, std::size_t step_stride_bytes, int step_rows, int count, float* dst,
                            cudaStream_t stream);

// The epoch's visiting order on the device, equal to epoch_permutation(seed, epoch, rows): the keys
// of shuffle_math.h sorted by a stable radix sort of (key, row). Buffers are allocated once.
class EpochOrderGpu {
 public:
  explicit EpochOrderGpu(std::uint32_t rows);
  void compute(std::uint64_t seed, int epoch, cudaStream_t stream);
  const std::uint32_t* order() const { return order_.data(); }  // (rows)
  std::uint32_t rows() const { return rows_; }

 private:
  std::uint32_t rows_ = 0;
  DeviceBuffer<std::uint64_t> keys_;         // (rows)
  DeviceBuffer<std::uint64_t> sorted_keys_;  // (rows)
  DeviceBuffer<std::uint32_t> row_ids_;      // (rows)
  DeviceBuffer<std::uint32_t> order_;        // (rows)
  DeviceBuffer<unsigned char> sort_temp_;
};

// dst (copies, n): `copies` copies of src (n), every model's input where the models read the same rows.
void repeat_gpu(const float* src, std::size_t n, int copies, float* dst, cudaStream_t stream);

// The visiting orders of several models' epochs at once (a population's): model k's is
// epoch_permutation(seed_k, epoch_k, rows), all of them in one segmented radix sort (stable: ties
// keep the row order, as on the CPU). Buffers for `models` are allocated once.
class ModelOrdersGpu {
 public:
  ModelOrdersGpu(int models, std::uint32_t rows);
  // The orders of the `count` models active[0..count) (device; null: models 0..count-1): model k's
  // seed is read at seeds + k·seed_stride_bytes and its epoch at epochs + k·epoch_stride_bytes
  // (device memory, so a caller's per-model structs serve).
  void compute(const std::uint64_t* seeds, std::size_t seed_stride_bytes, const int* epochs,
               std::size_t epoch_stride_bytes, const int* active, int count, cudaStream_t stream);
  const std::uint32_t* orders() const { return order_.data(); }  // (count, rows), in active order
  std::uint32_t rows() const { return rows_; }

 private:
  int models_ = 0;
  std::uint32_t rows_ = 0;
  DeviceBuffer<std::uint64_t> keys_, sorted_keys_;  // (models, rows)
  DeviceBuffer<std::uint32_t> row_ids_, order_;     // (models, rows)
  DeviceBuffer<int> offsets_;                       // (models + 1)
  DeviceBuffer<unsigned char> sort_temp_;
};

}  // namespace dynpmnn
