#include "kernels/ops.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "kernels/cpu_isa.h"
#include "kernels/ops_cpu_simd.h"

#if defined(DYNPMNN_HAVE_CBLAS)
#include <cblas.h>
#endif

namespace dynpmnn {

const char* to_string(Activation a) {
  switch (a) {
    case Activation::kSiLU: return "silu";
    case Activation::kTanh: return "tanh";
    case Activation::kIdentity: return "identity";
    case Activation::kRelu: return "relu";
    case Activation::kLecunTanh: return "lecun_tanh";
  }
  return "?";
}

Activation activation_from_string(const std::string& s) {
  if (s == "silu") return Activation::kSiLU;
  if (s == "tanh") return Activation::kTanh;
  if (s == "identity" || s == "none") return Activation::kIdentity;
  if (s == "relu") return Activation::kRelu;
  if (s == "lecun_tanh") return Activation::kLecunTanh;
  throw std::invalid_argument("unknown activation '" + s + "' (expected silu, tanh, identity, relu or lecun_tanh)");
}

namespace {

// C (M, N) = alpha · op(A) · op(B) + beta · C, row-major; the reference loop where OpenBLAS is
// absent, and for float (our CPU path trains in double, float is only for tests).
template <typename T>
void gemm_loop(bool trans_a, bool trans_b, int M, int N, int K, const T* A, int lda, const T* B, int ldb,
               T beta, T* C, int ldc) {
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < N; ++j) {
      T acc = 0;
      for (int k = 0; k < K; ++k) {
        const T a = trans_a ? A[static_cast<std::size_t>(k) * lda + i] : A[static_cast<std::size_t>(i) * lda + k];
        const T b = trans_b ? B[static_cast<std::size_t>(j) * ldb + k] : B[static_cast<std::size_t>(k) * ldb + j];
        acc += a * b;
      }
      T& c = C[static_cast<std::size_t>(i) * ldc + j];
      c = (beta == T(0) ? T(0) : beta * c) + acc;
    }
  }
}

template <typename T>
void gemm(bool trans_a, bool trans_b, int M, int N, int K, const T* A, int lda, const T* B, int ldb, T beta,
          T* C, int ldc) {
  if (M == 0 || N == 0) return;
#if defined(DYNPMNN_HAVE_CBLAS)
  // Tiny products (the paper's 8→2 layer) are faster in the loop than through the BLAS call.
  if constexpr (std::is_same_v<T, double>) {
    if (static_cast<long>(M) * N * K >= 4096) {
      cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M,
                  N, K, 1.0, A, lda, B, ldb, beta, C, ldc);
      return;
    }
  }
