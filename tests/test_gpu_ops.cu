// Each GPU op against its CPU reference (kernels/fhn.h, kernels/ops.h) in double, on fresh random
// inputs, over shapes that break assumptions: one neuron, odd widths, batches that are not
// multiples of a block, one time step, many. Outputs are NaN-poisoned before every run.
//
// Tolerances are atol + rtol·|ref| for float32 arithmetic (rtol 1e-4, far above float rounding)
// plus, for sums, rtol times the sum of the magnitudes of the terms (a float sum is accurate
// relative to that, not to a result that cancels). For FHN trajectories we add 10× the error that
// the CPU reference itself makes in float on the same input: near the excitation threshold an
// Euler trajectory amplifies any rounding, and the GPU must be as accurate as float can be there.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "host/runtime/backend.h"
#include "common/device_buffer.h"
#include "kernels/elementwise_math.h"
#include "kernels/fhn.h"
#include "kernels/fhn_gpu.h"
#include "kernels/integrator_dispatch.h"
#include "kernels/ops.h"
#include "kernels/ops_gpu.h"
#include "tests/gpu_test_util.h"

namespace dynpmnn {
namespace {

using test::all_close;
using test::convert;
using test::poisoned;
using test::to_device;
using test::uniform_floats;

constexpr double kRtol = 1e-4;
constexpr double kAtol = 1e-5;
constexpr double kFloatErrorSlack = 10.0;

// kFloatErrorSlack · |float reference − double reference|, per element.
std::vector<double> float_slack(const std::vector<float>& f, const std::vector<double>& d) {
  std::vector<double> s(d.size());
  for (std::size_t i = 0; i < d.size(); ++i) s[i] = kFloatErrorSlack * std::abs(static_cast<double>(f[i]) - d[i]);
  return s;
}

// ---------------------------------------------------------------------------------------------
// FitzHugh–Nagumo layer

struct FhnCase {
  const char* name;
  int neurons, batch, steps;
  double dt, clip;
  Coupling coupling;
  bool train_a, train_b, train_g, train_I;
  Integrator integrator = Integrator::kEuler;
};

// One pair's reverse trajectory with the case's scheme (kernels/neuron_math.h takes it as a template argument).
void backward_pair(Integrator scheme, double v0, double w0, const FhnParams<double>& prm, double current,
                   const NeuronShape& s, const double* ckpt_v, const double* ckpt_w, std::size_t stride, double& lv,
                   double& lw, FhnParamGrad<double>& g) {
  dispatch_integrator(scheme, "backward_pair", [&](auto S) {
    fhn_backward_trajectory<decltype(S)::value>(v0, w0, prm, current, s.dt, s.steps, s.clip, ckpt_v, ckpt_w, stride,
                                                lv, lw, g);
  });
}

void PrintTo(const FhnCase& c, std::ostream* os) { *os << c.name; }

class FhnGpu : public ::testing::TestWithParam<FhnCase> {};

// The pair's (v0, w0, current) as fhn.cpp reads them.
void initial_state(const NeuronShape& s, const std::vector<double>& in, const std::vector<double>& I, int b, int n,
                   double& v, double& w, double& current) {
  const std::size_t N = s.neurons;
  if (s.coupling == Coupling::kInitialCondition) {
    v = in[b * 2 * N + n];
    w = in[b * 2 * N + N + n];
    current = I[n];
  } else {
    v = w = 0;
    current = I[n] + in[b * N + n];
  }
}

TEST_P(FhnGpu, ForwardBackwardMatchCpuReference) {
  DYNPMNN_REQUIRE_GPU();
  const FhnCase& c = GetParam();
  NeuronShape s;
  s.batch = c.batch;
  s.neurons = c.neurons;
  s.steps = c.steps;
  s.dt = c.dt;
  s.clip = c.clip;
  s.coupling = c.coupling;
  s.integrator = c.integrator;
  const int N = s.neurons, B = s.batch;
  const std::size_t in_n = static_cast<std::size_t>(B) * s.input_width();
  const std::size_t out_n = static_cast<std::size_t>(B) * 2 * N;
  const std::size_t ck_n = s.checkpoint_elems();

  std::mt19937 gen(1000u + static_cast<unsigned>(N * 7 + B * 13 + c.steps));
  std::vector<float> in(in_n);
  if (c.coupling == Coupling::kInitialCondition) {
    // v0 in (−1, 1), w0 in (−0.5, 0.5): inside the stable range of the Euler map for dt <= 0.1.
    const auto v0 = uniform_floats(gen, in_n, -1.0, 1.0);
    const auto w0 = uniform_floats(gen, in_n, -0.5, 0.5);
    for (int b = 0; b < B; ++b)
      for (int n = 0; n < 2 * N; ++n) {
        const std::size_t i = static_cast<std::size_t>(b) * 2 * N + n;
        in[i] = n < N ? v0[i] : w0[i];
      }
  } else {
    in = uniform_floats(gen, in_n, -0.5, 0.5);
  }
  const auto pa = uniform_floats(gen, N, 0.1, 0.3);
  const auto pb = uniform_floats(gen, N, 0.01, 0.1);
  const auto pg = uniform_floats(gen, N, 1.0, 3.0);
  const auto pI = uniform_floats(gen, N, -0.1, 0.1);
  const auto d_out = uniform_floats(gen, out_n, -1.0, 1.0);

  // References: double (the truth) and float (how much float rounding itself moves each value).
  const auto in_d = convert<double>(in), a_d = convert<double>(pa), b_d = convert<double>(pb),
             g_d = convert<double>(pg), I_d = convert<double>(pI), dout_d = convert<double>(d_out);
  const FhnParamPtrs<double> p_d{a_d.data(), b_d.data(), g_d.data(), I_d.data()};
  std::vector<double> out_d(out_n), ckv_d(ck_n), ckw_d(ck_n), din_d(in_n), ga_d(N), gb_d(N), gg_d(N), gI_d(N);
  ASSERT_TRUE(fhn_forward_cpu(s, in_d.data(), p_d, out_d.data(), ckv_d.data(), ckw_d.data()));
  fhn_backward_cpu(s, in_d.data(), p_d, ckv_d.data(), ckw_d.data(), dout_d.data(), din_d.data(),
                   FhnGradPtrs<double>{ga_d.data(), gb_d.data(), gg_d.data(), gI_d.data()});
  const FhnParamPtrs<float> p_f{pa.data(), pb.data(), pg.data(), pI.data()};
  std::vector<float> out_f(out_n), ckv_f(ck_n), ckw_f(ck_n), din_f(in_n), ga_f(N), gb_f(N), gg_f(N), gI_f(N);
  fhn_forward_cpu(s, in.data(), p_f, out_f.data(), ckv_f.data(), ckw_f.data());
  fhn_backward_cpu(s, in.data(), p_f, ckv_f.data(), ckw_f.data(), d_out.data(), din_f.data(),
                   FhnGradPtrs<float>{ga_f.data(), gb_f.data(), gg_f.data(), gI_f.data()});
  // Σ_b |per-sample gradient|: the scale a float batch sum is accurate relative to.
  std::vector<double> scale_a(N, 0), scale_b(N, 0), scale_g(N, 0), scale_I(N, 0);
  const std::size_t stride = static_cast<std::size_t>(B) * N;
  for (int n = 0; n < N; ++n) {
    const FhnParams<double> prm{a_d[n], b_d[n], g_d[n], I_d[n]};
    for (int b = 0; b < B; ++b) {
      double v0, w0, current;
      initial_state(s, in_d, I_d, b, n, v0, w0, current);
      double lv = dout_d[static_cast<std::size_t>(b) * 2 * N + n];
      double lw = dout_d[static_cast<std::size_t>(b) * 2 * N + N + n];
      FhnParamGrad<double> g;
      const std::size_t at = static_cast<std::size_t>(b) * N + n;
      backward_pair(c.integrator, v0, w0, prm, current, s, ck_n ? ckv_d.data() + at : nullptr,
                    ck_n ? ckw_d.data() + at : nullptr, stride, lv, lw, g);
      scale_a[n] += std::abs(g.a);
      scale_b[n] += std::abs(g.b);
      scale_g[n] += std::abs(g.g);
      scale_I[n] += std::abs(g.I);
    }
  }
  if (s.clip > 0) {  // the case must actually clamp, or it tests nothing about clipping
    NeuronShape unclipped = s;
    unclipped.clip = 0;
    std::vector<double> out_free(out_n), ckv_free(ck_n), ckw_free(ck_n);
    fhn_forward_cpu(unclipped, in_d.data(), p_d, out_free.data(), ckv_free.data(), ckw_free.data());
    std::size_t changed = 0;
    for (std::size_t i = 0; i < out_n; ++i) changed += std::abs(out_free[i] - out_d[i]) > 1e-6;
    ASSERT_GT(changed, 0u) << "clip " << s.clip << " never clamps in this case";
  }

  // GPU.
  auto d_in_buf = to_device(in);
  auto a_buf = to_device(pa), b_buf = to_device(pb), g_buf = to_device(pg), I_buf = to_device(pI);
  auto dout_buf = to_device(d_out);
  auto out_buf = poisoned(out_n), ckv_buf = poisoned(ck_n), ckw_buf = poisoned(ck_n), din_buf = poisoned(in_n);
  auto ga_buf = poisoned(N), gb_buf = poisoned(N), gg_buf = poisoned(N), gI_buf = poisoned(N);
  DeviceBuffer<int> flag(1);
  flag.upload({kNoNonFinite});
  const FhnParamPtrs<float> p_gpu{a_buf.data(), b_buf.data(), g_buf.data(), I_buf.data()};
  const FhnGradPtrs<float> grads_gpu{c.train_a ? ga_buf.data() : nullptr, c.train_b ? gb_buf.data() : nullptr,
                                     c.train_g ? gg_buf.data() : nullptr, c.train_I ? gI_buf.data() : nullptr};
  const bool any_trained = c.train_a || c.train_b || c.train_g || c.train_I;
  // All frozen: no workspace at all, which the op must accept.
  DeviceBuffer<float> workspace(any_trained ? fhn_backward_workspace_floats(s) : 0);
  workspace.poison();
  fhn_forward_gpu(s, d_in_buf.data(), p_gpu, out_buf.data(), ckv_buf.data(), ckw_buf.data(), flag.data(), 5, 0);
  fhn_backward_gpu(s, d_in_buf.data(), p_gpu, ckv_buf.data(), ckw_buf.data(), dout_buf.data(), din_buf.data(), grads_gpu,
                   workspace.data(), 0);
  test::sync_and_check();

  const std::size_t in_w = s.input_width();
  EXPECT_EQ(flag.download()[0], kNoNonFinite) << "finite outputs must leave the flag alone";
  EXPECT_TRUE(all_close("out", out_buf.download(), out_d, kAtol, kRtol, float_slack(out_f, out_d), 2 * N));
  EXPECT_TRUE(all_close("ckpt_v", ckv_buf.download(), ckv_d, kAtol, kRtol, float_slack(ckv_f, ckv_d), N));
  EXPECT_TRUE(all_close("ckpt_w", ckw_buf.download(), ckw_d, kAtol, kRtol, float_slack(ckw_f, ckw_d), N));
  EXPECT_TRUE(all_close("d_in", din_buf.download(), din_d, kAtol, kRtol, float_slack(din_f, din_d), in_w));
  auto check_param = [&](const char* what, bool trained, DeviceBuffer<float>& buf, const std::vector<double>& ref,
                         const std::vector<float>& ref_f, const std::vector<double>& scale) {
    const auto got = buf.download();
    if (!trained) {
      EXPECT_TRUE(test::all_nan(got)) << what << " is frozen (null pointer) but was written";
      return;
    }
    auto extra = float_slack(ref_f, ref);
    for (int n = 0; n < N; ++n) extra[n] += kRtol * scale[n];
    EXPECT_TRUE(all_close(what, got, ref, kAtol, kRtol, extra));
  };
  check_param("d_a", c.train_a, ga_buf, ga_d, ga_f, scale_a);
  check_param("d_b", c.train_b, gb_buf, gb_d, gb_f, scale_b);
  check_param("d_g", c.train_g, gg_buf, gg_d, gg_f, scale_g);
  check_param("d_I", c.train_I, gI_buf, gI_d, gI_f, scale_I);

  // The two-pass reduction is deterministic: a second backward gives the same bits.
  if (any_trained) {
    const auto first_a = ga_buf.download(), first_I = gI_buf.download(), first_din = din_buf.download();
    fhn_backward_gpu(s, d_in_buf.data(), p_gpu, ckv_buf.data(), ckw_buf.data(), dout_buf.data(), din_buf.data(),
                     grads_gpu, workspace.data(), 0);
    test::sync_and_check();
    EXPECT_TRUE(test::bitwise_equal("d_a rerun", ga_buf.download(), first_a));
    EXPECT_TRUE(test::bitwise_equal("d_I rerun", gI_buf.download(), first_I));
    EXPECT_TRUE(test::bitwise_equal("d_in rerun", din_buf.download(), first_din));
  }
}

constexpr Coupling kIc = Coupling::kInitialCondition;
constexpr Coupling kCur = Coupling::kCurrent;
constexpr Integrator kImex = Integrator::kImex;
constexpr Integrator kHeun = Integrator::kHeun;
constexpr Integrator kRk4 = Integrator::kRk4;

// Every neuron count (1, 3, 1000), batch (1, 31, 4096) and step count (1, 25, 500) appears, with
// both couplings, clip on and off, and trained, frozen and mixed parameters; plus odd shapes (37
// neurons, 17 steps: a partial register block and segment) and every integrator.
INSTANTIATE_TEST_SUITE_P(
    Shapes, FhnGpu,
    ::testing::Values(FhnCase{"N1_B1_T1_ic", 1, 1, 1, 0.1, 0.0, kIc, true, true, true, true},
                      FhnCase{"N1_B31_T25_current_clip", 1, 31, 25, 0.1, 0.3, kCur, true, true, true, true},
                      FhnCase{"N3_B31_T500_ic", 3, 31, 500, 0.05, 0.0, kIc, true, true, true, true},
                      FhnCase{"N3_B1_T25_current_frozen", 3, 1, 25, 0.1, 0.0, kCur, false, false, false, false},
                      FhnCase{"N1000_B4096_T25_ic", 1000, 4096, 25, 0.1, 0.0, kIc, true, true, true, true},
                      FhnCase{"N1000_B3_T1_current_clip_mixed", 1000, 3, 1, 0.1, 0.02, kCur, false, true, false, true},
                      FhnCase{"N3_B4096_T25_ic_clip_mixed", 3, 4096, 25, 0.1, 0.6, kIc, true, false, true, false},
                      FhnCase{"N1_B4096_T500_current", 1, 4096, 500, 0.05, 0.0, kCur, true, true, true, true},
                      FhnCase{"N1000_B1_T500_ic_clip", 1000, 1, 500, 0.05, 0.6, kIc, true, true, true, true},
                      FhnCase{"N37_B9_T17_ic_clip", 37, 9, 17, 0.1, 0.6, kIc, true, true, true, true},
                      FhnCase{"N33_B257_T100_current_mixed", 33, 257, 100, 0.1, 0.0, kCur, false, true, true, false},
                      FhnCase{"N1_B31_T1_ic_frozen", 1, 31, 1, 0.1, 0.0, kIc, false, false, false, false},
                      // The other integrators of neuron_math.h, each with and without clip.
                      FhnCase{"N5_B31_T25_ic_imex", 5, 31, 25, 0.2, 0.0, kIc, true, true, true, true, kImex},
                      FhnCase{"N3_B37_T40_current_imex_clip", 3, 37, 40, 0.2, 0.3, kCur, true, true, true, true, kImex},
                      FhnCase{"N33_B64_T100_ic_heun", 33, 64, 100, 0.1, 0.0, kIc, true, true, true, true, kHeun},
                      FhnCase{"N7_B9_T17_current_heun_clip", 7, 9, 17, 0.1, 0.3, kCur, true, false, true, false, kHeun},
                      FhnCase{"N33_B64_T100_ic_rk4", 33, 64, 100, 0.1, 0.0, kIc, true, true, true, true, kRk4},
                      FhnCase{"N7_B9_T17_ic_rk4_clip", 7, 9, 17, 0.1, 0.6, kIc, false, true, false, true, kRk4}),
    [](const ::testing::TestParamInfo<FhnCase>& info) { return std::string(info.param.name); });

TEST(FhnGpuFlag, NonFiniteOutputSetsTheLayerOnceAndFiniteLeavesIt) {
  DYNPMNN_REQUIRE_GPU();
  // The paper's dt = 20 without clip: the Euler map is unstable and every trajectory overflows.
  NeuronShape s;
  s.batch = 5;
  s.neurons = 3;
  s.steps = 25;
  s.dt = 20;
  s.coupling = Coupling::kInitialCondition;
  std::mt19937 gen(7);
  const auto in = uniform_floats(gen, 5 * 6, 0.2, 1.0);
  const std::vector<float> a(3, 0.2f), b(3, 0.02f), g(3, 3.0f), I(3, 0.0f);
  std::vector<double> out_d(30), ckv(s.checkpoint_elems()), ckw(s.checkpoint_elems());
  const auto a_d = convert<double>(a), b_d = convert<double>(b), g_d = convert<double>(g), I_d = convert<double>(I);
  ASSERT_FALSE(fhn_forward_cpu(s, convert<double>(in).data(), FhnParamPtrs<double>{a_d.data(), b_d.data(), g_d.data(), I_d.data()},
                               out_d.data(), ckv.data(), ckw.data()))
      << "the case must blow up on the CPU reference too";
  auto in_buf = to_device(in), a_buf = to_device(a), b_buf = to_device(b), g_buf = to_device(g), I_buf = to_device(I);
  auto out_buf = poisoned(30);
  DeviceBuffer<int> flag(1);
  flag.upload({kNoNonFinite});
  const FhnParamPtrs<float> p{a_buf.data(), b_buf.data(), g_buf.data(), I_buf.data()};
  fhn_forward_gpu(s, in_buf.data(), p, out_buf.data(), nullptr, nullptr, flag.data(), 3, 0);
  test::sync_and_check();
  EXPECT_EQ(flag.download()[0], 3);
  fhn_forward_gpu(s, in_buf.data(), p, out_buf.data(), nullptr, nullptr, flag.data(), 4, 0);  // a later layer
  test::sync_and_check();
  EXPECT_EQ(flag.download()[0], 3) << "the first layer to diverge must be kept";
  // A null flag is allowed (inference).
  fhn_forward_gpu(s, in_buf.data(), p, out_buf.data(), nullptr, nullptr, nullptr, 0, 0);
  test::sync_and_check();
}

TEST(FhnGpuChecks, PreconditionsThrowAndBatchZeroIsANoOp) {
  DYNPMNN_REQUIRE_GPU();
  NeuronShape s;
  s.batch = 0;
  s.neurons = 2;
  s.steps = 3;
  s.dt = 0.1;
  fhn_forward_gpu(s, nullptr, FhnParamPtrs<float>{nullptr, nullptr, nullptr, nullptr}, nullptr, nullptr, nullptr, nullptr,
                  0, 0);  // batch 0: nothing to do, nothing to check
  s.batch = 4;
  EXPECT_THROW(fhn_forward_gpu(s, nullptr, FhnParamPtrs<float>{nullptr, nullptr, nullptr, nullptr}, nullptr, nullptr,
                               nullptr, nullptr, 0, 0),
               std::invalid_argument);
  s.dt = -1;
  EXPECT_THROW(fhn_backward_workspace_floats(s), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------------
// Dense (cuBLAS)

struct DenseShape {
  int B, in, out;
};
void PrintTo(const DenseShape& d, std::ostream* os) { *os << "B " << d.B << " in " << d.in << " out " << d.out; }

class DenseGpu : public ::testing::TestWithParam<DenseShape> {};

TEST_P(DenseGpu, ForwardBackwardMatchCpuReference) {
  DYNPMNN_REQUIRE_GPU();
  const auto [B, in, out] = GetParam();
  std::mt19937 gen(31u + B + 3 * in + 7 * out);
  const auto x = uniform_floats(gen, static_cast<std::size_t>(B) * in, -1, 1);
  const auto W = uniform_floats(gen, static_cast<std::size_t>(out) * in, -1, 1);
  const auto bias = uniform_floats(gen, out, -1, 1);
  const auto dy = uniform_floats(gen, static_cast<std::size_t>(B) * out, -1, 1);
  const auto x_d = convert<double>(x), W_d = convert<double>(W), bias_d = convert<double>(bias), dy_d = convert<double>(dy);
  std::vector<double> y_d(static_cast<std::size_t>(B) * out), dx_d(x.size()), dW_d(W.size()), db_d(out);
  dense_forward_cpu(x_d.data(), W_d.data(), bias_d.data(), B, in, out, y_d.data());
  dense_backward_cpu(x_d.data(), W_d.data(), dy_d.data(), B, in, out, dx_d.data(), dW_d.data(), db_d.data());
  // Σ |terms| of each output, the scale of a float sum's error.
  std::vector<double> sy(y_d.size(), 0), sdx(dx_d.size(), 0), sdW(dW_d.size(), 0), sdb(out, 0);
  for (int b = 0; b < B; ++b)
    for (int o = 0; o < out; ++o) {
      const double g = std::abs(dy_d[static_cast<std::size_t>(b) * out + o]);
      sy[static_cast<std::size_t>(b) * out + o] = std::abs(bias_d[o]);
      sdb[o] += g;
      for (int i = 0; i < in; ++i) {
        const double xv = std::abs(x_d[static_cast<std::size_t>(b) * in + i]);
        const double wv = std::abs(W_d[static_cast<std::size_t>(o) * in + i]);
        sy[static_cast<std::size_t>(b) * out + o] += xv * wv;
        sdx[static_cast<std::size_t>(b) * in + i] += g * wv;
        sdW[static_cast<std::size_t>(o) * in + i] += g * xv;
      }
    }
  auto scaled = [](std::vector<double> v) {
    for (auto& e : v) e *= 1e-5;  // float sums land near 1e-7 of Σ|terms|; TF32 would be near 1e-4
    return v;
  };

  CublasContext ctx(0);
  auto x_buf = to_device(x), W_buf = to_device(W), bias_buf = to_device(bias), dy_buf = to_device(dy);
  auto y_buf = poisoned(y_d.size()), dx_buf = poisoned(dx_d.size()), dW_buf = poisoned(dW_d.size()), db_buf = poisoned(out);
  dense_forward_gpu(ctx, x_buf.data(), W_buf.data(), bias_buf.data(), B, in, out, y_buf.data());
  dense_backward_gpu(ctx, x_buf.data(), W_buf.data(), dy_buf.data(), B, in, out, dx_buf.data(), dW_buf.data(),
                     db_buf.data());
  test::sync_and_check();
  EXPECT_TRUE(all_close("y", y_buf.download(), y_d, 1e-6, 0, scaled(sy), out));
  EXPECT_TRUE(all_close("dx", dx_buf.download(), dx_d, 1e-6, 0, scaled(sdx), in));
  EXPECT_TRUE(all_close("dW", dW_buf.download(), dW_d, 1e-6, 0, scaled(sdW), in));
  EXPECT_TRUE(all_close("dbias", db_buf.download(), db_d, 1e-6, 0, scaled(sdb)));

  // Optional outputs: null dx (the first layer) and no bias.
  auto y2 = poisoned(y_d.size()), dW2 = poisoned(dW_d.size());
  dense_forward_gpu(ctx, x_buf.data(), W_buf.data(), nullptr, B, in, out, y2.data());
  dense_backward_gpu(ctx, x_buf.data(), W_buf.data(), dy_buf.data(), B, in, out, nullptr, dW2.data(), nullptr);
  test::sync_and_check();
  std::vector<double> y_nb(y_d.size());
  dense_forward_cpu(x_d.data(), W_d.data(), static_cast<const double*>(nullptr), B, in, out, y_nb.data());
  EXPECT_TRUE(all_close("y without bias", y2.download(), y_nb, 1e-6, 0, scaled(sy), out));
  EXPECT_TRUE(all_close("dW alone", dW2.download(), dW_d, 1e-6, 0, scaled(sdW), in));
}

INSTANTIATE_TEST_SUITE_P(Shapes, DenseGpu,
                         ::testing::Values(DenseShape{1, 8, 2}, DenseShape{31, 8, 2}, DenseShape{32, 2, 1},
                                           DenseShape{37, 3, 5}, DenseShape{4096, 8, 256}, DenseShape{300, 2048, 33},
                                           DenseShape{7, 3, 2048}, DenseShape{512, 64, 128}),
                         [](const ::testing::TestParamInfo<DenseShape>& info) {
                           return "B" + std::to_string(info.param.B) + "_in" + std::to_string(info.param.in) + "_out" +
                                  std::to_string(info.param.out);
                         });

TEST(DenseGpuMath, Fp32ByDefaultNotTf32) {
  DYNPMNN_REQUIRE_GPU();
  // 1 + 2^-20 needs 21 mantissa bits: exact in FP32, rounded to 1 by TF32's 10. With 16 terms the
  // exact sum 16 + 2^-16 is representable, so an FP32 product returns it bit for bit.
  const int B = 512, in = 16, out = 512;
  const float x_val = 1.0f + std::ldexp(1.0f, -20);
  std::vector<float> x(static_cast<std::size_t>(B) * in, x_val), W(static_cast<std::size_t>(out) * in, 1.0f);
  CublasContext ctx(0);
  EXPECT_EQ(ctx.math(), GemmMath::kFp32);
  auto x_buf = to_device(x), W_buf = to_device(W);
  auto y_buf = poisoned(static_cast<std::size_t>(B) * out);
  dense_forward_gpu(ctx, x_buf.data(), W_buf.data(), nullptr, B, in, out, y_buf.data());
  test::sync_and_check();
  const float expect = 16.0f + std::ldexp(1.0f, -16);
  const auto y = y_buf.download();
  std::size_t wrong = 0;
  for (float v : y) wrong += v != expect;
  EXPECT_EQ(wrong, 0u) << "y[0] = " << y[0] << ", expected " << expect << " (TF32 would give 16)";
}

// ---------------------------------------------------------------------------------------------
// LayerNorm

struct LnShape {
  int B, D;
};
void PrintTo(const LnShape& l, std::ostream* os) { *os << "B " << l.B << " D " << l.D; }
class LayerNormGpu : public ::testing::TestWithParam<LnShape> {};

TEST_P(LayerNormGpu, ForwardBackwardMatchCpuReference) {
  DYNPMNN_REQUIRE_GPU();
  const auto [B, D] = GetParam();
  const std::size_t n = static_cast<std::size_t>(B) * D;
  std::mt19937 gen(77u + B * 5 + D);
  auto x = uniform_floats(gen, n, -2, 2);
  for (auto& v : x) v += 3.0f;  // a mean far from 0 exercises the centring
  const auto gamma = uniform_floats(gen, D, 0.5, 1.5), beta = uniform_floats(gen, D, -0.5, 0.5);
  const auto dy = uniform_floats(gen, n, -1, 1);
  const auto x_d = convert<double>(x), gamma_d = convert<double>(gamma), beta_d = convert<double>(beta),
             dy_d = convert<double>(dy);
  std::vector<double> y_d(n), xhat_d(n), rstd_d(B), dx_d(n), dg_d(D), db_d(D);
  layernorm_forward_cpu(x_d.data(), gamma_d.data(), beta_d.data(), B, D, y_d.data(), xhat_d.data(), rstd_d.data());
  layernorm_backward_cpu(dy_d.data(), xhat_d.data(), rstd_d.data(), gamma_d.data(), B, D, dx_d.data(), dg_d.data(),
                         db_d.data());
  // Error scales: dx = rstd (g − mean g − xhat mean gx) cancels, so its scale is the terms' sizes.
  std::vector<double> sdx(n), sdg(D, 0), sdb(D, 0);
  for (int b = 0; b < B; ++b) {
    double mg = 0, mgx = 0;
    for (int i = 0; i < D; ++i) {
      const std::size_t k = static_cast<std::size_t>(b) * D + i;
      mg += std::abs(dy_d[k] * gamma_d[i]);
      mgx += std::abs(dy_d[k] * gamma_d[i] * xhat_d[k]);
      sdg[i] += std::abs(dy_d[k] * xhat_d[k]);
      sdb[i] += std::abs(dy_d[k]);
    }
    for (int i = 0; i < D; ++i) {
      const std::size_t k = static_cast<std::size_t>(b) * D + i;
      sdx[k] = kRtol * rstd_d[b] * (std::abs(dy_d[k] * gamma_d[i]) + mg / D + std::abs(xhat_d[k]) * mgx / D);
    }
  }
  for (auto& v : sdg) v *= kRtol;
  for (auto& v : sdb) v *= kRtol;
  // xhat = (x − mean)·rstd: float rounds x − mean to ~1e-7·|x|, and rstd amplifies that. With D = 2
  // and nearly equal values rstd is large (ill-conditioned in any precision), so the tolerance
  // carries that conditioning: 1e-6 (a few float roundings of x − mean) · rstd · |x|, times |gamma|
  // for y.
  std::vector<double> sxhat(n), sy(n);
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < D; ++i) {
      const std::size_t k = static_cast<std::size_t>(b) * D + i;
      sxhat[k] = 1e-6 * rstd_d[b] * std::abs(x_d[k]);
      sy[k] = sxhat[k] * std::abs(gamma_d[i]);
    }

  auto x_buf = to_device(x), g_buf = to_device(gamma), b_buf = to_device(beta), dy_buf = to_device(dy);
  auto y_buf = poisoned(n), xhat_buf = poisoned(n), rstd_buf = poisoned(B), dx_buf = poisoned(n), dg_buf = poisoned(D),
       db_buf = poisoned(D);
  layernorm_forward_gpu(x_buf.data(), g_buf.data(), b_buf.data(), B, D, y_buf.data(), xhat_buf.data(), rstd_buf.data(), 0);
  layernorm_backward_gpu(dy_buf.data(), xhat_buf.data(), rstd_buf.data(), g_buf.data(), B, D, dx_buf.data(), dg_buf.data(),
                         db_buf.data(), 0);
  test::sync_and_check();
  EXPECT_TRUE(all_close("y", y_buf.download(), y_d, kAtol, kRtol, sy, D));
  EXPECT_TRUE(all_close("xhat", xhat_buf.download(), xhat_d, kAtol, kRtol, sxhat, D));
  EXPECT_TRUE(all_close("rstd", rstd_buf.download(), rstd_d, kAtol, kRtol));
  EXPECT_TRUE(all_close("dx", dx_buf.download(), dx_d, kAtol, kRtol, sdx, D));
  EXPECT_TRUE(all_close("dgamma", dg_buf.download(), dg_d, kAtol, kRtol, sdg));
  EXPECT_TRUE(all_close("dbeta", db_buf.download(), db_d, kAtol, kRtol, sdb));

  // Inference: no xhat, no rstd.
  auto y2 = poisoned(n);
  layernorm_forward_gpu(x_buf.data(), g_buf.data(), b_buf.data(), B, D, y2.data(), nullptr, nullptr, 0);
  test::sync_and_check();
  EXPECT_TRUE(all_close("y (inference)", y2.download(), y_d, kAtol, kRtol, sy, D));
}

INSTANTIATE_TEST_SUITE_P(Shapes, LayerNormGpu,
                         ::testing::Values(LnShape{1, 2}, LnShape{37, 2}, LnShape{5, 3}, LnShape{300, 31},
                                           LnShape{9, 32}, LnShape{33, 33}, LnShape{64, 100}, LnShape{17, 2048},
                                           LnShape{4096, 2}),
                         [](const ::testing::TestParamInfo<LnShape>& info) {
                           return "B" + std::to_string(info.param.B) + "_D" + std::to_string(info.param.D);
                         });

// ---------------------------------------------------------------------------------------------
// Activations, MSE, column sums, non-finite check

TEST(ActivationGpu, ForwardBackwardMatchCpuReferenceInPlaceToo) {
  DYNPMNN_REQUIRE_GPU();
  for (Activation act : {Activation::kSiLU, Activation::kTanh, Activation::kIdentity}) {
    for (std::size_t n : {std::size_t{1}, std::size_t{1000}, std::size_t{100003}}) {
      SCOPED_TRACE(std::string(to_string(act)) + " n=" + std::to_string(n));
      std::mt19937 gen(5u + static_cast<unsigned>(n) + static_cast<unsigned>(act));
      const auto x = uniform_floats(gen, n, -6, 6), dy = uniform_floats(gen, n, -1, 1);
      const auto x_d = convert<double>(x), dy_d = convert<double>(dy);
      std::vector<double> y_d(n), dx_d(n);
      activation_forward_cpu(act, x_d.data(), n, y_d.data());
      activation_backward_cpu(act, x_d.data(), dy_d.data(), n, dx_d.data());
      auto x_buf = to_device(x), dy_buf = to_device(dy);
      auto y_buf = poisoned(n), dx_buf = poisoned(n);
      activation_forward_gpu(act, x_buf.data(), n, y_buf.data(), 0);
      activation_backward_gpu(act, x_buf.data(), dy_buf.data(), n, dx_buf.data(), 0);
      activation_backward_gpu(act, x_buf.data(), dy_buf.data(), n, dy_buf.data(), 0);  // dx aliasing dy
      test::sync_and_check();
      EXPECT_TRUE(all_close("y", y_buf.download(), y_d, 1e-6, 1e-5));
      EXPECT_TRUE(all_close("dx", dx_buf.download(), dx_d, 1e-6, 1e-5));
      EXPECT_TRUE(all_close("dx in place", dy_buf.download(), dx_d, 1e-6, 1e-5));
    }
  }
}

TEST(MseGpu, LossAndGradientMatchCpuReference) {
  DYNPMNN_REQUIRE_GPU();
  for (std::size_t n : {std::size_t{1}, std::size_t{32}, std::size_t{1000}, std::size_t{70001}}) {
    SCOPED_TRACE("n=" + std::to_string(n));
    std::mt19937 gen(11u + static_cast<unsigned>(n));
    const auto pred = uniform_floats(gen, n, -3, 3), target = uniform_floats(gen, n, 0, 5);
    std::vector<float> dpred_ref(n);
    const double loss_ref = mse_loss_cpu(pred.data(), target.data(), n, dpred_ref.data());
    auto p_buf = to_device(pred), t_buf = to_device(target), d_buf = poisoned(n);
    DeviceBuffer<double> loss(1);
    loss.poison();
    mse_loss_gpu(p_buf.data(), t_buf.data(), n, d_buf.data(), loss.data(), 0);
    test::sync_and_check();
    // The same double arithmetic per element: the gradient is bit-identical; the sum's order differs.
    EXPECT_TRUE(test::bitwise_equal("dpred", d_buf.download(), dpred_ref));
    EXPECT_NEAR(loss.download()[0], loss_ref, 1e-12 * loss_ref);
  }
}

TEST(ColumnSumsGpu, MatchesHostSums) {
  DYNPMNN_REQUIRE_GPU();
  for (auto [rows, cols] : {std::pair{10000, 1}, std::pair{5, 33}, std::pair{4096, 128}, std::pair{1, 7}, std::pair{0, 4}}) {
    SCOPED_TRACE("rows=" + std::to_string(rows) + " cols=" + std::to_string(cols));
    std::mt19937 gen(3u + rows + cols);
    const auto a = uniform_floats(gen, static_cast<std::size_t>(rows) * cols, -1, 1);
    const auto b = uniform_floats(gen, static_cast<std::size_t>(rows) * cols, -1, 1);
    std::vector<double> sab(cols, 0), sa(cols, 0), scale(cols, 0);
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) {
        const std::size_t k = static_cast<std::size_t>(r) * cols + c;
        sab[c] += static_cast<double>(a[k]) * b[k];
        sa[c] += a[k];
        scale[c] += 1e-5 * std::abs(a[k]);  // |b| <= 1
      }
    auto a_buf = to_device(a), b_buf = to_device(b), sab_buf = poisoned(cols), sa_buf = poisoned(cols);
    column_sums_gpu(a_buf.data(), b_buf.data(), rows, cols, sab_buf.data(), sa_buf.data(), 0);
    test::sync_and_check();
    EXPECT_TRUE(all_close("Σ a·b", sab_buf.download(), sab, 1e-7, 0, scale));
    EXPECT_TRUE(all_close("Σ a", sa_buf.download(), sa, 1e-7, 0, scale));
  }
}

TEST(NonFiniteCheckGpu, FlagsNanAndInfOnlyOnce) {
  DYNPMNN_REQUIRE_GPU();
  std::vector<float> x(5000, 1.0f);
  auto x_buf = to_device(x);
  DeviceBuffer<int> flag(1);
  flag.upload({kNoNonFinite});
  nonfinite_check_gpu(x_buf.data(), x.size(), flag.data(), 2, 0);
  test::sync_and_check();
  EXPECT_EQ(flag.download()[0], kNoNonFinite);
  x[4321] = INFINITY;
  x_buf.upload(x);
  nonfinite_check_gpu(x_buf.data(), x.size(), flag.data(), -2, 0);
  test::sync_and_check();
  EXPECT_EQ(flag.download()[0], -2);
  x[4321] = 1.0f;
  x[17] = NAN;
  x_buf.upload(x);
  nonfinite_check_gpu(x_buf.data(), x.size(), flag.data(), 7, 0);
  test::sync_and_check();
  EXPECT_EQ(flag.download()[0], -2) << "an earlier value must be kept";
}

// ---------------------------------------------------------------------------------------------
// Adam

TEST(AdamGpu, SeveralStepsMatchDoubleAdamAndSkipFrozenAndFlagged) {
  DYNPMNN_REQUIRE_GPU();
  const std::size_t n = 10007;
  AdamHyper h;
  h.lr = 1e-3;
  h.weight_decay = 5e-3;
  std::mt19937 gen(2024);
  const auto p0 = uniform_floats(gen, n, -1, 1);
  std::vector<std::uint8_t> trainable(n);
  for (std::size_t i = 0; i < n; ++i) trainable[i] = (i % 7) != 3;
  std::vector<double> p_ref = convert<double>(p0), m_ref(n, 0), v_ref(n, 0);
  auto p_buf = to_device(p0), m_buf = to_device(std::vector<float>(n, 0)), v_buf = to_device(std::vector<float>(n, 0));
  DeviceBuffer<std::uint8_t> mask(n);
  mask.upload(trainable);
  DeviceBuffer<AdamDeviceStep> step(1);
  step.upload({AdamDeviceStep{0, 1.0f, 1.0f}});
  DeviceBuffer<int> flag(1);
  flag.upload({kNoNonFinite});
  const int steps = 6;
  for (int t = 1; t <= steps; ++t) {
    // Gradients of several magnitudes, including ones near eps.
    auto g = uniform_floats(gen, n, -1, 1);
    for (std::size_t i = 0; i < n; ++i) g[i] *= static_cast<float>(std::pow(10.0, -static_cast<double>(i % 5)));
    auto g_buf = to_device(g);
    adam_begin_step_gpu(step.data(), flag.data(), h.beta1, h.beta2, 0);
    adam_update_gpu(p_buf.data(), g_buf.data(), m_buf.data(), v_buf.data(), mask.data(), n, h, step.data(), flag.data(), 0);
    const double bc1 = 1.0 - std::pow(h.beta1, t), bc2 = std::sqrt(1.0 - std::pow(h.beta2, t));
    for (std::size_t i = 0; i < n; ++i)
      if (trainable[i]) adam_update(p_ref[i], static_cast<double>(g[i]), m_ref[i], v_ref[i], h.lr, h.beta1, h.beta2, h.eps,
                                    h.weight_decay, bc1, bc2);
  }
  test::sync_and_check();
  EXPECT_EQ(step.download()[0].t, steps);
  // Each update is lr·m̂/(√v̂ + eps), at most a few lr; float keeps it to ~1e-6 relative, so the
  // tolerance is 1e-4·lr per step on top of the parameter's own rounding.
  const auto p = p_buf.download();
  EXPECT_TRUE(all_close("params", p, p_ref, 1e-4 * h.lr * steps, 1e-6));
  EXPECT_TRUE(all_close("m", m_buf.download(), m_ref, 1e-7, 1e-5));
  // v accumulates (1 − β2)·g², and 1 − float(0.999) is 1.29e-5 relatively off 0.001 (float cannot
  // hold 0.999; torch's float Adam has the same offset), so v's relative tolerance must exceed that.
  EXPECT_TRUE(all_close("v", v_buf.download(), v_ref, 1e-12, 3e-5));
  for (std::size_t i = 0; i < n; ++i)
    if (!trainable[i]) ASSERT_EQ(p[i], p0[i]) << "frozen parameter " << i << " changed";

  // A set divergence flag freezes everything, the step count included.
  flag.upload({0});
  auto g_buf = to_device(uniform_floats(gen, n, -1, 1));
  adam_begin_step_gpu(step.data(), flag.data(), h.beta1, h.beta2, 0);
  adam_update_gpu(p_buf.data(), g_buf.data(), m_buf.data(), v_buf.data(), mask.data(), n, h, step.data(), flag.data(), 0);
  test::sync_and_check();
  EXPECT_EQ(step.download()[0].t, steps);
  EXPECT_TRUE(test::bitwise_equal("params after a flagged step", p_buf.download(), p));
}

// ---------------------------------------------------------------------------------------------
// Batches and the epoch order

TEST(GatherGpu, RowsFollowTheOrderAtTheDeviceStep) {
  DYNPMNN_REQUIRE_GPU();
  const int rows = 1000, cols = 8, stride = 32;
  std::mt19937 gen(9);
  const auto src = uniform_floats(gen, static_cast<std::size_t>(rows) * cols, -1, 1);
  std::vector<std::uint32_t> order(rows);
  std::iota(order.begin(), order.end(), 0u);
  std::shuffle(order.begin(), order.end(), gen);
  auto src_buf = to_device(src);
  DeviceBuffer<std::uint32_t> order_buf(rows);
  order_buf.upload(order);
  DeviceBuffer<int> step(1);
  for (auto [s, count] : {std::pair{0, 32}, std::pair{3, 32}, std::pair{31, 8}}) {  // 31·32 + 8 = 1000
    SCOPED_TRACE("step " + std::to_string(s));
    step.upload({s});
    auto dst = poisoned(static_cast<std::size_t>(count) * cols);
    gather_rows_gpu(src_buf.data(), cols, order_buf.data(), rows, step.data(), stride, count, dst.data(), 0);
    test::sync_and_check();
    const auto got = dst.download();
    for (int i = 0; i < count; ++i)
      for (int c = 0; c < cols; ++c)
        ASSERT_EQ(got[static_cast<std::size_t>(i) * cols + c], src[static_cast<std::size_t>(order[s * stride + i]) * cols + c])
            << "row " << i << " col " << c;
  }
  // Past the end of the order: NaN rows, never an out-of-bounds read.
  step.upload({31});
  DeviceBuffer<float> dst(static_cast<std::size_t>(32) * cols);
  dst.zero();
  gather_rows_gpu(src_buf.data(), cols, order_buf.data(), rows, step.data(), stride, 32, dst.data(), 0);
  test::sync_and_check();
  const auto got = dst.download();
  EXPECT_FALSE(std::isnan(got[7 * cols]));
  EXPECT_TRUE(std::isnan(got[8 * cols]));
}

TEST(EpochOrderGpuTest, EqualsHostEpochPermutation) {
  DYNPMNN_REQUIRE_GPU();
  for (std::uint32_t rows : {1u, 2u, 1000u, 14489u, 100000u}) {
    for (auto [seed, epoch] : {std::pair<std::uint64_t, int>{0, 1}, std::pair<std::uint64_t, int>{42, 7}}) {
      SCOPED_TRACE("rows " + std::to_string(rows) + " seed " + std::to_string(seed) + " epoch " + std::to_string(epoch));
      EpochOrderGpu order(rows);
      order.compute(seed, epoch, 0);
      test::sync_and_check();
      std::vector<std::uint32_t> got(rows);
      ASSERT_EQ(cudaMemcpy(got.data(), order.order(), rows * sizeof(std::uint32_t), cudaMemcpyDeviceToHost), cudaSuccess);
      EXPECT_EQ(got, epoch_permutation(seed, epoch, rows));
    }
  }
}

}  // namespace
}  // namespace dynpmnn
