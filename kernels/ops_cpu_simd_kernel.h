// The kernels of kernels/ops_cpu_simd.h, written once: each ops_cpu_simd_<isa>.cpp defines
// DYNPMNN_SIMD_NS (its own namespace), DYNPMNN_SIMD_LANES and DYNPMNN_SIMD_EXP (libmvec's name of
// the vector exp of that width, in the x86-64 vector function ABI), then includes this. Compiled
// without FMA contraction (CMakeLists.txt): apart from the exp and the order of the row sums, every
// operation is the scalar code's, element by element (elementwise_math.h).
#pragma once

#include <cmath>
#include <cstddef>

#include "kernels/elementwise_math.h"
#include "kernels/ops_cpu_simd_isa.h"

#if !defined(DYNPMNN_SIMD_NS) || !defined(DYNPMNN_SIMD_LANES) || !defined(DYNPMNN_SIMD_EXP)
#error "define DYNPMNN_SIMD_NS, DYNPMNN_SIMD_LANES and DYNPMNN_SIMD_EXP before including ops_cpu_simd_kernel.h"
#endif

namespace dynpmnn {
namespace DYNPMNN_SIMD_NS {

constexpr int kLanes = DYNPMNN_SIMD_LANES;
typedef double V __attribute__((vector_size(kLanes * sizeof(double))));

#if defined(DYNPMNN_HAVE_LIBMVEC)
extern "C" V DYNPMNN_SIMD_EXP(V);
inline V vexp(V x) { return DYNPMNN_SIMD_EXP(x); }
#else
inline V vexp(V x) {
  for (int i = 0; i < kLanes; ++i) x[i] = std::exp(x[i]);
  return x;
}
#endif

inline V load(const double* p) {
  V v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
inline void store(double* p, V v) { __builtin_memcpy(p, &v, sizeof v); }
// The first n < kLanes elements, the other lanes 0.
inline V load_tail(const double* p, std::size_t n) {
  V v = {};
  for (std::size_t i = 0; i < n; ++i) v[i] = p[i];
  return v;
}
inline void store_tail(double* p, std::size_t n, V v) {
  for (std::size_t i = 0; i < n; ++i) p[i] = v[i];
}
inline V splat(double x) { return V{} + x; }
// The lanes added in order.
inline double sum_lanes(V v) {
  double s = v[0];
  for (int i = 1; i < kLanes; ++i) s += v[i];
  return s;
}

// elementwise_math.h's sigmoid, x · sigmoid(x) and its derivative, with the vector exp.
inline V sigmoid(V x) { return 1.0 / (1.0 + vexp(-x)); }
inline V silu(V x) { return x * sigmoid(x); }
inline V silu_grad(V x, V dy) {
  const V s = sigmoid(x);
  return dy * (s * (1.0 + x * (1.0 - s)));
}

void silu_forward(const double* x, std::size_t n, double* y) {
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) store(y + i, silu(load(x + i)));
  if (i < n) store_tail(y + i, n - i, silu(load_tail(x + i, n - i)));
}

void silu_backward(const double* x, const double* dy, std::size_t n, double* dx) {
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) store(dx + i, silu_grad(load(x + i), load(dy + i)));
  if (i < n) store_tail(dx + i, n - i, silu_grad(load_tail(x + i, n - i), load_tail(dy + i, n - i)));
}

// Σ f(i) over a row of D: four vectors of kLanes partial sums (vector c takes the chunks c, c + 4,
// ...: four independent add chains), the tail's padding lanes contributing f of zeros (which each f
// below makes 0); then the vectors (0 + 1) + (2 + 3), then the lanes in order.
template <class F>
double row_sum(int D, F&& f) {
  V acc[4] = {};
  int i = 0;
  for (; i + 4 * kLanes <= D; i += 4 * kLanes)
    for (int c = 0; c < 4; ++c) acc[c] += f(i + c * kLanes, kLanes);
  for (int c = 0; i + kLanes <= D; i += kLanes, ++c) acc[c] += f(i, kLanes);
  if (i < D) acc[3] += f(i, D - i);
  return sum_lanes((acc[0] + acc[1]) + (acc[2] + acc[3]));
}

// layernorm_row_forward of elementwise_math.h with the row sums in lanes.
double layernorm_row(const double* x, int D, const double* gamma, const double* beta, double* y, double* xhat) {
  auto get = [&](const double* p, int i, int n) { return n == kLanes ? load(p + i) : load_tail(p + i, n); };
  const double mean = row_sum(D, [&](int i, int n) { return get(x, i, n); }) / double(D);
  const V m = splat(mean);
  const double var = row_sum(D, [&](int i, int n) {
                       V d = get(x, i, n) - m;
                       for (int j = n; j < kLanes; ++j) d[j] = 0.0;
                       return d * d;
                     }) /
                     double(D);
  const double rstd = 1.0 / std::sqrt(var + kLayerNormEps);
  const V r = splat(rstd);
  int i = 0;
  for (; i + kLanes <= D; i += kLanes) {
    const V xh = (load(x + i) - m) * r;
    store(xhat + i, xh);
    store(y + i, xh * load(gamma + i) + load(beta + i));
  }
  for (; i < D; ++i) {
    const double xh = (x[i] - mean) * rstd;
    xhat[i] = xh;
    y[i] = xh * gamma[i] + beta[i];
  }
  return rstd;
}

// A row of at most kLanes values: row_sum's lanes then hold one value each and add in order, which is
// what these left-to-right sums compute, without building vectors from pieces (the paper's D = 2).
double layernorm_short_row(const double* x, int D, const double* gamma, const double* beta, double* y,
                           double* xhat) {
  double mean = 0;
  for (int i = 0; i < D; ++i) mean += x[i];
  mean /= double(D);
  double var = 0;
  for (int i = 0; i < D; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= double(D);
  const double rstd = 1.0 / std::sqrt(var + kLayerNormEps);
  for (int i = 0; i < D; ++i) {
    xhat[i] = (x[i] - mean) * rstd;
    y[i] = xhat[i] * gamma[i] + beta[i];
  }
  return rstd;
}

void layernorm_forward(const double* x, const double* gamma, const double* beta, int B, int D, double* y,
                       double* xhat, double* rstd) {
  for (int b = 0; b < B; ++b) {
    const std::size_t row = static_cast<std::size_t>(b) * D;
    rstd[b] = D <= kLanes ? layernorm_short_row(x + row, D, gamma, beta, y + row, xhat + row)
                          : layernorm_row(x + row, D, gamma, beta, y + row, xhat + row);
  }
}

// layernorm_row_backward of elementwise_math.h with the row sums in lanes, and the batch sums of
// dgamma and dbeta element by element in row order (as ops.cpp's scalar loop).
void layernorm_backward(const double* dy, const double* xhat, const double* rstd, const double* gamma, int B, int D,
                        double* dx, double* dgamma, double* dbeta) {
  for (int i = 0; i < D; ++i) {
    if (dgamma) dgamma[i] = 0.0;
    if (dbeta) dbeta[i] = 0.0;
  }
  for (int b = 0; b < B; ++b) {
    const std::size_t row = static_cast<std::size_t>(b) * D;
    const double* dyr = dy + row;
    const double* xr = xhat + row;
    double* dxr = dx + row;
    if (D <= kLanes) {  // as layernorm_short_row
      double mean_g = 0, mean_gx = 0;
      for (int i = 0; i < D; ++i) {
        mean_g += dyr[i] * gamma[i];
        mean_gx += (dyr[i] * gamma[i]) * xr[i];
      }
      mean_g /= double(D);
      mean_gx /= double(D);
      for (int i = 0; i < D; ++i) {
        dxr[i] = rstd[b] * (dyr[i] * gamma[i] - mean_g - xr[i] * mean_gx);
        if (dgamma) dgamma[i] += dyr[i] * xr[i];
        if (dbeta) dbeta[i] += dyr[i];
      }
      continue;
    }
    auto get = [&](const double* p, int i, int n) { return n == kLanes ? load(p + i) : load_tail(p + i, n); };
    const double mean_g = row_sum(D, [&](int i, int n) { return get(dyr, i, n) * get(gamma, i, n); }) / double(D);
    const double mean_gx =
        row_sum(D, [&](int i, int n) { return (get(dyr, i, n) * get(gamma, i, n)) * get(xr, i, n); }) / double(D);
    const V r = splat(rstd[b]), mg = splat(mean_g), mgx = splat(mean_gx);
    int i = 0;
    for (; i + kLanes <= D; i += kLanes) {
      const V d = load(dyr + i), xh = load(xr + i);
      store(dxr + i, r * (d * load(gamma + i) - mg - xh * mgx));
      if (dgamma) store(dgamma + i, load(dgamma + i) + d * xh);
      if (dbeta) store(dbeta + i, load(dbeta + i) + d);
    }
    for (; i < D; ++i) {
      dxr[i] = rstd[b] * (dyr[i] * gamma[i] - mean_g - xr[i] * mean_gx);
      if (dgamma) dgamma[i] += dyr[i] * xr[i];
      if (dbeta) dbeta[i] += dyr[i];
    }
  }
}

// C (M, N) = op(A) · op(B), row-major, with ops.cpp's gemm_loop's bits (every element the products
// a(i, k)·b(k, j) added for k = 0, 1, ... from 0, no FMA), except the narrow A · Bᵀ of dot_rows. The lanes run along a row of C where it is
// at least a vector wide (or wider than C is tall), else down a column (computing Cᵀ = op(B)ᵀ·op(A)ᵀ,
// which multiplies the same pairs). The operand that must be contiguous along the lanes is copied
// transposed into scratch (K · max(M, N) doubles) when it is not.
// C = A · Bᵀ where C is narrower than a vector (a layer's readout: B is its few weight rows): each
// element the dot product of two contiguous rows, added in kLanes partial sums (lane l takes
// k ≡ l mod kLanes, the tail's padding lanes 0) and then the lanes in order. Not gemm_loop's order,
// but still a function of the two rows only.
void dot_rows(int M, int N, int K, const double* A, int lda, const double* B, int ldb, double* C, int ldc) {
  if (K <= kLanes) {  // one product a lane, the lanes added in order: the loop's left-to-right sum
    for (int i = 0; i < M; ++i)
      for (int j = 0; j < N; ++j) {
        double acc = 0;
        for (int k = 0; k < K; ++k)
          acc += A[static_cast<std::size_t>(i) * lda + k] * B[static_cast<std::size_t>(j) * ldb + k];
        C[static_cast<std::size_t>(i) * ldc + j] = acc;
      }
    return;
  }
  auto get = [&](const double* p, int k) { return k + kLanes <= K ? load(p + k) : load_tail(p + k, K - k); };
  constexpr int kR = 4;  // rows of A at a time: independent add chains
  for (int j = 0; j < N; ++j) {
    const double* b = B + static_cast<std::size_t>(j) * ldb;
    int i = 0;
    for (; i + kR <= M; i += kR) {
      V acc[kR] = {};
      for (int k = 0; k < K; k += kLanes) {
        const V bk = get(b, k);
        for (int u = 0; u < kR; ++u) acc[u] += get(A + static_cast<std::size_t>(i + u) * lda, k) * bk;
      }
      for (int u = 0; u < kR; ++u) C[static_cast<std::size_t>(i + u) * ldc + j] = sum_lanes(acc[u]);
    }
    for (; i < M; ++i) {
      V acc = {};
      for (int k = 0; k < K; k += kLanes) acc += get(A + static_cast<std::size_t>(i) * lda, k) * get(b, k);
      C[static_cast<std::size_t>(i) * ldc + j] = sum_lanes(acc);
    }
  }
}

void gemm(bool trans_a, bool trans_b, int M, int N, int K, const double* A, int lda, const double* B, int ldb,
          double* C, int ldc, double* scratch) {
  if (N < kLanes && N < M && !trans_a && trans_b) return dot_rows(M, N, K, A, lda, B, ldb, C, ldc);
  const bool along_rows = N >= kLanes || N >= M;
  // X: the broadcast operand, x(r, k) for r over C's rows (along_rows) or columns; Y (K, cols) the
  // lane operand, contiguous along cols.
  const int rows = along_rows ? M : N, cols = along_rows ? N : M;
  const double* X = along_rows ? A : B;
  const bool x_t = along_rows ? trans_a : !trans_b;  // x(r, k) = x_t ? X[k·ldx + r] : X[r·ldx + k]
  const int ldx = along_rows ? lda : ldb;
  const double* Y = along_rows ? B : A;
  const bool y_contig = along_rows ? !trans_b : trans_a;  // Y[k·ldy + c] already
  int ldy = along_rows ? ldb : lda;
  if (!y_contig) {
    for (int k = 0; k < K; ++k)
      for (int c = 0; c < cols; ++c) scratch[static_cast<std::size_t>(k) * cols + c] = Y[static_cast<std::size_t>(c) * ldy + k];
    Y = scratch;
    ldy = cols;
  }
  auto x = [&](int r, int k) {
    return x_t ? X[static_cast<std::size_t>(k) * ldx + r] : X[static_cast<std::size_t>(r) * ldx + k];
  };
  auto put = [&](int r, int c0, int n, V v) {
    if (along_rows) {
      double* row = C + static_cast<std::size_t>(r) * ldc + c0;
      if (n == kLanes) store(row, v); else store_tail(row, n, v);
    } else {
      for (int l = 0; l < n; ++l) C[static_cast<std::size_t>(c0 + l) * ldc + r] = v[l];
    }
  };
  auto yv = [&](int k, int c0, int n) {
    const double* p = Y + static_cast<std::size_t>(k) * ldy + c0;
    return n == kLanes ? load(p) : load_tail(p, n);
  };
  constexpr int kU = 4;  // independent add chains: vectors of one row, or rows of one vector
  const int wide = cols - cols % (kU * kLanes);
  for (int r = 0; r < rows; ++r) {
    for (int c0 = 0; c0 < wide; c0 += kU * kLanes) {
      V acc[kU] = {};
      for (int k = 0; k < K; ++k) {
        const V xv = splat(x(r, k));
        for (int u = 0; u < kU; ++u) acc[u] += xv * load(Y + static_cast<std::size_t>(k) * ldy + c0 + u * kLanes);
      }
      for (int u = 0; u < kU; ++u) put(r, c0 + u * kLanes, kLanes, acc[u]);
    }
  }
  for (int c0 = wide; c0 < cols; c0 += kLanes) {
    const int n = cols - c0 < kLanes ? cols - c0 : kLanes;
    int r = 0;
    for (; r + kU <= rows; r += kU) {
      V acc[kU] = {};
      for (int k = 0; k < K; ++k) {
        const V yk = yv(k, c0, n);
        for (int u = 0; u < kU; ++u) acc[u] += splat(x(r + u, k)) * yk;
      }
      for (int u = 0; u < kU; ++u) put(r + u, c0, n, acc[u]);
    }
    for (; r < rows; ++r) {
      V acc = {};
      for (int k = 0; k < K; ++k) acc += splat(x(r, k)) * yv(k, c0, n);
      put(r, c0, n, acc);
    }
  }
}

// elementwise_math.h's adam_update over n parameters, operation for operation (no FMA; vector
// sqrt and division round as the scalar ones): its very bits.
void adam(double* param, const double* grad_in, double* m, double* v, std::size_t n, const AdamSimdArgs& h) {
  const double c1 = 1.0 - h.beta1, c2 = 1.0 - h.beta2, step = h.lr / h.bias_correction1;
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const V p = load(param + i);
    const V g = load(grad_in + i) + h.weight_decay * p;
    const V mi = h.beta1 * load(m + i) + c1 * g;
    const V vi = h.beta2 * load(v + i) + c2 * g * g;
    V root;
    for (int l = 0; l < kLanes; ++l) root[l] = __builtin_sqrt(vi[l]);
    const V denom = root / h.bias_correction2_sqrt + h.eps;
    store(m + i, mi);
    store(v + i, vi);
    store(param + i, p - step * mi / denom);
  }
  for (; i < n; ++i) {
    const double g = grad_in[i] + h.weight_decay * param[i];
    m[i] = h.beta1 * m[i] + c1 * g;
    v[i] = h.beta2 * v[i] + c2 * g * g;
    const double denom = __builtin_sqrt(v[i]) / h.bias_correction2_sqrt + h.eps;
    param[i] -= step * m[i] / denom;
  }
}

inline OpsSimdKernels kernels() {
  return {silu_forward, silu_backward, layernorm_forward, layernorm_backward, gemm, adam};
}

}  // namespace DYNPMNN_SIMD_NS
}  // namespace dynpmnn
