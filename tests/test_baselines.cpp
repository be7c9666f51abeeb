// The baselines of docs/baselines.md (model = mlp, model = cfc) on the CPU reference: their
// activations and CfC arithmetic against hand computations, their parameter counts against the
// paper's, gradients against finite differences, the config keys, a training run that learns, and
// train / eval / predict / resume / inspect through the binary.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "host/runtime/backend.h"
#include "host/config/config_io.h"
#include "host/io/run_folder.h"
#include "host/training/trainer.h"
#include "kernels/cfc.h"
#include "kernels/cfc_math.h"
#include "kernels/ops.h"
#include "models/cpu_model.h"
#include "models/dynpmnn.h"
#include "tests/cli_runner.h"
#include "tests/cpu_training.h"
#include "tests/synthetic_data.h"
#include "models/layers/fhn_layer.h"
#include "models/layers/dense_layer.h"
#include "models/layers/cfc_layer.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;
using testing::CliFixture;
using testing::CliResult;
using testing::last_line;
using testing::quote;
using testing::read_file;
using testing::synthetic_data;

double sigmoid_ref(double x) { return 1.0 / (1.0 + std::exp(-x)); }

TEST(BaselineActivations, ReluAndLecunTanhByHand) {
  EXPECT_EQ(activation_forward(Activation::kRelu, -1.5), 0.0);
  EXPECT_EQ(activation_forward(Activation::kRelu, 2.5), 2.5);
  EXPECT_EQ(activation_derivative(Activation::kRelu, -1.5), 0.0);
  EXPECT_EQ(activation_derivative(Activation::kRelu, 0.0), 0.0);  // torch's choice at the kink
  EXPECT_EQ(activation_derivative(Activation::kRelu, 1e-300), 1.0);
  // LeCun's tanh: 1.7159·tanh(0.666·x); tanh(0.333) = 0.3212138289885354
  EXPECT_NEAR(activation_forward(Activation::kLecunTanh, 0.5), 1.7159 * 0.3212138289885354, 1e-14);
  for (double x : {-2.0, -0.3, 0.0, 0.7, 3.0}) {
    const double h = 1e-6;
    const double fd = (activation_forward(Activation::kLecunTanh, x + h) -
                       activation_forward(Activation::kLecunTanh, x - h)) / (2 * h);
    EXPECT_NEAR(activation_derivative(Activation::kLecunTanh, x), fd, 1e-9 + 1e-8 * std::abs(fd)) << x;
  }
  EXPECT_EQ(activation_from_string("relu"), Activation::kRelu);
  EXPECT_EQ(activation_from_string("lecun_tanh"), Activation::kLecunTanh);
  EXPECT_STREQ(to_string(Activation::kLecunTanh), "lecun_tanh");
}

TEST(CfcMath, MatchesTheFormulaAndNcpsGateSign) {
  const double ff1 = 0.3, ff2 = -0.7, ta = 0.5, tb = -0.2, t = 1.5;
  const double s = sigmoid_ref(ta * t + tb);
  EXPECT_NEAR(cfc_unit_forward(ff1, ff2, ta, tb, t), std::tanh(ff1) * (1 - s) + s * std::tanh(ff2), 1e-15);
  // ncps: t_interp = σ(t_a·t + t_b); out = ff1·(1 − t_interp) + t_interp·ff2. A gate saturated at
  // 0 gives tanh(ff1), at 1 tanh(ff2).
  EXPECT_NEAR(cfc_unit_forward(ff1, ff2, 0.0, -60.0, t), std::tanh(ff1), 1e-12);
  EXPECT_NEAR(cfc_unit_forward(ff1, ff2, 0.0, 60.0, t), std::tanh(ff2), 1e-12);
  EXPECT_NEAR(cfc_unit_forward(ff1, ff2, 40.0, 0.0, 2.0), std::tanh(ff2), 1e-12);  // t scales t_a only
  EXPECT_NEAR(cfc_unit_forward(ff1, ff2, 40.0, 0.0, -2.0), std::tanh(ff1), 1e-12);

  // The backward against central differences of the forward, per input.
  const double d_out = -1.3;
  const CfcUnitGrad<double> g = cfc_unit_backward(ff1, ff2, ta, tb, t, d_out);
  const double an[4] = {g.ff1, g.ff2, g.t_a, g.t_b};
  for (int k = 0; k < 4; ++k) {
    double in[4] = {ff1, ff2, ta, tb};
    const double h = 1e-6;
    in[k] += h;
    const double up = cfc_unit_forward(in[0], in[1], in[2], in[3], t);
    in[k] -= 2 * h;
    const double down = cfc_unit_forward(in[0], in[1], in[2], in[3], t);
    const double fd = d_out * (up - down) / (2 * h);
    EXPECT_NEAR(an[k], fd, 1e-9) << "input " << k;
  }
}

