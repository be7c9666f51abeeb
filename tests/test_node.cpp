// The Neural ODE baseline (models/ode_block.h) on the CPU reference: the solvers against closed-form
// solutions (RK4's order, DOPRI5's tolerance), the exact backward through the solver steps against
// finite differences in double for every parameter tensor, the step limit, the configuration and
// preset, and a short training run.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "host/runtime/backend.h"
#include "host/config/config.h"
#include "host/config/config_io.h"
#include "host/training/trainer.h"
#include "kernels/ops.h"
#include "models/cpu_model.h"
#include "models/dynpmnn.h"
#include "models/ode_block.h"
#include "tests/cli_runner.h"
#include "tests/cpu_training.h"
#include "tests/node_test_util.h"
#include "tests/synthetic_data.h"
#include "models/layers/ode_layer.h"

namespace dynpmnn {
namespace {

// dy_i/dt = λ_i y_i + t, exact y_i(t) = (y0_i + 1/λ_i²) e^{λ_i t} − t/λ_i − 1/λ_i². Linear in y, and the
// t term checks that every stage is evaluated at its own time t + c_i h.
class LinearField final : public OdeVectorField<double> {
 public:
  explicit LinearField(std::vector<double> lambda) : lambda_(std::move(lambda)) {}
  void eval(const double* y, double t, std::size_t, double* k) override {
    for (std::size_t i = 0; i < lambda_.size(); ++i) k[i] = lambda_[i] * y[i] + time_coefficient * t;
  }
  void eval_backward(std::size_t, const double* dk, double* dy) override {
    for (std::size_t i = 0; i < lambda_.size(); ++i) dy[i] += lambda_[i] * dk[i];
  }
  double exact(std::size_t i, double y0, double t) const {
    const double l = lambda_[i], c = time_coefficient;
    return (y0 + c / (l * l)) * std::exp(l * t) - c * t / l - c / (l * l);
  }
  double time_coefficient = 1.0;

