#include "kernels/ops_cpu_simd.h"

#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/ops_cpu_simd_isa.h"

namespace dynpmnn {
namespace {

const OpsSimdKernels& kernels_of(CpuIsa isa) {
  static const OpsSimdKernels baseline = ops_simd_kernels_baseline(), avx2 = ops_simd_kernels_avx2(),
                              avx512 = ops_simd_kernels_avx512();
  if (!cpu_isa_supported(isa))
    throw std::invalid_argument(std::string("vector ops: this CPU does not support instruction set ") + to_string(isa));
  switch (isa) {
    case CpuIsa::kBaseline: return baseline;
    case CpuIsa::kAvx2: return avx2;
    case CpuIsa::kAvx512: return avx512;
  }
  throw std::invalid_argument("vector ops: unknown instruction set " + std::to_string(static_cast<int>(isa)));
}

}  // namespace

void silu_forward_simd(CpuIsa isa, const double* x, std::size_t n, double* y) { kernels_of(isa).silu_forward(x, n, y); }

void silu_backward_simd(CpuIsa isa, const double* x, const double* dy, std::size_t n, double* dx) {
  kernels_of(isa).silu_backward(x, dy, n, dx);
}

void layernorm_forward_simd(CpuIsa isa, const double* x, const double* gamma, const double* beta, int B, int D,
                            double* y, double* xhat, double* rstd) {
  kernels_of(isa).layernorm_forward(x, gamma, beta, B, D, y, xhat, rstd);
}

void layernorm_backward_simd(CpuIsa isa, const double* dy, const double* xhat, const double* rstd,
                             const double* gamma, int B, int D, double* dx, double* dgamma, double* dbeta) {
  kernels_of(isa).layernorm_backward(dy, xhat, rstd, gamma, B, D, dx, dgamma, dbeta);
}

void gemm_simd(CpuIsa isa, bool trans_a, bool trans_b, int M, int N, int K, const double* A, int lda,
               const double* B, int ldb, double* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  // The transposed copy of one operand (ops_cpu_simd_kernel.h); per thread: sweeps train on several.
  thread_local std::vector<double> scratch;
  scratch.resize(static_cast<std::size_t>(K) * (M > N ? M : N));
  kernels_of(isa).gemm(trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, scratch.data());
}

void adam_update_simd(CpuIsa isa, double* param, const double* grad, double* m, double* v, std::size_t n,
                      const AdamHyper& h, double bias_correction1, double bias_correction2_sqrt) {
  const AdamSimdArgs a{h.lr, h.beta1, h.beta2, h.eps, h.weight_decay, bias_correction1, bias_correction2_sqrt};
  kernels_of(isa).adam(param, grad, m, v, n, a);
}

bool cpu_simd_has_vector_exp() {
#if defined(DYNPMNN_HAVE_LIBMVEC)
  return true;
#else
  return false;
#endif
}

}  // namespace dynpmnn
