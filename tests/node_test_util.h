// Parameters for the Neural ODE tests (CPU and GPU): initialised as PyTorch, then LayerNorm moved
// off gamma 1, beta 0 and the vector field's weights scaled up, so the field is strongly nonlinear
// over [0, 1] (the state moves by O(1)) and a wrong term in a backward shows.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "models/dynpmnn.h"

namespace dynpmnn::test {

inline std::vector<double> perturbed_ode_params(const ModelSpec& spec, const ParamTable& table, std::uint64_t seed,
                                                std::uint64_t perturb_seed) {
  std::vector<double> p(table.total());
  init_params(spec, table, seed, p);
  std::mt19937_64 gen(perturb_seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  for (const auto& t : table.tensors())
    for (std::size_t i = t.offset; i < t.offset + t.size; ++i) {
      if (t.kind == ParamKind::kOdeLnGamma) p[i] = 1.0 + 0.4 * u(gen);
      if (t.kind == ParamKind::kOdeLnBeta) p[i] = 0.3 * u(gen);
      if (t.kind == ParamKind::kOdeWeight) p[i] *= 2.0;
    }
  return p;
}

}  // namespace dynpmnn::test
