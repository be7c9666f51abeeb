// The reparametrisation of trained FHN parameters (fhn_param_space = "physical"): the maps and
// their derivatives against finite differences, the model's gradient through the maps against
// finite differences in double, the chain rule against the raw-space gradient, frozen parameters
// untouched, a training run at a large lr that takes b or g below 0 in raw space and stays in range
// through the maps, the config key, old checkpoints read as raw, and what users read (best_params.json)
// in physical values.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "host/runtime/backend.h"
#include "host/io/checkpoint.h"
#include "host/config/config.h"
#include "host/config/config_io.h"
#include "kernels/fhn_param_map.h"
#include "models/cpu_model.h"
#include "models/dynpmnn.h"
#include "tests/cli_runner.h"
#include "tests/cpu_training.h"
#include "tests/synthetic_data.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;

bool close(double got, double ref, double atol, double rtol) {
  return std::abs(got - ref) <= atol + rtol * std::abs(ref);
}

// ---- the maps ----------------------------------------------------------------------------------

TEST(FhnParamMap, DerivativesMatchFiniteDifferences) {
  for (FhnParamMap map : {FhnParamMap::kSigmoid, FhnParamMap::kSoftplus, FhnParamMap::kIdentity}) {
    for (double x : {-30.0, -5.0, -1.3, -0.1, 0.0, 0.4, 2.0, 7.5, 30.0}) {
      const double h = 1e-5 * std::max(1.0, std::abs(x));
      const double fd =
          (fhn_param_map_forward(map, x + h) - fhn_param_map_forward(map, x - h)) / (2 * h);
      EXPECT_TRUE(close(fhn_param_map_derivative(map, x), fd, 1e-12, 1e-7))
          << to_string(map) << " at " << x << ": " << fhn_param_map_derivative(map, x) << " vs " << fd;
    }
  }
  // Hand values: sigmoid(0) = 1/2 with slope 1/4, softplus(0) = log 2 with slope 1/2.
  EXPECT_DOUBLE_EQ(fhn_param_map_forward(FhnParamMap::kSigmoid, 0.0), 0.5);
  EXPECT_DOUBLE_EQ(fhn_param_map_derivative(FhnParamMap::kSigmoid, 0.0), 0.25);
  EXPECT_DOUBLE_EQ(fhn_param_map_forward(FhnParamMap::kSoftplus, 0.0), std::log(2.0));
  EXPECT_DOUBLE_EQ(fhn_param_map_derivative(FhnParamMap::kSoftplus, 0.0), 0.5);
}

TEST(FhnParamMap, InverseRoundTripsAndExtremesStayInRange) {
  for (double y : {1e-9, 0.02, 0.2, 0.5, 0.9, 0.999999}) {
    const double back = fhn_param_map_forward(FhnParamMap::kSigmoid, fhn_param_map_inverse(FhnParamMap::kSigmoid, y));
    EXPECT_TRUE(close(back, y, 0, 1e-12)) << "sigmoid " << y << " -> " << back;
  }
  for (double y : {1e-9, 0.02, 3.0, 50.0, 1e6}) {
    const double back =
        fhn_param_map_forward(FhnParamMap::kSoftplus, fhn_param_map_inverse(FhnParamMap::kSoftplus, y));
    EXPECT_TRUE(close(back, y, 0, 1e-12)) << "softplus " << y << " -> " << back;
  }
  // No overflow whatever the step did to θ: a stays in [0, 1], b and g finite and >= 0.
  for (double x : {-1e4, -800.0, 800.0, 1e4}) {
    for (float xf : {static_cast<float>(x), static_cast<float>(x / 10)}) {
      const float a = fhn_param_map_forward(FhnParamMap::kSigmoid, xf);
      const float b = fhn_param_map_forward(FhnParamMap::kSoftplus, xf);
      EXPECT_TRUE(a >= 0 && a <= 1) << xf << " " << a;
      EXPECT_TRUE(std::isfinite(b) && b >= 0) << xf << " " << b;
      EXPECT_TRUE(std::isfinite(fhn_param_map_derivative(FhnParamMap::kSoftplus, xf)));
    }
    EXPECT_TRUE(std::isfinite(fhn_param_map_derivative(FhnParamMap::kSigmoid, x)));
  }
}

