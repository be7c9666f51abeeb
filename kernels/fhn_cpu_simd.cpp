#include "kernels/fhn_cpu_simd.h"

#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/fhn_cpu_simd_isa.h"

namespace dynpmnn {
namespace {

using ForwardFn = bool (*)(const FhnSimdModelArgs&);
using BackwardFn = void (*)(const FhnSimdModelArgs&);

struct IsaKernels {
  ForwardFn forward;
  BackwardFn backward;
};

IsaKernels kernels_of(CpuIsa isa, const char* op) {
  if (!cpu_isa_supported(isa))
    throw std::invalid_argument(std::string(op) + ": this CPU does not support instruction set " + to_string(isa));
  switch (isa) {
    case CpuIsa::kBaseline: return {fhn_simd_forward_baseline, fhn_simd_backward_baseline};
    case CpuIsa::kAvx2: return {fhn_simd_forward_avx2, fhn_simd_backward_avx2};
    case CpuIsa::kAvx512: return {fhn_simd_forward_avx512, fhn_simd_backward_avx512};
  }
  throw std::invalid_argument(std::string(op) + ": unknown instruction set " + std::to_string(static_cast<int>(isa)));
}

void check(const NeuronShape& s, const char* op) {
  s.validate();
  if (!fhn_simd_takes(s))
    throw std::invalid_argument(std::string(op) + ": takes FitzHugh-Nagumo's layout with integrator euler or imex, got " +
                                std::to_string(s.states) + " states and integrator " + to_string(s.integrator));
}

std::size_t job_stride(const NeuronShape& s, CpuIsa isa) {
  return static_cast<std::size_t>(s.max_steps()) * 2 * cpu_isa_lanes(isa);
}

std::size_t jobs_per_model(const NeuronShape& s, CpuIsa isa) {
  return fhn_simd_jobs(s.batch, s.neurons, cpu_isa_lanes(isa));
}

// Model m's block of every array (neuron_cpu.h's ModelBlock, and its trajectory).
FhnSimdModelArgs model_args(CpuIsa isa, const NeuronShape& s, int m, const double* in,
                            const NeuronParamPtrs<double>& p, const double* trajectory) {
  const NeuronModelStep st = s.step_of(m);
  const std::size_t B = s.batch, N = s.neurons;
  FhnSimdModelArgs a;
  a.batch = s.batch;
  a.neurons = s.neurons;
  a.steps = st.steps;
  a.dt = st.dt;
  a.clip = st.clip;
  a.imex = s.integrator == Integrator::kImex;
  a.current_coupling = s.coupling == Coupling::kCurrent;
  a.voltage_readout = s.voltage_readout;
  a.in = in + m * B * s.input_width();
  for (int k = 0; k < 4; ++k) a.p[k] = p.p[k] + m * N;
  a.job_stride = job_stride(s, isa);
  if (trajectory) a.trajectory = const_cast<double*>(trajectory) + m * jobs_per_model(s, isa) * a.job_stride;
  return a;
}

}  // namespace

bool fhn_simd_takes(const NeuronShape& s) {
  return s.states == 2 && s.coupled == 2 &&
         (s.integrator == Integrator::kEuler || s.integrator == Integrator::kImex);
}

std::size_t fhn_simd_trajectory_doubles(const NeuronShape& s, CpuIsa isa) {
  return static_cast<std::size_t>(s.models) * jobs_per_model(s, isa) * job_stride(s, isa);
}

bool fhn_forward_simd(CpuIsa isa, const NeuronShape& s, const double* in, NeuronParamPtrs<double> p, double* out,
                      double* trajectory) {
  check(s, "fhn_forward_simd");
  const IsaKernels k = kernels_of(isa, "fhn_forward_simd");
  bool finite = true;
  for (int m = 0; m < s.models; ++m) {
    FhnSimdModelArgs a = model_args(isa, s, m, in, p, trajectory);
    a.out = out + static_cast<std::size_t>(m) * s.batch * s.output_width();
    finite = k.forward(a) && finite;
  }
  return finite;
}

void fhn_backward_simd(CpuIsa isa, const NeuronShape& s, const double* in, NeuronParamPtrs<double> p,
                       const double* trajectory, const double* d_out, double* d_in, NeuronGradPtrs<double> d_params) {
  check(s, "fhn_backward_simd");
  const IsaKernels k = kernels_of(isa, "fhn_backward_simd");
  // Without a trajectory each group of jobs runs its forward again into this (per thread: sweeps
  // train on several).
  thread_local std::vector<double> scratch;
  if (trajectory == nullptr) scratch.resize(kFhnSimdGroup * job_stride(s, isa));
  for (int m = 0; m < s.models; ++m) {
    FhnSimdModelArgs a = model_args(isa, s, m, in, p, trajectory);
    a.scratch = trajectory ? nullptr : scratch.data();
    a.d_out = d_out + static_cast<std::size_t>(m) * s.batch * s.output_width();
    a.d_in = d_in + static_cast<std::size_t>(m) * s.batch * s.input_width();
    for (int j = 0; j < 4; ++j) a.d_p[j] = d_params.p[j] ? d_params.p[j] + static_cast<std::size_t>(m) * s.neurons : nullptr;
    k.backward(a);
  }
}

}  // namespace dynpmnn
