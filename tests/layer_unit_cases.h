// The cases that the generic layer-unit tests (test_layer_units.cpp on the CPU,
// test_gpu_layer_units.cu on the GPU) run for every registered layer kind, so that a new unit gets
// them without a line of test code: a small layer of the kind, every integrator and coupling (the
// kinds that do not step in time ignore them), one and two layers deep.
#pragma once

#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "models/dynpmnn.h"
#include "models/layer_unit.h"

namespace dynpmnn::test {

struct UnitCase {
  std::string kind;
  Integrator integrator = Integrator::kEuler;
  Coupling coupling = Coupling::kInitialCondition;
  int depth = 1;  // layers of the kind, one after the other

  std::string name() const {
    return kind + "_" + to_string(integrator) + "_" + to_string(coupling) + "_x" + std::to_string(depth);
  }
};

inline void PrintTo(const UnitCase& c, std::ostream* os) { *os << c.name(); }

// 3 units, 4 inputs, 2 outputs; in time, 4 steps of 0.25 (stable for every integrator); every FHN
// parameter trained through its map; a small vector field for an ODE block. A kind that refuses a
// LayerNorm (CfC) gets none.
inline ModelSpec unit_case_spec(const UnitCase& c) {
  LayerSpec L;
  L.kind = c.kind;
  L.units = 3;
  L.integrator = c.integrator;
  L.coupling = c.coupling;
  L.dt = 0.25;
  L.t_end = 1.0;
  L.activation = Activation::kTanh;
  L.train_a = L.train_b = L.train_g = L.train_I = true;
  L.ode_vf_width = 6;
  L.ode_vf_layers = 3;
  L.ode_steps = 2;
  ModelSpec spec;
  spec.inputs = 4;
  spec.outputs = 2;
  spec.layers.assign(c.depth, L);
  try {
    spec.validate();
  } catch (const std::invalid_argument&) {
    for (auto& layer : spec.layers) layer.layernorm = false;
    spec.validate();
  }
  return spec;
}

inline std::vector<UnitCase> all_unit_cases() {
  std::vector<UnitCase> out;
  for (const std::string& kind : layer_kinds())
    for (Integrator i : {Integrator::kEuler, Integrator::kImex, Integrator::kHeun, Integrator::kRk4})
      for (Coupling c : {Coupling::kInitialCondition, Coupling::kCurrent})
        for (int depth : {1, 2}) out.push_back(UnitCase{kind, i, c, depth});
  return out;
}

// init_params, then every value moved by up to ±0.1, off the symmetric defaults (LayerNorm's 1 and
// 0, the same FHN value in every neuron), so that no gradient vanishes or coincides by symmetry.
inline std::vector<double> unit_case_params(const ModelSpec& spec, const ParamTable& table, std::uint64_t seed) {
  std::vector<double> p(table.total());
  init_params(spec, table, seed, p);
  std::mt19937_64 gen(seed * 7919 + 3);
  std::uniform_real_distribution<double> u(-0.1, 0.1);
  for (double& v : p) v += u(gen);
  return p;
}

inline std::vector<double> unit_case_inputs(int rows, int cols, std::uint64_t seed) {
  std::mt19937_64 gen(seed * 104729 + 11);
  std::normal_distribution<double> n01(0.0, 1.0);
  std::vector<double> x(static_cast<std::size_t>(rows) * cols);
  for (double& v : x) v = n01(gen);
  return x;
}

}  // namespace dynpmnn::test
