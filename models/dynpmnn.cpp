#include "models/dynpmnn.h"

#include <cmath>
#include <random>
#include <utility>
#include <stdexcept>

namespace dynpmnn {

int FhnLayerSpec::steps() const {
  if (!(dt > 0) || !std::isfinite(dt)) throw std::invalid_argument("dt must be > 0, got " + std::to_string(dt));
  if (!(t_end > 0) || !std::isfinite(t_end))
    throw std::invalid_argument("t_end must be > 0, got " + std::to_string(t_end));
  const double ratio = t_end / dt;
  const double rounded = std::round(ratio);
  if (std::abs(ratio - rounded) > 1e-9 * std::max(1.0, ratio) || rounded < 1)
    throw std::invalid_argument("t_end (" + std::to_string(t_end) + ") is not a multiple of dt (" +
                                std::to_string(dt) + ")");
  if (rounded > 1e8) throw std::invalid_argument("t_end / dt = " + std::to_string(rounded) + " steps is absurd");
  return static_cast<int>(rounded);
}

FhnParamMaps FhnLayerSpec::param_maps() const {
  const bool mapped = param_space == FhnParamSpace::kPhysical;
  auto pick = [&](bool trained, FhnParamMap map) { return trained && mapped ? map : FhnParamMap::kIdentity; };
  return {pick(train_a, FhnParamMap::kSigmoid), pick(train_b, FhnParamMap::kSoftplus),
          pick(train_g, FhnParamMap::kSoftplus), pick(train_I, FhnParamMap::kIdentity)};
}

void ModelSpec::validate() const {
  if (inputs <= 0) throw std::invalid_argument("model: inputs must be > 0");
  if (outputs <= 0) throw std::invalid_argument("model: outputs must be > 0");
  if (layers.empty()) throw std::invalid_argument("model: at least one FHN layer is needed (layers >= 1)");
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const auto& L = layers[l];
    const std::string where = "layer " + std::to_string(l) + ": ";
    if (L.neurons <= 0) throw std::invalid_argument(where + "neurons must be > 0, got " + std::to_string(L.neurons));
    if (L.neurons > (1 << 24)) throw std::invalid_argument(where + "neurons = " + std::to_string(L.neurons) + " is absurd");
    try {
      (void)L.steps();
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(where + e.what());
    }
    if (std::isnan(L.clip)) throw std::invalid_argument(where + "clip is NaN");
    for (double v : {L.a, L.b, L.g, L.I})
      if (!std::isfinite(v)) throw std::invalid_argument(where + "FHN parameters must be finite");
    const FhnParamMaps maps = L.param_maps();
    const std::pair<const char*, std::pair<FhnParamMap, double>> mapped[] = {
        {"a", {maps.a, L.a}}, {"b", {maps.b, L.b}}, {"g", {maps.g, L.g}}};
    for (const auto& [name, mv] : mapped)
      if (!fhn_param_map_in_range(mv.first, mv.second))
        throw std::invalid_argument(where + name + " = " + std::to_string(mv.second) + " is outside the range of its " +
                                    to_string(mv.first) + " map (a in (0, 1), b and g > 0)");
  }
}

int ModelSpec::linear_width(int layer) const {
  const auto& L = layers.at(layer);
  return L.coupling == Coupling::kInitialCondition ? 2 * L.neurons : L.neurons;
}

int ModelSpec::layer_input_width(int layer) const {
  return layer == 0 ? inputs : 2 * layers.at(layer - 1).neurons;
}

FhnShape ModelSpec::fhn_shape(int layer, int batch) const {
  const auto& L = layers.at(layer);
  FhnShape s;
  s.batch = batch;
  s.neurons = L.neurons;
  s.steps = L.steps();
  s.dt = L.dt;
  s.clip = L.clip;
  s.coupling = L.coupling;
  s.integrator = L.integrator;
  return s;
}

