// The four time-stepping schemes of FitzHugh–Nagumo (kernels/neuron_math.h, kernels/neurons/fhn.h): exact reverse of each discrete map (finite
// differences), convergence order, and which survive the paper's dt = 20.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/fhn.h"
#include "kernels/integrator_dispatch.h"

namespace dynpmnn {
namespace {

constexpr Integrator kAll[] = {Integrator::kEuler, Integrator::kImex, Integrator::kHeun, Integrator::kRk4};

struct Problem {
  NeuronShape shape;
  std::vector<double> in;  // (B, input_width)
  std::vector<double> a, b, g, I;
  std::vector<double> weights;  // (B, 2N): the loss is Σ weights · out
};

Problem make_problem(Integrator scheme, Coupling coupling, int steps, double dt, double clip, std::uint32_t seed) {
  Problem p;
  p.shape.batch = 3;
  p.shape.neurons = 2;
  p.shape.steps = steps;
  p.shape.dt = dt;
  p.shape.clip = clip;
  p.shape.coupling = coupling;
  p.shape.integrator = scheme;
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  p.in.resize(static_cast<std::size_t>(p.shape.batch) * p.shape.input_width());
  for (double& x : p.in) x = u(gen);
  for (int n = 0; n < p.shape.neurons; ++n) {
    p.a.push_back(0.2 + 0.05 * u(gen));
    p.b.push_back(0.3 + 0.05 * u(gen));  // larger than the paper's 0.02 so w matters within a few steps
    p.g.push_back(1.5 + 0.2 * u(gen));
    p.I.push_back(0.1 * u(gen));
  }
  p.weights.resize(static_cast<std::size_t>(p.shape.batch) * p.shape.output_width());
  for (double& x : p.weights) x = u(gen);
  return p;
}

double loss(const Problem& p) {
  std::vector<double> out(p.weights.size());
  fhn_forward_cpu<double>(p.shape, p.in.data(), {p.a.data(), p.b.data(), p.g.data(), p.I.data()}, out.data(),
                          nullptr, nullptr);
  double l = 0;
  for (std::size_t i = 0; i < out.size(); ++i) l += p.weights[i] * out[i];
  return l;
}

// Central difference with Richardson extrapolation (two step sizes), accurate to ~1e-10 here.
double numeric(Problem& p, double& x) {
  const double x0 = x;
  auto central = [&](double h) {
    x = x0 + h;
    const double up = loss(p);
    x = x0 - h;
    const double down = loss(p);
    x = x0;
    return (up - down) / (2 * h);
  };
  const double h = 1e-4 * std::max(1.0, std::abs(x0));
  return (4 * central(h / 2) - central(h)) / 3;
}

struct Analytic {
  std::vector<double> d_in, da, db, dg, dI;
};

Analytic analytic(const Problem& p) {
  const NeuronShape& s = p.shape;
  std::vector<double> out(p.weights.size());
  std::vector<double> cv(std::max<std::size_t>(1, s.checkpoint_elems())), cw(cv.size());
  const FhnParamPtrs<double> prm{p.a.data(), p.b.data(), p.g.data(), p.I.data()};
  fhn_forward_cpu<double>(s, p.in.data(), prm, out.data(), cv.data(), cw.data());
  Analytic g;
  g.d_in.assign(p.in.size(), NAN);
  for (auto* v : {&g.da, &g.db, &g.dg, &g.dI}) v->assign(s.neurons, NAN);
  fhn_backward_cpu<double>(s, p.in.data(), prm, cv.data(), cw.data(), p.weights.data(), g.d_in.data(),
                           {g.da.data(), g.db.data(), g.dg.data(), g.dI.data()});
  return g;
}

void expect_close(const std::vector<double>& an, const std::vector<double>& fd, const char* what) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < an.size(); ++i) {
    ASSERT_TRUE(std::isfinite(an[i])) << what << "[" << i << "]";
    num += (an[i] - fd[i]) * (an[i] - fd[i]);
    den += fd[i] * fd[i];
  }
  ASSERT_GT(den, 0.0) << what << ": the finite-difference gradient is zero, the check would prove nothing";
  EXPECT_LT(std::sqrt(num / den), 1e-7) << what;
}

