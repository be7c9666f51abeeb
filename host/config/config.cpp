#include "host/config/config.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>

#include <fmt/format.h>

#include "data/csv_dataset.h"
#include "kernels/neurons/fhn.h"
#include "models/layer_unit.h"
#include "models/layers/cfc_layer.h"
#include "models/layers/dense_layer.h"
#include "models/layers/fhn_layer.h"
#include "models/layers/ode_layer.h"
#include "models/neuron_models.h"

namespace dynpmnn {

namespace {

// Limits far beyond any sensible run, so that a typo (an extra zero or two) is refused with a
// message here rather than by a failed allocation or an hours-long first epoch.
constexpr int kMaxLayers = 1024;
constexpr int kMaxNeurons = 1 << 20;
constexpr int kMaxDataShards = 4096;
constexpr double kMaxBytes = 16.0 * (1ull << 30);

// Converts the model headers' std::invalid_argument (which already names the value and the
// accepted ones) into the error type the CLI reports as bad input.
template <typename F>
auto as_config_error(F&& parse) {
  try {
    return parse();
  } catch (const std::invalid_argument& e) {
    throw ConfigError(e.what());
  }
}

// Parameters, their gradients, Adam's two moments and the trainer's best copy, plus one training
// step's activations as each layer's unit counts them, all in double. In double arithmetic so
// absurd sizes cannot overflow.
double estimated_bytes(const ModelSpec& spec, int batch) {
  const double params = static_cast<double>(ParamTable(spec).total());
  double per_sample = 0;
  for (int l = 0; l < static_cast<int>(spec.layers.size()); ++l)
    per_sample += layer_unit(spec.layers[l].kind).training_doubles_per_sample(spec.layers[l], spec.layer_input_width(l));
  return 8.0 * (5.0 * params + static_cast<double>(batch) * per_sample);
}

}  // namespace

Config with_split_used(Config cfg) {
  if (cfg.target.empty() && cfg.split == Config{}.split) cfg.split = kPaperSplit;
  return cfg;
}

namespace {

// neuron_params: "name=value,...".
std::vector<std::pair<std::string, double>> parse_neuron_params(const std::string& text) {
  std::vector<std::pair<std::string, double>> out;
  for (const std::string& item : parse_column_list(text, "neuron_params")) {
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw std::invalid_argument("neuron_params: '" + item + "' is not name=value");
    const std::string name = item.substr(0, eq), value = item.substr(eq + 1);
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != value.size() || value.empty() || !std::isfinite(v))
      throw std::invalid_argument("neuron_params: the value of " + name + ", '" + value + "', is not a finite number");
    out.emplace_back(name, v);
  }
  return out;
}

}  // namespace

ModelSpec Config::model_spec(int inputs, int outputs) const {
  LayerSpec layer;
  layer.kind = kFhnLayer;
  layer.units = neurons;
  layer.coupling = as_config_error([&] { return coupling_from_string(coupling); });
  layer.integrator = as_config_error([&] { return integrator_from_string(integrator); });
  layer.layernorm = layernorm;
  layer.activation = as_config_error([&] { return activation_from_string(activation); });
  layer.dt = dt;
  layer.t_end = t_end;
  layer.clip = clip;
  layer.a = fhn_a;
  layer.b = fhn_b;
  layer.g = fhn_g;
  layer.I = fhn_I;
  layer.train_a = train_a;
  layer.train_b = train_b;
  layer.train_g = train_g;
  layer.train_I = train_I;
  layer.param_space = as_config_error([&] { return fhn_param_space_from_string(fhn_param_space); });
  layer.neuron_model = neuron_model;
  layer.neuron_params = as_config_error([&] { return parse_neuron_params(neuron_params); });
  layer.train_params = as_config_error([&] { return parse_column_list(train_params, "train_params"); });
  layer.voltage_readout = readout == "voltage";
  ModelSpec spec;
  spec.inputs = inputs;
  spec.outputs = outputs;
  if (model == "dynpmnn") {
    spec.layers.assign(layers > 0 ? static_cast<std::size_t>(layers) : 0, layer);
    return spec;
  }
  // The baselines (docs/baselines.md): stacks of dense layers before the readout, and the CfC head.
  if (model == "mlp") {
    for (int width : hidden) spec.layers.push_back(dense_layer(width, layer.activation, layernorm));
    return spec;
  }
  if (model == "cfc") {
    const Activation act = as_config_error([&] { return activation_from_string(backbone_activation); });
    for (int l = 0; l < backbone_layers; ++l) spec.layers.push_back(dense_layer(backbone_units, act, false));
    // ncps's backbone reads [x, h]; with h0 = 0 the columns of h multiply zeros, so they are left out
    // (docs/baselines.md).
    spec.layers.push_back(cfc_layer(neurons, cfc_time));
    return spec;
  }
  if (model == "node") return node_model_spec(inputs, outputs);
  throw ConfigError(fmt::format("model = '{}' is unknown (expected dynpmnn, mlp, cfc or node)", model));
}

