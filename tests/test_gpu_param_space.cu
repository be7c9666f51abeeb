// On the GPU: the FHN parameter maps (fhn_param_map_gpu.h) against the CPU reference, and the CUDA
// backend with trained a, b, g, I in physical space against the CPU backend.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "host/runtime/backend.h"
#include "kernels/fhn_param_map.h"
#include "kernels/fhn_param_map_gpu.h"
#include "models/dynpmnn.h"
#include "tests/backend_test_util.h"
#include "tests/gpu_test_util.h"
#include "tests/synthetic_data.h"

namespace dynpmnn {
namespace {

using test::params_of;
using test::param_tolerance;

// Float arithmetic of exp and log1p against double: a few ulps, far under 1e-6 relative.
constexpr double kMapRtol = 1e-6, kMapAtol = 1e-7;

std::vector<double> map_rows_cpu(FhnParamMaps maps, const std::vector<std::vector<float>>& raw, int N) {
  std::vector<std::vector<double>> r;
  for (const auto& v : raw) r.emplace_back(v.begin(), v.end());
  std::vector<double> phys(4 * static_cast<std::size_t>(N), NAN);
  const FhnParamPtrs<double> out =
      fhn_param_map_forward_cpu(maps, FhnParamPtrs<double>{r[0].data(), r[1].data(), r[2].data(), r[3].data()}, N,
                                phys.data());
  std::vector<double> all;
  for (const double* p : {out.a, out.b, out.g, out.I}) all.insert(all.end(), p, p + N);
  return all;
}

TEST(FhnParamMapGpu, ForwardAndBackwardMatchTheCpuReference) {
  DYNPMNN_REQUIRE_GPU();
  std::mt19937 gen(17);
  const FhnParamMaps maps{FhnParamMap::kSigmoid, FhnParamMap::kSoftplus, FhnParamMap::kIdentity,
                          FhnParamMap::kSoftplus};
  for (int N : {1, 37, 1000, 70000}) {
    SCOPED_TRACE("N = " + std::to_string(N));
    std::vector<std::vector<float>> raw;
    std::vector<DeviceBuffer<float>> raw_d;
    for (int k = 0; k < 4; ++k) {
      raw.push_back(test::uniform_floats(gen, N, -8.0, 8.0));
      raw_d.push_back(test::to_device(raw.back()));
    }
    const FhnParamPtrs<float> raw_ptrs{raw_d[0].data(), raw_d[1].data(), raw_d[2].data(), raw_d[3].data()};
    DeviceBuffer<float> phys = test::poisoned(4 * static_cast<std::size_t>(N));
    const FhnParamPtrs<float> got = fhn_param_map_forward_gpu(maps, raw_ptrs, N, phys.data(), nullptr);
    test::sync_and_check();
    EXPECT_EQ(got.g, raw_ptrs.g);  // identity: read in place
    EXPECT_EQ(got.a, phys.data());
    EXPECT_EQ(got.I, phys.data() + 3 * static_cast<std::size_t>(N));
    const std::vector<float> phys_h = phys.download();
    std::vector<float> got_all;
    for (int k = 0; k < 4; ++k) {
      const std::vector<float>& row =
          k == 2 ? raw[2] : std::vector<float>(phys_h.begin() + k * N, phys_h.begin() + (k + 1) * N);
      got_all.insert(got_all.end(), row.begin(), row.end());
    }
    EXPECT_TRUE(test::all_close("mapped", got_all, map_rows_cpu(maps, raw, N), kMapAtol, kMapRtol));
    EXPECT_TRUE(test::all_nan(std::vector<float>(phys_h.begin() + 2 * N, phys_h.begin() + 3 * N)))
        << "the identity row must not be written";

    // Backward: d/dθ = d/dphys · map'(θ), in place; b's gradient null (frozen) stays untouched.
    std::vector<std::vector<float>> grads;
    std::vector<DeviceBuffer<float>> grads_d;
    for (int k = 0; k < 4; ++k) {
      grads.push_back(test::uniform_floats(gen, N, -2.0, 2.0));
      grads_d.push_back(test::to_device(grads.back()));
    }
    fhn_param_map_backward_gpu(maps, raw_ptrs, N,
                               FhnGradPtrs<float>{grads_d[0].data(), nullptr, grads_d[2].data(), grads_d[3].data()},
                               nullptr);
    test::sync_and_check();
    const FhnParamMap m[4] = {maps.a, maps.b, maps.g, maps.I};
    for (int k = 0; k < 4; ++k) {
      std::vector<double> ref(N);
      for (int i = 0; i < N; ++i)
        ref[i] = k == 1 ? grads[k][i]
                        : grads[k][i] * fhn_param_map_derivative(m[k], static_cast<double>(raw[k][i]));
      EXPECT_TRUE(test::all_close("grad row " + std::to_string(k), grads_d[k].download(), ref, kMapAtol, kMapRtol));
    }
  }
}

ModelSpec mapped_spec(int neurons) {
  LayerSpec L;
  L.units = neurons;
  // Inside explicit Euler's stability limit for the states LayerNorm and SiLU give (|v0| up to ~4:
  // dt·3v0² < 2 needs dt below ~0.04 at the extremes, and the neurons relax towards |v| < 1.2
  // within a few steps). dt = 0.5 diverged on both backends on the lent H200, 2026-11-27.
  L.dt = 0.1;
  L.t_end = 2;  // 20 steps
  L.train_a = L.train_b = L.train_g = L.train_I = true;
  L.param_space = FhnParamSpace::kPhysical;
  ModelSpec spec;
  spec.layers = {L};
  return spec;
}

TEST(CudaBackendParamSpace, PhysicalSpaceEpochsMatchCpuBackend) {
  DYNPMNN_REQUIRE_GPU();
  const ModelSpec spec = mapped_spec(5);
  const ParamTable table(spec);
  TrainHyper hyper;
  hyper.batch_size = 32;
  hyper.adam.lr = 1e-2;  // large enough that the maps' curvature shows in two epochs
  hyper.seed = 3;
  const SplitData data = testing::synthetic_data(1000, 21);
  std::vector<double> p0(table.total());
  init_params(spec, table, 4, p0);
  auto [cpu, gpu] = test::backend_pair(spec, hyper, data, p0);
  long steps = 0;
  for (int epoch = 1; epoch <= 2; ++epoch) {
    const EpochStats sc = cpu->train_epoch(epoch), sg = gpu->train_epoch(epoch);
    ASSERT_FALSE(sc.divergence.diverged);
    ASSERT_FALSE(sg.divergence.diverged);
    ASSERT_EQ(sg.steps, sc.steps);
    steps += sg.steps;
    EXPECT_NEAR(sg.train_loss, sc.train_loss, 1e-4 * std::abs(sc.train_loss));
  }
  const auto pc = params_of(*cpu, p0.size()), pg = params_of(*gpu, p0.size());
  std::vector<double> extra(pc.size());
  for (std::size_t i = 0; i < pc.size(); ++i) extra[i] = param_tolerance(hyper.adam.lr, steps, pc[i]);
  EXPECT_TRUE(test::all_close("params", test::convert<float>(pg), pc, 0, 0, extra));
  const ParamTensor& b = table.at(0, ParamKind::kFhnB);
  double moved = 0;
  for (std::size_t i = b.offset; i < b.offset + b.size; ++i) moved = std::max(moved, std::abs(pc[i] - p0[i]));
  EXPECT_GT(moved, 10 * param_tolerance(hyper.adam.lr, steps, 0)) << "θ_b must move beyond the tolerance";
}

}  // namespace
}  // namespace dynpmnn
