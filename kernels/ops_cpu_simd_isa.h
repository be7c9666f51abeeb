// The interface between ops_cpu_simd.cpp (baseline code, which dispatches) and the per-instruction-
// set kernels ops_cpu_simd_<isa>.cpp, each compiled with its own -m flags; plain data only (see
// fhn_cpu_simd_isa.h for why).
#pragma once

#include <cstddef>

namespace dynpmnn {

struct AdamSimdArgs {
  double lr, beta1, beta2, eps, weight_decay, bias_correction1, bias_correction2_sqrt;
};

struct OpsSimdKernels {
  void (*silu_forward)(const double* x, std::size_t n, double* y);
  void (*silu_backward)(const double* x, const double* dy, std::size_t n, double* dx);
  void (*layernorm_forward)(const double* x, const double* gamma, const double* beta, int B, int D, double* y,
                            double* xhat, double* rstd);
  void (*layernorm_backward)(const double* dy, const double* xhat, const double* rstd, const double* gamma, int B,
                             int D, double* dx, double* dgamma, double* dbeta);
  void (*gemm)(bool trans_a, bool trans_b, int M, int N, int K, const double* A, int lda, const double* B, int ldb,
               double* C, int ldc, double* scratch);
  void (*adam)(double* param, const double* grad, double* m, double* v, std::size_t n, const AdamSimdArgs& h);
};

OpsSimdKernels ops_simd_kernels_baseline();
OpsSimdKernels ops_simd_kernels_avx2();
OpsSimdKernels ops_simd_kernels_avx512();

}  // namespace dynpmnn
