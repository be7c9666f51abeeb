// Every registered neuron model (neuron_model_names(), the toy model of test_neuron_toy_model.cpp
// included) gets, with no line of its own:
//   - the linearised one-step stability limit (trainer.h's linearised_stable_dt) at its resting
//     state: finite and positive for explicit Euler and RK4, RK4's no smaller, and true to its word
//     (200 steps at half the limit stay at rest; three times the limit leaves it);
//   - `dynpmnn inspect` on a tiny trained run: parameter histograms, phase planes and the voltage
//     x[0](t) as PNGs listed in the JSON line, exit 0 (built-in models: the binary knows no other);
//   - stability_warnings for a dt far above the limit, naming the layer, model and scheme, and
//     none at a tenth of it; the run then diverges, and the explanation names the model, its
//     layer, scheme and dt.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>


#include "host/config/config.h"
#include "host/report/canvas.h"
#include "host/training/trainer.h"
#include "kernels/neurons/builtin.h"
#include "models/neuron_models.h"
#include "tests/cli_runner.h"
#include "tests/png_image.h"
#include "tests/cpu_training.h"
#include "tests/synthetic_data.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;
using testing::CliResult;
using testing::contains;
using testing::last_line;
using testing::quote;

// The model at rest: its initial states, classic parameters, and the parameter current alone.
struct Rest {
  std::vector<double> x, p;
  double current = 0;
};

Rest rest_of(const NeuronModelOps& ops) {
  Rest r;
  for (const auto& s : ops.state_info) r.x.push_back(s.initial);
  for (const auto& q : ops.param_info) r.p.push_back(q.value);
  r.current = r.p[ops.current_param];
  return r;
}

// `steps` clamp-free steps from x; the largest distance from x on the way (+∞ once non-finite).
double largest_excursion(const NeuronModelOps& ops, Integrator scheme, std::vector<double> x, const Rest& r,
                         double dt, int steps) {
  const std::vector<double> start = x;
  std::vector<double> next(x.size());
  double far = 0;
  for (int k = 0; k < steps; ++k) {
    ops.step(scheme, x.data(), r.p.data(), r.current, dt, 0.0, next.data());
    x.swap(next);
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!std::isfinite(x[i])) return INFINITY;
      far = std::max(far, std::abs(x[i] - start[i]));
    }
  }
  return far;
}

class NeuronStability : public ::testing::TestWithParam<std::string> {};

TEST_P(NeuronStability, LinearisedLimitAtRestIsFiniteAndTrue) {
  const NeuronModelOps& ops = find_neuron_model(GetParam());
  const Rest r = rest_of(ops);
  const double euler = linearised_stable_dt(ops, Integrator::kEuler, r.x.data(), r.p.data(), r.current);
  const double rk4 = linearised_stable_dt(ops, Integrator::kRk4, r.x.data(), r.p.data(), r.current);
  ASSERT_TRUE(std::isfinite(euler) && euler > 0) << ops.name << " euler: " << euler;
  ASSERT_TRUE(std::isfinite(rk4) && rk4 > 0) << ops.name << " rk4: " << rk4;
  EXPECT_GE(rk4, euler) << ops.name;
  if (ops.semi_implicit) {
    const double imex = linearised_stable_dt(ops, Integrator::kImex, r.x.data(), r.p.data(), r.current);
    EXPECT_GT(imex, 0) << ops.name;
  }

  // A small push off rest: the resting state itself is (nearly) a fixed point of every scheme.
  std::vector<double> pushed = r.x;
  pushed[0] += 1e-3;
  for (const auto [scheme, limit] : {std::pair{Integrator::kEuler, euler}, std::pair{Integrator::kRk4, rk4}}) {
    SCOPED_TRACE(fmt::format("{} {}, limit {}", ops.name, to_string(scheme), limit));
    // Inside the limit the push decays (or at worst stays of its size): the rest is stable.
    EXPECT_LT(largest_excursion(ops, scheme, pushed, r, 0.5 * limit, 200), 0.1);
    // Three times the limit, every step multiplies it: far away (or non-finite) after 200 steps.
    EXPECT_GT(largest_excursion(ops, scheme, pushed, r, 3 * limit, 200), 1.0);
  }
}

std::string model_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

INSTANTIATE_TEST_SUITE_P(Registered, NeuronStability, ::testing::ValuesIn(neuron_model_names()), model_name);

