// neuron_model_ops<M>(): a neuron model's registry entry (models/neuron_models.h) from its header,
// with the CPU op instantiated here for M. Its GPU ops come from neuron_gpu.cuh in a .cu file
// (attach_neuron_gpu_ops<M> there), so a model compiled as C++ only has none.
#pragma once

#include <stdexcept>
#include <type_traits>

#include "kernels/integrator_dispatch.h"
#include "kernels/neuron_cpu.h"
#include "models/neuron_models.h"

namespace dynpmnn {

template <class M>
void neuron_model_step(Integrator scheme, const double* x, const double* p, double current, double dt, double clip,
                       double* xn) {
  double xs[M::kStates], ps[M::kParams], out[M::kStates];
  for (int i = 0; i < M::kStates; ++i) xs[i] = x[i];
  for (int k = 0; k < M::kParams; ++k) ps[k] = p[k];
  dispatch_integrator(scheme, "neuron_model_step", [&](auto s) {
    if constexpr (decltype(s)::value == Integrator::kImex && !M::kSemiImplicit)
      throw std::invalid_argument(std::string("neuron model ") + M::kName + " has no semi-implicit step");
    else
      neuron_raw_step<M, decltype(s)::value>(xs, ps, current, dt, out);
  });
  for (int i = 0; i < M::kStates; ++i) xn[i] = clip > 0 ? fhn_clamp(out[i], clip) : out[i];
}

// inspect's phase plane: the states M::kPlaneX and M::kPlaneY where M declares them (Hodgkin–Huxley
// draws v against n), else x[0] against x[1].
template <class M, class = void>
struct NeuronPlane {
  static constexpr int x = 0, y = M::kStates > 1 ? 1 : 0;
};
template <class M>
struct NeuronPlane<M, std::void_t<decltype(M::kPlaneX), decltype(M::kPlaneY)>> {
  static constexpr int x = M::kPlaneX, y = M::kPlaneY;
};

template <class M>
NeuronModelOps neuron_model_ops() {
  static_assert(M::kStates <= kMaxNeuronStates && M::kParams <= kMaxNeuronParams, "raise the op's limits");
  static_assert(M::kCoupled >= 1 && M::kCoupled <= M::kStates, "initial-condition coupling sets 1..kStates states");
  static_assert(M::kCurrentParam >= 0 && M::kCurrentParam < M::kParams, "the current is one of the parameters");
  NeuronModelOps ops;
  ops.name = M::kName;
  ops.states = M::kStates;
  ops.params = M::kParams;
  ops.coupled = M::kCoupled;
  ops.current_param = M::kCurrentParam;
  ops.semi_implicit = M::kSemiImplicit;
  ops.param_info.assign(M::kParamInfo, M::kParamInfo + M::kParams);
  ops.state_info.assign(M::kStateInfo, M::kStateInfo + M::kStates);
  static_assert(NeuronPlane<M>::x >= 0 && NeuronPlane<M>::x < M::kStates && NeuronPlane<M>::y >= 0 &&
                    NeuronPlane<M>::y < M::kStates,
                "the phase plane's states are states of the model");
  ops.plane_x = NeuronPlane<M>::x;
  ops.plane_y = NeuronPlane<M>::y;
  ops.forward_d = &neuron_forward_cpu<M, double>;
  ops.forward_f = &neuron_forward_cpu<M, float>;
  ops.backward_d = &neuron_backward_cpu<M, double>;
  ops.backward_f = &neuron_backward_cpu<M, float>;
  ops.step = &neuron_model_step<M>;
  return ops;
}

}  // namespace dynpmnn
