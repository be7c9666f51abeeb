// The batched population on the GPU (host/runtime/batched_population.cu): models the fused kernels
// do not take, every layer's kernels once for all of them (GEMMs strided-batched over the models).
//  - Each member against the same model trained alone by the CUDA backend over the first 10 epochs:
//    every epoch's training loss and validation MSE within 1e-3 relative (two float computations
//    whose sums run in other orders), the same step counts and divergence reports. Populations of
//    two-layer FitzHugh–Nagumo networks of 20 neurons (mixed step counts 1 to 200, a clamp, trained
//    neuron parameters, learning rates, weight decays and seeds, and under explicit Euler the
//    paper's dt = 20, t_end = 500, which diverges) and of MLPs. A model is rested for three epochs
//    and trained again, so the slots are permuted and the rested model costs nothing meanwhile.
//  - Through train_runs and the trainer: each model's status and best epoch against its lone run
//    (DYNPMNN_BATCHED=0), the best epoch free to move only at a near-tie of the stopping rule.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include "host/config/config.h"
#include "host/io/train_run.h"
#include "host/runtime/backend.h"
#include "host/runtime/population.h"
#include "host/training/trainer.h"
#include "tests/backend_test_util.h"
#include "tests/gpu_test_util.h"
#include "tests/population_test_util.h"
#include "tests/synthetic_data.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;

Config two_layers(double dt, double t_end, double lr, std::uint64_t seed) {
  Config cfg;
  cfg.layers = 2;
  cfg.neurons = 20;  // wider than the fused kernels take
  cfg.batch_size = 32;
  cfg.dt = dt;
  cfg.t_end = t_end;
  cfg.lr = lr;
  cfg.seed = seed;
  cfg.device = "cuda";
  return cfg;
}

// Under the semi-implicit step every model clamps, each at its own value (a population's models
// all clamp or none do); under explicit Euler none does, and the paper's setting diverges.
std::vector<Config> fhn_population(const std::string& integrator) {
  std::vector<Config> cfgs = {two_layers(0.1, 0.1, 1e-3, 1), two_layers(0.5, 10, 5e-4, 2),
                              two_layers(0.05, 10, 1e-4, 3), two_layers(0.1, 2, 2e-3, 4)};
  cfgs[3].weight_decay = 0;
  for (Config& c : cfgs) {
    c.integrator = integrator;
    c.train_a = c.train_I = true;
    if (integrator == "imex") c.clip = 1.5 + static_cast<double>(c.seed) / 2;
  }
  cfgs[2].fhn_a = 0.4;
  if (integrator == "euler") {
    cfgs.push_back(two_layers(20, 500, 1e-3, 6));  // the paper's setting: explicit Euler diverges
    cfgs.back().train_a = cfgs.back().train_I = true;
  }
  return cfgs;
}

std::vector<Config> mlp_population() {
  std::vector<Config> cfgs(3);
  for (std::size_t k = 0; k < cfgs.size(); ++k) {
    cfgs[k].model = "mlp";
    cfgs[k].batch_size = 32;
    cfgs[k].seed = 10 + k;
    cfgs[k].device = "cuda";
  }
  cfgs[1].lr = 2e-3;
  cfgs[2].weight_decay = 0;
  return cfgs;
}

// `epochs` epochs of the population and of each model alone; model 0 rests in epochs rest_from to
// rest_to (so the slots are permuted when it rests and again when it comes back).
void expect_members_match_lone_runs(const std::vector<Config>& cfgs, const SplitData& data, int epochs = 10,
                                    int rest_from = 4, int rest_to = 6) {
  std::vector<ModelSpec> specs;
  std::vector<TrainHyper> hypers;
  std::vector<std::vector<double>> inits;
  for (const Config& c : cfgs) {
    specs.push_back(c.model_spec(data.train.features, 1));
    hypers.push_back(train_hyper(c));
    const ParamTable table(specs.back());
    inits.emplace_back(table.total());
    init_params(specs.back(), table, c.seed, inits.back());
  }
  std::string why;
  auto pop = make_batched_cuda_population(specs, hypers, data, &why);
  ASSERT_TRUE(pop) << why;
  EXPECT_NE(pop->name().find("batched"), std::string::npos) << pop->name();
  test::expect_members_match_lone_runs(*pop, specs, hypers, inits, data, epochs, [&](int k, int e) {
    return k == 0 && e >= rest_from && e <= rest_to;
  });
}