TEST(CfcOp, CpuLayoutIsFf1Ff2TaTbPerRow) {
  const int B = 2, U = 3;
  std::vector<double> z(B * 4 * U);
  for (std::size_t i = 0; i < z.size(); ++i) z[i] = std::sin(1.0 + i);
  std::vector<double> out(B * U, NAN), dz(z.size(), NAN), d_out(B * U);
  for (std::size_t i = 0; i < d_out.size(); ++i) d_out[i] = std::cos(2.0 + i);
  cfc_forward_cpu(z.data(), B, U, 0.8, out.data());
  cfc_backward_cpu(z.data(), d_out.data(), B, U, 0.8, dz.data());
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < U; ++j) {
      const double* r = z.data() + b * 4 * U;
      const double s = sigmoid_ref(r[2 * U + j] * 0.8 + r[3 * U + j]);
      EXPECT_NEAR(out[b * U + j], std::tanh(r[j]) * (1 - s) + s * std::tanh(r[U + j]), 1e-15);
      const CfcUnitGrad<double> g =
          cfc_unit_backward(r[j], r[U + j], r[2 * U + j], r[3 * U + j], 0.8, d_out[b * U + j]);
      EXPECT_EQ(dz[b * 4 * U + j], g.ff1);
      EXPECT_EQ(dz[b * 4 * U + U + j], g.ff2);
      EXPECT_EQ(dz[b * 4 * U + 2 * U + j], g.t_a);
      EXPECT_EQ(dz[b * 4 * U + 3 * U + j], g.t_b);
    }
}

TEST(BaselinePresets, MlpHasThePapersParameterCount) {
  const Config cfg = preset("mlp-california");
  cfg.validate();
  const ModelSpec spec = cfg.model_spec(8, 1);
  ASSERT_EQ(spec.layers.size(), 3u);
  const int widths[3] = {512, 256, 128};
  for (int l = 0; l < 3; ++l) {
    EXPECT_EQ(spec.layers[l].kind, kDenseLayer);
    EXPECT_EQ(spec.layers[l].units, widths[l]);
    EXPECT_EQ(spec.layers[l].activation, Activation::kRelu);
    EXPECT_FALSE(spec.layers[l].layernorm);
    EXPECT_EQ(spec.layer_output_width(l), widths[l]);
  }
  const ParamTable table(spec);
  EXPECT_EQ(table.total(), 168961u);  // the paper's count for its DNN (512-256-128)
  EXPECT_EQ(table.trainable_count(), 168961u);
  EXPECT_EQ(table.at(-1, ParamKind::kWeight).shape, (std::vector<int>{1, 128}));
  EXPECT_FALSE(has_fhn_layers(spec));
}

TEST(BaselinePresets, CfcLayersAndParameterCount) {
  const Config cfg = preset("cfc-california");
  cfg.validate();
  const ModelSpec spec = cfg.model_spec(8, 1);
  ASSERT_EQ(spec.layers.size(), 2u);
  EXPECT_EQ(spec.layers[0].kind, kDenseLayer);
  EXPECT_EQ(spec.layers[0].units, 128);
  EXPECT_EQ(spec.layers[0].activation, Activation::kLecunTanh);
  EXPECT_FALSE(spec.layers[0].layernorm);
  EXPECT_EQ(spec.layers[1].kind, kCfcLayer);
  EXPECT_EQ(spec.layers[1].units, 64);
  EXPECT_EQ(spec.layers[1].cfc_time, 1.0);
  EXPECT_EQ(ParamTable(spec).at(1, ParamKind::kWeight).shape[0], 256);  // the CfC head's Linear: 4N
  EXPECT_EQ(spec.layer_output_width(1), 64);
  const ParamTable table(spec);
  EXPECT_EQ(table.at(1, ParamKind::kWeight).name, "layer1.cfc.weight");
  EXPECT_EQ(table.at(1, ParamKind::kWeight).shape, (std::vector<int>{256, 128}));
  // backbone 8·128 + 128, head 128·256 + 256, readout 64 + 1. ncps's backbone also reads the
  // 64-unit state, 64·128 more weights that multiply zeros here (docs/baselines.md).
  EXPECT_EQ(table.total(), 1152u + 33024u + 65u);
  EXPECT_EQ(table.total() + 64u * 128u, 42433u);
}