// ---- the model's gradient through the maps ---------------------------------------------------

LayerSpec trained_layer(int neurons, Coupling coupling, FhnParamSpace space) {
  LayerSpec L;
  L.units = neurons;
  L.coupling = coupling;
  L.dt = 0.25;
  L.t_end = 1.5;  // 6 steps
  L.train_a = L.train_b = L.train_g = L.train_I = true;
  L.param_space = space;
  return L;
}

ModelSpec two_layer_model(FhnParamSpace space) {
  ModelSpec spec;
  spec.inputs = 3;
  spec.outputs = 2;
  spec.layers = {trained_layer(3, Coupling::kInitialCondition, space), trained_layer(2, Coupling::kCurrent, space)};
  return spec;
}

// Initial values, then every FHN θ moved per neuron so that no two neurons coincide.
std::vector<double> spread_params(const ModelSpec& spec, const ParamTable& table, std::uint64_t seed) {
  std::vector<double> p(table.total());
  init_params(spec, table, seed, p);
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(-0.5, 0.5);
  for (const auto& t : table.tensors())
    if (t.kind == ParamKind::kFhnA || t.kind == ParamKind::kFhnB || t.kind == ParamKind::kFhnG ||
        t.kind == ParamKind::kFhnI)
      for (std::size_t i = t.offset; i < t.offset + t.size; ++i) p[i] += u(gen);
  return p;
}

struct Probe {
  std::vector<double> x;      // (B, inputs)
  std::vector<double> weight; // (B, outputs): loss = Σ weight · pred
  int B = 4;
};

Probe make_probe(const ModelSpec& spec, std::uint64_t seed) {
  Probe probe;
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> n(0.0, 1.0);
  for (int i = 0; i < probe.B * spec.inputs; ++i) probe.x.push_back(n(gen));
  for (int i = 0; i < probe.B * spec.outputs; ++i) probe.weight.push_back(n(gen));
  return probe;
}

double loss_of(CpuModel<double>& model, const ModelSpec& spec, const Probe& probe, const std::vector<double>& p) {
  std::vector<double> pred(static_cast<std::size_t>(probe.B) * spec.outputs);
  EXPECT_EQ(model.forward(p.data(), probe.x.data(), probe.B, pred.data()), kAllFinite);
  double loss = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) loss += probe.weight[i] * pred[i];
  return loss;
}

std::vector<double> gradient_of(CpuModel<double>& model, const ModelSpec& spec, const ParamTable& table,
                                const Probe& probe, const std::vector<double>& p) {
  (void)loss_of(model, spec, probe, p);
  std::vector<double> grad(table.total());
  model.backward(p.data(), probe.x.data(), probe.weight.data(), grad.data());
  return grad;
}

TEST(FhnParamSpace, GradientThroughTheMapsMatchesFiniteDifferences) {
  const ModelSpec spec = two_layer_model(FhnParamSpace::kPhysical);
  const ParamTable table(spec);
  ASSERT_EQ(table.at(0, ParamKind::kFhnA).map, FhnParamMap::kSigmoid);
  ASSERT_EQ(table.at(1, ParamKind::kFhnG).map, FhnParamMap::kSoftplus);
  ASSERT_EQ(table.at(1, ParamKind::kFhnI).map, FhnParamMap::kIdentity);
  CpuModel<double> model(spec, table);
  const Probe probe = make_probe(spec, 3);
  std::vector<double> p = spread_params(spec, table, 4);
  const std::vector<double> grad = gradient_of(model, spec, table, probe, p);
  int checked = 0;
  for (const auto& t : table.tensors()) {
    if (t.kind != ParamKind::kFhnA && t.kind != ParamKind::kFhnB && t.kind != ParamKind::kFhnG &&
        t.kind != ParamKind::kFhnI)
      continue;
    for (std::size_t i = t.offset; i < t.offset + t.size; ++i) {
      const double keep = p[i];
      const double h = 1e-5 * std::max(1.0, std::abs(keep));
      p[i] = keep + h;
      const double up = loss_of(model, spec, probe, p);
      p[i] = keep - h;
      const double down = loss_of(model, spec, probe, p);
      p[i] = keep;
      const double fd = (up - down) / (2 * h);
      EXPECT_TRUE(close(grad[i], fd, 1e-9, 1e-6)) << t.name << "[" << i - t.offset << "]: " << grad[i] << " vs " << fd;
      EXPECT_NE(grad[i], 0.0) << t.name;  // every θ matters here, so a zero means a lost term
      ++checked;
    }
  }
  EXPECT_EQ(checked, 4 * (3 + 2));
}

