// The CUDA backend against the CPU reference backend: the same model, data, initial weights and
// epoch order on both, compared after whole epochs of training; the graph and stream paths of the
// CUDA backend against each other (bit-identical); divergence reports against the CPU's.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "data/california.h"
#include "host/runtime/backend.h"
#include "models/dynpmnn.h"
#include "tests/backend_test_util.h"
#include "tests/gpu_test_util.h"

namespace dynpmnn {
namespace {

using test::ScopedEnv;
using test::params_of;
using test::initial_params;
using test::param_tolerance;
using test::paper_hyper;

LayerSpec stable_layer(int neurons) {
  LayerSpec L;
  L.units = neurons;
  L.dt = 0.5;  // stable explicit Euler for these states (the paper's 20 is not)
  L.t_end = 10;  // 20 steps: two checkpoint segments
  L.train_a = true;  // exercise the FHN parameter gradients too (b, g stay frozen)
  L.train_I = true;
  // The raw space this test was written for: LayerSpec defaults to physical, as the config does.
  L.param_space = FhnParamSpace::kRaw;
  return L;
}

ModelSpec spec_of(std::vector<LayerSpec> layers) {
  ModelSpec spec;
  spec.inputs = 8;
  spec.outputs = 1;
  spec.layers = std::move(layers);
  return spec;
}

TEST(CudaBackend, EpochsMatchCpuBackend) {
  DYNPMNN_REQUIRE_GPU();
  const ModelSpec spec = spec_of({stable_layer(4)});
  const TrainHyper hyper = paper_hyper();
  const SplitData data = test::synthetic_splits(2000, 300, 200, 1.0, 5);  // 62 full batches and one of 16
  const auto p0 = initial_params(spec, 3);
  {  // get_params returns what was set, rounded to float.
    auto fresh = make_cuda_backend(spec, hyper);
    fresh->set_data(data);
    fresh->set_params(p0);
    const auto p_set = params_of(*fresh, p0.size());
    for (std::size_t i = 0; i < p0.size(); ++i) ASSERT_EQ(p_set[i], static_cast<double>(static_cast<float>(p0[i])));
  }
  // The loss is a mean of batch MSEs near 1 computed with parameters within the tolerance; 1e-4
  // relative is far above float rounding and far below one step's change.
  const auto [cpu, gpu] = test::train_both_and_compare(spec, hyper, data, p0, 2, 63, 1e-4);
  EXPECT_EQ(gpu->name().rfind("cuda (", 0), 0u) << gpu->name();

  // Predictions: the GPU's forward against the CPU's with the very same (GPU-trained) weights, so
  // only the forward's float rounding remains (20 Euler steps, LayerNorm, SiLU: ~1e-6 relative).
  auto cpu_same = make_cpu_backend(spec, hyper);
  cpu_same->set_data(data);
  cpu_same->set_params(params_of(*gpu, p0.size()));
  for (Split split : {Split::kVal, Split::kTest, Split::kTrain}) {
    const auto ref = cpu_same->predict(split);
    const auto got = gpu->predict(split);
    EXPECT_TRUE(test::all_close("predict", test::convert<float>(got), ref, 1e-5, 1e-4));
  }
}

TEST(CudaBackend, OtherIntegratorsMatchCpuBackend) {
  DYNPMNN_REQUIRE_GPU();
  const TrainHyper hyper = paper_hyper();
  const SplitData data = test::synthetic_splits(320, 50, 50, 1.0, 12);  // 10 steps
  for (Integrator scheme : {Integrator::kImex, Integrator::kHeun, Integrator::kRk4}) {
    SCOPED_TRACE(to_string(scheme));
    LayerSpec layer = stable_layer(3);
    layer.integrator = scheme;
    const ModelSpec spec = spec_of({layer});
    const auto p0 = initial_params(spec, 13);
    auto [cpu, gpu] = test::backend_pair(spec, hyper, data, p0);
    const EpochStats sc = cpu->train_epoch(1);
    const EpochStats sg = gpu->train_epoch(1);
    ASSERT_FALSE(sg.divergence.diverged);
    ASSERT_EQ(sg.steps, sc.steps);
    EXPECT_NEAR(sg.train_loss, sc.train_loss, 1e-4 * std::abs(sc.train_loss));
    const auto pc = params_of(*cpu, p0.size());
    std::vector<double> extra(pc.size());
    for (std::size_t i = 0; i < pc.size(); ++i) extra[i] = param_tolerance(hyper, sg.steps, pc[i]);
    EXPECT_TRUE(test::all_close("params", test::convert<float>(params_of(*gpu, p0.size())), pc, 0, 0, extra));
  }
}

TEST(CudaBackend, GraphAndStreamPathsAreBitIdentical) {
  DYNPMNN_REQUIRE_GPU();
  const ModelSpec spec = spec_of({stable_layer(4), stable_layer(3)});
  const TrainHyper hyper = paper_hyper();
  const SplitData data = test::synthetic_splits(1000, 100, 100, 1.0, 6);
  const auto p0 = initial_params(spec, 4);
  struct Run {
    std::vector<double> losses, params;
  };
  auto run = [&](const char* graphs) {
    ScopedEnv env("DYNPMNN_CUDA_GRAPHS", graphs);  // "1": a failed capture throws instead of falling back
    auto gpu = make_cuda_backend(spec, hyper);
    gpu->set_data(data);
    gpu->set_params(p0);
    Run r;
    for (int epoch = 1; epoch <= 2; ++epoch) {
      const EpochStats st = gpu->train_epoch(epoch);
      EXPECT_FALSE(st.divergence.diverged);
      r.losses.push_back(st.train_loss);
    }
    r.params = params_of(*gpu, p0.size());
    return r;
  };
  const Run stream = run("0");
  const Run graph = run("1");
  const Run graph_again = run("1");
  EXPECT_EQ(graph.losses, stream.losses);
  EXPECT_TRUE(test::bitwise_equal("graph vs stream", test::convert<float>(graph.params), test::convert<float>(stream.params)));
  EXPECT_EQ(graph_again.losses, graph.losses);
  EXPECT_TRUE(test::bitwise_equal("graph rerun", test::convert<float>(graph_again.params), test::convert<float>(graph.params)));
}

TEST(CudaBackend, ResumeFromOptimizerStateIsBitIdentical) {
  DYNPMNN_REQUIRE_GPU();
  const ModelSpec spec = spec_of({stable_layer(4)});
  const TrainHyper hyper = paper_hyper();
  const SplitData data = test::synthetic_splits(700, 50, 50, 1.0, 7);
  const auto p0 = initial_params(spec, 8);
  auto straight = make_cuda_backend(spec, hyper);
  straight->set_data(data);
  straight->set_params(p0);
  straight->train_epoch(1);
  const auto p1 = params_of(*straight, p0.size());
  const OptimizerState st = straight->get_optimizer_state();
  EXPECT_EQ(st.step, 22);  // ⌈700 / 32⌉ Adam steps
  ASSERT_EQ(st.m.size(), p0.size());
  const EpochStats second = straight->train_epoch(2);

  // Parameters and moments are float on the device, so the double round trip is exact.
  auto resumed = make_cuda_backend(spec, hyper);
  resumed->set_data(data);
  resumed->set_params(p1);
  resumed->set_optimizer_state(st);
  const EpochStats again = resumed->train_epoch(2);
  EXPECT_EQ(again.train_loss, second.train_loss);
  EXPECT_TRUE(test::bitwise_equal("resumed params", test::convert<float>(params_of(*resumed, p0.size())),
                                  test::convert<float>(params_of(*straight, p0.size()))));
  EXPECT_EQ(resumed->get_optimizer_state().step, 44);
  EXPECT_THROW(resumed->set_optimizer_state(OptimizerState{1, {1.0}, {1.0}}), std::invalid_argument);
}

// The paper's setting without clip diverges; both backends must name the same step and layer,
// report no mean loss, and leave the parameters as they were before the diverging step.
void expect_same_divergence(const ModelSpec& spec, int expected_layer) {
  const TrainHyper hyper = paper_hyper();
  const SplitData data = test::synthetic_splits(500, 50, 50, 10.0, 8);
  const auto p0 = initial_params(spec, 5);
  auto [cpu, gpu] = test::backend_pair(spec, hyper, data, p0);
  const EpochStats sc = cpu->train_epoch(1);
  const EpochStats sg = gpu->train_epoch(1);
  ASSERT_TRUE(sc.divergence.diverged) << "the CPU reference must diverge in this setting";
  ASSERT_TRUE(sg.divergence.diverged);
  EXPECT_EQ(sg.divergence.epoch, 1);
  EXPECT_EQ(sg.divergence.step, sc.divergence.step);
  EXPECT_EQ(sg.divergence.layer, sc.divergence.layer);
  EXPECT_EQ(sg.divergence.layer, expected_layer);
  EXPECT_EQ(sg.steps, sc.steps);
  EXPECT_EQ(std::isnan(sg.train_loss), std::isnan(sc.train_loss));
  if (sc.steps == 0) {
    const auto pg = params_of(*gpu, p0.size());
    for (std::size_t i = 0; i < p0.size(); ++i)
      ASSERT_EQ(pg[i], static_cast<double>(static_cast<float>(p0[i]))) << "parameter " << i << " changed";
  }
}

LayerSpec paper_layer() {
  LayerSpec L;  // N = 1, dt 20, t_end 500, no clip, LayerNorm, SiLU, initial-condition coupling
  return L;
}

TEST(CudaBackend, DivergenceMatchesCpuBackendPaperSetting) {
  DYNPMNN_REQUIRE_GPU();
  expect_same_divergence(spec_of({paper_layer()}), 0);
}

TEST(CudaBackend, DivergenceMatchesCpuBackendInSecondLayer) {
  DYNPMNN_REQUIRE_GPU();
  LayerSpec first = stable_layer(4);
  expect_same_divergence(spec_of({first, paper_layer()}), 1);
}

TEST(CudaBackend, PredictChunksAndTinyTrainSplit) {
  DYNPMNN_REQUIRE_GPU();
  const ModelSpec spec = spec_of({stable_layer(3)});
  const TrainHyper hyper = paper_hyper();
  // 20 training rows: a single minibatch smaller than batch_size; 70000 test rows: two chunks.
  const SplitData data = test::synthetic_splits(20, 10, 70000, 1.0, 9);
  const auto p0 = initial_params(spec, 6);
  auto [cpu, gpu] = test::backend_pair(spec, hyper, data, p0);
  const EpochStats sc = cpu->train_epoch(3);
  const EpochStats sg = gpu->train_epoch(3);
  ASSERT_FALSE(sg.divergence.diverged);
  EXPECT_EQ(sg.steps, 1);
  EXPECT_EQ(sc.steps, 1);
  EXPECT_NEAR(sg.train_loss, sc.train_loss, 1e-5 * std::abs(sc.train_loss));  // one forward, initial weights
  const auto pc = params_of(*cpu, p0.size());
  const auto pg = params_of(*gpu, p0.size());
  std::vector<double> extra(pc.size());
  for (std::size_t i = 0; i < pc.size(); ++i) extra[i] = param_tolerance(hyper, 1, pc[i]);
  EXPECT_TRUE(test::all_close("params", test::convert<float>(pg), pc, 0, 0, extra));

  cpu->set_params(pg);
  const auto ref = cpu->predict(Split::kTest);
  const auto got = gpu->predict(Split::kTest);
  ASSERT_EQ(got.size(), 70000u);
  EXPECT_TRUE(test::all_close("predict", test::convert<float>(got), ref, 1e-5, 1e-4));
}

TEST(CudaBackend, UsageErrorsThrow) {
  DYNPMNN_REQUIRE_GPU();
  const ModelSpec spec = spec_of({stable_layer(2)});
  auto gpu = make_cuda_backend(spec, paper_hyper());
  EXPECT_THROW(gpu->train_epoch(1), std::logic_error);  // no data, no parameters
  EXPECT_THROW(gpu->set_params(std::vector<double>(3, 0.0)), std::invalid_argument);
  SplitData wrong = test::synthetic_splits(10, 10, 10, 1.0, 1);
  wrong.train.features = 7;
  EXPECT_THROW(gpu->set_data(wrong), std::invalid_argument);
  std::string why;
  EXPECT_TRUE(cuda_available(&why)) << why;
}

}  // namespace
}  // namespace dynpmnn
