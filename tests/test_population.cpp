// Populations (host/runtime/population.h, issue 11): models trained together, each exactly as alone.
// On the CPU a population member is bit for bit its lone run: losses, validation MSE, status, best
// epoch, divergence report and best parameters, with mixed step counts, a model that stops early,
// one that runs out of epochs first and one that diverges mid-population; a model that stopped is
// handed no more epochs. checkpoint_every writes fewer checkpoints with the same results. The
// sweep's grouping rule, and `sweep --population auto` against `off` through the binary, an
// interrupted population sweep included.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "host/cli/command.h"
#include "host/io/checkpoint.h"
#include "host/io/run_folder.h"
#include "host/io/train_run.h"
#include "host/runtime/population.h"
#include "host/training/population_plan.h"
#include "host/training/trainer.h"
#include "tests/backend_test_util.h"
#include "tests/cli_runner.h"
#include "tests/cpu_training.h"
#include "tests/data_test_util.h"
#include "tests/synthetic_data.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;

// Bit patterns, so that NaN equals NaN and -0 differs from 0.
bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }
bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

Config small(double dt, double t_end, double lr, std::uint64_t seed) {
  Config cfg;
  cfg.neurons = 3;
  cfg.batch_size = 16;
  cfg.epochs = 6;
  cfg.dt = dt;
  cfg.t_end = t_end;
  cfg.lr = lr;
  cfg.seed = seed;
  cfg.patience = 0;
  return cfg;
}

// The models of one population: one architecture, and every per-model setting varied.
std::vector<Config> mixed_population() {
  std::vector<Config> cfgs;
  cfgs.push_back(small(0.1, 0.5, 5e-3, 1));  // 5 steps
  Config longer = small(0.05, 2.0, 1e-2, 2);  // 40 steps, no weight decay, clamped
  longer.weight_decay = 0;
  longer.clip = 3;
  cfgs.push_back(longer);
  Config stops = small(0.2, 0.2, 1e-3, 3);  // 1 step; no gain of 10 ever: stops after 3 epochs
  stops.patience = 2;
  stops.min_delta = 10;
  cfgs.push_back(stops);
  Config diverges = small(20, 200, 5e-3, 4);  // the paper's explicit-Euler blow-up, in epoch 1
  cfgs.push_back(diverges);
  Config shorter = small(0.1, 1.0, 2e-3, 5);  // runs out of epochs first
  shorter.epochs = 2;
  cfgs.push_back(shorter);
  return cfgs;
}

// A backend that counts the epochs it is asked to train.
class Counting final : public Backend {
 public:
  explicit Counting(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}
  std::string name() const override { return inner_->name(); }
  void set_data(const SplitData& d) override { inner_->set_data(d); }
  void set_params(std::span<const double> p) override { inner_->set_params(p); }
  void get_params(std::span<double> out) const override { inner_->get_params(out); }
  OptimizerState get_optimizer_state() const override { return inner_->get_optimizer_state(); }
  void set_optimizer_state(const OptimizerState& s) override { inner_->set_optimizer_state(s); }
  EpochStats train_epoch(int epoch) override {
    ++epochs;
    return inner_->train_epoch(epoch);
  }
  std::vector<double> predict(Split split) override { return inner_->predict(split); }
  int epochs = 0;

 private:
  std::unique_ptr<Backend> inner_;
};

void expect_same_report(const TrainReport& alone, const TrainReport& member, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_EQ(member.status, alone.status);
  EXPECT_EQ(member.epochs, alone.epochs);
  EXPECT_EQ(member.best_epoch, alone.best_epoch);
  EXPECT_EQ(member.divergence.diverged, alone.divergence.diverged);
  EXPECT_EQ(member.divergence.epoch, alone.divergence.epoch);
  EXPECT_EQ(member.divergence.step, alone.divergence.step);
  EXPECT_EQ(member.divergence.layer, alone.divergence.layer);
  EXPECT_EQ(member.message, alone.message);
  EXPECT_TRUE(same_bits(member.val_mse, alone.val_mse)) << member.val_mse << " vs " << alone.val_mse;
  EXPECT_TRUE(same_bits(member.test.mse, alone.test.mse)) << member.test.mse << " vs " << alone.test.mse;
  ASSERT_EQ(member.history.size(), alone.history.size());
  for (std::size_t e = 0; e < alone.history.size(); ++e) {
    EXPECT_TRUE(same_bits(member.history[e].train_loss, alone.history[e].train_loss)) << "epoch " << e + 1;
    EXPECT_TRUE(same_bits(member.history[e].val_mse, alone.history[e].val_mse)) << "epoch " << e + 1;
    EXPECT_EQ(member.history[e].improved, alone.history[e].improved) << "epoch " << e + 1;
  }
}

