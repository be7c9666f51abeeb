// Everything a training run is configured by, with flat key names (the CLI's --set key=value and
// the TOML file use the same names). Defaults are the paper's California Housing experiment.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "models/dynpmnn.h"

namespace dynpmnn {

struct Config {
  // data
  std::string data;  // path of cal_housing.data; empty: the look-up order of data/california.h
  // A CSV file instead (data/csv_dataset.h, docs/datasets.md): used when target is not empty.
  std::string target;                    // target column name; empty: California Housing
  std::string task = "regression";       // regression | classification
  std::string features;                  // comma-separated feature columns; empty: all but the target
  std::string split = "0.7,0.15,0.15";   // train, validation, test fractions
  std::uint64_t split_seed = 42;         // the split's shuffle
  // model
  std::string model = "dynpmnn";      // dynpmnn | mlp | cfc | node (docs/baselines.md)
  int layers = 1;
  int neurons = 1;
  std::string coupling = "initial";   // initial | current
  std::string integrator = "euler";   // euler | imex | heun | rk4
  bool layernorm = true;
  std::string activation = "silu";    // silu | tanh | identity
  double dt = 20.0;
  double t_end = 500.0;
  double clip = 0.0;                  // 0: none
  double fhn_a = 0.2, fhn_b = 0.02, fhn_g = 3.0, fhn_I = 0.0;
  bool train_a = false, train_b = false, train_g = false, train_I = false;
  std::string fhn_param_space = "physical";  // physical (trained a, b, g kept in range by a map) | raw
  // baselines (docs/baselines.md)
  std::vector<int> hidden = {512, 256, 128};  // mlp: widths of the dense layers
  int backbone_units = 128;                   // cfc: ncps's backbone_units
  int backbone_layers = 1;                    // cfc: ncps's backbone_layers
  std::string backbone_activation = "lecun_tanh";
  double cfc_time = 1.0;                      // cfc: the elapsed time t of the one step
  // model = "node": Linear(inputs → ode_hidden) → Neural ODE block → Linear(ode_hidden → outputs)
  int ode_hidden = 128;
  int ode_vf_width = 128;
  int ode_vf_layers = 3;
  std::string ode_solver = "rk4";     // rk4 | dopri5
  int ode_steps = 4;
  double ode_rtol = 1e-7, ode_atol = 1e-9;
  int ode_max_steps = 1000;
  // training
  int epochs = 100;
  int batch_size = 32;
  double lr = 5e-4;
  double weight_decay = 5e-3;
  int patience = 10;
  double min_delta = 0.05;
  std::uint64_t seed = 0;
  std::string device = "auto";        // auto | cpu | cuda
  std::string out;                    // run folder; empty: runs/<preset or "run">-<timestamp>
  std::string preset;                 // the preset this config started from, if any

  ModelSpec model_spec(int inputs, int outputs) const;
  ModelSpec node_model_spec(int inputs, int outputs) const;
  void validate() const;  // throws ConfigError naming the key and the value
};

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The key table (config_keys.cpp): one entry per Config member, the one source of the key names, their
// types and help text. It lives beside Config because validate() names each refused key with its
// value; reading and writing configurations from it is config_io.h's.
struct ConfigKey {
  // The Config member this key reads and writes; its type is the key's type.
  using Field = std::variant<int Config::*, std::uint64_t Config::*, double Config::*, bool Config::*,
                             std::string Config::*, std::vector<int> Config::*>;
  std::string_view name;
  Field field;
  std::string_view group;  // "data", "model", "training" or "run": how --help groups the keys
  std::string_view help;
};

// Every key, in the order --help and config.toml list them.
std::span<const ConfigKey> config_keys();
// Null when there is no such key.
const ConfigKey* find_config_key(std::string_view name);

// "integer", "number", "boolean", "list of integers" (TOML [1, 2], --set 1,2), ...: what a value of
// this key must look like.
std::string_view type_name(const ConfigKey& key);
// The key's value in cfg as --set would spell it (strings unquoted).
std::string value_string(const Config& cfg, const ConfigKey& key);

}  // namespace dynpmnn