ParamTable::ParamTable(const ModelSpec& spec) {
  spec.validate();
  auto add = [&](std::string name, ParamKind kind, int layer, std::vector<int> shape, bool trainable,
                 FhnParamMap map = FhnParamMap::kIdentity) {
    ParamTensor t{std::move(name), kind, layer, std::move(shape), total_, 1, trainable, map};
    for (int d : t.shape) t.size *= static_cast<std::size_t>(d);
    total_ += t.size;
    tensors_.push_back(std::move(t));
  };
  for (int l = 0; l < static_cast<int>(spec.layers.size()); ++l) {
    const auto& L = spec.layers[l];
    const std::string p = "layer" + std::to_string(l) + ".";
    const int D = spec.linear_width(l);
    add(p + "linear.weight", ParamKind::kWeight, l, {D, spec.layer_input_width(l)}, true);
    add(p + "linear.bias", ParamKind::kBias, l, {D}, true);
    if (L.layernorm) {
      add(p + "norm.weight", ParamKind::kLnGamma, l, {D}, true);
      add(p + "norm.bias", ParamKind::kLnBeta, l, {D}, true);
    }
    const FhnParamMaps maps = L.param_maps();
    add(p + "fhn.a", ParamKind::kFhnA, l, {L.neurons}, L.train_a, maps.a);
    add(p + "fhn.b", ParamKind::kFhnB, l, {L.neurons}, L.train_b, maps.b);
    add(p + "fhn.g", ParamKind::kFhnG, l, {L.neurons}, L.train_g, maps.g);
    add(p + "fhn.I", ParamKind::kFhnI, l, {L.neurons}, L.train_I, maps.I);
  }
  const int last = 2 * spec.layers.back().neurons;
  add("readout.weight", ParamKind::kWeight, -1, {spec.outputs, last}, true);
  add("readout.bias", ParamKind::kBias, -1, {spec.outputs}, true);
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

void init_params(const ModelSpec& spec, const ParamTable& table, std::uint64_t seed, std::span<double> out) {
  if (out.size() != table.total()) throw std::invalid_argument("init_params: wrong parameter array size");
  std::mt19937_64 gen(seed);
  // Uniform in [−bound, bound) from the top 53 bits, so the values do not depend on the library.
  auto uniform = [&](double bound) {
    const double u = static_cast<double>(gen() >> 11) * (1.0 / 9007199254740992.0);
    return (2.0 * u - 1.0) * bound;
  };
  for (const auto& t : table.tensors()) {
    double* p = out.data() + t.offset;
    const FhnLayerSpec* L = t.layer >= 0 ? &spec.layers[t.layer] : nullptr;
    switch (t.kind) {
      case ParamKind::kWeight: {
        const double bound = 1.0 / std::sqrt(static_cast<double>(t.shape[1]));
        for (std::size_t i = 0; i < t.size; ++i) p[i] = uniform(bound);
        break;
      }
      case ParamKind::kBias: {
        const ParamTensor& w = table.at(t.layer, ParamKind::kWeight);
        const double bound = 1.0 / std::sqrt(static_cast<double>(w.shape[1]));
        for (std::size_t i = 0; i < t.size; ++i) p[i] = uniform(bound);
        break;
      }
      case ParamKind::kLnGamma: std::fill(p, p + t.size, 1.0); break;
      case ParamKind::kLnBeta: std::fill(p, p + t.size, 0.0); break;
      case ParamKind::kFhnA: std::fill(p, p + t.size, fhn_param_map_inverse(t.map, L->a)); break;
      case ParamKind::kFhnB: std::fill(p, p + t.size, fhn_param_map_inverse(t.map, L->b)); break;
      case ParamKind::kFhnG: std::fill(p, p + t.size, fhn_param_map_inverse(t.map, L->g)); break;
      case ParamKind::kFhnI: std::fill(p, p + t.size, fhn_param_map_inverse(t.map, L->I)); break;
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