TEST(CpuPopulation, EachModelIsBitForBitItsLoneRunAndAStoppedModelTrainsNoMore) {
  const SplitData data = testing::synthetic_data(200, 11);
  const std::vector<Config> cfgs = mixed_population();
  const std::size_t P = cfgs.size();
  std::vector<ModelSpec> specs;
  for (const Config& cfg : cfgs) specs.push_back(cfg.model_spec(data.train.features, 1));

  std::vector<TrainReport> alone;
  std::vector<std::vector<double>> alone_best;
  for (std::size_t m = 0; m < P; ++m) {
    testing::CpuTraining lone(cfgs[m], specs[m], data);
    alone.push_back(lone.train(cfgs[m], data));
    alone_best.push_back(lone.params);
  }
  // What the population must show: every kind of ending.
  EXPECT_EQ(alone[0].status, "ok");
  EXPECT_EQ(alone[2].status, "early_stopped");
  EXPECT_EQ(alone[2].epochs, 3);
  EXPECT_EQ(alone[3].status, "diverged");
  EXPECT_EQ(alone[4].epochs, 2);

  for (int threads : {1, 2}) {
    std::vector<std::unique_ptr<Backend>> backends;
    std::vector<Counting*> counters;
    std::vector<TrainState> states;
    for (std::size_t m = 0; m < P; ++m) {
      auto counting = std::make_unique<Counting>(make_cpu_backend(specs[m], train_hyper(cfgs[m])));
      counters.push_back(counting.get());
      const ParamTable table(specs[m]);
      std::vector<double> params(table.total());
      init_params(specs[m], table, cfgs[m].seed, params);
      counting->set_data(data);
      counting->set_params(params);
      states.push_back(initial_train_state(params));
      backends.push_back(std::move(counting));
    }
    const std::unique_ptr<PopulationBackend> pop = make_member_population(std::move(backends), threads);
    const std::vector<TrainObserver*> observers(P, nullptr);
    const std::vector<TrainReport> reports = continue_training_population(cfgs, specs, *pop, data, states, observers);
    ASSERT_EQ(reports.size(), P);
    for (std::size_t m = 0; m < P; ++m) {
      const std::string what = "threads " + std::to_string(threads) + ", model " + std::to_string(m);
      expect_same_report(alone[m], reports[m], what);
      EXPECT_TRUE(same_bits(states[m].best_params, alone_best[m])) << what;
      // A model that stopped, diverged or ran out of epochs was handed no more.
      EXPECT_EQ(counters[m]->epochs, reports[m].epochs) << what;
    }
  }
}

// The trainer's one-model path is the population of one: a lone run through continue_training
// and through a population of one give the same bits (what every other test of training relies on).
TEST(CpuPopulation, APopulationOfOneIsTheLoneRun) {
  const SplitData data = testing::synthetic_data(120, 3);
  const Config cfg = small(0.1, 0.5, 5e-3, 9);
  const ModelSpec spec = cfg.model_spec(data.train.features, 1);
  testing::CpuTraining lone(cfg, spec, data);
  const TrainReport a = lone.train(cfg, data);
  testing::CpuTraining other(cfg, spec, data);
  TrainState state = initial_train_state(other.params);
  const std::unique_ptr<PopulationBackend> pop = make_single_population(*other.backend);
  TrainObserver* none = nullptr;
  const TrainReport b = continue_training_population({&cfg, 1}, {&spec, 1}, *pop, data, {&state, 1}, {&none, 1}).front();
  expect_same_report(a, b, "one");
  EXPECT_TRUE(same_bits(state.best_params, lone.params));
}