TEST(FhnParamSpace, SameModelAsRawSpaceAndTheChainRuleOnItsGradient) {
  const ModelSpec mapped_spec = two_layer_model(FhnParamSpace::kPhysical);
  const ModelSpec raw_spec = two_layer_model(FhnParamSpace::kRaw);
  const ParamTable mapped_table(mapped_spec), raw_table(raw_spec);
  const std::vector<double> theta = spread_params(mapped_spec, mapped_table, 8);
  const std::vector<double> physical = physical_params(mapped_table, theta);
  CpuModel<double> mapped(mapped_spec, mapped_table), raw(raw_spec, raw_table);
  const Probe probe = make_probe(mapped_spec, 9);
  EXPECT_DOUBLE_EQ(loss_of(mapped, mapped_spec, probe, theta), loss_of(raw, raw_spec, probe, physical));
  const auto g_theta = gradient_of(mapped, mapped_spec, mapped_table, probe, theta);
  const auto g_phys = gradient_of(raw, raw_spec, raw_table, probe, physical);
  for (const auto& t : mapped_table.tensors())
    for (std::size_t i = t.offset; i < t.offset + t.size; ++i) {
      const double ref = g_phys[i] * fhn_param_map_derivative(t.map, theta[i]);
      EXPECT_TRUE(close(g_theta[i], ref, 1e-15, 1e-12)) << t.name << ": " << g_theta[i] << " vs " << ref;
    }
}

TEST(FhnParamSpace, FrozenParametersAreUnaffected) {
  // Nothing trained: the physical space stores exactly what the raw one does.
  LayerSpec frozen;
  frozen.units = 3;
  frozen.dt = 0.5;
  frozen.t_end = 2;
  ModelSpec spec;
  spec.layers = {frozen};
  spec.layers[0].param_space = FhnParamSpace::kPhysical;
  ModelSpec raw_spec = spec;
  raw_spec.layers[0].param_space = FhnParamSpace::kRaw;
  const ParamTable table(spec), raw_table(raw_spec);
  std::vector<double> p(table.total()), q(raw_table.total());
  init_params(spec, table, 5, p);
  init_params(raw_spec, raw_table, 5, q);
  EXPECT_EQ(p, q);
  for (const auto& t : table.tensors()) EXPECT_EQ(t.map, FhnParamMap::kIdentity) << t.name;

  // Only a trained: b, g, I stay the spec's values, bit for bit; a is stored as logit(0.2).
  spec.layers[0].train_a = true;
  const ParamTable table_a(spec);
  std::vector<double> pa(table_a.total());
  init_params(spec, table_a, 5, pa);
  EXPECT_EQ(pa[table_a.at(0, ParamKind::kFhnB).offset], 0.02);
  EXPECT_EQ(pa[table_a.at(0, ParamKind::kFhnG).offset], 3.0);
  EXPECT_EQ(pa[table_a.at(0, ParamKind::kFhnI).offset], 0.0);
  EXPECT_NEAR(pa[table_a.at(0, ParamKind::kFhnA).offset], std::log(0.2 / 0.8), 1e-15);
  EXPECT_NEAR(physical_params(table_a, pa)[table_a.at(0, ParamKind::kFhnA).offset], 0.2, 1e-16);
}

// ---- training at a large learning rate --------------------------------------------------------

struct RangeAfterTraining {
  double min_a = 1, max_a = 0, min_b = 1e300, min_g = 1e300;
  bool finite = true;
};

