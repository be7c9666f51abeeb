#include "host/config.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>

#include <fmt/format.h>

#include "host/config_io.h"
#include "kernels/fhn_math.h"

namespace dynpmnn {

namespace {

// Limits far beyond any sensible run, so that a typo (an extra zero or two) is refused with a
// message here rather than by a failed allocation or an hours-long first epoch.
constexpr int kMaxLayers = 1024;
constexpr int kMaxNeurons = 1 << 20;
constexpr double kMaxSteps = 1e7;  // below FhnLayerSpec::steps()'s own limit, see validate()
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
// step's activations (the CpuModel buffers: five of the Linear width, four of N and the FHN
// checkpoints), all in double. In double arithmetic so absurd sizes cannot overflow.
double estimated_bytes(const ModelSpec& spec, int batch) {
  const double params = static_cast<double>(ParamTable(spec).total());
  double per_sample = 0;
  for (int l = 0; l < static_cast<int>(spec.layers.size()); ++l) {
    const double n = spec.layers[l].neurons;
    const double checkpoints = fhn_num_checkpoints(spec.layers[l].steps());
    per_sample += 5.0 * spec.linear_width(l) + 4.0 * n + 2.0 * n * checkpoints + 1.0;
  }
  return 8.0 * (5.0 * params + static_cast<double>(batch) * per_sample);
}

}  // namespace

ModelSpec Config::model_spec(int inputs, int outputs) const {
  FhnLayerSpec layer;
  layer.neurons = neurons;
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
  ModelSpec spec;
  spec.inputs = inputs;
  spec.outputs = outputs;
  spec.layers.assign(layers > 0 ? static_cast<std::size_t>(layers) : 0, layer);
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

  require(layers > 0, "layers", "must be > 0");
  require(layers <= kMaxLayers, "layers", fmt::format("is absurd (more than {})", kMaxLayers));
  require(neurons > 0, "neurons", "must be > 0");
  require(neurons <= kMaxNeurons, "neurons", fmt::format("is absurd (more than {})", kMaxNeurons));
  require(dt > 0 && finite(dt), "dt", "must be a finite number > 0");
  require(t_end > 0 && finite(t_end), "t_end", "must be a finite number > 0");
  require(t_end / dt <= kMaxSteps, "t_end",
          fmt::format("gives t_end / dt = {:g} time steps with dt = {}, more than {:g}", t_end / dt, dt, kMaxSteps));
  require(clip >= 0, "clip", "must be >= 0 (0: no clamping)");
  require(finite(fhn_a), "fhn_a", "must be finite");
  require(finite(fhn_b), "fhn_b", "must be finite");
  require(finite(fhn_g), "fhn_g", "must be finite");
  require(finite(fhn_I), "fhn_I", "must be finite");
  require(fhn_param_space == "physical" || fhn_param_space == "raw", "fhn_param_space",
          "is unknown (expected physical or raw)");
  if (fhn_param_space == "physical") {
    constexpr std::string_view kWhy = "with fhn_param_space = 'physical' (or set fhn_param_space = 'raw')";
    require(!train_a || (fhn_a > 0 && fhn_a < 1), "fhn_a",
            fmt::format("must be in (0, 1) to train a = sigmoid(θ) {}", kWhy));
    require(!train_b || fhn_b > 0, "fhn_b", fmt::format("must be > 0 to train b = softplus(θ) {}", kWhy));
    require(!train_g || fhn_g > 0, "fhn_g", fmt::format("must be > 0 to train g = softplus(θ) {}", kWhy));
  }
  require(epochs >= 0, "epochs", "must be >= 0");
  require(batch_size > 0, "batch_size", "must be > 0");
  require(lr > 0 && finite(lr), "lr", "must be a finite number > 0");
  require(weight_decay >= 0 && finite(weight_decay), "weight_decay", "must be a finite number >= 0");
  require(patience >= 0, "patience", "must be >= 0");
  require(min_delta >= 0 && finite(min_delta), "min_delta", "must be a finite number >= 0");
  require(seed <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()), "seed",
          "must fit a signed 64-bit integer (TOML integers are signed)");
  require(device == "auto" || device == "cpu" || device == "cuda", "device", "is unknown (expected auto, cpu or cuda)");

  const ModelSpec spec = model_spec(8, 1);  // throws for an unknown coupling or activation
  // Positivity and the step count are checked above, so the only thing left to refuse is a
  // non-integer number of steps.
  try {
    (void)spec.layers.front().steps();
  } catch (const std::invalid_argument&) {
    throw ConfigError(fmt::format("t_end = {} is not a multiple of dt = {} (the number of Euler steps is "
                                  "t_end / dt)", t_end, dt));
  }
  const double bytes = estimated_bytes(spec, batch_size);
  if (bytes > kMaxBytes)
    throw ConfigError(fmt::format(
        "neurons = {}, layers = {}, batch_size = {} with {} time steps need about {:.1f} GiB (parameters, "
        "Adam state and one batch's activations), more than the {:.0f} GiB allowed; reduce neurons, layers "
        "or batch_size", neurons, layers, batch_size, spec.layers.front().steps(), bytes / (1ull << 30),
        kMaxBytes / (1ull << 30)));
}

}  // namespace dynpmnn