TEST(CpuPopulation, RefusesMismatchedInputs) {
  const SplitData data = testing::synthetic_data(40, 1);
  const Config cfg = small(0.1, 0.5, 5e-3, 1);
  const ModelSpec spec = cfg.model_spec(data.train.features, 1);
  testing::CpuTraining lone(cfg, spec, data);
  const std::unique_ptr<PopulationBackend> pop = make_single_population(*lone.backend);
  std::vector<TrainState> states(2, initial_train_state(lone.params));
  std::vector<TrainObserver*> observers(2, nullptr);
  const std::vector<Config> cfgs(2, cfg);
  const std::vector<ModelSpec> specs(2, spec);
  EXPECT_THROW(continue_training_population(cfgs, specs, *pop, data, states, observers), std::invalid_argument);
  EXPECT_THROW(make_member_population({}, 1), std::invalid_argument);
}

// Which models the GPU trains as one batched population (batched_population_layout, a CPU-side
// decision): one architecture with each model's own dt, t_end, clamp, neuron starting values, lr,
// weight decay and seed; refused, with the reason, for a layer without a population half, a layer
// that differs, another loss, data shards, differing batch sizes, and under DYNPMNN_BATCHED=0.
TEST(BatchedPopulationLayout, TakesOneArchitectureWithPerModelSettingsAndSaysWhyNot) {
  const SplitData data = testing::synthetic_data(40, 1);
  const auto check = [&](std::vector<Config> cfgs, const std::string& refusal) {
    std::vector<ModelSpec> specs;
    std::vector<TrainHyper> hypers;
    for (const Config& c : cfgs) {
      specs.push_back(c.model_spec(data.train.features, 1));
      hypers.push_back(train_hyper(c));
    }
    std::string why;
    const bool ok = batched_population_layout(specs, hypers, &why);
    if (refusal.empty()) {
      EXPECT_TRUE(ok) << why;
    } else {
      EXPECT_FALSE(ok);
      EXPECT_NE(why.find(refusal), std::string::npos) << "why: " << why << "; expected: " << refusal;
    }
  };
  std::vector<Config> two_layers = {small(0.1, 0.5, 5e-3, 1), small(0.5, 20, 1e-3, 2), small(1, 1, 1e-4, 3)};
  for (Config& c : two_layers) {
    c.layers = 2;
    c.neurons = 20;  // wider than the fused kernels take
  }
  two_layers[2].fhn_a = 0.5;
  two_layers[2].weight_decay = 0;
  check(two_layers, "");

  std::vector<Config> mlps(2, Config{});
  mlps[0].model = mlps[1].model = "mlp";
  mlps[1].lr = 1e-2;
  mlps[1].seed = 7;
  check(mlps, "");

  std::vector<Config> other = two_layers;
  other[1].neurons = 21;
  check(other, "layer 0 differs");
  other = two_layers;
  other[2].integrator = "rk4";
  check(other, "differs");
  other = two_layers;
  other[0].train_a = true;
  check(other, "differ");
  other = two_layers;
  for (Config& c : other) c.clip = 2 + c.seed;  // each its own clamp: one population
  check(other, "");
  other[1].clip = 0;
  check(other, "a clamp and models without");
  other = two_layers;
  other[1].batch_size = 64;
  check(other, "batch sizes differ");
  other = two_layers;
  other[0].data_shards = 2;
  check(other, "one shard");

  std::vector<Config> cfcs(2, Config{});
  cfcs[0].model = cfcs[1].model = "cfc";
  check(cfcs, "no population half");

  test::ScopedEnv off("DYNPMNN_BATCHED", "0");
  check(two_layers, "DYNPMNN_BATCHED=0");
}

// final.json without the timings, which differ between any two trainings.
nlohmann::json without_timing(nlohmann::json summary) {
  summary.erase("epoch_seconds");
  summary.erase("run_dir");
  return summary;
}

class PopulationFolders : public testing::CliFixture {};