// --- gradients --------------------------------------------------------------------------------

// ‖fd − an‖ / ‖an‖ per tensor for L = Σ coeff·pred, with central differences (step 1e-5: the
// truncation error ~1e-10 relative, rounding ~1e-11) on a randomised parameter vector.
void check_gradients(const ModelSpec& spec, std::uint64_t seed) {
  const ParamTable table(spec);
  std::vector<double> params(table.total());
  init_params(spec, table, seed, params);
  std::mt19937_64 gen(seed + 17);
  std::normal_distribution<double> n01(0.0, 1.0);
  for (const auto& t : table.tensors())  // off the symmetric LayerNorm defaults
    if (t.kind == ParamKind::kLnGamma || t.kind == ParamKind::kLnBeta)
      for (std::size_t i = 0; i < t.size; ++i) params[t.offset + i] += 0.3 * n01(gen);
  const int B = 4;
  std::vector<double> x(static_cast<std::size_t>(B) * spec.inputs), coeff(static_cast<std::size_t>(B) * spec.outputs);
  for (auto& v : x) v = n01(gen);
  for (auto& v : coeff) v = n01(gen);
  CpuModel<double> model(spec, table);
  std::vector<double> pred(coeff.size()), grad(table.total());
  auto loss = [&](const std::vector<double>& p) {
    EXPECT_EQ(model.forward(p.data(), x.data(), B, pred.data()), kAllFinite);
    double s = 0;
    for (std::size_t i = 0; i < pred.size(); ++i) s += coeff[i] * pred[i];
    return s;
  };
  loss(params);
  model.backward(params.data(), x.data(), coeff.data(), grad.data());
  for (const auto& t : table.tensors()) {
    double diff2 = 0, norm2 = 0;
    for (std::size_t i = 0; i < t.size; ++i) {
      std::vector<double> p = params;
      const double h = 1e-5 * std::max(1.0, std::abs(p[t.offset + i]));
      p[t.offset + i] += h;
      const double up = loss(p);
      p[t.offset + i] -= 2 * h;
      const double down = loss(p);
      const double fd = (up - down) / (2 * h);
      diff2 += (fd - grad[t.offset + i]) * (fd - grad[t.offset + i]);
      norm2 += grad[t.offset + i] * grad[t.offset + i];
    }
    ASSERT_GT(norm2, 0.0) << t.name << " has an all-zero gradient";
    EXPECT_LT(std::sqrt(diff2 / norm2), 1e-6) << t.name;
  }
}

ModelSpec spec_with(std::vector<LayerSpec> layers, int inputs = 5, int outputs = 2) {
  ModelSpec s;
  s.inputs = inputs;
  s.outputs = outputs;
  s.layers = std::move(layers);
  return s;
}

TEST(BaselineGradients, MlpWithReluMatchesFiniteDifferences) {
  check_gradients(spec_with({dense_layer(7, Activation::kRelu, false), dense_layer(6, Activation::kRelu, false)}), 3);
}

TEST(BaselineGradients, MlpWithLayerNormAndLecunTanhMatchesFiniteDifferences) {
  check_gradients(spec_with({dense_layer(6, Activation::kLecunTanh, true), dense_layer(3, Activation::kSiLU, true)}),
                  4);
}

TEST(BaselineGradients, CfcMatchesFiniteDifferences) {
  // Backbone, head at t = 0.7 (t ≠ 1 so that a gradient missing its factor t shows), readout.
  check_gradients(spec_with({dense_layer(6, Activation::kLecunTanh, false), cfc_layer(4, 0.7)}), 5);
  check_gradients(spec_with({cfc_layer(3, 1.0)}), 6);  // backbone_layers = 0: the head reads the inputs
}

// --- config -------------------------------------------------------------------------------------