// Over every step of every pair: how many raw (pre-clamp) states fell outside ±clip, and the
// closest any came to the kink at ±clip. Finite differences are only valid away from the kink.
template <Integrator S>
void clamp_stats(const Problem& p, int& clamped, double& margin) {
  const NeuronShape& s = p.shape;
  for (int b = 0; b < s.batch; ++b)
    for (int n = 0; n < s.neurons; ++n) {
      const FhnParams<double> prm{p.a[n], p.b[n], p.g[n], p.I[n]};
      double v = 0, w = 0, current = prm.I;
      if (s.coupling == Coupling::kInitialCondition) {
        v = p.in[b * 2 * s.neurons + n];
        w = p.in[b * 2 * s.neurons + s.neurons + n];
      } else {
        current += p.in[b * s.neurons + n];
      }
      for (int k = 0; k < s.steps; ++k) {
        double vn, wn;
        fhn_raw_step<S>(v, w, prm, current, s.dt, vn, wn);
        for (double x : {vn, wn}) {
          clamped += std::abs(x) > s.clip;
          margin = std::min(margin, std::abs(std::abs(x) - s.clip));
        }
        fhn_step<S>(v, w, prm, current, s.dt, s.clip);
      }
    }
}

void clamp_stats(const Problem& p, int& clamped, double& margin) {
  clamped = 0;
  margin = INFINITY;
  dispatch_integrator(p.shape.integrator, "clamp_stats",
                      [&](auto S) { clamp_stats<decltype(S)::value>(p, clamped, margin); });
}

class IntegratorGradient : public ::testing::TestWithParam<std::tuple<Integrator, Coupling, double>> {};

TEST_P(IntegratorGradient, BackwardMatchesFiniteDifferences) {
  const auto [scheme, coupling, clip] = GetParam();
  // 40 steps: three checkpoint segments of the trajectory, so the recompute path is exercised.
  Problem p = make_problem(scheme, coupling, 40, 0.1, clip, 11 + static_cast<int>(scheme));
  if (clip > 0) {
    // Move the clip until no state lies within the finite differences' reach of the kink, and
    // require that some states really are clamped.
    int clamped = 0;
    double margin = 0;
    for (clamp_stats(p, clamped, margin); margin < 1e-3; clamp_stats(p, clamped, margin)) p.shape.clip += 0.0137;
    ASSERT_GT(clamped, 0) << "clip " << p.shape.clip << " clamps nothing: the case would not test the clamp";
  }
  const Analytic an = analytic(p);
  std::vector<double> fd_in(p.in.size());
  for (std::size_t i = 0; i < p.in.size(); ++i) fd_in[i] = numeric(p, p.in[i]);
  expect_close(an.d_in, fd_in, "d_in");
  const std::pair<std::vector<double>*, const std::vector<double>*> params[] = {
      {&p.a, &an.da}, {&p.b, &an.db}, {&p.g, &an.dg}, {&p.I, &an.dI}};
  const char* names[] = {"a", "b", "g", "I"};
  for (int k = 0; k < 4; ++k) {
    std::vector<double> fd(p.shape.neurons);
    for (int n = 0; n < p.shape.neurons; ++n) fd[n] = numeric(p, (*params[k].first)[n]);
    expect_close(*params[k].second, fd, names[k]);
  }
}

INSTANTIATE_TEST_SUITE_P(AllSchemes, IntegratorGradient,
                         ::testing::Combine(::testing::ValuesIn(kAll),
                                            ::testing::Values(Coupling::kInitialCondition, Coupling::kCurrent),
                                            ::testing::Values(0.0, 0.5)),
                         [](const auto& info) {
                           return std::string(to_string(std::get<0>(info.param))) + "_" +
                                  to_string(std::get<1>(info.param)) + (std::get<2>(info.param) > 0 ? "_clip" : "");
                         });