// checkpoint_every = 3 over 7 epochs: the same final.json, best_params.json and best.bin
// parameters as every epoch, and checkpoint.bin after the last epoch; a diverged run keeps its best.
TEST_F(PopulationFolders, CheckpointEveryKGivesTheSameResultsAndTheLastEpochsCheckpoint) {
  SplitData data = testing::synthetic_data(160, 5);
  data.source = "synthetic";
  std::vector<Config> every, sparse;
  for (const Config& base : {small(0.1, 0.5, 5e-3, 1), small(20, 200, 5e-3, 4)}) {
    Config c = base;
    c.epochs = 7;
    c.device = "cpu";
    c.out = (dir_ / ("every-" + std::to_string(every.size()))).string();
    every.push_back(c);
    c.checkpoint_every = 3;
    c.out = (dir_ / ("sparse-" + std::to_string(sparse.size()))).string();
    sparse.push_back(c);
  }
  const auto a = train_runs(every, data, std::vector<std::optional<Checkpoint>>(2), RunOutput::kSilent, 2);
  const auto b = train_runs(sparse, data, std::vector<std::optional<Checkpoint>>(2), RunOutput::kSilent, 2);
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(a[0].summary.at("status"), "ok");
  EXPECT_EQ(a[1].summary.at("status"), "diverged");
  for (std::size_t m = 0; m < 2; ++m) {
    SCOPED_TRACE(m);
    const fs::path x = every[m].out, y = sparse[m].out;
    EXPECT_EQ(without_timing(nlohmann::json::parse(testing::read_file(x / "final.json"))),
              without_timing(nlohmann::json::parse(testing::read_file(y / "final.json"))));
    EXPECT_EQ(testing::read_file(x / "best_params.json"), testing::read_file(y / "best_params.json"));
    const Checkpoint best_x = load_checkpoint(x / "best.bin"), best_y = load_checkpoint(y / "best.bin");
    EXPECT_TRUE(same_bits(best_x.params, best_y.params));
    const Checkpoint last = load_checkpoint(y / "checkpoint.bin");
    if (m == 0) {
      EXPECT_EQ(last.state.epoch, 7) << "the last epoch is checkpointed, 7 not being a multiple of 3";
      EXPECT_TRUE(same_bits(last.params, load_checkpoint(x / "checkpoint.bin").params));
    } else {
      EXPECT_EQ(last.state.epoch, 0) << "a diverged epoch is not checkpointed";
    }
  }
}

TEST(PopulationPlan, GroupsByArchitectureAndStepClassAndSplitsAtCapacity) {
  Config base;
  base.neurons = 4;
  std::vector<Config> cfgs;
  auto add = [&](auto change) {
    Config c = base;
    change(c);
    cfgs.push_back(c);
  };
  add([](Config& c) { c.dt = 1, c.t_end = 10; });                   // 0: 10 steps, class 4
  add([](Config& c) { c.dt = 2, c.t_end = 30, c.lr = 1e-2; });      // 1: 15 steps, class 4
  add([](Config& c) { c.dt = 1, c.t_end = 100, c.seed = 3; });      // 2: 100 steps, class 7
  add([](Config& c) { c.dt = 1, c.t_end = 10, c.batch_size = 64; });  // 3: another batch size
  add([](Config& c) { c.dt = 1, c.t_end = 16, c.weight_decay = 0, c.epochs = 3, c.patience = 1; });  // 4
  add([](Config& c) { c.dt = 1, c.t_end = 12, c.neurons = 8; });    // 5: another width
  add([](Config& c) { c.dt = 5, c.t_end = 10; });                   // 6: 2 steps, class 1
  add([](Config& c) { c.dt = 1, c.t_end = 10, c.clip = 5; });       // 7: clamps (its own stepper)
  add([](Config& c) { c.dt = 2, c.t_end = 20, c.clip = 2; });       // 8: clamps at another value
  EXPECT_EQ(step_class(cfgs[0]), 4);
  EXPECT_EQ(step_class(cfgs[4]), 4);  // 16 = 2^4
  EXPECT_EQ(step_class(cfgs[2]), 7);
  EXPECT_EQ(step_class(cfgs[6]), 1);
  Config one = base;
  one.dt = one.t_end = 1;
  EXPECT_EQ(step_class(one), 0);
  Config mlp = base;
  mlp.model = "mlp";
  EXPECT_EQ(step_class(mlp), 0);
  EXPECT_EQ(population_key(cfgs[0]), population_key(cfgs[1]));
  EXPECT_NE(population_key(cfgs[0]), population_key(cfgs[3]));
  EXPECT_NE(population_key(cfgs[0]), population_key(cfgs[5]));
  EXPECT_NE(population_key(cfgs[0]), population_key(cfgs[7]));
  EXPECT_EQ(population_key(cfgs[7]), population_key(cfgs[8]));

  using Plan = std::vector<std::vector<std::size_t>>;
  EXPECT_EQ(plan_populations(cfgs, 8), (Plan{{0, 1, 4}, {2}, {3}, {5}, {6}, {7, 8}}));
  EXPECT_EQ(plan_populations(cfgs, 2), (Plan{{0, 1}, {4}, {2}, {3}, {5}, {6}, {7, 8}}));
  EXPECT_EQ(plan_populations(cfgs, 0), (Plan{{0}, {1}, {4}, {2}, {3}, {5}, {6}, {7}, {8}}));  // at least one each
  EXPECT_GE(population_capacity(base, testing::synthetic_data(100, 1)), 1);
  EXPECT_LE(population_capacity(base, testing::synthetic_data(100, 1)), kMaxPopulation);
}