#endif
  gemm_loop(trans_a, trans_b, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace

// The layers' products in double run the vector loop of ops_cpu_simd.h where the weight matrix is
// at most this many values (every layer of the presets and benchmarks): at these sizes it is faster
// than OpenBLAS's call and packing, and it gives a sample the same bits in any batch (the choice
// depends on the weights' shape, never on the batch). Larger ones go to OpenBLAS.
constexpr long kVectorGemmMaxWeights = 1L << 16;

template <typename T>
bool vector_gemm(int in, int out) {
  return std::is_same_v<T, double> && static_cast<long>(in) * out <= kVectorGemmMaxWeights;
}

template <typename T>
void layer_gemm(bool vec, bool trans_a, bool trans_b, int M, int N, int K, const T* A, int lda, const T* B, int ldb,
                T* C, int ldc) {
  if constexpr (std::is_same_v<T, double>) {
    if (vec) return gemm_simd(cpu_isa_active(), trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc);
  }
  gemm(trans_a, trans_b, M, N, K, A, lda, B, ldb, T(0), C, ldc);
}

template <typename T>
void dense_forward_cpu(const T* x, const T* W, const T* bias, int B, int in, int out, T* y) {
  layer_gemm(vector_gemm<T>(in, out), false, true, B, out, in, x, in, W, in, y, out);
  if (bias) {
    for (int b = 0; b < B; ++b)
      for (int o = 0; o < out; ++o) y[static_cast<std::size_t>(b) * out + o] += bias[o];
  }
}

template <typename T>
void dense_backward_cpu(const T* x, const T* W, const T* dy, int B, int in, int out, T* dx, T* dW, T* dbias) {
  const bool vec = vector_gemm<T>(in, out);
  if (dx) layer_gemm(vec, false, false, B, in, out, dy, out, W, in, dx, in);
  if (dW) layer_gemm(vec, true, false, out, in, B, dy, out, x, in, dW, in);
  if (dbias) {
    std::fill(dbias, dbias + out, T(0));
    for (int b = 0; b < B; ++b)
      for (int o = 0; o < out; ++o) dbias[o] += dy[static_cast<std::size_t>(b) * out + o];
  }
}

// In double (the CPU backend's training) LayerNorm and SiLU run vectorised (kernels/ops_cpu_simd.h,
// with its own last bits); float, which only the tests use, runs elementwise_math.h's scalar code.
template <typename T>
void layernorm_forward_cpu(const T* x, const T* gamma, const T* beta, int B, int D, T* y, T* xhat, T* rstd) {
  if constexpr (std::is_same_v<T, double>) {
    layernorm_forward_simd(cpu_isa_active(), x, gamma, beta, B, D, y, xhat, rstd);
    return;
  }
  for (int b = 0; b < B; ++b) {
    const std::size_t row = static_cast<std::size_t>(b) * D;
    rstd[b] = layernorm_row_forward(x + row, D, gamma, beta, y + row, xhat + row);
  }
}

template <typename T>
void layernorm_backward_cpu(const T* dy, const T* xhat, const T* rstd, const T* gamma, int B, int D, T* dx,
                            T* dgamma, T* dbeta) {
  if constexpr (std::is_same_v<T, double>) {
    layernorm_backward_simd(cpu_isa_active(), dy, xhat, rstd, gamma, B, D, dx, dgamma, dbeta);
    return;
  }
  if (dgamma) std::fill(dgamma, dgamma + D, T(0));
  if (dbeta) std::fill(dbeta, dbeta + D, T(0));
  for (int b = 0; b < B; ++b) {
    const std::size_t row = static_cast<std::size_t>(b) * D;
    layernorm_row_backward(dy + row, xhat + row, rstd[b], gamma, D, dx + row);
    for (int i = 0; i < D; ++i) {
      if (dgamma) dgamma[i] += dy[row + i] * xhat[row + i];
      if (dbeta) dbeta[i] += dy[row + i];
    }
  }
}

template <typename T>
void activation_forward_cpu(Activation act, const T* x, std::size_t n, T* y) {
  if constexpr (std::is_same_v<T, double>) {
    if (act == Activation::kSiLU) return silu_forward_simd(cpu_isa_active(), x, n, y);
  }
  for (std::size_t i = 0; i < n; ++i) y[i] = activation_forward(act, x[i]);
}

template <typename T>
void activation_backward_cpu(Activation act, const T* x, const T* dy, std::size_t n, T* dx) {
  if constexpr (std::is_same_v<T, double>) {
    if (act == Activation::kSiLU) return silu_backward_simd(cpu_isa_active(), x, dy, n, dx);
  }
  for (std::size_t i = 0; i < n; ++i) dx[i] = dy[i] * activation_derivative(act, x[i]);
}

template <typename T>
double mse_loss_cpu(const T* pred, const T* target, std::size_t n, T* dpred, std::size_t denom) {
  if (denom == 0) denom = n;
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(pred[i]) - static_cast<double>(target[i]);
    sum += d * d;
    if (dpred) dpred[i] = static_cast<T>(2.0 * d / static_cast<double>(denom));
  }
  return denom ? sum / static_cast<double>(denom) : 0.0;
}

#define DYNPMNN_INSTANTIATE_OPS(T)                                                                        \
  template void dense_forward_cpu<T>(const T*, const T*, const T*, int, int, int, T*);                   \
  template void dense_backward_cpu<T>(const T*, const T*, const T*, int, int, int, T*, T*, T*);          \
  template void layernorm_forward_cpu<T>(const T*, const T*, const T*, int, int, T*, T*, T*);            \
  template void layernorm_backward_cpu<T>(const T*, const T*, const T*, const T*, int, int, T*, T*, T*); \
  template void activation_forward_cpu<T>(Activation, const T*, std::size_t, T*);                       \
  template void activation_backward_cpu<T>(Activation, const T*, const T*, std::size_t, T*);            \
  template double mse_loss_cpu<T>(const T*, const T*, std::size_t, T*, std::size_t);
DYNPMNN_INSTANTIATE_OPS(float)
DYNPMNN_INSTANTIATE_OPS(double)

}  // namespace dynpmnn
