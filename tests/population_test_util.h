// Helpers of the GPU population tests (test_gpu_fused_population.cu, test_gpu_batched_population.cu):
// a population member against the same model trained alone, through train_runs, where float
// rounding in another order may move the best epoch at a near-tie of the stopping rule.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "host/io/train_run.h"
#include "host/runtime/backend.h"
#include "host/runtime/population.h"
#include "host/training/trainer.h"

namespace dynpmnn::test {

inline double rel_diff(double got, double want) { return std::fabs(got - want) / std::max(1.0, std::fabs(want)); }

// Trains the population's members and, beside them, each model alone on the CUDA backend from the
// same parameters (inits[k]), epoch by epoch for `epochs` epochs; rests(k, e) true: model k takes
// no epoch e (in the population nor alone). Every epoch each model trains: the same divergence
// report, or the same step count and training loss and validation MSE within 1e-3 relative. A
// model that diverged takes no more epochs. Returns how many diverged.
inline int expect_members_match_lone_runs(PopulationBackend& pop, const std::vector<ModelSpec>& specs,
                                          const std::vector<TrainHyper>& hypers,
                                          const std::vector<std::vector<double>>& inits, const SplitData& data,
                                          int epochs, const std::function<bool(int, int)>& rests = {}) {
  const int P = pop.size();
  std::vector<std::unique_ptr<Backend>> lone;
  for (int k = 0; k < P; ++k) {
    pop.member(k).set_params(inits[k]);
    lone.push_back(make_cuda_backend(specs[k], hypers[k]));
    lone.back()->set_data(data);
    lone.back()->set_params(inits[k]);
  }
  std::vector<char> stopped(P, 0);
  int diverged = 0;
  for (int e = 1; e <= epochs; ++e) {
    std::vector<int> epoch(P);
    for (int k = 0; k < P; ++k) epoch[k] = stopped[k] || (rests && rests(k, e)) ? 0 : e;
    const std::vector<EpochStats> got = pop.train_epochs(epoch);
    for (int k = 0; k < P; ++k) {
      if (epoch[k] == 0) continue;
      SCOPED_TRACE("model " + std::to_string(k) + ", epoch " + std::to_string(e));
      const EpochStats want = lone[k]->train_epoch(e);
      EXPECT_EQ(got[k].divergence.diverged, want.divergence.diverged);
      if (want.divergence.diverged || got[k].divergence.diverged) {
        EXPECT_EQ(got[k].divergence.epoch, want.divergence.epoch);
        EXPECT_EQ(got[k].divergence.step, want.divergence.step);
        EXPECT_EQ(got[k].divergence.layer, want.divergence.layer);
        stopped[k] = 1;
        ++diverged;
        continue;
      }
      EXPECT_EQ(got[k].steps, want.steps);
      EXPECT_LT(rel_diff(got[k].train_loss, want.train_loss), 1e-3)
          << "population " << got[k].train_loss << ", alone " << want.train_loss;
      const double val_got = regression_metrics(pop.member(k).predict(Split::kVal), data.val.y).mse;
      const double val_want = regression_metrics(lone[k]->predict(Split::kVal), data.val.y).mse;
      EXPECT_LT(rel_diff(val_got, val_want), 1e-3) << "validation MSE: population " << val_got << ", alone " << val_want;
    }
  }
  // Adam's step counts (a rested model's included) are the lone runs'.
  for (int k = 0; k < P; ++k)
    EXPECT_EQ(pop.member(k).get_optimizer_state().step, lone[k]->get_optimizer_state().step) << "model " << k;
  return diverged;
}

// Each population run (pop[k]) against its lone run (lone[k], whose run folder is lone_root / k):
// its backend names `backend` ("fused", "batched"), the same divergence, and the same best epoch
// and status unless the lone run's validation MSE at the population's best epoch is within 1e-3
// relative of its best (a near-tie, which float rounding may break either way, and with it the
// patience count that decides the status).
inline void expect_lone_outcomes(const std::vector<TrainRunResult>& pop, const std::vector<TrainRunResult>& lone,
                                 const std::filesystem::path& lone_root, const std::string& backend) {
  ASSERT_EQ(pop.size(), lone.size());
  for (std::size_t k = 0; k < pop.size(); ++k) {
    SCOPED_TRACE("model " + std::to_string(k));
    const auto& p = pop[k].summary;
    const auto& l = lone[k].summary;
    EXPECT_NE(p["backend"].get<std::string>().find(backend), std::string::npos) << p["backend"];
    EXPECT_EQ(pop[k].diverged, lone[k].diverged);
    const int best_p = p["best_epoch"].get<int>(), best_l = l["best_epoch"].get<int>();
    if (lone[k].diverged || best_p == best_l) {
      EXPECT_EQ(p["status"], l["status"]);
      continue;
    }
    // A best epoch moved by rounding moves the patience count too: the status may then differ.
    std::ifstream metrics(lone_root / std::to_string(k) / "metrics.jsonl");
    double at_p = NAN, at_l = NAN;
    for (std::string line; std::getline(metrics, line);) {
      const auto rec = nlohmann::json::parse(line);
      if (rec["epoch"].get<int>() == best_p) at_p = rec["val_mse"].get<double>();
      if (rec["epoch"].get<int>() == best_l) at_l = rec["val_mse"].get<double>();
    }
    EXPECT_LT(rel_diff(at_p, at_l), 1e-3) << "best epoch " << best_p << " in the population, " << best_l << " alone";
  }
}

}  // namespace dynpmnn::test
