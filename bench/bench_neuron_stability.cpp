// The largest stable time step of every registered neuron model under every scheme it has, measured
// by integration (not linearisation): for each dt of a geometric grid, every neuron of a set of
// starting points (the coupled states over [−2, 2] with the others at rest, and constant currents
// over [−2, 2]) is integrated to t_end with the model's classic parameters; dt is stable when every
// state stays finite and below 100 in size. Reported: the largest grid dt such that it and every
// smaller one are stable. One JSON object per (model, scheme) on stdout; bench/neuron_stability.py
// adds the provenance and writes the committed file.
//   bench_neuron_stability [T_END]      (default 10, in each model's scaled time unit)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/neuron.h"
#include "models/neuron_models.h"

namespace {

using dynpmnn::Integrator;
using dynpmnn::NeuronModelOps;

bool bounded(const NeuronModelOps& ops, Integrator scheme, double dt, double t_end) {
  const int steps = static_cast<int>(std::ceil(t_end / dt));
  std::vector<double> p(ops.params), x(ops.states), xn(ops.states);
  for (int k = 0; k < ops.params; ++k) p[k] = ops.param_info[k].value;
  for (int start = -4; start <= 4; ++start)
    for (int drive = -4; drive <= 4; ++drive) {
      for (int i = 0; i < ops.states; ++i) x[i] = ops.state_info[i].initial;
      for (int i = 0; i < ops.coupled; ++i) x[i] = 0.5 * start;
      const double current = p[ops.current_param] + 0.5 * drive;
      for (int s = 0; s < steps; ++s) {
        ops.step(scheme, x.data(), p.data(), current, dt, 0.0, xn.data());
        for (int i = 0; i < ops.states; ++i) {
          if (!std::isfinite(xn[i]) || std::abs(xn[i]) > 100.0) return false;
          x[i] = xn[i];
        }
      }
    }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const double t_end = argc > 1 ? std::atof(argv[1]) : 10.0;
  if (!(t_end > 0)) {
    std::fprintf(stderr, "bench_neuron_stability: T_END must be > 0, got '%s'\n", argv[1]);
    return 2;
  }
  // dt = 10^(k/20): 20 points a decade from 1e-3 to 1e2.
  std::vector<double> grid;
  for (int k = -60; k <= 40; ++k) grid.push_back(std::pow(10.0, k / 20.0));
  for (const std::string& name : dynpmnn::neuron_model_names()) {
    const NeuronModelOps& ops = dynpmnn::find_neuron_model(name);
    for (const char* s : {"euler", "imex", "heun", "rk4"}) {
      const Integrator scheme = dynpmnn::integrator_from_string(s);
      if (scheme == Integrator::kImex && !ops.semi_implicit) continue;
      double stable = 0;
      for (double dt : grid) {
        if (!bounded(ops, scheme, dt, std::max(t_end, dt))) break;
        stable = dt;
      }
      std::printf("{\"model\": \"%s\", \"scheme\": \"%s\", \"t_end\": %g, \"stable_dt\": %.4g, \"grid_top\": %g}\n",
                  name.c_str(), s, t_end, stable, grid.back());
    }
  }
  return 0;
}
