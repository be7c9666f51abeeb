// The key table config.h declares: every Config member's key, the single source of names, types, help
// text and order from which --help, TOML files, --set, the run folder's config.toml and
// Config::validate's messages all derive (config_io.cpp does the reading and writing).
#include "host/config/config.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace dynpmnn {

namespace {

constexpr std::array kKeys = {
    ConfigKey{"data", &Config::data, "data",
              "path of cal_housing.data; empty: $DYNPMNN_DATA, data/cache/, then ../shared/data/; or a CSV "
              "file with a header row when target is set"},
    ConfigKey{"target", &Config::target, "data",
              "CSV target column (by name); empty: California Housing. docs/datasets.md has the CSV rules"},
    ConfigKey{"task", &Config::task, "data",
              "regression (MSE loss) or classification (softmax cross-entropy; needs target)"},
    ConfigKey{"features", &Config::features, "data",
              "CSV feature columns, comma-separated (\"a,b,c\"); empty: every column but the target"},
    ConfigKey{"split", &Config::split, "data",
              "CSV train,validation,test fractions summing to 1 (stratified by class for classification); "
              "California Housing: \"paper\", its one split (numpy RandomState(42) thresholds 0.7 / 0.9)"},
    ConfigKey{"split_seed", &Config::split_seed, "data", "seeds the CSV split's shuffle (not California's)"},
    ConfigKey{"target_scaling", &Config::target_scaling, "data",
              "regression: standard (train on the target standardised by the train split's mean and std; "
              "metrics, val MSE and predictions in the target's units) or none (the raw target, as the paper); "
              "classification ignores it"},
    ConfigKey{"model", &Config::model, "model",
              "dynpmnn (FHN layers), or a baseline of docs/baselines.md: mlp (keys hidden, activation, layernorm), "
              "cfc (keys neurons, backbone_*, cfc_time) or node (the Neural ODE, ode_* keys)"},
    ConfigKey{"layers", &Config::layers, "model", "neuron layers (FitzHugh-Nagumo or another neuron_model), each behind its own Linear"},
    ConfigKey{"neurons", &Config::neurons, "model", "neurons per layer; model = cfc: the CfC's units"},
    ConfigKey{"coupling", &Config::coupling, "model",
              "how the Linear drives the neurons: initial (sets v0, w0; the paper's) or current"},
    ConfigKey{"integrator", &Config::integrator, "model",
              "time stepping: euler (the paper's), imex (semi-implicit, stable at large dt), heun or rk4"},
    ConfigKey{"layernorm", &Config::layernorm, "model",
              "LayerNorm between each Linear and its activation (model = mlp too)"},
    ConfigKey{"activation", &Config::activation, "model",
              "before the neurons (model = mlp: of the dense layers): silu, tanh, identity, relu or lecun_tanh"},
    ConfigKey{"dt", &Config::dt, "model", "integration time step"},
    ConfigKey{"t_end", &Config::t_end, "model", "integration time, a multiple of dt (t_end / dt steps)"},
    ConfigKey{"clip", &Config::clip, "model", "clamp every neuron state (FHN: v and w) to [-clip, clip] after every step; 0: never"},
    ConfigKey{"fhn_a", &Config::fhn_a, "model", "initial a in dv/dt = I - v (v - a)(v - 1) - w"},
    ConfigKey{"fhn_b", &Config::fhn_b, "model", "initial b in dw/dt = b (v - g w)"},
    ConfigKey{"fhn_g", &Config::fhn_g, "model", "initial g in dw/dt = b (v - g w)"},
    ConfigKey{"fhn_I", &Config::fhn_I, "model", "initial constant input current I"},
    ConfigKey{"train_a", &Config::train_a, "model", "train a per neuron (else fixed)"},
    ConfigKey{"train_b", &Config::train_b, "model", "train b per neuron (else fixed)"},
    ConfigKey{"train_g", &Config::train_g, "model", "train g per neuron (else fixed)"},
    ConfigKey{"train_I", &Config::train_I, "model", "train I per neuron (else fixed)"},
    ConfigKey{"fhn_param_space", &Config::fhn_param_space, "model",
              "trained a, b, g as physical (a = sigmoid, b, g = softplus of a free value: they stay in range) "
              "or raw (the values themselves, as before)"},
    ConfigKey{"neuron_model", &Config::neuron_model, "model",
              "the neurons' dynamics: fhn (FitzHugh-Nagumo, the paper's), morris_lecar, hodgkin_huxley or "
              "wilson_cowan (docs/neuron-models.md: equations, scalings, parameters)"},
    ConfigKey{"neuron_params", &Config::neuron_params, "model",
              "starting values of the neuron model's parameters by name, \"name=value,...\" (fhn: a, b, g, I "
              "also through fhn_*); empty: the model's classic values"},
    ConfigKey{"train_params", &Config::train_params, "model",
              "the neuron model's parameters trained per neuron, by name, \"name,...\" (fhn: also train_a ... "
              "train_I); the others stay fixed"},
    ConfigKey{"readout", &Config::readout, "model",
              "what each neuron layer passes on: all (every state variable of every neuron) or voltage (x[0] only)"},
    ConfigKey{"hidden", &Config::hidden, "model", "model = mlp: widths of the dense layers, e.g. 512,256,128"},
    ConfigKey{"backbone_units", &Config::backbone_units, "model", "model = cfc: width of each backbone dense layer"},
    ConfigKey{"backbone_layers", &Config::backbone_layers, "model",
              "model = cfc: dense layers before the CfC head; 0: the head reads the inputs"},
    ConfigKey{"backbone_activation", &Config::backbone_activation, "model",
              "model = cfc: the backbone's activation (as activation; ncps's default lecun_tanh)"},
    ConfigKey{"cfc_time", &Config::cfc_time, "model",
              "model = cfc: elapsed time t of the one CfC step, gate sigmoid(t_a t + t_b)"},
    ConfigKey{"ode_hidden", &Config::ode_hidden, "model", "node: state width H of dh/dt = f(h, t), t in [0, 1]"},
    ConfigKey{"ode_vf_width", &Config::ode_vf_width, "model", "node: width V of the vector field f's hidden Linears"},
    ConfigKey{"ode_vf_layers", &Config::ode_vf_layers, "model",
              "node: Linears in f (>= 2), LayerNorm and tanh after all but the last"},
    ConfigKey{"ode_solver", &Config::ode_solver, "model",
              "node: rk4 (ode_steps fixed steps) or dopri5 (adaptive, torchdiffeq's default method)"},
    ConfigKey{"ode_steps", &Config::ode_steps, "model", "node: rk4 steps over [0, 1]"},
    ConfigKey{"ode_rtol", &Config::ode_rtol, "model", "node: dopri5 relative tolerance (torchdiffeq's default)"},
    ConfigKey{"ode_atol", &Config::ode_atol, "model", "node: dopri5 absolute tolerance (torchdiffeq's default)"},
    ConfigKey{"ode_max_steps", &Config::ode_max_steps, "model",
              "node: dopri5 gives up with an error after this many attempted steps per forward pass"},
    ConfigKey{"epochs", &Config::epochs, "training", "most epochs to run (0: evaluate the initial weights)"},
    ConfigKey{"batch_size", &Config::batch_size, "training", "minibatch size"},
    ConfigKey{"data_shards", &Config::data_shards, "training",
              "minibatch cut into this many row shards, gradients summed in shard order (train --data-parallel "
              "sets it to the ranks; 1: whole)"},
    ConfigKey{"lr", &Config::lr, "training", "Adam learning rate"},
    ConfigKey{"weight_decay", &Config::weight_decay, "training", "L2 penalty added to the gradient (torch Adam's)"},
    ConfigKey{"patience", &Config::patience, "training",
              "early stopping: epochs allowed without a val MSE gain > min_delta; 0: off"},
    ConfigKey{"min_delta", &Config::min_delta, "training",
              "early stopping: the val MSE decrease (in the target's units, squared) that resets the patience count"},
    ConfigKey{"seed", &Config::seed, "training", "seeds the initial weights and the epoch order"},
    ConfigKey{"checkpoint_every", &Config::checkpoint_every, "run",
              "checkpoint.bin, best.bin and best_params.json after every k-th epoch and the last (same results; "
              "a resumed run redoes up to k - 1 epochs)"},
    ConfigKey{"device", &Config::device, "run", "auto (cuda where available, else cpu), cpu or cuda"},
    ConfigKey{"out", &Config::out, "run", "run folder; empty: runs/<preset or run>-<YYYYmmdd-HHMMSS>-seed<seed>"},
    ConfigKey{"preset", &Config::preset, "run", "the preset this config started from (--preset sets it)"},
};

// The type of the Config member a pointer to member refers to: int for &Config::layers.
template <typename T>
using FieldType = std::remove_cvref_t<decltype(std::declval<Config&>().*std::declval<T>())>;

template <typename T>
constexpr std::string_view type_name_of() {
  if constexpr (std::is_same_v<T, int>) return "integer";
  else if constexpr (std::is_same_v<T, std::uint64_t>) return "unsigned integer";
  else if constexpr (std::is_same_v<T, double>) return "number";
  else if constexpr (std::is_same_v<T, bool>) return "boolean";
  else if constexpr (std::is_same_v<T, std::vector<int>>) return "list of integers";
  else return "string";
}

// A list as --set spells it: "512,256,128", or "[]" when empty.
std::string join_list(const std::vector<int>& values) {
  return values.empty() ? "[]" : fmt::format("{}", fmt::join(values, ","));
}

}  // namespace

std::span<const ConfigKey> config_keys() { return kKeys; }

const ConfigKey* find_config_key(std::string_view name) {
  const auto it = std::find_if(kKeys.begin(), kKeys.end(), [&](const ConfigKey& k) { return k.name == name; });
  return it == kKeys.end() ? nullptr : &*it;
}

std::string_view type_name(const ConfigKey& key) {
  return std::visit([](auto member) { return type_name_of<FieldType<decltype(member)>>(); }, key.field);
}

std::string value_string(const Config& cfg, const ConfigKey& key) {
  return std::visit(
      [&](auto member) -> std::string {
        const auto& value = cfg.*member;
        using T = std::remove_cvref_t<decltype(value)>;
        if constexpr (std::is_same_v<T, std::string>) return value;
        else if constexpr (std::is_same_v<T, double>) return fmt::format("{}", value);  // shortest that reads back
        else if constexpr (std::is_same_v<T, bool>) return value ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::vector<int>>) return join_list(value);
        else return std::to_string(value);
      },
      key.field);
}

}  // namespace dynpmnn