RangeAfterTraining train_large_lr(FhnParamSpace space) {
  LayerSpec L;
  L.units = 4;
  L.dt = 0.25;
  L.t_end = 2;
  L.train_a = L.train_b = L.train_g = true;
  L.param_space = space;
  ModelSpec spec;
  spec.layers = {L};
  TrainHyper hyper;
  hyper.batch_size = 16;
  hyper.adam.lr = 0.2;  // 400 times the paper's: one Adam step moves b (0.02) by about 0.2
  hyper.adam.weight_decay = 0;
  hyper.seed = 2;
  const SplitData data = testing::synthetic_data(160, 4);
  testing::CpuTraining training(spec, hyper, &data, 6);
  const ParamTable& table = training.table;
  std::vector<double>& p = training.params;
  RangeAfterTraining r;
  for (int epoch = 1; epoch <= 3; ++epoch) {
    const EpochStats stats = training.backend->train_epoch(epoch);
    training.backend->get_params(p);
    const std::vector<double> phys = physical_params(table, p);
    for (int n = 0; n < L.units; ++n) {
      const double a = phys[table.at(0, ParamKind::kFhnA).offset + n];
      const double b = phys[table.at(0, ParamKind::kFhnB).offset + n];
      const double g = phys[table.at(0, ParamKind::kFhnG).offset + n];
      r.finite = r.finite && std::isfinite(a) && std::isfinite(b) && std::isfinite(g);
      r.min_a = std::min(r.min_a, a);
      r.max_a = std::max(r.max_a, a);
      r.min_b = std::min(r.min_b, b);
      r.min_g = std::min(r.min_g, g);
    }
    if (stats.divergence.diverged) break;
  }
  return r;
}

TEST(FhnParamSpace, LargeLearningRateLeavesTheRangeRawButNotThroughTheMaps) {
  const RangeAfterTraining raw = train_large_lr(FhnParamSpace::kRaw);
  EXPECT_TRUE(raw.min_b < 0 || raw.min_g < 0 || raw.min_a < 0 || raw.max_a > 1)
      << "the raw run must leave the physical range, or this test shows nothing: a in [" << raw.min_a << ", "
      << raw.max_a << "], min b " << raw.min_b << ", min g " << raw.min_g;
  const RangeAfterTraining mapped = train_large_lr(FhnParamSpace::kPhysical);
  EXPECT_TRUE(mapped.finite);
  EXPECT_GT(mapped.min_a, 0.0);
  EXPECT_LT(mapped.max_a, 1.0);
  EXPECT_GT(mapped.min_b, 0.0);
  EXPECT_GT(mapped.min_g, 0.0);
}

// ---- configuration ----------------------------------------------------------------------------

