#include "models/dynpmnn.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>
#include <stdexcept>

#include <fmt/format.h>

namespace dynpmnn {

int time_steps(double dt, double t_end) {
  if (!(dt > 0) || !std::isfinite(dt)) throw std::invalid_argument(fmt::format("dt = {} must be a finite number > 0", dt));
  if (!(t_end > 0) || !std::isfinite(t_end))
    throw std::invalid_argument(fmt::format("t_end = {} must be a finite number > 0", t_end));
  const double ratio = t_end / dt;
  if (ratio > kMaxTimeSteps)
    throw std::invalid_argument(fmt::format("t_end = {} gives t_end / dt = {:g} time steps with dt = {}, more than {:g}",
                                            t_end, ratio, dt, kMaxTimeSteps));
  const double rounded = std::round(ratio);
  if (std::abs(ratio - rounded) > 1e-9 * std::max(1.0, ratio) || rounded < 1)
    throw std::invalid_argument(fmt::format(
        "t_end = {} is not a multiple of dt = {} (the number of time steps is t_end / dt)", t_end, dt));
  return static_cast<int>(rounded);
}

int LayerSpec::steps() const { return static_cast<int>(std::lround(t_end / dt)); }

void ParamTable::add(std::string name, ParamKind kind, int layer, std::vector<int> shape, bool trainable,
                     ParamInit init, FhnParamMap map) {
  ParamTensor t{std::move(name), kind, layer, std::move(shape), total_, 1, trainable, map, init};
  for (int d : t.shape) t.size *= static_cast<std::size_t>(d);
  total_ += t.size;
  tensors_.push_back(std::move(t));
}

std::size_t ParamTable::trainable_count() const {
  std::size_t n = 0;
  for (const auto& t : tensors_)
    if (t.trainable) n += t.size;
  return n;
}

const ParamTensor* ParamTable::find(int layer, ParamKind kind) const {
  for (const auto& t : tensors_)
    if (t.layer == layer && t.kind == kind) return &t;
  return nullptr;
}

const ParamTensor& ParamTable::at(int layer, ParamKind kind) const {
  const ParamTensor* t = find(layer, kind);
  if (!t) throw std::logic_error("parameter table: no tensor of kind " + std::to_string(static_cast<int>(kind)) +
                                 " in layer " + std::to_string(layer));
  return *t;
}

void init_params(const ModelSpec&, const ParamTable& table, std::uint64_t seed, std::span<double> out) {
  if (out.size() != table.total()) throw std::invalid_argument("init_params: wrong parameter array size");
  std::mt19937_64 gen(seed);
  // Uniform in [−bound, bound) from the top 53 bits, so the values do not depend on the library.
  auto uniform = [&](double bound) {
    const double u = static_cast<double>(gen() >> 11) * (1.0 / 9007199254740992.0);
    return (2.0 * u - 1.0) * bound;
  };
  for (const auto& t : table.tensors()) {
    double* p = out.data() + t.offset;
    switch (t.init.rule) {
      case ParamInit::Rule::kUniformFanIn: {
        const double bound = 1.0 / std::sqrt(t.init.value);
        for (std::size_t i = 0; i < t.size; ++i) p[i] = uniform(bound);
        break;
      }
      case ParamInit::Rule::kConstant: std::fill(p, p + t.size, t.init.value); break;
    }
  }
}

std::vector<double> physical_params(const ParamTable& table, std::span<const double> stored) {
  if (stored.size() != table.total()) throw std::invalid_argument("physical_params: wrong parameter array size");
  std::vector<double> out(stored.begin(), stored.end());
  for (const auto& t : table.tensors())
    if (t.map != FhnParamMap::kIdentity)
      for (std::size_t i = t.offset; i < t.offset + t.size; ++i) out[i] = fhn_param_map_forward(t.map, out[i]);
  return out;
}

}  // namespace dynpmnn