TEST(LinearisedStableDt, FhnEulerAtRestMatchesTheClosedForm) {
  // At v = w = 0 explicit Euler's Jacobian is I + dt·A, A = [[−a, −1], [b, −b·g]], whose
  // eigenvalues λ are complex here with Re λ = −(a + bg)/2 and |λ|² = det A = a·bg + b; the
  // step's eigenvalues 1 + dt·λ reach modulus 1 at dt = −2 Re λ / |λ|² = (a + bg) / (a·bg + b).
  const NeuronModelOps& ops = find_neuron_model("fhn");
  const double a = 0.2, b = 0.02, g = 3.0;
  const double x[2] = {0, 0}, p[4] = {a, b, g, 0};
  ASSERT_LT((a - b * g) * (a - b * g), 4 * b) << "complex eigenvalues: the formula below needs them";
  const double exact = (a + b * g) / (a * b * g + b);
  EXPECT_NEAR(linearised_stable_dt(ops, Integrator::kEuler, x, p, 0.0), exact, 1e-3 * exact);
  // The semi-implicit step has no such limit at rest.
  EXPECT_EQ(linearised_stable_dt(ops, Integrator::kImex, x, p, 0.0), INFINITY);
}

// ---- inspect on a tiny run of every model ------------------------------------------------------

bool is_builtin(const std::string& name) {
  std::set<std::string> builtin;
#define DYNPMNN_BUILTIN_NAME(M) builtin.insert(M::kName);
  DYNPMNN_FOR_EACH_BUILTIN_NEURON_MODEL(DYNPMNN_BUILTIN_NAME)
#undef DYNPMNN_BUILTIN_NAME
  return builtin.count(name) > 0;
}

using testing::Image;

// A small regression CSV: y from three features.
std::string tiny_csv() {
  std::string text = "a,b,c,y\n";
  for (int i = 0; i < 80; ++i)
    text += fmt::format("{},{},{},{}\n", i % 10, (i * 3) % 7, (i * 5) % 11, 0.5 * (i % 10) - 0.2 * ((i * 3) % 7));
  return text;
}

class NeuronInspect : public testing::CliFixture, public ::testing::WithParamInterface<std::string> {};

TEST_P(NeuronInspect, WritesTheModelsPictures) {
  const NeuronModelOps& ops = find_neuron_model(GetParam());
  const fs::path csv = dir_ / "tiny.csv", run_dir = dir_ / "run";
  testing::write_file(csv, tiny_csv());
  // Two trained parameters (a histogram each), the others frozen; initial-condition coupling, so
  // that the samples start apart; RK4 at a small dt keeps every model finite from the states
  // LayerNorm and SiLU give.
  const std::string trained = fmt::format("{},{}", ops.param_info[0].name, ops.param_info[1].name);
  const CliResult train = run(fmt::format(
      "train --data {} --target y --device cpu --epochs 1 --set layers=1 --set neuron_model={} --set neurons=3 "
      "--set coupling=initial "
      "--set integrator=rk4 --set dt=0.01 --set t_end=0.5 --set train_params={} --out {} -q",
      quote(csv), ops.name, trained, quote(run_dir)));
  ASSERT_EQ(train.exit_code, 0) << train.err;

  const CliResult r = run("inspect " + quote(run_dir) + " --samples 4");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, last_line(r.out) + "\n") << "stdout must hold the JSON line only";
  const auto json = nlohmann::json::parse(last_line(r.out));
  EXPECT_EQ(json.at("samples"), 4);

  const fs::path out = run_dir / "inspect";
  std::vector<std::string> names = {"params_layer0.png", "voltage_layer0.png"};
  if (ops.states > 1)
    for (int n = 0; n < 3; ++n) names.push_back(fmt::format("phase_layer0_neuron{}.png", n));
  std::set<std::string> expected, listed;
  for (const auto& name : names) expected.insert((out / name).string());
  for (const auto& file : json.at("files")) listed.insert(file.get<std::string>());
  EXPECT_EQ(listed, expected);

  const int cols = ops.params <= 4 ? 2 : 3, rows = (ops.params + cols - 1) / cols;
  for (const auto& name : names) {
    SCOPED_TRACE(ops.name + " " + name);
    Image image;
    ASSERT_TRUE(image.load(out / name)) << stbi_failure_reason();
    EXPECT_EQ(image.width, 800);
    if (name.starts_with("params")) {
      EXPECT_EQ(image.height, std::max(500, 40 + rows * 230));
      // Every panel holds a histogram or the one value of its frozen parameter.
      const int width = 800 / cols;
      for (int k = 0; k < ops.params; ++k) {
        const int x0 = (k % cols) * width, y0 = 40 + (k / cols) * 230;
        EXPECT_GT(image.count(PlotArea{x0 + 70, y0 + 30, x0 + width - 24, y0 + 180}), 30) << "parameter " << k;
      }
      continue;
    }
    EXPECT_EQ(image.height, 500);
    const PlotArea plot{100, 70, name.starts_with("voltage") ? 640 : 590, 420};
    if (name.starts_with("phase")) {
      // The samples' trajectories and start markers in their colours (one may cover another: the
      // Linear can give two samples nearly the same start).
      int coloured = 0;
      for (int s = 0; s < 4; ++s) coloured += image.count(plot, &kPalette[s]);
      EXPECT_GT(coloured, 60);
      // FitzHugh–Nagumo's nullclines in ink; no other model draws curves in ink.
      if (ops.name == "fhn") EXPECT_GT(image.count(plot, &kInk), 200);
    } else {
      for (int n = 0; n < 3; ++n) EXPECT_GT(image.count(plot, &kPalette[n]), 50) << "neuron " << n;
    }
  }
}

