// The one switch on Integrator: the run-time scheme of a layer becomes the template parameter of
// neuron_math.h's step functions here, for every caller (the CPU op in neuron_cpu.h, the CUDA launchers in
// neuron_gpu.cuh, inspect's trajectories). A new scheme adds its step to neuron_math.h and its case below.
#pragma once

#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "kernels/neurons/fhn.h"

namespace dynpmnn {

template <Integrator S>
using IntegratorConstant = std::integral_constant<Integrator, S>;

// Returns f(IntegratorConstant<i>{}); f returns the same type for every scheme. Host code: it runs
// once per op call, before the loops or the launch, so that they hold no branch on the scheme. A
// value outside the enum (a cast int, a corrupt file) throws std::invalid_argument naming `op`, the
// value and the accepted ones.
template <typename F>
decltype(auto) dispatch_integrator(Integrator i, const char* op, F&& f) {
  switch (i) {
    case Integrator::kEuler: return std::forward<F>(f)(IntegratorConstant<Integrator::kEuler>{});
    case Integrator::kImex: return std::forward<F>(f)(IntegratorConstant<Integrator::kImex>{});
    case Integrator::kHeun: return std::forward<F>(f)(IntegratorConstant<Integrator::kHeun>{});
    case Integrator::kRk4: return std::forward<F>(f)(IntegratorConstant<Integrator::kRk4>{});
  }
  throw std::invalid_argument(std::string(op) + ": unknown integrator " + std::to_string(static_cast<int>(i)) +
                              " (expected 0 euler, 1 imex, 2 heun or 3 rk4; a new scheme adds its case in "
                              "kernels/integrator_dispatch.h)");
}

// dispatch_integrator with a clamp switch as well: f(IntegratorConstant<i>{}, std::bool_constant<clamp>{}),
// for ops whose step loop is specialised on both (the fused population's, kernels/fused_epoch.*).
template <typename F>
void dispatch_integrator_clamp(Integrator i, bool clamp, const char* op, F&& f) {
  dispatch_integrator(i, op, [&](auto scheme) {
    if (clamp)
      f(scheme, std::true_type{});
    else
      f(scheme, std::false_type{});
  });
}

}  // namespace dynpmnn
