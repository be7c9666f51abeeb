// Sanity tests of the FitzHugh–Nagumo layer on the CPU: the Euler step is the equation of the
// paper, the clamp behaves as torch.clamp (forward and gradient), float and double agree on a mild
// problem, and the paper's own step size is unstable without the clamp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/fhn.h"
#include "kernels/neurons/fhn.h"
#include "models/cpu_model.h"
#include "models/dynpmnn.h"

namespace dynpmnn {
namespace {

template <typename T>
struct LayerParams {
  std::vector<T> a, b, g, I;
  FhnParamPtrs<T> ptrs() const { return {a.data(), b.data(), g.data(), I.data()}; }
};

LayerParams<double> uniform_params(int N, double a, double b, double g, double I) {
  return {std::vector<double>(N, a), std::vector<double>(N, b), std::vector<double>(N, g), std::vector<double>(N, I)};
}

NeuronShape shape(int batch, int neurons, int steps, double dt, double clip, Coupling c) {
  NeuronShape s;
  s.batch = batch;
  s.neurons = neurons;
  s.steps = steps;
  s.dt = dt;
  s.clip = clip;
  s.coupling = c;
  return s;
}

// One step worked out by hand: v = 0.5, w = 0.1, a = 0.2, b = 0.02, g = 3, I = 0, dt = 0.1:
//   dv/dt = 0 − 0.5·(0.5 − 0.2)·(0.5 − 1) − 0.1 = 0.075 − 0.1 = −0.025  →  v₁ = 0.4975
//   dw/dt = 0.02·(0.5 − 3·0.1) = 0.004                                   →  w₁ = 0.1004
TEST(FhnCpu, OneEulerStepMatchesTheEquationByHand) {
  const NeuronShape s = shape(1, 1, 1, 0.1, 0.0, Coupling::kInitialCondition);
  const LayerParams<double> p = uniform_params(1, 0.2, 0.02, 3.0, 0.0);
  const std::vector<double> in{0.5, 0.1};
  std::vector<double> out(2, std::nan(""));
  ASSERT_TRUE(fhn_forward_cpu<double>(s, in.data(), p.ptrs(), out.data(), nullptr, nullptr));
  EXPECT_NEAR(out[0], 0.4975, 1e-15);
  EXPECT_NEAR(out[1], 0.1004, 1e-15);
}

// The same for a batch, every neuron with its own parameters, both couplings: checks the layer's
// indexing ((B, 2N) = [v | w] for initial conditions, (B, N) currents added to I otherwise).
TEST(FhnCpu, OneStepPerNeuronParametersAndBothCouplings) {
  const int B = 3, N = 4;
  std::mt19937_64 gen(5);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  LayerParams<double> p;
  for (int n = 0; n < N; ++n) {
    p.a.push_back(0.2 + 0.1 * u(gen));
    p.b.push_back(0.05 + 0.02 * u(gen));
    p.g.push_back(3.0 + u(gen));
    p.I.push_back(0.2 * u(gen));
  }
  const double dt = 0.3;
  for (Coupling c : {Coupling::kInitialCondition, Coupling::kCurrent}) {
    const NeuronShape s = shape(B, N, 1, dt, 0.0, c);
    std::vector<double> in(static_cast<std::size_t>(B) * s.input_width());
    for (auto& x : in) x = u(gen);
    std::vector<double> out(static_cast<std::size_t>(B) * 2 * N, std::nan(""));
    ASSERT_TRUE(fhn_forward_cpu<double>(s, in.data(), p.ptrs(), out.data(), nullptr, nullptr));
    for (int b = 0; b < B; ++b) {
      for (int n = 0; n < N; ++n) {
        double v = 0, w = 0, current = p.I[n];
        if (c == Coupling::kInitialCondition) {
          v = in[b * 2 * N + n];
          w = in[b * 2 * N + N + n];
        } else {
          current += in[b * N + n];
        }
        const double v1 = v + dt * (current - v * (v - p.a[n]) * (v - 1.0) - w);
        const double w1 = w + dt * p.b[n] * (v - p.g[n] * w);
        EXPECT_NEAR(out[b * 2 * N + n], v1, 1e-15) << to_string(c) << " b=" << b << " n=" << n;
        EXPECT_NEAR(out[b * 2 * N + N + n], w1, 1e-15) << to_string(c) << " b=" << b << " n=" << n;
      }
    }
  }
}

// The reverse of one step against differences of the step itself. The step is a polynomial of
// degree 3 in (v, w, a, b, g, I), for which the 5-point stencil is exact: only rounding remains.
TEST(FhnCpu, OneStepBackwardMatchesDifferencesOfTheStep) {
  const double dt = 0.37, v = 0.8, w = -0.3, lv_out = 0.7, lw_out = -1.3;
  const FhnParams<double> p{0.23, 0.41, 2.2, 0.15};
  const double current = p.I + 0.05;
  // Scalar of the step's result: lv_out·v₁ + lw_out·w₁.
  auto J = [&](double v0, double w0, FhnParams<double> q, double cur) {
    fhn_euler_step(v0, w0, q, cur, dt, 0.0);
    return lv_out * v0 + lw_out * w0;
  };
  auto d5 = [](auto f) {
    const double h = 1e-3;
    return (-f(2 * h) + 8 * f(h) - 8 * f(-h) + f(-2 * h)) / (12 * h);
  };
  double lv = lv_out, lw = lw_out;
  FhnParamGrad<double> g;
  fhn_euler_step_backward(v, w, p, current, dt, 0.0, lv, lw, g);
  auto with = [&](int which, double e) {
    FhnParams<double> q = p;
    if (which == 0) q.a += e;
    if (which == 1) q.b += e;
    if (which == 2) q.g += e;
    return q;
  };
  EXPECT_NEAR(lv, d5([&](double e) { return J(v + e, w, p, current); }), 1e-12);
  EXPECT_NEAR(lw, d5([&](double e) { return J(v, w + e, p, current); }), 1e-12);
  EXPECT_NEAR(g.a, d5([&](double e) { return J(v, w, with(0, e), current); }), 1e-12);
  EXPECT_NEAR(g.b, d5([&](double e) { return J(v, w, with(1, e), current); }), 1e-12);
  EXPECT_NEAR(g.g, d5([&](double e) { return J(v, w, with(2, e), current); }), 1e-12);
  // I enters only through the current, so dI is also the gradient of the sample's input current.
  EXPECT_NEAR(g.I, d5([&](double e) { return J(v, w, p, current + e); }), 1e-12);
}

// The clamp: a value strictly outside [−clip, clip] is set to ±clip and passes no gradient; one
// exactly on the bound passes it (torch.clamp's convention, which the PyTorch peer trains with).
TEST(FhnCpu, ClampGivesZeroGradientOnlyStrictlyOutside) {
  const FhnParams<double> p{0.2, 0.5, 3.0, 0.0};
  const double dt = 0.5, clip = 1.0;
  // From v = w = 0 one step gives v₁ = dt·current and w₁ = 0: current 2 lands exactly on the clip,
  // current 3 beyond it.
  {
    double v = 0, w = 0;
    fhn_euler_step(v, w, p, 3.0, dt, clip);
    EXPECT_EQ(v, clip);
    double lv = 1, lw = 0;
    FhnParamGrad<double> g;
    fhn_euler_step_backward(0.0, 0.0, p, 3.0, dt, clip, lv, lw, g);
    EXPECT_EQ(lv, 0.0);
    EXPECT_EQ(lw, 0.0);
    EXPECT_EQ(g.I, 0.0);
    EXPECT_EQ(g.a, 0.0);
  }
  {
    double v = 0, w = 0;
    fhn_euler_step(v, w, p, -3.0, dt, clip);
    EXPECT_EQ(v, -clip);
    double lv = 1, lw = 0;
    FhnParamGrad<double> g;
    fhn_euler_step_backward(0.0, 0.0, p, -3.0, dt, clip, lv, lw, g);
    EXPECT_EQ(g.I, 0.0);
  }
  {
    double v = 0, w = 0;
    fhn_euler_step(v, w, p, 2.0, dt, clip);
    EXPECT_EQ(v, clip);  // on the bound, not beyond it
    double lv = 1, lw = 0;
    FhnParamGrad<double> g;
    fhn_euler_step_backward(0.0, 0.0, p, 2.0, dt, clip, lv, lw, g);
    EXPECT_EQ(g.I, dt);  // dv₁/dI = dt passes
    EXPECT_NE(lv, 0.0);
  }
  // Only the component that is clamped loses its gradient: here v is cut, w (inside) is not.
  {
    double lv = 1, lw = 1;
    FhnParamGrad<double> g;
    fhn_euler_step_backward(0.0, 0.0, p, 3.0, dt, clip, lv, lw, g);
    // With v's adjoint cut, only w₁ = w + dt·b·(v − g·w) remains: dv = dt·b, dw = 1 − dt·b·g.
    EXPECT_DOUBLE_EQ(lv, dt * p.b);
    EXPECT_DOUBLE_EQ(lw, 1.0 - dt * p.b * p.g);
    EXPECT_EQ(g.I, 0.0);
  }
  // The same through the batched layer op: the sample that is clamped on the last step has no
  // current gradient, the one that stays inside has.
  const NeuronShape s = shape(2, 1, 1, dt, clip, Coupling::kCurrent);
  const LayerParams<double> lp = uniform_params(1, p.a, p.b, p.g, p.I);
  const std::vector<double> in{3.0, 1.0};
  std::vector<double> out(4), d_out{1.0, 0.0, 1.0, 0.0}, d_in(2, std::nan(""));
  ASSERT_TRUE(fhn_forward_cpu<double>(s, in.data(), lp.ptrs(), out.data(), nullptr, nullptr));
  EXPECT_EQ(out[0], clip);
  EXPECT_EQ(out[2], 0.5);
  fhn_backward_cpu<double>(s, in.data(), lp.ptrs(), nullptr, nullptr, d_out.data(), d_in.data(),
                   FhnGradPtrs<double>{nullptr, nullptr, nullptr, nullptr});
  EXPECT_EQ(d_in[0], 0.0);
  EXPECT_EQ(d_in[1], dt);
}

// Float and double run the same arithmetic; on a mild problem (small dt, states of order 1) they
// must agree to float's precision. A mistake in the float instantiation (a double constant
// truncated, a narrowed intermediate) would show as a larger gap.
TEST(FhnCpu, FloatAndDoubleForwardAgree) {
  const int B = 16, N = 7, steps = 50;
  const double dt = 0.1;
  std::mt19937_64 gen(9);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  LayerParams<double> pd;
  for (int n = 0; n < N; ++n) {
    pd.a.push_back(0.2 + 0.05 * u(gen));
    pd.b.push_back(0.3 + 0.1 * u(gen));
    pd.g.push_back(2.0 + 0.5 * u(gen));
    pd.I.push_back(0.1 * u(gen));
  }
  LayerParams<float> pf;
  for (int n = 0; n < N; ++n) {
    pf.a.push_back(static_cast<float>(pd.a[n]));
    pf.b.push_back(static_cast<float>(pd.b[n]));
    pf.g.push_back(static_cast<float>(pd.g[n]));
    pf.I.push_back(static_cast<float>(pd.I[n]));
  }
  double worst = 0;
  for (Coupling c : {Coupling::kInitialCondition, Coupling::kCurrent}) {
    const NeuronShape s = shape(B, N, steps, dt, 0.0, c);
    std::vector<float> in_f(static_cast<std::size_t>(B) * s.input_width());
    for (auto& x : in_f) x = static_cast<float>(u(gen));
    const std::vector<double> in_d(in_f.begin(), in_f.end());  // identical inputs
    std::vector<double> out_d(static_cast<std::size_t>(B) * 2 * N, std::nan(""));
    std::vector<float> out_f(out_d.size(), std::nanf(""));
    std::vector<double> ckd_v(s.checkpoint_elems()), ckd_w(s.checkpoint_elems());
    std::vector<float> ckf_v(s.checkpoint_elems()), ckf_w(s.checkpoint_elems());
    ASSERT_TRUE(fhn_forward_cpu(s, in_d.data(), pd.ptrs(), out_d.data(), ckd_v.data(), ckd_w.data()));
    ASSERT_TRUE(fhn_forward_cpu(s, in_f.data(), pf.ptrs(), out_f.data(), ckf_v.data(), ckf_w.data()));
    for (std::size_t i = 0; i < out_d.size(); ++i) {
      const double e = std::abs(out_f[i] - out_d[i]);
      worst = std::max(worst, e / (1 + std::abs(out_d[i])));
      EXPECT_LE(e, 1e-5 + 1e-5 * std::abs(out_d[i])) << to_string(c) << " at " << i;
    }
  }
  std::printf("[ fhn-cpu  ] float vs double forward, worst |Δ|/(1+|ref|) = %.2e\n", worst);
}

// A population of P models in one call computes, for every model, bit for bit what that model
// computes alone: its own dt, step count (1 to 70, so some models have checkpoints and others
// none), clamp, parameters and rows, forward and backward, for every integrator and coupling.
TEST(FhnCpu, PopulationEqualsItsModelsAloneBitForBit) {
  const int P = 4, B = 3, N = 5;
  const NeuronModelStep steps[P] = {{0.1, 20, 0.0}, {0.05, 1, 0.0}, {0.2, 70, 1.5}, {0.5, 9, 0.0}};
  std::mt19937 gen(11);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  LayerParams<double> p;  // (P, N) each
  for (int i = 0; i < P * N; ++i) {
    p.a.push_back(0.2 + 0.1 * u(gen));
    p.b.push_back(0.3 + 0.1 * u(gen));
    p.g.push_back(2.0 + 0.5 * u(gen));
    p.I.push_back(0.1 * u(gen));
  }
  for (Integrator integrator : {Integrator::kEuler, Integrator::kImex, Integrator::kHeun, Integrator::kRk4})
    for (Coupling c : {Coupling::kInitialCondition, Coupling::kCurrent}) {
      NeuronShape pop = shape(B, N, 0, 0.0, 0.0, c);
      pop.models = P;
      pop.per_model = steps;
      pop.integrator = integrator;
      ASSERT_NO_THROW(pop.validate());
      const std::size_t in_w = pop.input_width(), out_w = pop.output_width();
      std::vector<double> in(P * B * in_w), d_out(P * B * out_w);
      for (auto& x : in) x = u(gen);
      for (auto& x : d_out) x = u(gen);
      std::vector<double> out(d_out.size()), d_in(in.size()), ck_v(pop.checkpoint_elems()), ck_w(ck_v.size());
      std::vector<double> ga(P * N), gb(P * N), gg(P * N), gI(P * N);
      const bool finite = fhn_forward_cpu(pop, in.data(), p.ptrs(), out.data(), ck_v.data(), ck_w.data());
      fhn_backward_cpu(pop, in.data(), p.ptrs(), ck_v.data(), ck_w.data(), d_out.data(), d_in.data(),
                       FhnGradPtrs<double>{ga.data(), gb.data(), gg.data(), gI.data()});
      EXPECT_TRUE(finite);
      for (int m = 0; m < P; ++m) {
        SCOPED_TRACE(std::string(to_string(integrator)) + " " + to_string(c) + " model " + std::to_string(m));
        NeuronShape one = shape(B, N, steps[m].steps, steps[m].dt, steps[m].clip, c);
        one.integrator = integrator;
        const std::size_t k = static_cast<std::size_t>(m) * N;
        const FhnParamPtrs<double> pm{p.a.data() + k, p.b.data() + k, p.g.data() + k, p.I.data() + k};
        const double* in_m = in.data() + m * B * in_w;
        std::vector<double> o(B * out_w), di(B * in_w), cv(one.checkpoint_elems()), cw(cv.size());
        std::vector<double> a(N), b(N), g(N), I(N);
        fhn_forward_cpu(one, in_m, pm, o.data(), cv.data(), cw.data());
        fhn_backward_cpu(one, in_m, pm, cv.data(), cw.data(), d_out.data() + m * B * out_w, di.data(),
                         FhnGradPtrs<double>{a.data(), b.data(), g.data(), I.data()});
        for (std::size_t i = 0; i < o.size(); ++i) ASSERT_EQ(o[i], out[m * B * out_w + i]) << "output " << i;
        for (std::size_t i = 0; i < di.size(); ++i) ASSERT_EQ(di[i], d_in[m * B * in_w + i]) << "d_in " << i;
        for (int n = 0; n < N; ++n) {
          ASSERT_EQ(a[n], ga[k + n]);
          ASSERT_EQ(b[n], gb[k + n]);
          ASSERT_EQ(g[n], gg[k + n]);
          ASSERT_EQ(I[n], gI[k + n]);
        }
      }
    }
  NeuronShape bad = shape(B, N, 0, 0.0, 0.0, Coupling::kCurrent);
  bad.models = 2;
  const NeuronModelStep bad_steps[2] = {{0.1, 3, 0.0}, {0.1, 0, 0.0}};
  bad.per_model = bad_steps;
  try {
    bad.validate();
    ADD_FAILURE() << "a model with 0 steps was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("model 1: steps must be > 0"), std::string::npos) << e.what();
  }
}

// The paper's setting, dt = 20 over t_end = 500 (25 steps) with no clamp, is far beyond explicit
// Euler's stability limit for the cubic (|1 − dt·f'(v)| ≫ 1 once |v| ~ 1): an initial state of
// magnitude ~1 blows up to ±Inf/NaN within a few steps, and the op reports it. dt = 0.1 over the
// same 25 steps stays finite, as does dt = 20 with the clamp of the authors' later code.
TEST(FhnCpu, PaperStepSizeDivergesWithoutClampAndSmallStepDoesNot) {
  const int B = 4, N = 1, steps = 25;
  const LayerParams<double> p = uniform_params(N, 0.2, 0.02, 3.0, 0.0);
  const std::vector<double> in{1.0, 0.0, -0.9, 0.1, 1.2, -0.2, 0.8, 0.3};  // (B, 2N) = [v0 | w0] per row
  std::vector<double> out(static_cast<std::size_t>(B) * 2 * N);

  ASSERT_FALSE(fhn_forward_cpu<double>(shape(B, N, steps, 20.0, 0.0, Coupling::kInitialCondition), in.data(), p.ptrs(),
                               out.data(), nullptr, nullptr));
  bool any_nonfinite = false;
  for (double x : out) any_nonfinite = any_nonfinite || !std::isfinite(x);
  EXPECT_TRUE(any_nonfinite) << "the op said non-finite but every output is finite";

  ASSERT_TRUE(fhn_forward_cpu<double>(shape(B, N, steps, 0.1, 0.0, Coupling::kInitialCondition), in.data(), p.ptrs(),
                              out.data(), nullptr, nullptr));
  for (double x : out) EXPECT_LT(std::abs(x), 2.0);

  ASSERT_TRUE(fhn_forward_cpu<double>(shape(B, N, steps, 20.0, 20.0, Coupling::kInitialCondition), in.data(), p.ptrs(),
                              out.data(), nullptr, nullptr));
  for (double x : out) EXPECT_LE(std::abs(x), 20.0);
}

// The model reports the first layer that went non-finite, so the trainer can name it.
TEST(FhnCpu, ModelForwardNamesTheDivergingLayer) {
  ModelSpec spec;
  spec.inputs = 2;
  spec.outputs = 1;
  LayerSpec stable;
  stable.units = 2;
  stable.layernorm = false;
  stable.activation = Activation::kIdentity;
  stable.dt = 0.1;
  stable.t_end = 2.5;
  LayerSpec paper = stable;
  paper.dt = 20.0;
  paper.t_end = 500.0;
  spec.layers = {stable, paper};
  const ParamTable table(spec);
  std::vector<double> params(table.total());
  init_params(spec, table, 3, params);
  // Scale the second Linear up so its initial states are of order 1 or more.
  const ParamTensor& W1 = table.at(1, ParamKind::kWeight);
  for (std::size_t i = 0; i < W1.size; ++i) params[W1.offset + i] *= 20.0;
  const std::vector<double> x{1.0, -1.0, 0.5, 2.0};
  std::vector<double> pred(2);
  CpuModel<double> m(spec, table);
  EXPECT_EQ(m.forward(params.data(), x.data(), 2, pred.data()), 1);
  // The same parameters with the clamp: finite, so the 1 above is the divergence and not the setup.
  spec.layers[1].clip = 20.0;
  const ParamTable clipped_table(spec);
  CpuModel<double> mc(spec, clipped_table);
  EXPECT_EQ(mc.forward(params.data(), x.data(), 2, pred.data()), kAllFinite);
}

}  // namespace
}  // namespace dynpmnn