 private:
  std::vector<double> lambda_;
};

double max_error(const LinearField& f, const std::vector<double>& y0, const std::vector<double>& y1) {
  double e = 0;
  for (std::size_t i = 0; i < y0.size(); ++i) e = std::max(e, std::abs(y1[i] - f.exact(i, y0[i], 1.0)));
  return e;
}

TEST(OdeIntegrator, Rk4ConvergesWithOrderFour) {
  LinearField f({-1.0, -2.0, 0.5, -3.0});
  const std::vector<double> y0 = {1.0, -0.5, 2.0, 0.25};
  std::vector<double> y1(y0.size());
  RkIntegratorCpu<double> rk;
  std::vector<double> errors;
  for (int steps : {16, 32, 64, 128}) {
    OdeSolveSettings s;
    s.solver = OdeSolver::kRk4;
    s.steps = steps;
    ASSERT_TRUE(rk.forward(f, s, y0.data(), y0.size(), y1.data()));
    EXPECT_EQ(rk.evaluations(), 4L * steps);
    errors.push_back(max_error(f, y0, y1));
  }
  for (std::size_t i = 1; i < errors.size(); ++i) {
    const double order = std::log2(errors[i - 1] / errors[i]);
    EXPECT_NEAR(order, 4.0, 0.15) << "between " << (16 << (i - 1)) << " and " << (16 << i) << " steps; errors "
                                  << errors[i - 1] << ", " << errors[i];
  }
}

TEST(OdeIntegrator, Dopri5ReachesItsToleranceOnExponentialDecay) {
  LinearField f({-1.0, -1.0, -1.0});
  f.time_coefficient = 0.0;  // dh/dt = −h: h(1) = h0/e
  const std::vector<double> y0 = {1.0, -2.0, 0.5};
  std::vector<double> y1(y0.size());
  RkIntegratorCpu<double> rk;
  double previous_error = 1.0;
  long previous_steps = 0;
  for (double rtol : {1e-4, 1e-7, 1e-10}) {
    OdeSolveSettings s;
    s.solver = OdeSolver::kDopri5;
    s.rtol = rtol;
    s.atol = rtol * 1e-2;
    ASSERT_TRUE(rk.forward(f, s, y0.data(), y0.size(), y1.data()));
    double error = 0;
    for (std::size_t i = 0; i < y0.size(); ++i) {
      const double exact = y0[i] * std::exp(-1.0);
      EXPECT_LE(std::abs(y1[i] - exact), rtol * std::abs(exact) + s.atol) << "rtol " << rtol << ", element " << i;
      error = std::max(error, std::abs(y1[i] - exact));
    }
    // Tighter tolerances take more steps and reach a smaller error; the steps end exactly at t = 1.
    const auto& h = rk.step_sizes();
    EXPECT_GT(static_cast<long>(h.size()), previous_steps);
    EXPECT_LT(error, previous_error);
    double t = 0;
    for (double step : h) t += step;
    EXPECT_NEAR(t, 1.0, 1e-14);
    previous_error = error;
    previous_steps = static_cast<long>(h.size());
  }
}

TEST(OdeIntegrator, Dopri5StopsWithAClearErrorPastMaxSteps) {
  LinearField f({-50.0, 3.0});
  const std::vector<double> y0 = {1.0, 1.0};
  std::vector<double> y1(2);
  RkIntegratorCpu<double> rk;
  OdeSolveSettings s;
  s.solver = OdeSolver::kDopri5;
  s.rtol = 1e-12;
  s.atol = 1e-14;
  s.max_steps = 5;
  s.layer = 0;
  try {
    rk.forward(f, s, y0.data(), y0.size(), y1.data());
    FAIL() << "expected OdeStepLimitError";
  } catch (const OdeStepLimitError& e) {
    EXPECT_NE(std::string(e.what()).find("ode_max_steps = 5"), std::string::npos) << e.what();
  }
}

// The backward of the integrator alone, on the linear field: the adjoint of a linear map is exact,
// d y1_i / d y0_i = e^{λ_i} up to the solver's error.
TEST(OdeIntegrator, BackwardOfALinearFieldIsItsPropagator) {
  LinearField f({-1.0, 0.5});
  const std::vector<double> y0 = {1.0, 2.0};
  std::vector<double> y1(2), dy0(2);
  for (OdeSolver solver : {OdeSolver::kRk4, OdeSolver::kDopri5}) {
    RkIntegratorCpu<double> rk;
    OdeSolveSettings s;
    s.solver = solver;
    s.steps = 64;
    s.rtol = 1e-10;
    s.atol = 1e-12;
    ASSERT_TRUE(rk.forward(f, s, y0.data(), 2, y1.data()));
    const std::vector<double> ones = {1.0, 1.0};
    rk.backward(f, ones.data(), dy0.data());
    EXPECT_NEAR(dy0[0], std::exp(-1.0), 1e-8) << to_string(solver);
    EXPECT_NEAR(dy0[1], std::exp(0.5), 1e-8) << to_string(solver);
  }
}

// ---- the block inside a model: finite differences for every tensor -------------------------------

ModelSpec node_spec(OdeSolver solver, int vf_layers) {
  LayerSpec L;
  L.kind = kOdeLayer;
  L.units = 4;       // H
  L.ode_vf_width = 5;  // V, odd and unlike H so a transposed shape shows
  L.ode_vf_layers = vf_layers;
  L.ode_solver = solver;
  L.ode_steps = 3;
  L.ode_rtol = 1e-5;  // loose enough that dopri5 takes several steps and rejects some
  L.ode_atol = 1e-7;
  ModelSpec spec;
  spec.inputs = 3;
  spec.outputs = 2;
  spec.layers = {L};
  return spec;
}

std::vector<double> node_params(const ModelSpec& spec, const ParamTable& table, std::uint64_t seed) {
  return test::perturbed_ode_params(spec, table, seed, seed + 17);
}

struct Problem {
  int batch = 3;
  std::vector<double> x, coeff;
};

Problem make_problem(const ModelSpec& spec, std::uint64_t seed) {
  Problem pr;
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> n01(0.0, 1.0);
  pr.x.resize(static_cast<std::size_t>(pr.batch) * spec.inputs);
  for (auto& v : pr.x) v = n01(gen);
  pr.coeff.resize(static_cast<std::size_t>(pr.batch) * spec.outputs);
  for (auto& v : pr.coeff) v = n01(gen);
  return pr;
}

// loss = Σ coeff · pred: its gradient with respect to the predictions is coeff.
double linear_loss(CpuModel<double>& m, const Problem& pr, const std::vector<double>& params, int outputs) {
  std::vector<double> pred(pr.coeff.size());
  EXPECT_EQ(m.forward(params.data(), pr.x.data(), pr.batch, pred.data()), kAllFinite);
  double s = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) s += pr.coeff[i] * pred[i];
  (void)outputs;
  return s;
}

// Central differences with Richardson extrapolation (error O(h⁴)), h = 1e-3 relative: on this smooth
// map the estimate is good to ~1e-10 relative, so a per-tensor bound of 1e-7 still catches any wrong
// term in the backward.
void expect_gradients_match(const ModelSpec& spec, OdeSolver solver) {
  const ParamTable table(spec);
  std::vector<double> params = node_params(spec, table, 5);
  const Problem pr = make_problem(spec, 9);
  CpuModel<double> model(spec, table);
  std::vector<double> pred(pr.coeff.size()), grad(table.total());
  ASSERT_EQ(model.forward(params.data(), pr.x.data(), pr.batch, pred.data()), kAllFinite);
  model.backward(params.data(), pr.x.data(), pr.coeff.data(), grad.data());
  const std::vector<double> reference_pred = pred;

  if (solver == OdeSolver::kDopri5) {
    // Hold the accepted step sizes of this forward fixed while differencing: the backward treats them
    // as constants, and a perturbed forward would otherwise choose slightly different ones (the
    // controller's dependence on the parameters is what discretise-then-optimise leaves out).
    auto& rk = const_cast<OdeBlockCpu<double>&>(ode_layer_block(model.layer(0))).integrator();
    const std::vector<double> steps = rk.step_sizes();
    ASSERT_GE(steps.size(), 3u) << "the test wants a multi-step adaptive solve";
    EXPECT_GE(rk.rejected_steps(), 0);
    rk.replay_step_sizes(steps);
    ASSERT_EQ(model.forward(params.data(), pr.x.data(), pr.batch, pred.data()), kAllFinite);
    EXPECT_EQ(pred, reference_pred) << "replaying the step sizes must reproduce the adaptive solve exactly";
  }

  auto loss_at = [&](std::size_t i, double value) {
    const double saved = params[i];
    params[i] = value;
    const double l = linear_loss(model, pr, params, spec.outputs);
    params[i] = saved;
    return l;
  };
  for (const auto& t : table.tensors()) {
    double diff2 = 0, norm2 = 0;
    std::size_t worst = t.offset;
    double worst_err = -1;
    for (std::size_t i = t.offset; i < t.offset + t.size; ++i) {
      const double h = 1e-3 * std::max(1.0, std::abs(params[i]));
      const double d1 = (loss_at(i, params[i] + h) - loss_at(i, params[i] - h)) / (2 * h);
      const double d2 = (loss_at(i, params[i] + h / 2) - loss_at(i, params[i] - h / 2)) / h;
      const double fd = (4 * d2 - d1) / 3;
      diff2 += (fd - grad[i]) * (fd - grad[i]);
      norm2 += fd * fd;
      if (std::abs(fd - grad[i]) > worst_err) {
        worst_err = std::abs(fd - grad[i]);
        worst = i;
      }
    }
    ASSERT_GT(norm2, 0.0) << t.name << " has a zero gradient: the check would be vacuous";
    EXPECT_LT(std::sqrt(diff2 / norm2), 1e-7)
        << t.name << " (" << to_string(solver) << "): worst element " << worst - t.offset << ", analytic "
        << grad[worst] << ", finite difference off by " << worst_err;
  }
}

TEST(OdeGradients, Rk4MatchesFiniteDifferencesForEveryTensor) {
  expect_gradients_match(node_spec(OdeSolver::kRk4, 3), OdeSolver::kRk4);
}

TEST(OdeGradients, Rk4WithTwoAndFourVectorFieldLayers) {
  expect_gradients_match(node_spec(OdeSolver::kRk4, 2), OdeSolver::kRk4);
  expect_gradients_match(node_spec(OdeSolver::kRk4, 4), OdeSolver::kRk4);
}

TEST(OdeGradients, Dopri5MatchesFiniteDifferencesWithTheStepSequenceHeld) {
  expect_gradients_match(node_spec(OdeSolver::kDopri5, 3), OdeSolver::kDopri5);
}

// Another batch size after a first forward: the block's buffers must follow the batch.
TEST(OdeGradients, BatchSizeCanChangeBetweenCalls) {
  const ModelSpec spec = node_spec(OdeSolver::kRk4, 3);
  const ParamTable table(spec);
  const std::vector<double> params = node_params(spec, table, 3);
  CpuModel<double> model(spec, table), fresh(spec, table);
  Problem big = make_problem(spec, 1);
  big.batch = 1;
  std::vector<double> pred_a(2), pred_b(2);
  std::vector<double> x3(9, 0.5);
  std::vector<double> p3(6);
  ASSERT_EQ(model.forward(params.data(), x3.data(), 3, p3.data()), kAllFinite);
  ASSERT_EQ(model.forward(params.data(), big.x.data(), 1, pred_a.data()), kAllFinite);
  ASSERT_EQ(fresh.forward(params.data(), big.x.data(), 1, pred_b.data()), kAllFinite);
  EXPECT_EQ(pred_a, pred_b);
}

TEST(OdeModel, ParameterTableNamesAndShapes) {
  const ModelSpec spec = node_spec(OdeSolver::kRk4, 3);
  const ParamTable table(spec);
  std::vector<std::string> names;
  for (const auto& t : table.tensors()) names.push_back(t.name);
  const std::vector<std::string> expected = {
      "layer0.linear.weight", "layer0.linear.bias", "layer0.ode.f0.weight",    "layer0.ode.f0.bias",
      "layer0.ode.norm0.weight", "layer0.ode.norm0.bias", "layer0.ode.f1.weight", "layer0.ode.f1.bias",
      "layer0.ode.norm1.weight", "layer0.ode.norm1.bias", "layer0.ode.f2.weight", "layer0.ode.f2.bias",
      "readout.weight",       "readout.bias"};
  EXPECT_EQ(names, expected);
  EXPECT_EQ(table.tensors()[0].shape, (std::vector<int>{4, 3}));   // Linear(inputs → H)
  EXPECT_EQ(table.tensors()[2].shape, (std::vector<int>{5, 5}));   // Linear(H+1 → V)
  EXPECT_EQ(table.tensors()[10].shape, (std::vector<int>{4, 5}));  // Linear(V → H)
  EXPECT_EQ(table.tensors()[12].shape, (std::vector<int>{2, 4}));  // readout (outputs, H)
  EXPECT_EQ(spec.layer_output_width(0), 4);
}

// The preset's choice of rk4 with 4 steps: at the paper's widths and PyTorch's initialisation, its
// predictions against dopri5 at a tolerance far below rk4's error (the solution "exactly").
TEST(OdeModel, PresetRk4IsCloseToATightDopri5AtInitialisation) {
  ModelSpec spec = preset("node-california").model_spec(8, 1);
  const ParamTable table(spec);
  std::vector<double> params(table.total());
  init_params(spec, table, 1, params);
  std::mt19937_64 gen(2);
  std::normal_distribution<double> n01(0.0, 1.0);
  const int B = 16;
  std::vector<double> x(static_cast<std::size_t>(B) * 8), rk4(B), exact(B);
  for (auto& v : x) v = n01(gen);
  CpuModel<double> fixed(spec, table);
  ASSERT_EQ(fixed.forward(params.data(), x.data(), B, rk4.data()), kAllFinite);
  ModelSpec tight_spec = spec;
  tight_spec.layers[0].ode_solver = OdeSolver::kDopri5;
  tight_spec.layers[0].ode_rtol = 1e-12;
  tight_spec.layers[0].ode_atol = 1e-12;
  CpuModel<double> tight(tight_spec, table);
  ASSERT_EQ(tight.forward(params.data(), x.data(), B, exact.data()), kAllFinite);
  double worst = 0, spread = 0;
  for (int b = 0; b < B; ++b) {
    worst = std::max(worst, std::abs(rk4[b] - exact[b]));
    spread = std::max(spread, std::abs(exact[b] - exact[0]));
  }
  std::printf("rk4 (4 steps) vs dopri5 (rtol 1e-12, %zu steps): max |difference| %.3g, prediction spread %.3g\n",
              ode_layer_block(tight.layer(0)).integrator().step_sizes().size(), worst, spread);
  EXPECT_LT(worst, 1e-4 * spread);
  EXPECT_GT(worst, 0.0);  // rk4 is not exact: the comparison measured something
}

// ---- configuration, preset, training ------------------------------------------------------------

TEST(OdeConfig, NodePresetBuildsTheNeuralOde) {
  const Config cfg = preset("node-california");
  EXPECT_NO_THROW(cfg.validate());
  EXPECT_EQ(cfg.model, "node");
  const ModelSpec spec = cfg.model_spec(8, 1);
  ASSERT_EQ(spec.layers.size(), 1u);
  const LayerSpec& L = spec.layers[0];
  EXPECT_EQ(L.kind, kOdeLayer);
  EXPECT_EQ(L.units, 128);
  EXPECT_EQ(L.ode_vf_width, 128);
  EXPECT_EQ(L.ode_vf_layers, 3);
  // 8·128 + 128, (129·128 + 128) + 2·128, (128·128 + 128) + 2·128, 128·128 + 128, 128 + 1
  EXPECT_EQ(ParamTable(spec).total(), 1152u + 16640u + 256u + 16512u + 256u + 16512u + 129u);
}

TEST(OdeConfig, BadValuesNameTheKey) {
  auto message = [](const std::string& assignment) {
    Config cfg;
    apply_override(cfg, "model=node");
    apply_override(cfg, assignment);
    try {
      cfg.validate();
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_EQ(message("ode_solver=euler"), "ode_solver = 'euler' is unknown (expected rk4 or dopri5)");
  EXPECT_NE(message("ode_vf_layers=1").find("ode_vf_layers = 1 must be in [2, 64]"), std::string::npos);
  EXPECT_NE(message("ode_steps=0").find("ode_steps = 0"), std::string::npos);
  EXPECT_NE(message("ode_rtol=-1").find("ode_rtol = -1"), std::string::npos);
  EXPECT_NE(message("ode_max_steps=0").find("ode_max_steps = 0"), std::string::npos);
  EXPECT_NE(message("model=nod").find("model = 'nod' is unknown"), std::string::npos);
  EXPECT_EQ(message("ode_solver=dopri5"), "(no error)");
}

TEST(OdeTraining, ShortCpuRunLearns) {
  Config cfg;
  cfg.model = "node";
  cfg.ode_hidden = 12;
  cfg.ode_vf_width = 16;
  cfg.ode_steps = 2;
  cfg.lr = 3e-3;
  cfg.epochs = 6;
  cfg.patience = 0;
  cfg.seed = 4;
  cfg.validate();
  const SplitData data = testing::synthetic_data(1200, 3);
  testing::CpuTraining training(cfg, cfg.model_spec(8, 1), data);
  const TrainReport rep = training.train(cfg, data);
  ASSERT_EQ(rep.status, "ok") << rep.message;
  ASSERT_EQ(rep.history.size(), 6u);
  // The target's variance is about 0.4: a model that learned nothing scores that.
  EXPECT_LT(rep.history.back().train_loss, 0.5 * rep.history.front().train_loss);
  EXPECT_LT(rep.test.mse, 0.15);
  EXPECT_EQ(rep.params, training.table.trainable_count());
}

// The command line end to end on the real data: train and eval a small node model, and inspect
// refuses it clearly (it draws FHN neurons, and this model has none).
class NodeCli : public testing::CliFixture {};

TEST_F(NodeCli, TrainEvalAndInspectRefusal) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  const std::filesystem::path run_dir = dir_ / "run";
  const testing::CliResult train =
      run("train --preset node-california --set ode_hidden=6 --set ode_vf_width=7 --set ode_steps=1 --epochs 1 "
          "--device cpu --quiet --out " + testing::quote(run_dir));
  ASSERT_EQ(train.exit_code, 0) << train.err;
  const auto trained = nlohmann::json::parse(testing::last_line(train.out));
  EXPECT_EQ(trained.at("status"), "ok");
  EXPECT_LT(trained.at("test_rmse").get<double>(), 1.1);  // the mean predictor scores about 1.15

  const testing::CliResult eval = run("eval " + testing::quote(run_dir));
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_EQ(nlohmann::json::parse(testing::last_line(eval.out)).at("rmse"), trained.at("test_rmse"));

  const testing::CliResult inspect = run("inspect " + testing::quote(run_dir));
  EXPECT_EQ(inspect.exit_code, 2);
  EXPECT_NE(inspect.err.find("model = 'node' has no FitzHugh-Nagumo layer"), std::string::npos) << inspect.err;
  EXPECT_TRUE(inspect.out.empty());
}

}  // namespace
}  // namespace dynpmnn
