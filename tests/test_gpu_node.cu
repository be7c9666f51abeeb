// The Neural ODE block on the GPU (models/ode_block.cu) against the CPU reference in double: the
// block's forward, backward and parameter gradients for rk4 and dopri5, then the CUDA backend
// training a node model against the CPU backend, and its graph and stream paths against each other.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "host/runtime/backend.h"
#include "common/cuda_check.h"
#include "kernels/ops_gpu.h"
#include "models/ode_block.h"
#include "models/ode_block_gpu.h"
#include "tests/backend_test_util.h"
#include "tests/gpu_test_util.h"
#include "tests/node_test_util.h"
#include "tests/synthetic_data.h"
#include "models/layers/ode_layer.h"

namespace dynpmnn {
namespace {

using test::ScopedEnv;
using test::params_of;
using test::param_tolerance;

// Odd sizes: H, V, H+1 and B share no factor with a warp or a block.
ModelSpec node_spec(OdeSolver solver, int H, int V, int vf_layers) {
  LayerSpec L;
  L.kind = kOdeLayer;
  L.units = H;
  L.ode_vf_width = V;
  L.ode_vf_layers = vf_layers;
  L.ode_solver = solver;
  L.ode_steps = 3;
  L.ode_rtol = 1e-4;  // reachable in float32
  L.ode_atol = 1e-6;
  ModelSpec spec;
  spec.inputs = 8;
  spec.outputs = 1;
  spec.layers = {L};
  return spec;
}

std::vector<double> node_params(const ModelSpec& spec, const ParamTable& table, std::uint64_t seed) {
  return test::perturbed_ode_params(spec, table, seed, seed + 1);
}

class Stream {
 public:
  Stream() { (void)cudaStreamCreate(&s_); }
  ~Stream() { (void)cudaStreamDestroy(s_); }
  cudaStream_t get() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
};

// One block, forward and backward, GPU against the CPU block in double. For dopri5 the CPU replays
// the GPU's accepted steps, so both compute the same discrete map (the float error norm may pick a
// slightly different step sequence than the double one).
void compare_block(OdeSolver solver, int B, int H, int V, int vf_layers) {
  SCOPED_TRACE(std::string(to_string(solver)) + " B=" + std::to_string(B) + " H=" + std::to_string(H) +
               " V=" + std::to_string(V) + " vf_layers=" + std::to_string(vf_layers));
  const ModelSpec spec = node_spec(solver, H, V, vf_layers);
  const ParamTable table(spec);
  const OdeLayout layout = ode_layout(spec, table, 0);
  const std::vector<double> params = node_params(spec, table, 21);
  std::mt19937 gen(7);
  const std::vector<float> h0 = test::uniform_floats(gen, static_cast<std::size_t>(B) * H, -1.5, 1.5);
  const std::vector<float> dh1 = test::uniform_floats(gen, static_cast<std::size_t>(B) * H, -1.0, 1.0);
  const std::vector<float> params_f = test::convert<float>(params);

  Stream stream;
  CublasContext ctx(stream.get());
  OdeBlockGpu gpu(layout, 0, ctx, B + 3, OdeRecords::kKeep);  // capacity above the batch
  auto d_params = test::to_device(params_f);
  auto d_h0 = test::to_device(h0);
  auto d_dh1 = test::to_device(dh1);
  auto d_h1 = test::poisoned(h0.size());
  auto d_dh0 = test::poisoned(h0.size());
  auto d_grad = test::poisoned(table.total());
  DeviceBuffer<int> flag(1);
  const int no_flag = kNoNonFinite;
  DYNPMNN_CUDA_CHECK(cudaMemcpy(flag.data(), &no_flag, sizeof(int), cudaMemcpyHostToDevice));
  gpu.forward(d_params.data(), d_h0.data(), B, d_h1.data(), flag.data());
  gpu.backward(d_params.data(), d_dh1.data(), d_dh0.data(), d_grad.data());
  test::sync_and_check();
  int flag_value = 0;
  DYNPMNN_CUDA_CHECK(cudaMemcpy(&flag_value, flag.data(), sizeof(int), cudaMemcpyDeviceToHost));
  EXPECT_EQ(flag_value, kNoNonFinite);

  OdeBlockCpu<double> cpu(layout, 0);
  if (solver == OdeSolver::kDopri5) {
    ASSERT_GE(gpu.step_sizes().size(), 2u) << "the test wants a multi-step adaptive solve";
    cpu.integrator().replay_step_sizes(gpu.step_sizes());
  }
  const std::vector<double> h0_d = test::convert<double>(h0), dh1_d = test::convert<double>(dh1);
  std::vector<double> h1(h0.size()), dh0(h0.size()), grad(table.total(), 0.0);
  ASSERT_TRUE(cpu.forward(params.data(), h0_d.data(), B, h1.data()));
  cpu.backward(params.data(), dh1_d.data(), dh0.data(), grad.data());

  const std::vector<float> got_h1 = d_h1.download(), got_dh0 = d_dh0.download(), got_grad = d_grad.download();
  // Float32 through 12 (rk4) or more vector-field evaluations of LayerNorm and tanh, states O(1):
  // ~1e-6 relative; 1e-4 leaves margin for the cancellations of the backward's sums over the batch.
  EXPECT_TRUE(test::all_close("h1", got_h1, h1, 1e-5, 1e-4, {}, H));
  EXPECT_TRUE(test::all_close("dh0", got_dh0, dh0, 1e-5, 1e-4, {}, H));
  const std::vector<float> region(got_grad.begin() + layout.first, got_grad.begin() + layout.end);
  const std::vector<double> region_ref(grad.begin() + layout.first, grad.begin() + layout.end);
  double scale = 0;
  for (double g : region_ref) scale = std::max(scale, std::abs(g));
  EXPECT_TRUE(test::all_close("vector-field gradients", region, region_ref, 1e-5 * scale, 1e-4));
}

TEST(OdeBlockGpu, Rk4MatchesCpu) {
  DYNPMNN_REQUIRE_GPU();
  compare_block(OdeSolver::kRk4, 37, 5, 7, 3);
  compare_block(OdeSolver::kRk4, 1, 3, 33, 2);
  compare_block(OdeSolver::kRk4, 70, 128, 128, 3);  // the paper's widths
}

TEST(OdeBlockGpu, Dopri5MatchesCpuOnTheSameSteps) {
  DYNPMNN_REQUIRE_GPU();
  compare_block(OdeSolver::kDopri5, 37, 5, 7, 3);
  compare_block(OdeSolver::kDopri5, 33, 128, 128, 4);
}

TEST(OdeCudaBackend, Rk4EpochMatchesCpuBackend) {
  DYNPMNN_REQUIRE_GPU();
  const ModelSpec spec = node_spec(OdeSolver::kRk4, 16, 24, 3);
  const TrainHyper h = test::paper_hyper();
  const SplitData data = testing::synthetic_data(330, 5);  // 10 full batches and one of 10
  const ParamTable table(spec);
  std::vector<double> p0(table.total());
  init_params(spec, table, 3, p0);
  auto [cpu, gpu] = test::backend_pair(spec, h, data, p0);
  const EpochStats sc = cpu->train_epoch(1);
  const EpochStats sg = gpu->train_epoch(1);
  ASSERT_FALSE(sg.divergence.diverged) << "layer " << sg.divergence.layer;
  ASSERT_EQ(sg.steps, sc.steps);
  EXPECT_NEAR(sg.train_loss, sc.train_loss, 1e-4 * std::abs(sc.train_loss));
  const auto pc = params_of(*cpu, p0.size());
  std::vector<double> extra(pc.size());
  for (std::size_t i = 0; i < pc.size(); ++i) extra[i] = param_tolerance(h, sg.steps, pc[i]);
  EXPECT_TRUE(test::all_close("params", test::convert<float>(params_of(*gpu, p0.size())), pc, 0, 0, extra));
  const auto ref = cpu->predict(Split::kTest);
  auto cpu_same = make_cpu_backend(spec, h);
  cpu_same->set_data(data);
  cpu_same->set_params(params_of(*gpu, p0.size()));
  EXPECT_TRUE(test::all_close("predict", test::convert<float>(gpu->predict(Split::kTest)),
                              cpu_same->predict(Split::kTest), 1e-5, 1e-4));
}

// dopri5 through the backend: no graph, a host decision per step; it must train like the CPU's
// (the step sequences may differ by float rounding, hence the looser loss tolerance).
TEST(OdeCudaBackend, Dopri5TrainsOnTheStreamLikeCpu) {
  DYNPMNN_REQUIRE_GPU();
  const ModelSpec spec = node_spec(OdeSolver::kDopri5, 16, 24, 3);
  const TrainHyper h = test::paper_hyper();
  const SplitData data = testing::synthetic_data(200, 6);
  const ParamTable table(spec);
  std::vector<double> p0(table.total());
  init_params(spec, table, 4, p0);
  auto [cpu, gpu] = test::backend_pair(spec, h, data, p0);
  const EpochStats sc = cpu->train_epoch(1);
  const EpochStats sg = gpu->train_epoch(1);
  ASSERT_FALSE(sg.divergence.diverged);
  ASSERT_EQ(sg.steps, sc.steps);
  EXPECT_NEAR(sg.train_loss, sc.train_loss, 1e-3 * std::abs(sc.train_loss));
}

TEST(OdeCudaBackend, Rk4GraphAndStreamPathsAreBitIdentical) {
  DYNPMNN_REQUIRE_GPU();
  const ModelSpec spec = node_spec(OdeSolver::kRk4, 16, 24, 3);
  const SplitData data = testing::synthetic_data(400, 8);
  const ParamTable table(spec);
  std::vector<double> p0(table.total());
  init_params(spec, table, 5, p0);
  auto run = [&](const char* graphs) {
    ScopedEnv env("DYNPMNN_CUDA_GRAPHS", graphs);  // "1": a failed capture throws
    auto gpu = make_cuda_backend(spec, test::paper_hyper());
    gpu->set_data(data);
    gpu->set_params(p0);
    std::vector<double> losses;
    for (int epoch = 1; epoch <= 2; ++epoch) losses.push_back(gpu->train_epoch(epoch).train_loss);
    return std::make_pair(losses, params_of(*gpu, p0.size()));
  };
  const auto stream = run("0");
  const auto graph = run("1");
  EXPECT_EQ(graph.first, stream.first);
  EXPECT_TRUE(test::bitwise_equal("graph vs stream", test::convert<float>(graph.second),
                                  test::convert<float>(stream.second)));
}

}  // namespace
}  // namespace dynpmnn