// Final v of one neuron from v0 = 0.5, w0 = 0.1 over t = 2 with the given number of steps.
double final_v(Integrator scheme, int steps) {
  NeuronShape s;
  s.batch = 1;
  s.neurons = 1;
  s.steps = steps;
  s.dt = 2.0 / steps;
  s.integrator = scheme;
  const double in[2] = {0.5, 0.1};
  const double a = 0.2, b = 0.3, g = 1.5, I = 0.05;
  double out[2];
  fhn_forward_cpu<double>(s, in, {&a, &b, &g, &I}, out, nullptr, nullptr);
  return out[0];
}

TEST(IntegratorOrder, ErrorShrinksAtEachSchemesOrder) {
  const double exact = final_v(Integrator::kRk4, 1 << 14);
  const struct {
    Integrator scheme;
    double order;
  } cases[] = {{Integrator::kEuler, 1}, {Integrator::kImex, 1}, {Integrator::kHeun, 2}, {Integrator::kRk4, 4}};
  for (const auto& c : cases) {
    const double e1 = std::abs(final_v(c.scheme, 40) - exact);
    const double e2 = std::abs(final_v(c.scheme, 80) - exact);
    const double observed = std::log2(e1 / e2);
    EXPECT_NEAR(observed, c.order, 0.25) << to_string(c.scheme) << ": errors " << e1 << " → " << e2;
  }
}

TEST(IntegratorStability, OnlyTheSemiImplicitSchemeSurvivesThePapersStep) {
  // The paper's layer after LayerNorm(2) and SiLU starts at v0 = silu(1), w0 = silu(−1) (or the
  // reverse); dt = 20 for 25 steps with the paper's a, b, g, I.
  NeuronShape s;
  s.batch = 2;
  s.neurons = 1;
  s.steps = 25;
  s.dt = 20;
  const double s1 = 1 / (1 + std::exp(-1.0)), sm1 = -1 / (1 + std::exp(1.0));
  const double in[4] = {s1, sm1, sm1, s1};
  const double a = 0.2, b = 0.02, g = 3, I = 0;
  double out[4];
  for (Integrator scheme : kAll) {
    s.integrator = scheme;
    const bool finite = fhn_forward_cpu<double>(s, in, {&a, &b, &g, &I}, out, nullptr, nullptr);
    if (scheme == Integrator::kImex) {
      EXPECT_TRUE(finite);
      for (double x : out) EXPECT_LT(std::abs(x), 2.0) << "the semi-implicit state should stay near the attractor";
    } else {
      EXPECT_FALSE(finite) << to_string(scheme) << " unexpectedly survived dt = 20";
    }
  }
}

TEST(Integrator, NamesRoundTrip) {
  for (Integrator scheme : kAll) EXPECT_EQ(integrator_from_string(to_string(scheme)), scheme);
  EXPECT_THROW(integrator_from_string("leapfrog"), std::invalid_argument);
}

// The one switch on the scheme hands each value its own constant and returns what f returns; a
// value outside the enum is refused with the caller, the value and the accepted ones.
TEST(Integrator, DispatchPassesTheSchemeAsAConstant) {
  for (Integrator scheme : kAll) {
    const Integrator seen = dispatch_integrator(scheme, "test", [](auto s) {
      static_assert(std::is_same_v<decltype(s), IntegratorConstant<decltype(s)::value>>);
      return decltype(s)::value;
    });
    EXPECT_EQ(seen, scheme) << to_string(scheme);
  }
  int calls = 0;
  dispatch_integrator(Integrator::kHeun, "test", [&](auto) { ++calls; });  // void f: nothing to return
  EXPECT_EQ(calls, 1);
  try {
    dispatch_integrator(static_cast<Integrator>(7), "fhn_forward_cpu", [](auto) { return 0; });
    FAIL() << "no exception for integrator 7";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("fhn_forward_cpu: unknown integrator 7"), std::string::npos) << what;
    EXPECT_NE(what.find("euler"), std::string::npos) << what;
    EXPECT_NE(what.find("rk4"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace dynpmnn