std::string config_error(Config cfg) {
  try {
    cfg.validate();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(FhnParamSpace, ConfigKeyParsesValidatesAndRoundTrips) {
  Config cfg;
  EXPECT_EQ(cfg.fhn_param_space, "physical");
  EXPECT_EQ(cfg.model_spec(8, 1).layers[0].param_space, FhnParamSpace::kPhysical);
  apply_override(cfg, "train_b=true");
  EXPECT_EQ(cfg.model_spec(8, 1).layers[0].param_maps().b, FhnParamMap::kSoftplus);
  apply_override(cfg, "fhn_param_space=raw");
  EXPECT_EQ(cfg.model_spec(8, 1).layers[0].param_space, FhnParamSpace::kRaw);
  EXPECT_FALSE(cfg.model_spec(8, 1).layers[0].param_maps().any()) << "raw: the values themselves, as before";
  EXPECT_NE(to_toml(cfg).find("fhn_param_space = \"raw\""), std::string::npos);
  Config back;
  apply_config_text(back, to_toml(cfg), "to_toml");
  EXPECT_EQ(back.fhn_param_space, "raw");

  cfg.fhn_param_space = "logit";
  EXPECT_EQ(config_error(cfg), "fhn_param_space = 'logit' is unknown (expected physical or raw)");

  // Out-of-range initial values of trained parameters: refused in physical space, naming the key.
  cfg = Config{};
  cfg.train_b = true;
  cfg.fhn_b = -0.1;
  EXPECT_EQ(config_error(cfg).rfind("fhn_b = -0.1 must be > 0", 0), 0u) << config_error(cfg);
  cfg.fhn_param_space = "raw";
  EXPECT_EQ(config_error(cfg), "");
  cfg = Config{};
  cfg.train_a = true;
  cfg.fhn_a = 1.0;
  EXPECT_EQ(config_error(cfg).rfind("fhn_a = 1 must be in (0, 1)", 0), 0u) << config_error(cfg);
  cfg.train_a = false;  // a frozen a may be anything finite
  EXPECT_EQ(config_error(cfg), "");
  cfg = Config{};
  cfg.train_g = true;
  cfg.fhn_g = 0;
  EXPECT_NE(config_error(cfg).find("fhn_g = 0 must be > 0"), std::string::npos) << config_error(cfg);
}

// The fuzz corpus's checkpoints predate the key: the one that trains a stored a itself (raw); the
// one that trains none reads as the default, so that a rerun sweep still recognises its point.
TEST(FhnParamSpace, ModelSpecRefusesInitialValuesOutsideTheMapsRange) {
  ModelSpec spec = two_layer_model(FhnParamSpace::kPhysical);
  spec.layers[1].b = -0.5;
  try {
    const ParamTable table(spec);
    FAIL() << "b = -0.5 cannot be softplus(θ)";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("layer 1: b = -0.5"), std::string::npos) << e.what();
  }
  spec.layers[1].param_space = FhnParamSpace::kRaw;
  EXPECT_NO_THROW(ParamTable{spec});
}

TEST(FhnParamSpace, CheckpointsWrittenBeforeTheKeyReadAsRawWhereTheyTrainedFhnParameters) {
  const fs::path corpus = fs::path(DYNPMNN_SOURCE_DIR) / "fuzz/corpus/checkpoint";
  const Checkpoint trains_a = load_checkpoint(corpus / "two_layers_epoch0.bin");
  ASSERT_TRUE(trains_a.config.train_a);
  EXPECT_EQ(trains_a.config.fhn_param_space, "raw");
  EXPECT_EQ(trains_a.config.model_spec(8, 1).layers[0].param_maps().a, FhnParamMap::kIdentity);
  const Checkpoint trains_none = load_checkpoint(corpus / "neurons1_epoch2.bin");
  ASSERT_FALSE(trains_none.config.train_a || trains_none.config.train_b || trains_none.config.train_g ||
               trains_none.config.train_I);
  EXPECT_EQ(trains_none.config.fhn_param_space, "physical");
  EXPECT_NE(to_toml(trains_none.config).find("fhn_param_space = \"physical\""), std::string::npos);
}

// ---- what users read ----------------------------------------------------------------------------

class FhnParamSpaceCli : public testing::CliFixture {};

TEST_F(FhnParamSpaceCli, BestParamsJsonShowsPhysicalValuesAndBestBinKeepsTheta) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  const fs::path out = dir_ / "run";
  const testing::CliResult r =
      run("train --preset wide-california --set neurons=2 --set train_a=true --set train_b=true --set train_g=true "
          "--set lr=0.05 --epochs 1 --device cpu --quiet --out " + testing::quote(out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Checkpoint ck = load_checkpoint(out / "best.bin");
  EXPECT_EQ(ck.config.fhn_param_space, "physical");
  const ParamTable table(ck.config.model_spec(8, 1));
  const std::vector<double> physical = physical_params(table, ck.state.best_params);
  const auto json = nlohmann::json::parse(testing::read_file(out / "best_params.json"));
  int seen = 0;
  for (const auto& tensor : json.at("tensors")) {
    const ParamTensor* t = nullptr;
    for (const auto& candidate : table.tensors())
      if (candidate.name == tensor.at("name").get<std::string>()) t = &candidate;
    ASSERT_NE(t, nullptr) << tensor.at("name");
    const auto values = tensor.at("values").get<std::vector<double>>();
    ASSERT_EQ(values.size(), t->size);
    for (std::size_t i = 0; i < t->size; ++i) EXPECT_EQ(values[i], physical[t->offset + i]) << t->name;
    if (t->map == FhnParamMap::kIdentity) continue;
    ++seen;
    for (std::size_t i = 0; i < t->size; ++i) {
      EXPECT_NE(values[i], ck.state.best_params[t->offset + i]) << t->name << ": json must not show θ";
      EXPECT_GT(values[i], 0.0) << t->name;
      if (t->kind == ParamKind::kFhnA) EXPECT_LT(values[i], 1.0);
    }
  }
  EXPECT_EQ(seen, 3);  // a, b, g
}

}  // namespace
}  // namespace dynpmnn