TEST(BatchedPopulation, NeuronLayerMembersMatchLoneCudaRunsOverTenEpochs) {
  DYNPMNN_REQUIRE_GPU();
  const SplitData data = testing::synthetic_data(640, 7);
  for (const char* integrator : {"euler", "imex"}) {
    SCOPED_TRACE(integrator);
    expect_members_match_lone_runs(fhn_population(integrator), data);
  }
}

TEST(BatchedPopulation, MlpMembersMatchLoneCudaRunsOverTenEpochs) {
  DYNPMNN_REQUIRE_GPU();
  expect_members_match_lone_runs(mlp_population(), testing::synthetic_data(640, 5));
}

// Small enough for compute-sanitizer (the device check runs it under memcheck): three epochs of
// a population of three, model 0 resting in the second.
TEST(BatchedPopulation, ThreeEpochsWithARestingModel) {
  DYNPMNN_REQUIRE_GPU();
  std::vector<Config> cfgs = fhn_population("imex");
  cfgs.resize(3);
  expect_members_match_lone_runs(cfgs, testing::synthetic_data(200, 3), 3, 2, 2);
}

// A member trained alone through its Backend (an epoch of one model, which the slots' permutation
// puts first) and predicted after set_params: its own dt, steps and clamp, not the first model's.
TEST(BatchedPopulation, AMemberTrainedAloneIsItsLoneRun) {
  DYNPMNN_REQUIRE_GPU();
  const SplitData data = testing::synthetic_data(200, 4);
  const std::vector<Config> cfgs = fhn_population("imex");
  std::vector<ModelSpec> specs;
  std::vector<TrainHyper> hypers;
  for (const Config& c : cfgs) {
    specs.push_back(c.model_spec(data.train.features, 1));
    hypers.push_back(train_hyper(c));
  }
  std::string why;
  auto pop = make_batched_cuda_population(specs, hypers, data, &why);
  ASSERT_TRUE(pop) << why;
  for (int k : {2, 1, 3}) {
    SCOPED_TRACE("model " + std::to_string(k));
    const ParamTable table(specs[k]);
    std::vector<double> init(table.total());
    init_params(specs[k], table, cfgs[k].seed, init);
    auto lone = make_cuda_backend(specs[k], hypers[k]);
    lone->set_data(data);
    lone->set_params(init);
    pop->member(k).set_params(init);
    // Before training: the predictions of the set parameters.
    EXPECT_LT(test::rel_diff(regression_metrics(pop->member(k).predict(Split::kVal), data.val.y).mse,
                             regression_metrics(lone->predict(Split::kVal), data.val.y).mse),
              1e-4);
    const EpochStats got = pop->member(k).train_epoch(1), want = lone->train_epoch(1);
    EXPECT_EQ(got.steps, want.steps);
    EXPECT_LT(test::rel_diff(got.train_loss, want.train_loss), 1e-3) << got.train_loss << " vs " << want.train_loss;
    EXPECT_LT(test::rel_diff(regression_metrics(pop->member(k).predict(Split::kTest), data.test.y).mse,
                             regression_metrics(lone->predict(Split::kTest), data.test.y).mse),
              1e-3);
  }
}

TEST(BatchedPopulation, TrainRunsAgreeWithLoneRunsOnStatusAndBestEpoch) {
  DYNPMNN_REQUIRE_GPU();
  const SplitData data = testing::synthetic_data(640, 9);
  std::vector<Config> cfgs = fhn_population("euler");
  for (Config& c : cfgs) {
    c.epochs = 12;
    c.patience = 3;
    c.min_delta = 1e-3;
  }
  const fs::path root = fs::temp_directory_path() / ("dynpmnn_batched_" + std::to_string(::getpid()));
  fs::remove_all(root);
  std::vector<Config> together = cfgs, alone = cfgs;
  for (std::size_t k = 0; k < cfgs.size(); ++k) {
    together[k].out = (root / "batched" / std::to_string(k)).string();
    alone[k].out = (root / "lone" / std::to_string(k)).string();
  }
  const std::vector<TrainRunResult> batched =
      train_runs(together, data, std::vector<std::optional<Checkpoint>>(cfgs.size()), RunOutput::kSilent);
  std::vector<TrainRunResult> lone;
  {
    test::ScopedEnv off("DYNPMNN_BATCHED", "0");
    for (const Config& c : alone) lone.push_back(train_run(c, data, std::nullopt, RunOutput::kSilent));
  }
  test::expect_lone_outcomes(batched, lone, root / "lone", "batched");
  fs::remove_all(root);
}

}  // namespace
}  // namespace dynpmnn
