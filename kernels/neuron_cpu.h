// The neuron layer op on the CPU for model M (kernels/neuron.h declares it): loops over models,
// samples and neurons around neuron_math.h's trajectories. A template in a header so that a model
// defined elsewhere (a test's toy model) instantiates it by including this; kernels/neuron.cpp
// instantiates it for the built-in models.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

#include "kernels/integrator_dispatch.h"
#include "kernels/neuron.h"

namespace dynpmnn {

namespace neuron_cpu_detail {

template <class M>
void check_layout(const NeuronShape& s, const char* op) {
  s.validate();
  if (s.states != M::kStates || s.coupled != M::kCoupled)
    throw std::invalid_argument(std::string(op) + ": the shape's layout (" + std::to_string(s.states) + " states, " +
                                std::to_string(s.coupled) + " coupled) is not model " + M::kName + "'s (" +
                                std::to_string(M::kStates) + ", " + std::to_string(M::kCoupled) + ")");
  if (s.integrator == Integrator::kImex && !M::kSemiImplicit)
    throw std::invalid_argument(std::string(op) + ": neuron model " + M::kName +
                                " has no semi-implicit step (integrator imex); use euler, heun or rk4");
}

// The neuron's initial state and its constant input current (p[kCurrentParam] plus the drive).
template <class M, typename T>
void initial_state(const NeuronShape& s, const T* in, int b, int n, T current_param, T (&x)[M::kStates], T& current) {
  const std::size_t N = s.neurons;
  for (int i = 0; i < M::kStates; ++i) x[i] = T(M::kStateInfo[i].initial);
  if (s.coupling == Coupling::kInitialCondition) {
    for (int i = 0; i < M::kCoupled; ++i) x[i] = in[b * M::kCoupled * N + i * N + n];
    current = current_param;
  } else {
    current = current_param + in[b * N + n];
  }
}

template <class M, typename T>
void load_params(const NeuronParamPtrs<T>& p, std::size_t at, T (&q)[M::kParams]) {
  for (int k = 0; k < M::kParams; ++k) q[k] = p.p[k][at];
}

// Model m's block of a population's arrays: rows (B, width) at m · B · width, parameters at m · N,
// checkpoints at m · B · N within each checkpoint's (P, B, N) slab.
struct ModelBlock {
  std::size_t in, out, param, ckpt;
};

inline ModelBlock model_block(const NeuronShape& s, int m) {
  const std::size_t B = s.batch, N = s.neurons;
  return {m * B * s.input_width(), m * B * s.output_width(), m * N, m * B * N};
}

template <class M, Integrator S, bool kClip, typename T>
bool forward_model(const NeuronShape& s, int m, const T* in, const NeuronParamPtrs<T>& p, T* out,
                   const NeuronCheckpoints<T>& ck, std::size_t stride) {
  constexpr int K = M::kStates;
  const NeuronModelStep st = s.step_of(m);
  const FhnCheckpointPlan plan = fhn_checkpoint_plan(st.steps);
  const ModelBlock blk = model_block(s, m);
  const int N = s.neurons;
  const std::size_t W = s.output_width();
  bool finite = true;
  for (int b = 0; b < s.batch; ++b) {
    for (int n = 0; n < N; ++n) {
      T q[M::kParams], x[K], current;
      load_params<M>(p, blk.param + n, q);
      initial_state<M>(s, in + blk.in, b, n, q[M::kCurrentParam], x, current);
      const std::size_t at = blk.ckpt + static_cast<std::size_t>(b) * N + n;
      CheckpointPlanes<T, K> planes;
      for (int i = 0; i < K; ++i) planes.plane[i] = ck.plane[0] ? ck.plane[i] + at : nullptr;
      neuron_forward_trajectory(NeuronStepper<M, S, kClip, T>(q, current, T(st.dt), T(st.clip)), x, plan, planes,
                                stride);
      T* row = out + blk.out + b * W;
      if (s.voltage_readout) {
        row[n] = x[0];
        finite = finite && is_finite_value(x[0]);
      } else {
        for (int i = 0; i < K; ++i) {
          row[static_cast<std::size_t>(i) * N + n] = x[i];
          finite = finite && is_finite_value(x[i]);
        }
      }
    }
  }
  return finite;
}

template <class M, Integrator S, bool kClip, typename T>
void backward_model(const NeuronShape& s, int m, const T* in, const NeuronParamPtrs<T>& p,
                    const NeuronCheckpoints<const T>& ck, std::size_t stride, const T* d_out, T* d_in,
                    const NeuronGradPtrs<T>& d_params) {
  constexpr int K = M::kStates;
  const NeuronModelStep st = s.step_of(m);
  const FhnCheckpointPlan plan = fhn_checkpoint_plan(st.steps);
  const ModelBlock blk = model_block(s, m);
  const int N = s.neurons;
  const std::size_t W = s.output_width(), D = s.input_width();
  constexpr bool kUnpredicated = S == Integrator::kEuler && K <= 2;
  for (int n = 0; n < N; ++n) {
    T sum[M::kParams] = {};
    T q[M::kParams];
    load_params<M>(p, blk.param + n, q);
    for (int b = 0; b < s.batch; ++b) {
      T x0[K], l[K], current;
      initial_state<M>(s, in + blk.in, b, n, q[M::kCurrentParam], x0, current);
      const T* row = d_out + blk.out + b * W;
      for (int i = 0; i < K; ++i)
        l[i] = s.voltage_readout ? (i == 0 ? row[n] : T(0)) : row[static_cast<std::size_t>(i) * N + n];
      const std::size_t at = blk.ckpt + static_cast<std::size_t>(b) * N + n;
      CheckpointPlanes<const T, K> planes;
      for (int i = 0; i < K; ++i) planes.plane[i] = ck.plane[0] ? ck.plane[i] + at : nullptr;
      NeuronGrad<M, T> g;
      NeuronStepper<M, S, kClip, T> stepper(q, current, T(st.dt), T(st.clip));
      neuron_backward_trajectory<kUnpredicated>(stepper, x0, plan, planes, stride, l, g);
      g.p[M::kCurrentParam] += g.current;
      T* drow = d_in + blk.in + b * D;
      if (s.coupling == Coupling::kInitialCondition) {
        for (int i = 0; i < M::kCoupled; ++i) drow[static_cast<std::size_t>(i) * N + n] = l[i];
      } else {
        drow[n] = g.current;
      }
      for (int k = 0; k < M::kParams; ++k) sum[k] += g.p[k];
    }
    for (int k = 0; k < M::kParams; ++k)
      if (d_params.p[k]) d_params.p[k][blk.param + n] = sum[k];
  }
}

// The run-time scheme and clamp become template parameters here, once per model of the population,
// so the per-step code has no run-time branch.
template <class M, typename F>
decltype(auto) with_clamp(bool clamp, F&& f) {
  if constexpr (!UnrollsSteps<M>::value) {
    return f(std::true_type{});  // one instantiation; the stepper tests clip > 0
  } else {
    if (clamp) return f(std::true_type{});
    return f(std::false_type{});
  }
}

}  // namespace neuron_cpu_detail

template <class M, typename T>
bool neuron_forward_cpu(const NeuronShape& s, const T* in, NeuronParamPtrs<T> p, T* out, NeuronCheckpoints<T> ck) {
  namespace d = neuron_cpu_detail;
  d::check_layout<M>(s, "neuron_forward_cpu");
  // A lone model's checkpoint stride is B · N, as it always was; a population's is P · B · N.
  const std::size_t stride = static_cast<std::size_t>(s.models) * s.batch * s.neurons;
  bool finite = true;
  for (int m = 0; m < s.models; ++m) {
    finite = dispatch_integrator(s.integrator, "neuron_forward_cpu", [&](auto scheme) {
      return d::with_clamp<M>(s.step_of(m).clip > 0, [&](auto clamp) {
        if constexpr (decltype(scheme)::value == Integrator::kImex && !M::kSemiImplicit) {
          return false;  // refused by check_layout
        } else {
          return d::forward_model<M, decltype(scheme)::value, decltype(clamp)::value>(s, m, in, p, out, ck, stride);
        }
      });
    }) && finite;
  }
  return finite;
}

template <class M, typename T>
void neuron_backward_cpu(const NeuronShape& s, const T* in, NeuronParamPtrs<T> p, NeuronCheckpoints<const T> ck,
                         const T* d_out, T* d_in, NeuronGradPtrs<T> d_params) {
  namespace d = neuron_cpu_detail;
  d::check_layout<M>(s, "neuron_backward_cpu");
  const std::size_t stride = static_cast<std::size_t>(s.models) * s.batch * s.neurons;
  for (int m = 0; m < s.models; ++m) {
    dispatch_integrator(s.integrator, "neuron_backward_cpu", [&](auto scheme) {
      d::with_clamp<M>(s.step_of(m).clip > 0, [&](auto clamp) {
        if constexpr (!(decltype(scheme)::value == Integrator::kImex && !M::kSemiImplicit))
          d::backward_model<M, decltype(scheme)::value, decltype(clamp)::value>(s, m, in, p, ck, stride, d_out, d_in,
                                                                                 d_params);
      });
    });
  }
}

// Explicit instantiation of the CPU op for model M, in namespace dynpmnn (PREFIX empty), or the
// declaration that it is instantiated elsewhere (PREFIX extern: fhn.cpp, neuron_cpu.cpp), so that a
// file that takes the functions' addresses (the registry's entries) compiles none of them again.
#define DYNPMNN_NEURON_CPU_TEMPLATES(PREFIX, M, T)                                                             \
  PREFIX template bool neuron_forward_cpu<M, T>(const NeuronShape&, const T*, NeuronParamPtrs<T>, T*,         \
                                                NeuronCheckpoints<T>);                                        \
  PREFIX template void neuron_backward_cpu<M, T>(const NeuronShape&, const T*, NeuronParamPtrs<T>,            \
                                                 NeuronCheckpoints<const T>, const T*, T*, NeuronGradPtrs<T>);
#define DYNPMNN_INSTANTIATE_NEURON_CPU_BOTH(M) \
  DYNPMNN_NEURON_CPU_TEMPLATES(, M, float) DYNPMNN_NEURON_CPU_TEMPLATES(, M, double)
#define DYNPMNN_EXTERN_NEURON_CPU_BOTH(M) \
  DYNPMNN_NEURON_CPU_TEMPLATES(extern, M, float) DYNPMNN_NEURON_CPU_TEMPLATES(extern, M, double)

}  // namespace dynpmnn
