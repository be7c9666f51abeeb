// The baselines on the GPU (docs/baselines.md): the CfC op and the ReLU / LeCun-tanh activations
// against the CPU reference on fresh random inputs, and whole epochs of the MLP and the CfC on the
// CUDA backend against the CPU backend, with the CUDA graph required (as test_gpu_backend.cu does
// for the DynPMNN, whose tolerances these reuse).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "data/california.h"
#include "host/runtime/backend.h"
#include "kernels/cfc.h"
#include "kernels/cfc_gpu.h"
#include "kernels/ops.h"
#include "kernels/ops_gpu.h"
#include "models/dynpmnn.h"
#include "tests/backend_test_util.h"
#include "tests/gpu_test_util.h"
#include "models/layers/dense_layer.h"
#include "models/layers/cfc_layer.h"

namespace dynpmnn {
namespace {

using test::ScopedEnv;
using test::params_of;
using test::param_tolerance;

struct CfcShape {
  int batch, units;
  double t;
};

TEST(CfcGpu, ForwardAndBackwardMatchCpu) {
  DYNPMNN_REQUIRE_GPU();
  std::mt19937 gen(21);
  // One unit, an odd batch that is not a multiple of the block, the paper's 64 units, a large
  // batch that needs the grid-stride loop; t = 1 (the paper's) and t ≠ 1.
  for (const CfcShape& s : {CfcShape{1, 1, 1.0}, CfcShape{37, 5, 0.7}, CfcShape{300, 64, 1.0},
                            CfcShape{4099, 257, 2.5}}) {
    SCOPED_TRACE("B=" + std::to_string(s.batch) + " U=" + std::to_string(s.units) + " t=" + std::to_string(s.t));
    const std::size_t nz = static_cast<std::size_t>(s.batch) * 4 * s.units;
    const std::size_t no = static_cast<std::size_t>(s.batch) * s.units;
    const std::vector<float> z = test::uniform_floats(gen, nz, -3.0, 3.0);
    const std::vector<float> d_out = test::uniform_floats(gen, no, -1.0, 1.0);
    std::vector<double> out_ref(no), dz_ref(nz);
    const std::vector<double> zd = test::convert<double>(z), dd = test::convert<double>(d_out);
    cfc_forward_cpu(zd.data(), s.batch, s.units, s.t, out_ref.data());
    cfc_backward_cpu(zd.data(), dd.data(), s.batch, s.units, s.t, dz_ref.data());

    DeviceBuffer<float> z_d = test::to_device(z), d_out_d = test::to_device(d_out);
    DeviceBuffer<float> out_d = test::poisoned(no), dz_d = test::poisoned(nz);
    cfc_forward_gpu(z_d.data(), s.batch, s.units, static_cast<float>(s.t), out_d.data(), nullptr);
    cfc_backward_gpu(z_d.data(), d_out_d.data(), s.batch, s.units, static_cast<float>(s.t), dz_d.data(), nullptr);
    test::sync_and_check();
    // tanh and a sigmoid of float inputs: a few ulp, far under 1e-5.
    EXPECT_TRUE(test::all_close("cfc out", out_d.download(), out_ref, 1e-6, 1e-5, {}, s.units));
    EXPECT_TRUE(test::all_close("cfc dz", dz_d.download(), dz_ref, 1e-6, 1e-5, {}, 4 * s.units));
  }
  EXPECT_THROW(cfc_forward_gpu(nullptr, 2, 0, 1.0f, nullptr, nullptr), std::invalid_argument);
}

TEST(ActivationGpu, ReluAndLecunTanhMatchCpu) {
  DYNPMNN_REQUIRE_GPU();
  std::mt19937 gen(22);
  std::vector<float> x = test::uniform_floats(gen, 1001, -4.0, 4.0);
  x[0] = 0.0f;  // ReLU's kink: derivative 0 on both, as torch
  x[1] = -0.0f;
  const std::vector<float> dy = test::uniform_floats(gen, x.size(), -1.0, 1.0);
  for (Activation act : {Activation::kRelu, Activation::kLecunTanh}) {
    SCOPED_TRACE(to_string(act));
    const std::vector<double> xd = test::convert<double>(x), dyd = test::convert<double>(dy);
    std::vector<double> y_ref(x.size()), dx_ref(x.size());
    activation_forward_cpu(act, xd.data(), x.size(), y_ref.data());
    activation_backward_cpu(act, xd.data(), dyd.data(), x.size(), dx_ref.data());
    DeviceBuffer<float> x_d = test::to_device(x), dy_d = test::to_device(dy);
    DeviceBuffer<float> y_d = test::poisoned(x.size()), dx_d = test::poisoned(x.size());
    activation_forward_gpu(act, x_d.data(), x.size(), y_d.data(), nullptr);
    activation_backward_gpu(act, x_d.data(), dy_d.data(), x.size(), dx_d.data(), nullptr);
    test::sync_and_check();
    const std::vector<float> dx = dx_d.download();
    EXPECT_TRUE(test::all_close("y", y_d.download(), y_ref, 1e-6, 1e-5));
    EXPECT_TRUE(test::all_close("dx", dx, dx_ref, 1e-6, 1e-5));
    if (act == Activation::kRelu) {
      EXPECT_EQ(dx[0], 0.0f);
      EXPECT_EQ(dx[1], 0.0f);
    }
  }
}

// --- whole epochs -----------------------------------------------------------------------------

ModelSpec spec_of(std::vector<LayerSpec> layers) {
  ModelSpec spec;
  spec.inputs = 8;
  spec.outputs = 1;
  spec.layers = std::move(layers);
  return spec;
}

// Two epochs on both backends (CUDA graph required), compared after each; then predictions of the
// GPU-trained weights on both.
void expect_epochs_match(const ModelSpec& spec) {
  ScopedEnv graphs("DYNPMNN_CUDA_GRAPHS", "1");  // a failed capture throws instead of falling back
  const TrainHyper hyper = test::paper_hyper();
  const SplitData data = test::synthetic_splits(1000, 150, 100, 1.0, 5);  // 31 full batches and one of 8
  const std::vector<double> p0 = test::initial_params(spec, 3);
  const auto [cpu, gpu] = test::train_both_and_compare(spec, hyper, data, p0, 2, 32, 1e-4);
  auto cpu_same = make_cpu_backend(spec, hyper);
  cpu_same->set_data(data);
  cpu_same->set_params(params_of(*gpu, p0.size()));
  for (Split split : {Split::kVal, Split::kTest}) {
    const auto ref = cpu_same->predict(split);
    EXPECT_TRUE(test::all_close("predict", test::convert<float>(gpu->predict(split)), ref, 1e-5, 1e-4));
  }
}

TEST(CudaBaselines, MlpEpochsMatchCpuBackend) {
  DYNPMNN_REQUIRE_GPU();
  expect_epochs_match(spec_of({dense_layer(64, Activation::kRelu, false), dense_layer(33, Activation::kRelu, false),
                               dense_layer(16, Activation::kRelu, false)}));
}

TEST(CudaBaselines, MlpWithLayerNormEpochsMatchCpuBackend) {
  DYNPMNN_REQUIRE_GPU();
  expect_epochs_match(spec_of({dense_layer(40, Activation::kLecunTanh, true), dense_layer(7, Activation::kSiLU, true)}));
}

TEST(CudaBaselines, CfcEpochsMatchCpuBackend) {
  DYNPMNN_REQUIRE_GPU();
  expect_epochs_match(spec_of({dense_layer(32, Activation::kLecunTanh, false), cfc_layer(16, 1.0)}));
  expect_epochs_match(spec_of({cfc_layer(5, 0.7)}));  // no backbone, t ≠ 1
}

}  // namespace
}  // namespace dynpmnn
