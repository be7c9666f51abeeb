// Everything a training run is configured by, with flat key names (the CLI's --set key=value and
// the TOML file use the same names). Defaults are the paper's California Housing experiment: the base
// every stored file (checkpoint, config.toml, preset) is read over. A run that names no preset and no
// config file starts from the default model instead (config_io.h, default_config()).
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
  std::string split = "0.7,0.15,0.15";   // train, validation, test fractions; California: kPaperSplit
  std::uint64_t split_seed = 42;         // the split's shuffle
  // standard | none: regression targets standardised by the train split's mean and std for training,
  // reported in their own units (data/california.h, TargetScaler). "none" here, as before the key
  // existed and as the paper trains; default_config() (a run without a preset) has "standard".
  std::string target_scaling = "none";
  // model
  std::string model = "dynpmnn";      // dynpmnn | mlp | cfc | node (docs/baselines.md)
  // The layer's defaults are LayerSpec's (models/dynpmnn.h), the one place they are written.
  int layers = 1;
  int neurons = LayerSpec{}.units;
  std::string coupling = to_string(LayerSpec{}.coupling);      // initial | current
  std::string integrator = to_string(LayerSpec{}.integrator);  // euler | imex | heun | rk4
  bool layernorm = LayerSpec{}.layernorm;
  std::string activation = to_string(LayerSpec{}.activation);  // silu | tanh | identity
  double dt = LayerSpec{}.dt;
  double t_end = LayerSpec{}.t_end;
  double clip = LayerSpec{}.clip;                              // 0: none
  double fhn_a = LayerSpec{}.a, fhn_b = LayerSpec{}.b, fhn_g = LayerSpec{}.g, fhn_I = LayerSpec{}.I;
  bool train_a = LayerSpec{}.train_a, train_b = LayerSpec{}.train_b, train_g = LayerSpec{}.train_g,
       train_I = LayerSpec{}.train_I;
  // physical (trained a, b, g kept in range by a map) | raw
  std::string fhn_param_space = to_string(LayerSpec{}.param_space);
  // The neurons' model (docs/neuron-models.md): fhn | morris_lecar | hodgkin_huxley | wilson_cowan.
  std::string neuron_model = LayerSpec{}.neuron_model;
  std::string neuron_params;   // starting values by name, "gK=36,gNa=120"; empty: the model's defaults
  std::string train_params;    // trained parameters by name, "gK,gNa" (fhn: besides train_a ... train_I)
  std::string readout = "all";  // all: every state of every neuron; voltage: x[0] only
  // baselines (docs/baselines.md)
  std::vector<int> hidden = {512, 256, 128};  // mlp: widths of the dense layers
  int backbone_units = 128;                   // cfc: ncps's backbone_units
  int backbone_layers = 1;                    // cfc: ncps's backbone_layers
  std::string backbone_activation = "lecun_tanh";
  double cfc_time = LayerSpec{}.cfc_time;     // cfc: the elapsed time t of the one step
  // model = "node": Linear(inputs → ode_hidden) → Neural ODE block → Linear(ode_hidden → outputs)
  int ode_hidden = 128;
  int ode_vf_width = LayerSpec{}.ode_vf_width;
  int ode_vf_layers = LayerSpec{}.ode_vf_layers;
  std::string ode_solver = to_string(LayerSpec{}.ode_solver);  // rk4 | dopri5
  int ode_steps = LayerSpec{}.ode_steps;
  double ode_rtol = LayerSpec{}.ode_rtol, ode_atol = LayerSpec{}.ode_atol;
  int ode_max_steps = LayerSpec{}.ode_max_steps;
  // training
  int epochs = 100;
  int batch_size = 32;
  // Each minibatch cut into this many shards of rows, their gradients summed in shard order
  // (host/runtime/backend.h): what `train --data-parallel` over K ranks sets to K, and what one
  // process sets to reproduce such a run bit for bit on the CPU. 1: the minibatch in one piece.
  int data_shards = 1;
  double lr = 5e-4;
  double weight_decay = 5e-3;
  int patience = 10;
  double min_delta = 0.05;
  std::uint64_t seed = 0;
  // checkpoint.bin (and best.bin, best_params.json) written after every k-th epoch and after the
  // last, instead of after each: what a sweep of thousands of tiny runs sets, where writing and
  // fsyncing the files every epoch costs more than the epoch. The results are the same; an
  // interrupted run resumes from its last written epoch (up to k - 1 epochs are trained again).
  int checkpoint_every = 1;
  std::string device = "auto";        // auto | cpu | cuda
  std::string out;                    // run folder; empty: runs/<preset or "run">-<timestamp>
  std::string preset;                 // the preset this config started from, if any

  ModelSpec model_spec(int inputs, int outputs) const;
  ModelSpec node_model_spec(int inputs, int outputs) const;
  void validate() const;  // throws ConfigError naming the key and the value
};

// California Housing has one split, the paper's (data/california.h: numpy RandomState(42).rand
// thresholds 0.7 / 0.9, 14489 / 4102 / 2049 rows); `split` names it so for California runs.
inline constexpr const char* kPaperSplit = "paper";

// A California configuration's split as the run uses it: the CSV default it held before
// kPaperSplit existed (and that California never read) becomes kPaperSplit; any other value is
// left for validate() to judge. CSV configurations are returned unchanged. Idempotent.
Config with_split_used(Config cfg);

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