// Eight points in two step classes (dt 0.1 and 0.2 at t_end 0.8: 8 and 4 steps), two learning
// rates, two seeds, one of them stopping early.
constexpr const char* kPopulationGrid = R"(preset = "wide-california"
seeds = [0, 1]
[base]
neurons = 2
epochs = 4
patience = 2
min_delta = 0.5
checkpoint_every = 2
t_end = 0.8
[grid]
dt = [0.1, 0.2]
lr = [1e-3, 5e-3]
)";

class PopulationSweep : public testing::CliFixture {};

TEST_F(PopulationSweep, AutoGivesEveryPointItsLoneResultsAndAnInterruptedSweepResumes) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  testing::write_file(dir_ / "grid.toml", kPopulationGrid);
  const auto sweep = [&](const std::string& out, const std::string& flags) {
    return "sweep " + testing::quote(dir_ / "grid.toml") + " --device cpu --jobs 2 --out " +
           testing::quote(dir_ / out) + " " + flags;
  };
  const testing::CliResult off = run(sweep("off", "--population off"));
  ASSERT_EQ(off.exit_code, 0) << off.err;
  const testing::CliResult pop = run(sweep("auto", ""));
  ASSERT_EQ(pop.exit_code, 0) << pop.err;
  EXPECT_TRUE(testing::contains(pop.err, "(population of 4)")) << pop.err;
  const std::string rows = testing::rows_without_timing(dir_ / "off" / "results.csv");
  ASSERT_EQ(std::count(rows.begin(), rows.end(), '\n'), 8);
  EXPECT_EQ(testing::rows_without_timing(dir_ / "auto" / "results.csv"), rows);
  for (const auto& entry : fs::directory_iterator(dir_ / "off")) {
    if (!entry.is_directory()) continue;
    const fs::path mine = dir_ / "auto" / entry.path().filename();
    for (const char* file : {"config.toml", "final.json", "metrics.jsonl", "best_params.json", "checkpoint.bin",
                             "best.bin", "loss_curve.png"})
      EXPECT_TRUE(fs::is_regular_file(mine / file)) << mine << " " << file;
    EXPECT_EQ(testing::read_file(mine / "best_params.json"), testing::read_file(entry.path() / "best_params.json"))
        << mine;
  }

  // Killed right after the first epoch-2 checkpoint of the first population, then rerun: every
  // run resumes (or restarts) and ends as the uninterrupted sweep did.
  const testing::CliResult stopped = run(sweep("stopped", ""), std::string(kStopAfterEpochEnv) + "=2 ");
  ASSERT_EQ(stopped.exit_code, kStopAfterEpochExit) << stopped.err;
  const testing::CliResult resumed = run(sweep("stopped", ""));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(testing::rows_without_timing(dir_ / "stopped" / "results.csv"), rows);
}