TEST(BaselineConfig, KeysParseFromSetAndToml) {
  Config cfg;
  apply_override(cfg, "model=mlp");
  apply_override(cfg, "hidden=64, 32");
  EXPECT_EQ(cfg.hidden, (std::vector<int>{64, 32}));
  apply_override(cfg, "hidden=[7]");
  EXPECT_EQ(cfg.hidden, (std::vector<int>{7}));
  apply_config_text(cfg, "hidden = [4, 5, 6]\nactivation = \"relu\"\n", "t.toml");
  EXPECT_EQ(cfg.hidden, (std::vector<int>{4, 5, 6}));
  cfg.validate();
  const ModelSpec spec = cfg.model_spec(8, 1);
  ASSERT_EQ(spec.layers.size(), 3u);
  EXPECT_EQ(spec.layers[2].units, 6);
  EXPECT_EQ(spec.layers[2].activation, Activation::kRelu);

  // Round trip through the run folder's config.toml (and so through checkpoints).
  const Config back = [&] {
    Config c;
    apply_config_text(c, to_toml(cfg), "config.toml");
    return c;
  }();
  EXPECT_EQ(to_json(back), to_json(cfg));
  EXPECT_NE(to_toml(cfg).find("hidden = [4, 5, 6]"), std::string::npos) << to_toml(cfg);

  Config cfc;
  apply_override(cfc, "model=cfc");
  apply_override(cfc, "backbone_layers=2");
  apply_override(cfc, "backbone_units=9");
  apply_override(cfc, "cfc_time=0.5");
  apply_override(cfc, "neurons=3");
  cfc.validate();
  const ModelSpec cs = cfc.model_spec(8, 1);
  ASSERT_EQ(cs.layers.size(), 3u);
  EXPECT_EQ(cs.layers[1].units, 9);
  EXPECT_EQ(cs.layers[2].kind, kCfcLayer);
  EXPECT_EQ(cs.layers[2].cfc_time, 0.5);
  EXPECT_EQ(cs.layer_input_width(2), 9);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(BaselineConfig, BadValuesNameTheKey) {
  Config cfg;
  EXPECT_EQ(error_of([&] { apply_override(cfg, "hidden=4,x"); }),
            "bad value for hidden: '4,x' is not a list of integers");
  EXPECT_EQ(error_of([&] { apply_config_text(cfg, "\nhidden = [4, \"a\"]\n", "f.toml"); }),
            "f.toml:2: hidden expects a list of integers, got a TOML array");
  EXPECT_EQ(error_of([&] { apply_config_text(cfg, "hidden = [4, 9999999999]\n", "f.toml"); }),
            "f.toml:1: hidden = [ 4, 9999999999 ] is out of range for a list of integers");
  Config bad;
  bad.model = "transformer";
  EXPECT_EQ(error_of([&] { bad.validate(); }), "model = 'transformer' is unknown (expected dynpmnn, mlp, cfc or node)");
  bad.model = "mlp";
  bad.hidden = {8, 0};
  EXPECT_EQ(error_of([&] { bad.validate(); }), "hidden = 8,0 must hold widths > 0");
  bad.hidden = {};
  EXPECT_EQ(error_of([&] { bad.validate(); }), "hidden = [] must list at least one width for model = mlp");
  bad.hidden = {8};
  bad.activation = "sigmoid";
  EXPECT_NE(error_of([&] { bad.validate(); }).find("unknown activation 'sigmoid'"), std::string::npos);
  Config cfc;
  cfc.model = "cfc";
  cfc.backbone_activation = "swish";
  EXPECT_NE(error_of([&] { cfc.validate(); }).find("unknown activation 'swish'"), std::string::npos);
  cfc.backbone_activation = "lecun_tanh";
  cfc.backbone_layers = -1;
  EXPECT_EQ(error_of([&] { cfc.validate(); }), "backbone_layers = -1 must be >= 0");
}

// --- training -----------------------------------------------------------------------------------

// Train loss of the last epoch over the first, and the best validation MSE over the initial one.
void expect_learns(const Config& cfg) {
  const SplitData data = synthetic_data(512, 3);
  testing::CpuTraining training(cfg, cfg.model_spec(8, 1), data);
  const TrainReport rep = training.train(cfg, data);
  ASSERT_EQ(rep.status, "ok") << rep.message;
  ASSERT_EQ(rep.history.size(), static_cast<std::size_t>(cfg.epochs));
  EXPECT_LT(rep.history.back().train_loss, 0.5 * rep.history.front().train_loss);
  // y has variance ≈ 0.4 around its mean 2; a model that learned beats predicting the mean.
  EXPECT_LT(rep.val.mse, 0.2) << cfg.model;
}

TEST(BaselineTraining, MlpAndCfcLearnOnTheCpu) {
  Config mlp;
  mlp.model = "mlp";
  mlp.hidden = {32, 16};
  mlp.activation = "relu";
  mlp.layernorm = false;
  mlp.lr = 3e-3;
  mlp.epochs = 6;
  mlp.patience = 0;
  mlp.seed = 2;
  expect_learns(mlp);
  Config cfc = mlp;
  cfc.model = "cfc";
  cfc.neurons = 8;
  cfc.backbone_units = 16;
  expect_learns(cfc);
}

// --- through the binary ------------------------------------------------------------------------

class BaselineCli : public CliFixture {
 protected:
  // Train 2 epochs, eval, predict, then a run stopped after epoch 1 and resumed to the same end.
  void train_eval_predict_resume(const std::string& model_args) {
    DYNPMNN_REQUIRE_CALIFORNIA();
    const std::string train = "train " + model_args + " --set epochs=2 --device cpu --seed 3 --quiet --out ";
    const fs::path out = dir_ / "run";
    const CliResult trained = run(train + quote(out));
    ASSERT_EQ(trained.exit_code, 0) << trained.err;
    const auto fin = nlohmann::json::parse(last_line(trained.out));
    EXPECT_EQ(fin["epochs"], 2);
    const double rmse = fin["test_rmse"].get<double>();
    EXPECT_GT(rmse, 0.3);
    EXPECT_LT(rmse, 1.1);  // predicting the mean gives about 1.15

    const CliResult ev = run("eval " + quote(out) + " --device cpu");
    ASSERT_EQ(ev.exit_code, 0) << ev.err;
    EXPECT_NEAR(nlohmann::json::parse(last_line(ev.out))["rmse"].get<double>(), rmse, 1e-9);

    const fs::path csv = dir_ / "pred.csv";
    const CliResult pr = run("predict " + quote(out) + " --input " + quote(locate_california("")) + " --output " +
                             quote(csv) + " --device cpu");
    ASSERT_EQ(pr.exit_code, 0) << pr.err;
    const std::string text = read_file(csv);
    EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 20641);  // header + every row

    const fs::path cut = dir_ / "cut";
    const CliResult stopped = run(train + quote(cut), std::string(kStopAfterEpochEnv) + "=1 ");
    ASSERT_EQ(stopped.exit_code, 75) << stopped.err;
    const CliResult resumed = run("train --resume " + quote(cut) + " --device cpu --quiet");
    ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
    const auto fr = nlohmann::json::parse(last_line(resumed.out));
    EXPECT_EQ(fr["epochs"], 2);
    EXPECT_EQ(fr["test_rmse"].get<double>(), rmse);  // the CPU resume is bit-identical
  }
};

