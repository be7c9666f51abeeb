#include "models/dynpmnn.h"

#include <cmath>
#include <random>
#include <utility>
#include <stdexcept>

namespace dynpmnn {

const char* to_string(LayerKind k) {
  switch (k) {
    case LayerKind::kFhn: return "fhn";
    case LayerKind::kDense: return "dense";
    case LayerKind::kCfc: return "cfc";
    case LayerKind::kOde: return "ode";
  }
  return "?";
}

FhnLayerSpec dense_layer(int width, Activation act, bool layernorm) {
  FhnLayerSpec L;
  L.kind = LayerKind::kDense;
  L.neurons = width;
  L.activation = act;
  L.layernorm = layernorm;
  return L;
}

FhnLayerSpec cfc_layer(int units, double t) {
  FhnLayerSpec L;
  L.kind = LayerKind::kCfc;
  L.neurons = units;
  L.layernorm = false;
  L.cfc_time = t;
  return L;
}

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

namespace {

void validate_ode_layer(const FhnLayerSpec& L, const std::string& where) {
  auto require = [&](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(where + what);
  };
  require(L.ode_vf_width > 0 && L.ode_vf_width <= (1 << 20),
          "ode_vf_width must be in [1, 2^20], got " + std::to_string(L.ode_vf_width));
  require(L.ode_vf_layers >= 2 && L.ode_vf_layers <= 64,
          "ode_vf_layers must be in [2, 64] (at least the Linear from [h, t] and the one back to h), got " +
              std::to_string(L.ode_vf_layers));
  require(L.ode_steps >= 1 && L.ode_steps <= 100000, "ode_steps must be in [1, 100000], got " + std::to_string(L.ode_steps));
  require(L.ode_rtol >= 0 && std::isfinite(L.ode_rtol), "ode_rtol must be a finite number >= 0");
  require(L.ode_atol >= 0 && std::isfinite(L.ode_atol), "ode_atol must be a finite number >= 0");
  require(L.ode_rtol > 0 || L.ode_atol > 0, "ode_rtol and ode_atol cannot both be 0");
  require(L.ode_max_steps >= 1 && L.ode_max_steps <= 1000000,
          "ode_max_steps must be in [1, 1000000], got " + std::to_string(L.ode_max_steps));
}

}  // namespace

FhnParamMaps FhnLayerSpec::param_maps() const {
  const bool mapped = param_space == FhnParamSpace::kPhysical;
  auto pick = [&](bool trained, FhnParamMap map) { return trained && mapped ? map : FhnParamMap::kIdentity; };
  return {pick(train_a, FhnParamMap::kSigmoid), pick(train_b, FhnParamMap::kSoftplus),
          pick(train_g, FhnParamMap::kSoftplus), pick(train_I, FhnParamMap::kIdentity)};
}

void ModelSpec::validate() const {
  if (inputs <= 0) throw std::invalid_argument("model: inputs must be > 0");
  if (outputs <= 0) throw std::invalid_argument("model: outputs must be > 0");
  if (layers.empty()) throw std::invalid_argument("model: at least one layer is needed (layers >= 1)");
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const auto& L = layers[l];
    const std::string where = "layer " + std::to_string(l) + ": ";
    if (L.neurons <= 0) throw std::invalid_argument(where + "neurons must be > 0, got " + std::to_string(L.neurons));
    if (L.neurons > (1 << 24)) throw std::invalid_argument(where + "neurons = " + std::to_string(L.neurons) + " is absurd");
    switch (L.kind) {
      case LayerKind::kFhn: break;
      case LayerKind::kDense: continue;
      case LayerKind::kCfc:
        if (!std::isfinite(L.cfc_time)) throw std::invalid_argument(where + "the CfC time t must be finite");
        if (L.layernorm) throw std::invalid_argument(where + "a CfC layer has no LayerNorm");
        continue;
      case LayerKind::kOde:
        validate_ode_layer(L, where);
        continue;
      default:
        throw std::invalid_argument(where + "unknown layer kind " + std::to_string(static_cast<int>(L.kind)) +
                                    " (expected fhn, dense, cfc or ode)");
    }
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
  switch (L.kind) {
    case LayerKind::kFhn: return L.coupling == Coupling::kInitialCondition ? 2 * L.neurons : L.neurons;
    case LayerKind::kCfc: return 4 * L.neurons;
    default: return L.neurons;
  }
}

int ModelSpec::layer_input_width(int layer) const {
  return layer == 0 ? inputs : layer_output_width(layer - 1);
}

int ModelSpec::layer_output_width(int layer) const {
  const auto& L = layers.at(layer);
  return L.kind == LayerKind::kFhn ? 2 * L.neurons : L.neurons;
}

bool ModelSpec::has_fhn_layers() const {
  for (const auto& L : layers)
    if (L.kind == LayerKind::kFhn) return true;
  return false;
}

FhnShape ModelSpec::fhn_shape(int layer, int batch) const {
  const auto& L = layers.at(layer);
  if (L.kind != LayerKind::kFhn)
    throw std::logic_error("fhn_shape: layer " + std::to_string(layer) + " is a " + to_string(L.kind) +
                           " layer, not an FHN layer");
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
    if (L.kind == LayerKind::kOde) {
      add(p + "linear.weight", ParamKind::kWeight, l, {L.neurons, spec.layer_input_width(l)}, true);
      add(p + "linear.bias", ParamKind::kBias, l, {L.neurons}, true);
      for (int j = 0; j < L.ode_vf_layers; ++j) {
        const int in = j == 0 ? L.neurons + 1 : L.ode_vf_width;  // [h, t]
        const int out = j + 1 == L.ode_vf_layers ? L.neurons : L.ode_vf_width;
        const std::string f = p + "ode.f" + std::to_string(j) + ".";
        add(f + "weight", ParamKind::kOdeWeight, l, {out, in}, true);
        add(f + "bias", ParamKind::kOdeBias, l, {out}, true);
        if (j + 1 < L.ode_vf_layers) {
          const std::string n = p + "ode.norm" + std::to_string(j) + ".";
          add(n + "weight", ParamKind::kOdeLnGamma, l, {out}, true);
          add(n + "bias", ParamKind::kOdeLnBeta, l, {out}, true);
        }
      }
      continue;
    }
    const int D = spec.linear_width(l);
    if (L.kind == LayerKind::kCfc) {
      // Rows [ff1; ff2; time_a; time_b], N each: ncps's four Linear layers stacked into one.
      add(p + "cfc.weight", ParamKind::kWeight, l, {D, spec.layer_input_width(l)}, true);
      add(p + "cfc.bias", ParamKind::kBias, l, {D}, true);
      continue;
    }
    add(p + "linear.weight", ParamKind::kWeight, l, {D, spec.layer_input_width(l)}, true);
    add(p + "linear.bias", ParamKind::kBias, l, {D}, true);
    if (L.layernorm) {
      add(p + "norm.weight", ParamKind::kLnGamma, l, {D}, true);
      add(p + "norm.bias", ParamKind::kLnBeta, l, {D}, true);
    }
    if (L.kind != LayerKind::kFhn) continue;
    const FhnParamMaps maps = L.param_maps();
    add(p + "fhn.a", ParamKind::kFhnA, l, {L.neurons}, L.train_a, maps.a);
    add(p + "fhn.b", ParamKind::kFhnB, l, {L.neurons}, L.train_b, maps.b);
    add(p + "fhn.g", ParamKind::kFhnG, l, {L.neurons}, L.train_g, maps.g);
    add(p + "fhn.I", ParamKind::kFhnI, l, {L.neurons}, L.train_I, maps.I);
  }
  const int last = spec.layer_output_width(static_cast<int>(spec.layers.size()) - 1);
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
  int ode_fan_in = 1;  // of the last kOdeWeight: its bias follows it in the table
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
      case ParamKind::kOdeWeight: {
        ode_fan_in = t.shape[1];
        const double bound = 1.0 / std::sqrt(static_cast<double>(ode_fan_in));
        for (std::size_t i = 0; i < t.size; ++i) p[i] = uniform(bound);
        break;
      }
      case ParamKind::kOdeBias: {
        const double bound = 1.0 / std::sqrt(static_cast<double>(ode_fan_in));
        for (std::size_t i = 0; i < t.size; ++i) p[i] = uniform(bound);
        break;
      }
      case ParamKind::kOdeLnGamma: std::fill(p, p + t.size, 1.0); break;
      case ParamKind::kOdeLnBeta: std::fill(p, p + t.size, 0.0); break;
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