// dynpmnn report over a finished sweep: the top list and the heatmap's cells, a skipped cell named.
TEST_F(PopulationSweep, ReportListsTheTopRunsAndTheBestOfEachCell) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  testing::write_file(dir_ / "tiny.toml", "preset = \"wide-california\"\n[base]\nneurons = 2\nepochs = 1\n"
                                          "[grid]\ndt = [0.1, 0.3]\nt_end = [0.6, 1.0]\nlr = [1e-3, 5e-3]\n");
  const testing::CliResult swept =
      run("sweep " + testing::quote(dir_ / "tiny.toml") + " --device cpu --out " + testing::quote(dir_ / "tiny"));
  ASSERT_EQ(swept.exit_code, 0) << swept.err;
  const testing::CliResult r =
      run("report " + testing::quote(dir_ / "tiny") + " --top 3 --doc " + testing::quote(dir_ / "doc" / "grid.md"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string md = testing::read_file(dir_ / "doc" / "grid.md");
  EXPECT_TRUE(testing::contains(md, "8 runs: 6 finished, 0 diverged, 2 skipped")) << md;
  EXPECT_TRUE(testing::contains(md, "### Top 3 by validation MSE")) << md;
  EXPECT_TRUE(testing::contains(md, "![tiny heatmap](grid/tiny-heatmap.png)")) << md;
  EXPECT_TRUE(fs::is_regular_file(dir_ / "doc" / "grid" / "tiny-heatmap.png"));
  EXPECT_EQ(testing::read_file(dir_ / "doc" / "grid" / "tiny-results.csv"), testing::read_file(dir_ / "tiny" / "results.csv"));
  // Each cell: the lower validation MSE of its two learning rates; dt 0.3 x t_end 1 skipped.
  std::map<std::string, double> best;
  {
    std::istringstream rows(testing::read_file(dir_ / "tiny" / "results.csv"));
    std::string line;
    std::getline(rows, line);
    while (std::getline(rows, line)) {
      std::vector<std::string> cells;
      std::stringstream ls(line);
      for (std::string cell; std::getline(ls, cell, ',');) cells.push_back(cell);
      if (cells[5] != "ok" && cells[5] != "early_stopped") continue;  // run,dt,t_end,lr,seed,status,val_mse
      const std::string key = cells[2] + "," + cells[1];
      const double v = std::stod(cells[6]);
      best[key] = best.count(key) ? std::min(best[key], v) : v;
    }
  }
  ASSERT_EQ(best.size(), 3u);
  const std::string cells = testing::read_file(dir_ / "doc" / "grid" / "tiny-heatmap.csv");
  EXPECT_TRUE(testing::contains(cells, "t_end,dt,best_val_mse,finished,diverged,skipped,other\n")) << cells;
  EXPECT_TRUE(testing::contains(cells, "1,0.3,,0,0,2,0\n")) << cells;
  for (const auto& [key, v] : best)
    EXPECT_TRUE(testing::contains(cells, key + "," + fmt::format("{:.17g}", v) + ",2,0,0,0\n")) << key << "\n" << cells;

  const testing::CliResult missing = run("report " + testing::quote(dir_ / "nowhere") + " --doc " +
                                         testing::quote(dir_ / "x.md"));
  EXPECT_EQ(missing.exit_code, kExitBadInput) << missing.err;
  EXPECT_TRUE(testing::contains(missing.err, "results.csv: no such file")) << missing.err;
}

// train with checkpoint_every = 3, killed after the epoch-3 checkpoint and resumed: the same
// results as the run never interrupted (metrics, best parameters), resumed from epoch 3.
TEST_F(PopulationSweep, ATrainRunCheckpointingEveryThirdEpochResumesToTheSameResults) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  const std::string args = "train --preset wide-california --set neurons=2 --set patience=0 --epochs 5 --set dt=0.1 "
                           "--set t_end=0.6 --set checkpoint_every=3 --device cpu --quiet --out ";
  const testing::CliResult whole = run(args + testing::quote(dir_ / "whole"));
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  const testing::CliResult stopped = run(args + testing::quote(dir_ / "cut"), std::string(kStopAfterEpochEnv) + "=3 ");
  ASSERT_EQ(stopped.exit_code, kStopAfterEpochExit) << stopped.err;
  EXPECT_EQ(load_checkpoint(dir_ / "cut" / "checkpoint.bin").state.epoch, 3);
  const testing::CliResult resumed =
      run("train --resume " + testing::quote(dir_ / "cut") + " --set checkpoint_every=2 --quiet");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const auto without_seconds = [](const std::string& text) {
    std::istringstream in(text);
    std::string out;
    for (std::string line; std::getline(in, line);) out += line.substr(0, line.find(",\"seconds\"")) + "\n";
    return out;
  };
  EXPECT_EQ(without_seconds(testing::read_file(dir_ / "cut" / "metrics.jsonl")),
            without_seconds(testing::read_file(dir_ / "whole" / "metrics.jsonl")));
  EXPECT_EQ(testing::read_file(dir_ / "cut" / "best_params.json"), testing::read_file(dir_ / "whole" / "best_params.json"));
  EXPECT_EQ(load_checkpoint(dir_ / "cut" / "checkpoint.bin").state.epoch, 5);
}

}  // namespace
}  // namespace dynpmnn
