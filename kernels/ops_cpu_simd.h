// The CPU backend's elementwise and row ops in double, vectorised (kernels/cpu_isa.h picks the
// instruction set): SiLU through a vector exp (glibc's libmvec where the build found it, else the
// scalar exp lane by lane), LayerNorm with its row sums in vector lanes, and the small GEMMs of the
// layers (gemm_simd). ops.cpp runs them for double; float and the other activations stay on
// elementwise_math.h's scalar code.
//
// Bits: these are not the scalar reference's. libmvec's exp may differ from libm's in the last bit
// or two, and the LayerNorm row sums add in `lanes` partial sums (then the lanes in order) instead of
// left to right. Each element and row is still a pure function of its own inputs and the
// instruction set: a tail shorter than a vector is computed in a zero-padded vector by the same
// code, so a sample's bits do not depend on its position in a batch, the batch size or a shard
// (the data-parallel and population tests compare those bit for bit), and a run repeats exactly on
// a given machine. Different instruction sets give different last bits.
#pragma once

#include <cstddef>

#include "kernels/cpu_isa.h"
#include "kernels/elementwise_math.h"

namespace dynpmnn {

// y = x · sigmoid(x), elementwise over n.
void silu_forward_simd(CpuIsa isa, const double* x, std::size_t n, double* y);
// dx = dy · silu'(x); dx may alias dy.
void silu_backward_simd(CpuIsa isa, const double* x, const double* dy, std::size_t n, double* dx);

// As layernorm_forward_cpu / layernorm_backward_cpu (kernels/ops.h); dgamma and dbeta may be null.
void layernorm_forward_simd(CpuIsa isa, const double* x, const double* gamma, const double* beta, int B, int D,
                            double* y, double* xhat, double* rstd);
void layernorm_backward_simd(CpuIsa isa, const double* dy, const double* xhat, const double* rstd,
                             const double* gamma, int B, int D, double* dx, double* dgamma, double* dbeta);

// C (M, N) = op(A) · op(B), row-major (cblas_dgemm's arguments with alpha 1, beta 0). Each element
// is a function of its own row and column only: the plain loop's bits (products added in order of k,
// no FMA, the same on every instruction set), except for C = A · Bᵀ narrower than a vector and
// shorter than tall (a readout layer's forward), whose dot products add in `lanes` partial sums.
void gemm_simd(CpuIsa isa, bool trans_a, bool trans_b, int M, int N, int K, const double* A, int lda,
               const double* B, int ldb, double* C, int ldc);

// adam_update (elementwise_math.h) over n parameters, with its bits: one step of Adam.
void adam_update_simd(CpuIsa isa, double* param, const double* grad, double* m, double* v, std::size_t n,
                      const AdamHyper& h, double bias_correction1, double bias_correction2_sqrt);

// Whether the build has libmvec's vector exp (else the vector SiLU runs the scalar exp per lane).
bool cpu_simd_has_vector_exp();

}  // namespace dynpmnn
