// The interface between fhn_cpu_simd.cpp (baseline code, which checks and dispatches) and the
// per-instruction-set kernels fhn_cpu_simd_<isa>.cpp (each compiled with its own -m flags). Only
// plain data crosses it: a header function compiled into an AVX-512 object could be the copy that
// the linker keeps for baseline callers, so those objects see nothing of the library but this and
// the per-element math headers, instantiated with their own vector type.
#pragma once

#include <cstddef>

namespace dynpmnn {

// Jobs that a kernel runs interleaved.
inline constexpr int kFhnSimdGroup = 4;

// A job is either one neuron's block of `lanes` samples (the samples on the lanes) or one sample's
// block of `lanes` neurons (the neurons on the lanes: contiguous loads and stores, and the
// parameters a vector per block); the layout with fewer jobs, so less padding, the neurons on ties.
// Both compute every lane as the scalar op does, so the choice changes speed only.
inline bool fhn_simd_neuron_lanes(int batch, int neurons, int lanes) {
  const long by_neuron = static_cast<long>((neurons + lanes - 1) / lanes) * batch;
  const long by_sample = static_cast<long>(neurons) * ((batch + lanes - 1) / lanes);
  return by_neuron <= by_sample;
}
inline std::size_t fhn_simd_jobs(int batch, int neurons, int lanes) {
  return fhn_simd_neuron_lanes(batch, neurons, lanes)
             ? static_cast<std::size_t>((neurons + lanes - 1) / lanes) * batch
             : static_cast<std::size_t>(neurons) * ((batch + lanes - 1) / lanes);
}

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
  double* trajectory = nullptr; // (fhn_simd_jobs, job_stride), or null (inference)
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
