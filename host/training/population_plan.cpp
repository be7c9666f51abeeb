#include "host/training/population_plan.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <utility>

#include "host/config/config_io.h"

namespace dynpmnn {

std::string population_key(const Config& given) {
  Config cfg = with_split_used(given);
  const Config defaults;
  cfg.dt = defaults.dt;
  cfg.t_end = defaults.t_end;
  // A clamp's value is each model's own, whether a model clamps is not: the kernels pick their
  // stepper by it, so a model in a population runs the stepper it runs alone.
  cfg.clip = cfg.clip > 0 ? 1.0 : 0.0;
  cfg.fhn_a = defaults.fhn_a;
  cfg.fhn_b = defaults.fhn_b;
  cfg.fhn_g = defaults.fhn_g;
  cfg.fhn_I = defaults.fhn_I;
  cfg.neuron_params = defaults.neuron_params;
  cfg.lr = defaults.lr;
  cfg.weight_decay = defaults.weight_decay;
  cfg.epochs = defaults.epochs;
  cfg.patience = defaults.patience;
  cfg.min_delta = defaults.min_delta;
  cfg.seed = defaults.seed;
  cfg.out = defaults.out;
  cfg.checkpoint_every = defaults.checkpoint_every;
  return to_toml(cfg);
}

int step_class(const Config& cfg) {
  if (cfg.model != "dynpmnn" || !(cfg.dt > 0)) return 0;
  const double steps = std::max(1.0, std::round(cfg.t_end / cfg.dt));
  return static_cast<int>(std::ceil(std::log2(steps) - 1e-9));
}

namespace {

// Bytes of memory available to this process now (MemAvailable of /proc/meminfo), 0 where unknown.
double available_memory() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 0;
}

}  // namespace

int population_capacity(const Config& cfg, const SplitData& data) {
  // What one member holds: the backend's and the target scaling's copies of the three splits, the
  // parameters with their gradient, Adam moments and best copy, and a minibatch's activations
  // (neuron states kept for the backward at every step, an upper bound).
  const auto split_bytes = [](const Dataset& d) { return 8.0 * (d.x.size() + d.y.size()); };
  const double data_bytes = 2 * (split_bytes(data.train) + split_bytes(data.val) + split_bytes(data.test));
  const double width = std::max({cfg.neurons, cfg.ode_hidden, cfg.backbone_units, 1}) * std::max(1, cfg.layers);
  const double steps = cfg.model == "dynpmnn" && cfg.dt > 0 ? std::max(1.0, cfg.t_end / cfg.dt) : 1.0;
  const double activation_bytes = 8.0 * cfg.batch_size * width * (4 + 2 * std::min(steps, 1e5));
  const double param_bytes = 8.0 * 6 * width * (data.train.features + 2 * width + 8);
  const double member = data_bytes + activation_bytes + param_bytes;
  const double available = available_memory();
  if (available <= 0) return 64;
  return static_cast<int>(std::clamp(available / 2 / member, 1.0, static_cast<double>(kMaxPopulation)));
}

std::vector<std::vector<std::size_t>> plan_populations(const std::vector<Config>& cfgs, int capacity) {
  capacity = std::max(1, capacity);
  std::vector<std::vector<std::size_t>> groups;
  std::vector<std::pair<std::string, int>> keys;  // of groups, in order of first appearance
  for (std::size_t i = 0; i < cfgs.size(); ++i) {
    const std::pair<std::string, int> key{population_key(cfgs[i]), step_class(cfgs[i])};
    const auto at = std::find(keys.begin(), keys.end(), key);
    if (at == keys.end()) {
      keys.push_back(key);
      groups.push_back({i});
    } else {
      groups[static_cast<std::size_t>(at - keys.begin())].push_back(i);
    }
  }
  std::vector<std::vector<std::size_t>> populations;
  for (const std::vector<std::size_t>& g : groups)
    for (std::size_t first = 0; first < g.size(); first += static_cast<std::size_t>(capacity))
      populations.emplace_back(g.begin() + static_cast<std::ptrdiff_t>(first),
                               g.begin() + static_cast<std::ptrdiff_t>(
                                               std::min(g.size(), first + static_cast<std::size_t>(capacity))));
  return populations;
}

}  // namespace dynpmnn