// Linear(inputs → H) → ODE block → readout: one ode layer (models/layers/ode_layer.h).
ModelSpec Config::node_model_spec(int inputs, int outputs) const {
  LayerSpec layer;
  layer.kind = kOdeLayer;
  layer.units = ode_hidden;
  layer.ode_vf_width = ode_vf_width;
  layer.ode_vf_layers = ode_vf_layers;
  layer.ode_solver = as_config_error([&] { return ode_solver_from_string(ode_solver); });
  layer.ode_steps = ode_steps;
  layer.ode_rtol = ode_rtol;
  layer.ode_atol = ode_atol;
  layer.ode_max_steps = ode_max_steps;
  ModelSpec spec;
  spec.inputs = inputs;
  spec.outputs = outputs;
  spec.layers.assign(1, layer);
  return spec;
}

void Config::validate() const {
  // Every message starts "key = value" with the value spelled as --set takes it.
  auto require = [this](bool ok, std::string_view key, std::string_view rule) {
    if (ok) return;
    const ConfigKey* k = find_config_key(key);
    const bool quoted = std::holds_alternative<std::string Config::*>(k->field);
    throw ConfigError(fmt::format("{} = {}{}{} {}", key, quoted ? "'" : "", value_string(*this, *k),
                                  quoted ? "'" : "", rule));
  };
  auto finite = [](double x) { return std::isfinite(x); };

  require(model == "dynpmnn" || model == "mlp" || model == "cfc" || model == "node", "model",
          "is unknown (expected dynpmnn, mlp, cfc or node)");
  require(ode_hidden > 0 && ode_hidden <= kMaxNeurons, "ode_hidden", fmt::format("must be in [1, {}]", kMaxNeurons));
  require(ode_vf_width > 0 && ode_vf_width <= kMaxNeurons, "ode_vf_width",
          fmt::format("must be in [1, {}]", kMaxNeurons));
  require(ode_vf_layers >= 2 && ode_vf_layers <= 64, "ode_vf_layers",
          "must be in [2, 64] (the Linear from [h, t] and the one back to h at least)");
  require(ode_solver == "rk4" || ode_solver == "dopri5", "ode_solver", "is unknown (expected rk4 or dopri5)");
  require(ode_steps >= 1 && ode_steps <= 100000, "ode_steps", "must be in [1, 100000]");
  require(ode_rtol >= 0 && finite(ode_rtol), "ode_rtol", "must be a finite number >= 0");
  require(ode_atol >= 0 && finite(ode_atol), "ode_atol", "must be a finite number >= 0");
  require(ode_rtol > 0 || ode_atol > 0, "ode_atol", "and ode_rtol cannot both be 0");
  require(ode_max_steps >= 1 && ode_max_steps <= 1000000, "ode_max_steps", "must be in [1, 1000000]");
  require(layers > 0, "layers", "must be > 0");
  require(layers <= kMaxLayers, "layers", fmt::format("is absurd (more than {})", kMaxLayers));
  require(neurons > 0, "neurons", "must be > 0");
  require(neurons <= kMaxNeurons, "neurons", fmt::format("is absurd (more than {})", kMaxNeurons));
  if (model == "dynpmnn") (void)as_config_error([&] { return time_steps(dt, t_end); });  // the layers' one check
  require(clip >= 0, "clip", "must be >= 0 (0: no clamping)");
  require(finite(fhn_a), "fhn_a", "must be finite");
  require(finite(fhn_b), "fhn_b", "must be finite");
  require(finite(fhn_g), "fhn_g", "must be finite");
  require(finite(fhn_I), "fhn_I", "must be finite");
  require(fhn_param_space == "physical" || fhn_param_space == "raw", "fhn_param_space",
          "is unknown (expected physical or raw)");
  require(readout == "all" || readout == "voltage", "readout", "is unknown (expected all or voltage)");
  if (model == "dynpmnn") {
    (void)as_config_error([&] { return find_neuron_model(neuron_model); });
    const LayerSpec layer = model_spec(8, 1).layers.front();
    (void)as_config_error([&] { return layer.neuron_values(); });
    (void)as_config_error([&] { return layer.neuron_trained(); });
    require(integrator != "imex" || find_neuron_model(neuron_model).semi_implicit, "integrator",
            fmt::format("imex: neuron model {} has no semi-implicit step (use euler, heun or rk4)", neuron_model));
  }
  if (fhn_param_space == "physical") {
    constexpr std::string_view kWhy = "with fhn_param_space = 'physical' (or set fhn_param_space = 'raw')";
    require(!train_a || (fhn_a > 0 && fhn_a < 1), "fhn_a",
            fmt::format("must be in (0, 1) to train a = sigmoid(θ) {}", kWhy));
    require(!train_b || fhn_b > 0, "fhn_b", fmt::format("must be > 0 to train b = softplus(θ) {}", kWhy));
    require(!train_g || fhn_g > 0, "fhn_g", fmt::format("must be > 0 to train g = softplus(θ) {}", kWhy));
  }
  if (model == "mlp") {
    require(!hidden.empty(), "hidden", "must list at least one width for model = mlp");
    require(hidden.size() <= static_cast<std::size_t>(kMaxLayers), "hidden",
            fmt::format("is absurd (more than {} layers)", kMaxLayers));
    for (int width : hidden) {
      require(width > 0, "hidden", "must hold widths > 0");
      require(width <= kMaxNeurons, "hidden", fmt::format("is absurd (a width above {})", kMaxNeurons));
    }
  }
  require(backbone_units > 0, "backbone_units", "must be > 0");
  require(backbone_units <= kMaxNeurons, "backbone_units", fmt::format("is absurd (more than {})", kMaxNeurons));
  require(backbone_layers >= 0, "backbone_layers", "must be >= 0");
  require(backbone_layers <= kMaxLayers, "backbone_layers", fmt::format("is absurd (more than {})", kMaxLayers));
  require(finite(cfc_time), "cfc_time", "must be finite");
  require(epochs >= 0, "epochs", "must be >= 0");
  require(batch_size > 0, "batch_size", "must be > 0");
  require(data_shards > 0, "data_shards", "must be > 0");
  require(data_shards <= kMaxDataShards, "data_shards", fmt::format("is absurd (more than {})", kMaxDataShards));
  require(lr > 0 && finite(lr), "lr", "must be a finite number > 0");
  require(weight_decay >= 0 && finite(weight_decay), "weight_decay", "must be a finite number >= 0");
  require(patience >= 0, "patience", "must be >= 0");
  require(checkpoint_every >= 1, "checkpoint_every", "must be >= 1");
  require(min_delta >= 0 && finite(min_delta), "min_delta", "must be a finite number >= 0");
  require(seed <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()), "seed",
          "must fit a signed 64-bit integer (TOML integers are signed)");
  require(device == "auto" || device == "cpu" || device == "cuda", "device", "is unknown (expected auto, cpu or cuda)");

  const Task parsed_task = as_config_error([&] { return task_from_string(task); });
  require(parsed_task == Task::kRegression || !target.empty(), "task",
          "needs a CSV file (--data) and its class column (--set target=COLUMN)");
  require(target_scaling == "standard" || target_scaling == "none", "target_scaling",
          "is unknown (expected standard or none)");
  if (target.empty()) {
    require(split == kPaperSplit || split == Config{}.split, "split",
            "does not apply to California Housing, which has one split, the paper's (split = \"paper\"); split "
            "sets the train,validation,test fractions of a CSV file (target set)");
  } else {
    require(split != kPaperSplit, "split",
            "is California Housing's split; a CSV file takes train,validation,test fractions such as 0.7,0.15,0.15");
    (void)as_config_error([&] { return parse_split_fractions(split); });
  }
  (void)as_config_error([&] { return parse_column_list(features, "features"); });
  require(target.empty() || target.find(',') == std::string::npos, "target", "must name one column");
  require(split_seed <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()), "split_seed",
          "must fit a signed 64-bit integer (TOML integers are signed)");

  const ModelSpec spec = model_spec(8, 1);  // throws for an unknown coupling or activation
  if (model == "node") {
    const double bytes = estimated_bytes(spec, batch_size);
    if (bytes > kMaxBytes)
      throw ConfigError(fmt::format(
          "ode_hidden = {}, ode_vf_width = {}, batch_size = {} with ode_solver = '{}' need about {:.1f} GiB (the "
          "stored vector-field evaluations; dopri5 counts ode_max_steps = {}), more than the {:.0f} GiB allowed",
          ode_hidden, ode_vf_width, batch_size, ode_solver, bytes / (1ull << 30), ode_max_steps,
          kMaxBytes / (1ull << 30)));
    return;
  }
  const double bytes = estimated_bytes(spec, batch_size);
  if (bytes > kMaxBytes)
    throw ConfigError(has_fhn_layers(spec)
        ? fmt::format(
        "neurons = {}, layers = {}, batch_size = {} with {} time steps need about {:.1f} GiB (parameters, "
        "Adam state and one batch's activations), more than the {:.0f} GiB allowed; reduce neurons, layers "
        "or batch_size", neurons, layers, batch_size, spec.layers.front().steps(), bytes / (1ull << 30),
        kMaxBytes / (1ull << 30))
        : fmt::format("model = {} with batch_size = {} needs about {:.1f} GiB (parameters, Adam state and one "
                      "batch's activations), more than the {:.0f} GiB allowed; reduce its widths or batch_size",
                      model, batch_size, bytes / (1ull << 30), kMaxBytes / (1ull << 30)));
}

}  // namespace dynpmnn
