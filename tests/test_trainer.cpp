// The CPU backend and the trainer: epoch order, determinism, learning, divergence reporting.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "host/runtime/backend.h"
#include "host/training/trainer.h"
#include "tests/cpu_training.h"
#include "tests/synthetic_data.h"

namespace dynpmnn {
namespace {

using testing::CpuTraining;
using testing::synthetic_data;

Config stable_config() {
  Config cfg;
  cfg.neurons = 4;
  cfg.dt = 0.1;
  cfg.t_end = 2.0;
  cfg.lr = 5e-3;
  cfg.epochs = 3;
  cfg.seed = 7;
  return cfg;
}

ModelSpec spec_of(const Config& cfg) {
  ModelSpec spec;
  LayerSpec L;
  L.units = cfg.neurons;
  L.dt = cfg.dt;
  L.t_end = cfg.t_end;
  L.clip = cfg.clip;
  spec.layers.assign(cfg.layers, L);
  return spec;
}

TEST(EpochPermutation, IsAPermutationThatDependsOnSeedAndEpoch) {
  const auto p1 = epoch_permutation(3, 1, 1000);
  auto sorted = p1;
  std::sort(sorted.begin(), sorted.end());
  for (std::uint32_t i = 0; i < 1000; ++i) ASSERT_EQ(sorted[i], i);
  EXPECT_EQ(p1, epoch_permutation(3, 1, 1000));
  EXPECT_NE(p1, epoch_permutation(3, 2, 1000));
  EXPECT_NE(p1, epoch_permutation(4, 1, 1000));
  // Not the identity, nor a rotation of it.
  int in_place = 0;
  for (std::uint32_t i = 0; i < 1000; ++i) in_place += p1[i] == i;
  EXPECT_LT(in_place, 20);
}

TEST(AdamUpdate, MatchesTorchFormulaByHand) {
  // torch.optim.Adam, step 1, weight_decay 0.1: g' = g + wd·p; m = (1−β1)g'; v = (1−β2)g'²;
  // p −= lr/(1−β1) · m / (sqrt(v)/sqrt(1−β2) + eps)  ⇒ p − lr·sign(g')·(1 − tiny).
  double p = 1.0, m = 0, v = 0;
  const double g = 0.5, lr = 0.01, wd = 0.1;
  adam_update(p, g, m, v, lr, 0.9, 0.999, 1e-8, wd, 1 - 0.9, std::sqrt(1 - 0.999));
  const double gp = g + wd * 1.0;
  EXPECT_NEAR(m, 0.1 * gp, 1e-15);
  EXPECT_NEAR(v, 0.001 * gp * gp, 1e-15);
  EXPECT_NEAR(p, 1.0 - lr * gp / (gp + 1e-8), 1e-12);
}

TEST(CpuTrainer, IsBitDeterministicForASeed) {
  const Config cfg = stable_config();
  const SplitData data = synthetic_data(600, 1);
  std::vector<std::vector<double>> losses;
  std::vector<std::vector<double>> finals;
  for (int run = 0; run < 2; ++run) {
    CpuTraining training(cfg, spec_of(cfg), data);
    const TrainReport rep = training.train(cfg, data);
    ASSERT_EQ(rep.status, "ok") << rep.message;
    std::vector<double> l;
    for (const auto& r : rep.history) l.push_back(r.train_loss);
    losses.push_back(l);
    finals.push_back(training.params);
  }
  ASSERT_EQ(losses[0].size(), 3u);
  EXPECT_EQ(losses[0], losses[1]);  // exact: same seed, same order, same arithmetic
  EXPECT_EQ(finals[0], finals[1]);
}

TEST(CpuTrainer, LearnsASmoothTarget) {
  Config cfg = stable_config();
  cfg.epochs = 12;
  cfg.patience = 0;
  const SplitData data = synthetic_data(1500, 2);
  CpuTraining training(cfg, spec_of(cfg), data);
  const TrainReport rep = training.train(cfg, data);
  ASSERT_EQ(rep.status, "ok") << rep.message;
  ASSERT_EQ(rep.history.size(), 12u);
  // Variance of the target is about 0.4; the mean predictor scores that, a trained net far less.
  EXPECT_LT(rep.history.back().train_loss, 0.5 * rep.history.front().train_loss);
  EXPECT_LT(rep.test.mse, 0.15);
  EXPECT_GT(rep.test.r2, 0.6);
  EXPECT_EQ(rep.params, training.table.trainable_count());
}

TEST(CpuTrainer, ReportsThePaperSettingsBlowUpWhereItHappens) {
  // The paper's dt = 20 with no clip: explicit Euler on the cubic diverges in the first forward.
  Config cfg;
  cfg.epochs = 2;
  const SplitData data = synthetic_data(300, 3);
  CpuTraining training(spec_of(cfg), train_hyper(cfg), &data, 0);
  const std::vector<double> initial = training.params;
  const TrainReport rep = training.train(cfg, data);
  EXPECT_EQ(rep.status, "diverged");
  EXPECT_TRUE(rep.divergence.diverged);
  EXPECT_EQ(rep.divergence.epoch, 1);
  EXPECT_EQ(rep.divergence.step, 0);
  EXPECT_EQ(rep.divergence.layer, 0);
  EXPECT_EQ(training.params, initial);  // nothing better was ever found, so the initial weights are kept
  EXPECT_NE(rep.message.find("epoch 1, minibatch 1"), std::string::npos) << rep.message;
  EXPECT_NE(rep.message.find("dt = 20"), std::string::npos) << rep.message;
  EXPECT_NE(rep.message.find("clip"), std::string::npos) << rep.message;
}

TEST(CpuTrainer, ClipKeepsThePaperSettingFinite) {
  Config cfg;
  cfg.epochs = 1;
  cfg.clip = 20;
  const SplitData data = synthetic_data(300, 4);
  CpuTraining training(spec_of(cfg), train_hyper(cfg), &data, 0);
  const TrainReport rep = training.train(cfg, data);
  EXPECT_EQ(rep.status, "ok");
  EXPECT_TRUE(std::isfinite(rep.test.rmse));
}

TEST(CpuTrainer, EarlyStoppingRestoresTheBestValidationWeights) {
  Config cfg = stable_config();
  cfg.epochs = 30;
  cfg.patience = 2;
  cfg.min_delta = 10.0;  // no improvement is ever large enough: stops after epoch 1 + patience
  const SplitData data = synthetic_data(400, 5);
  CpuTraining training(cfg, spec_of(cfg), data);
  const TrainReport rep = training.train(cfg, data);
  EXPECT_EQ(rep.status, "early_stopped");
  EXPECT_EQ(rep.epochs, 3);
  double best = 1e300;
  int best_epoch = 0;
  for (const auto& r : rep.history)
    if (r.val_mse < best) best = r.val_mse, best_epoch = r.epoch;
  EXPECT_EQ(rep.best_epoch, best_epoch);
  EXPECT_DOUBLE_EQ(rep.val_mse, best);  // the restored weights reproduce the best validation MSE
}

}  // namespace
}  // namespace dynpmnn

namespace dynpmnn {
namespace {

TEST(StabilityWarnings, NameTheLayerAndALargestStableDtForExplicitSchemesOnly) {
  const SplitData data = synthetic_data(300, 6);
  Config cfg;  // the paper's dt = 20
  const ModelSpec paper = spec_of(cfg);
  const ParamTable table(paper);
  std::vector<double> params(table.total());
  init_params(paper, table, 0, params);
  const auto w = stability_warnings(paper, params, data.train);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("layer 0: dt = 20"), std::string::npos) << w[0];
  EXPECT_NE(w[0].find("integrator=imex"), std::string::npos) << w[0];

  ModelSpec imex = paper;
  imex.layers[0].integrator = Integrator::kImex;
  EXPECT_TRUE(stability_warnings(imex, params, data.train).empty());

  cfg.dt = 0.1;
  cfg.t_end = 2;
  const ModelSpec small = spec_of(cfg);
  EXPECT_TRUE(stability_warnings(small, params, data.train).empty());
}

}  // namespace
}  // namespace dynpmnn
