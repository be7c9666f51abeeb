// The interface between fhn_cpu_simd.cpp (baseline code, which checks and dispatches) and the
// per-instruction-set kernels fhn_cpu_simd_<isa>.cpp (each compiled with its own -m flags). Only
// plain data crosses it: a header function compiled into an AVX-512 object could be the copy that
// the linker keeps for baseline callers, so those objects see nothing of the library but this and
// the per-element math headers, instantiated with their own vector type.
#pragma once

#include <cstddef>

namespace dynpmnn {

// Jobs (one neuron's block of lanes) that a kernel runs interleaved.
inline constexpr int kFhnSimdGroup = 4;

// One model of a population: its block of every array.
struct FhnSimdModelArgs {
  int batch = 0, neurons = 0, steps = 0;
  double dt = 0, clip = 0;      // clip <= 0: no clamp
  bool imex = false;            // else explicit Euler
  bool current_coupling = false;
  bool voltage_readout = false;
  const double* in = nullptr;   // (B, 2N) initial states or (B, N) currents
  const double* p[4] = {};      // (N) each: a, b, g, I
  double* out = nullptr;        // (B, N) or (B, 2N)
  double* trajectory = nullptr; // (N, blocks, job_stride), or null (inference)
  std::size_t job_stride = 0;   // doubles per (neuron, block): >= steps · 2 · lanes
  double* scratch = nullptr;    // backward without a trajectory: (group of jobs, job_stride)
  const double* d_out = nullptr;
  double* d_in = nullptr;
  double* d_p[4] = {};          // (N) each, null: frozen
};

bool fhn_simd_forward_baseline(const FhnSimdModelArgs& a);
void fhn_simd_backward_baseline(const FhnSimdModelArgs& a);
bool fhn_simd_forward_avx2(const FhnSimdModelArgs& a);
void fhn_simd_backward_avx2(const FhnSimdModelArgs& a);
bool fhn_simd_forward_avx512(const FhnSimdModelArgs& a);
void fhn_simd_backward_avx512(const FhnSimdModelArgs& a);

}  // namespace dynpmnn
