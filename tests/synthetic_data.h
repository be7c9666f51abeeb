// A small learnable regression problem shaped like California Housing (8 standardised features,
// one target) for tests that train without the real file: y = 2 + 0.5·Σ w_f·sin(x_f) + noise.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>

#include "data/california.h"

namespace dynpmnn::testing {

inline SplitData synthetic_data(int rows, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  auto make = [&](int n) {
    Dataset d;
    d.rows = n;
    d.features = 8;
    d.x.resize(static_cast<std::size_t>(n) * 8);
    d.y.resize(n);
    for (int i = 0; i < n; ++i) {
      double y = 0;
      for (int f = 0; f < 8; ++f) {
        const double v = normal(gen);
        d.x[i * 8 + f] = v;
        y += std::sin(v) * (f % 3 == 0 ? 1.0 : 0.3);
      }
      d.y[i] = 2.0 + 0.5 * y + 0.05 * normal(gen);
    }
    return d;
  };
  SplitData s;
  s.train = make(rows);
  s.val = make(rows / 4);
  s.test = make(rows / 4);
  s.scaler.mean.assign(8, 0.0);  // already standard normal
  s.scaler.std.assign(8, 1.0);
  s.feature_names = california_feature_names();
  return s;
}

}  // namespace dynpmnn::testing
