// The neuron op's host-side pieces: names of couplings and schemes, the shape's checks.
#include "kernels/neuron.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>


namespace dynpmnn {

const char* to_string(Coupling c) {
  switch (c) {
    case Coupling::kInitialCondition: return "initial";
    case Coupling::kCurrent: return "current";
  }
  return "?";
}

Coupling coupling_from_string(const std::string& s) {
  if (s == "initial" || s == "initial_condition" || s == "ic") return Coupling::kInitialCondition;
  if (s == "current") return Coupling::kCurrent;
  throw std::invalid_argument("unknown coupling '" + s + "' (expected 'initial' or 'current')");
}

const char* to_string(Integrator i) {
  switch (i) {
    case Integrator::kEuler: return "euler";
    case Integrator::kImex: return "imex";
    case Integrator::kHeun: return "heun";
    case Integrator::kRk4: return "rk4";
  }
  return "?";
}

Integrator integrator_from_string(const std::string& s) {
  if (s == "euler") return Integrator::kEuler;
  if (s == "imex" || s == "semi-implicit") return Integrator::kImex;
  if (s == "heun" || s == "rk2") return Integrator::kHeun;
  if (s == "rk4") return Integrator::kRk4;
  throw std::invalid_argument("unknown integrator '" + s + "' (expected euler, imex, heun or rk4)");
}

int NeuronShape::max_steps() const {
  int most = 0;
  for (int m = 0; m < models; ++m) most = std::max(most, step_of(m).steps);
  return most;
}

void NeuronShape::validate() const {
  if (models <= 0) throw std::invalid_argument("neuron layer: models must be > 0, got " + std::to_string(models));
  if (batch < 0) throw std::invalid_argument("neuron layer: batch must be >= 0, got " + std::to_string(batch));
  if (neurons <= 0) throw std::invalid_argument("neuron layer: neurons must be > 0, got " + std::to_string(neurons));
  for (int m = 0; m < models; ++m) {
    const NeuronModelStep st = step_of(m);
    const std::string who = per_model ? "neuron layer, model " + std::to_string(m) + ": " : "neuron layer: ";
    if (st.steps <= 0) throw std::invalid_argument(who + "steps must be > 0, got " + std::to_string(st.steps));
    if (!(st.dt > 0) || !std::isfinite(st.dt)) throw std::invalid_argument(who + "dt must be > 0 and finite");
    if (std::isnan(st.clip)) throw std::invalid_argument(who + "clip is NaN");
  }
  if (states <= 0 || states > kMaxNeuronStates || coupled <= 0 || coupled > states)
    throw std::invalid_argument("neuron layer: a layout of " + std::to_string(states) + " states with " +
                                std::to_string(coupled) + " coupled is not one the op takes");
}




}  // namespace dynpmnn