TEST_F(BaselineCli, MlpTrainsEvaluatesPredictsAndResumes) {
  train_eval_predict_resume("--preset mlp-california --set hidden=32,16");
}

TEST_F(BaselineCli, CfcTrainsEvaluatesPredictsAndResumes) {
  train_eval_predict_resume("--preset cfc-california --set neurons=8 --set backbone_units=16");
}

TEST_F(BaselineCli, SweepVariesTheHiddenWidths) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  testing::write_file(dir_ / "g.toml", "preset = \"mlp-california\"\n[base]\nepochs = 1\n[grid]\nhidden = [[4], [6, 3]]\n");
  const fs::path out = dir_ / "out";
  const CliResult r = run("sweep " + quote(dir_ / "g.toml") + " --device cpu --out " + quote(out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(last_line(r.out))["finished"], 2);
  const std::string csv = read_file(out / "results.csv");
  EXPECT_TRUE(testing::contains(csv, ",\"6,3\",")) << csv;  // the list as --set spells it, quoted
  EXPECT_TRUE(testing::contains(read_file(out / "2-hidden=6_3_seed=0" / "config.toml"), "hidden = [6, 3]\n"));

  testing::write_file(dir_ / "bad.toml", "[grid]\nhidden = [[4, \"x\"]]\n");
  const CliResult bad = run("sweep " + quote(dir_ / "bad.toml") + " --device cpu --out " + quote(dir_ / "out2"));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(testing::contains(bad.err, "bad.toml:2: hidden expects list of integers, got a TOML array holding a string"))
      << bad.err;
}

TEST_F(BaselineCli, InspectRefusesAModelWithoutFhnLayers) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  const fs::path out = dir_ / "run";
  const CliResult trained =
      run("train --preset mlp-california --set hidden=4 --set epochs=1 --device cpu --quiet --out " + quote(out));
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  const CliResult r = run("inspect " + quote(out));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("no FitzHugh-Nagumo layers"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out / "inspect"));
}

}  // namespace
}  // namespace dynpmnn
