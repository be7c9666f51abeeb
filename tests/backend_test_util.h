// Helpers of the tests that train a Backend (CPU against CUDA, one run against another): a scoped
// environment variable, the parameters in and out of a backend, and the tolerance on parameters
// after Adam steps in float against double.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "host/runtime/backend.h"
#include "models/dynpmnn.h"
#include "tests/gpu_test_util.h"

namespace dynpmnn::test {

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_) setenv(name_.c_str(), old_->c_str(), 1);
    else unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// A synthetic regression set with California's shape: 8 standardised features, a target near 2.
// x_scale multiplies the features (to drive a model into divergence).
inline SplitData synthetic_splits(int train_rows, int val_rows, int test_rows, double x_scale, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  auto make = [&](int rows) {
    Dataset d;
    d.rows = rows;
    d.features = 8;
    d.targets = 1;
    d.x.resize(static_cast<std::size_t>(rows) * 8);
    d.y.resize(rows);
    for (int r = 0; r < rows; ++r) {
      double* x = d.x.data() + static_cast<std::size_t>(r) * 8;
      for (int f = 0; f < 8; ++f) x[f] = normal(gen);
      d.y[r] = 2.0 + std::sin(x[0]) + 0.5 * x[1] * x[2] - 0.3 * x[3] + 0.1 * normal(gen);
      for (int f = 0; f < 8; ++f) x[f] *= x_scale;
    }
    return d;
  };
  SplitData s;
  s.train = make(train_rows);
  s.val = make(val_rows);
  s.test = make(test_rows);
  s.source = "synthetic";
  return s;
}

// The paper's optimiser: Adam, lr 5e-4, weight decay 5e-3, batches of 32.
inline TrainHyper paper_hyper() {
  TrainHyper h;
  h.batch_size = 32;
  h.adam.lr = 5e-4;
  h.adam.weight_decay = 5e-3;
  h.seed = 11;
  return h;
}

inline std::vector<double> initial_params(const ModelSpec& spec, std::uint64_t seed) {
  ParamTable table(spec);
  std::vector<double> p(table.total());
  init_params(spec, table, seed, p);
  return p;
}

inline std::vector<double> params_of(const Backend& b, std::size_t n) {
  std::vector<double> p(n);
  b.get_params(p);
  return p;
}

// Training tolerances, float32 GPU against the double CPU reference.
// Each Adam step moves a parameter by lr·m̂/(√v̂ + eps), and m̂/√v̂ does not depend on the
// gradient's scale, only on its direction through time: a relative error ε in the gradients gives
// an error of about ε·lr per step (m̂ and √v̂ see the same relative error, so it mostly cancels).
// Float gradients of a 20-step model carry ε ≈ 1e-6; steps compound mildly (lr·Hessian/√v̂ is
// about 1e-3 per step, (1 + 1e-3)^126 ≈ 1.1). We allow 1e-3·lr per step, a thousand times the
// expected error, yet a single missing, repeated or misordered step (an error of about lr) is
// still 30 times the tolerance. Plus float's own rounding of the parameter, 1e-6·|θ|.
inline double param_tolerance(double lr, long steps, double theta) {
  return 1e-3 * lr * static_cast<double>(steps) + 1e-6 * std::abs(theta);
}

inline double param_tolerance(const TrainHyper& h, long steps, double theta) {
  return param_tolerance(h.adam.lr, steps, theta);
}

struct BackendPair {
  std::unique_ptr<Backend> cpu, gpu;
};

// The CPU and CUDA backends of one model, both holding data and starting from p0.
inline BackendPair backend_pair(const ModelSpec& spec, const TrainHyper& hyper, const SplitData& data,
                                const std::vector<double>& p0) {
  BackendPair b{make_cpu_backend(spec, hyper), make_cuda_backend(spec, hyper)};
  for (Backend* backend : {b.cpu.get(), b.gpu.get()}) {
    backend->set_data(data);
    backend->set_params(p0);
  }
  return b;
}

// The CPU and CUDA backends of one model, both from p0 on data, trained `epochs` epochs side by
// side. After each epoch: neither diverged, each took steps_per_epoch minibatches, the mean losses
// agree within loss_rtol, the float parameters are within param_tolerance of the double ones, and
// training moved them by more than ten times that (so the comparison is not of two untouched
// copies). Returns the backends for checks of the caller's own.
inline BackendPair train_both_and_compare(const ModelSpec& spec, const TrainHyper& hyper, const SplitData& data,
                                          const std::vector<double>& p0, int epochs, long steps_per_epoch,
                                          double loss_rtol) {
  BackendPair b = backend_pair(spec, hyper, data, p0);
  long steps = 0;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    SCOPED_TRACE("epoch " + std::to_string(epoch));
    const EpochStats sc = b.cpu->train_epoch(epoch);
    const EpochStats sg = b.gpu->train_epoch(epoch);
    EXPECT_FALSE(sc.divergence.diverged);
    EXPECT_FALSE(sg.divergence.diverged) << "layer " << sg.divergence.layer << " step " << sg.divergence.step;
    EXPECT_EQ(sg.steps, steps_per_epoch);
    EXPECT_EQ(sc.steps, steps_per_epoch);
    if (sc.divergence.diverged || sg.divergence.diverged || sg.steps != sc.steps) return b;
    steps += sg.steps;
    EXPECT_NEAR(sg.train_loss, sc.train_loss, loss_rtol * std::abs(sc.train_loss));
    const auto pc = params_of(*b.cpu, p0.size());
    const auto pg = params_of(*b.gpu, p0.size());
    std::vector<double> extra(pc.size());
    for (std::size_t i = 0; i < pc.size(); ++i) extra[i] = param_tolerance(hyper, steps, pc[i]);
    EXPECT_TRUE(all_close("params", convert<float>(pg), pc, 0, 0, extra));
    double moved = 0;
    for (std::size_t i = 0; i < pc.size(); ++i) moved = std::max(moved, std::abs(pc[i] - p0[i]));
    EXPECT_GT(moved, 10 * param_tolerance(hyper, steps, 0)) << "training must move the parameters beyond the tolerance";
  }
  return b;
}

}  // namespace dynpmnn::test