// inspect is a command of the dynpmnn binary: the models it knows, the built-in ones (a model
// registered in this test binary only, the toy one, cannot be loaded by it).
std::vector<std::string> builtin_model_names() {
  std::vector<std::string> names;
  for (const std::string& name : neuron_model_names())
    if (is_builtin(name)) names.push_back(name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Builtin, NeuronInspect, ::testing::ValuesIn(builtin_model_names()), model_name);

// ---- divergence and the pre-training warning --------------------------------------------------

// One neuron layer of the model, explicit Euler at `factor` times its limit at rest, no clip.
Config unstable_config(const NeuronModelOps& ops, double factor, int steps) {
  const Rest r = rest_of(ops);
  const double limit = linearised_stable_dt(ops, Integrator::kEuler, r.x.data(), r.p.data(), r.current);
  Config cfg;
  cfg.neuron_model = ops.name;
  cfg.neurons = 3;
  cfg.integrator = "euler";
  cfg.dt = factor * limit;
  cfg.t_end = steps * cfg.dt;
  cfg.clip = 0;
  cfg.epochs = 1;
  cfg.seed = 3;
  return cfg;
}

class NeuronDivergence : public ::testing::TestWithParam<std::string> {};

TEST_P(NeuronDivergence, IsExplainedNamingTheModel) {
  const NeuronModelOps& ops = find_neuron_model(GetParam());
  Config cfg = unstable_config(ops, 20, 300);
  cfg.validate();
  const SplitData data = testing::synthetic_data(200, 9);
  testing::CpuTraining training(cfg, cfg.model_spec(8, 1), data);

  // Before training: the warning names the layer, the model and the scheme.
  const auto warnings = stability_warnings(training.spec, training.params, data.train);
  ASSERT_EQ(warnings.size(), 1u) << ops.name;
  EXPECT_TRUE(contains(warnings[0], "layer 0: dt = ")) << warnings[0];
  EXPECT_TRUE(contains(warnings[0], ops.name)) << warnings[0];
  EXPECT_TRUE(contains(warnings[0], "euler")) << warnings[0];
  EXPECT_EQ(contains(warnings[0], "integrator=imex"), ops.semi_implicit) << warnings[0];

  const TrainReport rep = training.train(cfg, data);
  ASSERT_EQ(rep.status, "diverged") << ops.name << " at dt = " << cfg.dt;
  // FitzHugh–Nagumo keeps its own explanation, which names the model in full.
  EXPECT_TRUE(contains(rep.message, ops.name == "fhn" ? std::string("FitzHugh–Nagumo") : ops.name)) << rep.message;
  EXPECT_TRUE(contains(rep.message, fmt::format("dt = {}", cfg.dt))) << rep.message;
  EXPECT_TRUE(contains(rep.message, "Fix: reduce dt")) << rep.message;
  EXPECT_TRUE(contains(rep.message, "lr")) << rep.message;
  if (ops.name != "fhn") {
    EXPECT_TRUE(contains(rep.message, "layer 0")) << rep.message;
    EXPECT_TRUE(contains(rep.message, "euler")) << rep.message;
    EXPECT_EQ(contains(rep.message, "integrator=imex"), ops.semi_implicit) << rep.message;
  }

  // Inside the limit at rest, with the states the layer starts from: no warning for RK4 at a tenth of it.
  Config calm = unstable_config(ops, 0.1, 10);
  calm.integrator = "rk4";
  calm.validate();
  testing::CpuTraining quiet(calm, calm.model_spec(8, 1), data);
  EXPECT_TRUE(stability_warnings(quiet.spec, quiet.params, data.train).empty()) << ops.name;
}

INSTANTIATE_TEST_SUITE_P(Registered, NeuronDivergence, ::testing::ValuesIn(neuron_model_names()), model_name);

}  // namespace
}  // namespace dynpmnn
