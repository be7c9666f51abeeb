// Finite-difference checks, in double precision, of the exact backward of the CPU reference
// (CpuModel<double>::backward, and under it neuron_math.h's checkpointed trajectory), for every
// parameter kind: Linear weights and biases, LayerNorm gamma and beta, the readout, and each
// FitzHugh–Nagumo parameter a, b, g, I.
//
// The derivative is estimated by Ridders' extrapolation of central differences (see
// ridders_derivative), which reaches ~1e-10 relative or better on these smooth, well-conditioned
// networks (dt ≤ 0.5, states of order 1), so the bound of 1e-7 per tensor, ‖fd − an‖ / ‖an‖, has
// two to three orders of margin and still catches any wrong term: a missing factor, a sign, a step
// off by one in the checkpoint recomputation, even a derivative off by 1e-7 relative.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <ostream>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/neurons/fhn.h"
#include "kernels/ops.h"
#include "models/cpu_model.h"
#include "models/dynpmnn.h"
#include "models/layers/fhn_layer.h"

namespace dynpmnn {
namespace {

constexpr double kFdRelStep = 1e-3;  // first step of the extrapolation, relative
constexpr double kGradRelTol = 1e-7;

enum class Loss { kLinear, kMse };

struct GradCase {
  std::string name;
  ModelSpec spec;
  int batch = 3;
  Loss loss = Loss::kLinear;
  std::uint64_t seed = 1;
  double input_scale = 1.0;  // spread of x; larger drives the states further (used to reach the clip)
};

// gtest prints parameters by name rather than as a byte dump.
void PrintTo(const GradCase& c, std::ostream* os) { *os << c.name; }

LayerSpec layer(int neurons, Coupling coupling, bool layernorm, Activation act, double dt, int steps,
                   double clip = 0.0, bool train_fhn = true) {
  LayerSpec L;
  L.units = neurons;
  L.coupling = coupling;
  L.layernorm = layernorm;
  L.activation = act;
  L.dt = dt;
  L.t_end = dt * steps;  // dyadic dt below, so t_end / dt is exact
  L.clip = clip;
  L.train_a = L.train_b = L.train_g = L.train_I = train_fhn;
  // The raw space this test was written for: LayerSpec defaults to physical, as the config does.
  L.param_space = FhnParamSpace::kRaw;
  return L;
}

ModelSpec model(int inputs, int outputs, std::vector<LayerSpec> layers) {
  ModelSpec s;
  s.inputs = inputs;
  s.outputs = outputs;
  s.layers = std::move(layers);
  return s;
}

// PyTorch-style initialisation, then every parameter moved off its symmetric default (gamma 1,
// beta 0, identical FHN values in every neuron), so that no gradient vanishes or coincides by
// symmetry and a term applied to the wrong neuron or tensor shows.
std::vector<double> make_params(const ModelSpec& spec, const ParamTable& table, std::uint64_t seed) {
  std::vector<double> p(table.total());
  init_params(spec, table, seed, p);
  std::mt19937_64 gen(seed * 7919 + 3);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  for (const auto& t : table.tensors()) {
    double* q = p.data() + t.offset;
    for (std::size_t i = 0; i < t.size; ++i) {
      switch (t.kind) {
        case ParamKind::kWeight:
        case ParamKind::kBias: break;
        case ParamKind::kLnGamma: q[i] = 1.0 + 0.3 * u(gen); break;
        case ParamKind::kLnBeta: q[i] = 0.2 * u(gen); break;
        case ParamKind::kFhnA: q[i] = 0.2 + 0.1 * u(gen); break;
        case ParamKind::kFhnB: q[i] = 0.3 + 0.2 * u(gen); break;  // larger than the paper's 0.02 so w matters
        case ParamKind::kFhnG: q[i] = 2.0 + 0.5 * u(gen); break;
        case ParamKind::kFhnI: q[i] = 0.3 * u(gen); break;
        default: break;  // the Neural ODE's tensors: tests/test_node.cpp
      }
    }
  }
  // A LayerNorm over 2 values (one neuron, initial-condition coupling: the paper's) outputs
  // ±1 − O(eps/d²) with d half the difference of its inputs: with random weights it is saturated,
  // the gradient through it is ~eps/d³ ≈ 1e-7, and no finite difference resolves that to 1e-7
  // relative under the rounding of an O(1) loss. Making the two rows of the Linear nearly equal puts
  // d near √eps, where the normalisation is far from saturated and eps itself matters, the regime
  // where a wrong eps or variance term would show most.
  for (int l = 0; l < static_cast<int>(spec.layers.size()); ++l) {
    if (!spec.layers[l].layernorm || fhn_linear_width(spec.layers[l]) != 2) continue;
    const ParamTensor& W = table.at(l, ParamKind::kWeight);
    const ParamTensor& b = table.at(l, ParamKind::kBias);
    const int in = W.shape[1];
    for (int j = 0; j < in; ++j) p[W.offset + in + j] = p[W.offset + j] + 2e-3 * u(gen);
    p[b.offset + 1] = p[b.offset] + 2e-3 * u(gen);
  }
  return p;
}

struct Data {
  std::vector<double> x, target, coeff;
};

Data make_data(const GradCase& c) {
  std::mt19937_64 gen(c.seed * 104729 + 11);
  std::normal_distribution<double> n01(0.0, 1.0);
  Data d;
  d.x.resize(static_cast<std::size_t>(c.batch) * c.spec.inputs);
  for (auto& v : d.x) v = c.input_scale * n01(gen);
  const std::size_t np = static_cast<std::size_t>(c.batch) * c.spec.outputs;
  d.target.resize(np);
  d.coeff.resize(np);
  for (auto& v : d.target) v = n01(gen);
  for (auto& v : d.coeff) v = n01(gen);
  return d;
}

// The scalar loss and, when dpred is not null, its gradient with respect to the predictions.
double loss_of(Loss kind, const Data& d, const std::vector<double>& pred, std::vector<double>* dpred) {
  if (kind == Loss::kMse) return mse_loss_cpu(pred.data(), d.target.data(), pred.size(), dpred ? dpred->data() : nullptr);
  double s = 0;
  for (std::size_t i = 0; i < pred.size(); ++i) s += d.coeff[i] * pred[i];
  if (dpred) *dpred = d.coeff;
  return s;
}

double eval_loss(CpuModel<double>& m, const GradCase& c, const Data& d, const std::vector<double>& params) {
  std::vector<double> pred(static_cast<std::size_t>(c.batch) * c.spec.outputs);
  EXPECT_EQ(m.forward(params.data(), d.x.data(), c.batch, pred.data()), kAllFinite);
  return loss_of(c.loss, d, pred, nullptr);
}

std::vector<double> analytic_grad(CpuModel<double>& m, const GradCase& c, const Data& d,
                                  const std::vector<double>& params) {
  std::vector<double> pred(static_cast<std::size_t>(c.batch) * c.spec.outputs), dpred(pred.size());
  EXPECT_EQ(m.forward(params.data(), d.x.data(), c.batch, pred.data()), kAllFinite);
  loss_of(c.loss, d, pred, &dpred);
  std::vector<double> grad(params.size(), std::nan(""));  // poisoned: an unwritten entry fails
  m.backward(params.data(), d.x.data(), dpred.data(), grad.data());
  return grad;
}

// Ridders' extrapolation (Numerical Recipes' dfridr) of central differences: the step shrinks by
// kRiddersShrink from h0 and a Neville tableau extrapolates the estimates to h → 0 in powers of h²,
// keeping the one with the smallest error estimate. A fixed stencil cannot serve every tensor: the
// paper's LayerNorm over 2 values is nearly saturated (its output ±1 − O(eps/d²)), so the first
// Linear's gradient is small and curved on the scale of d, where a step small enough for the
// truncation error drowns in rounding and one large enough for rounding truncates.
// Frozen parameters get a derivative too: the loss does depend on them.
constexpr double kRiddersShrink = 2.0;
constexpr int kRiddersTable = 12;

double ridders_derivative(const std::function<double(double)>& f, double x0, double h0) {
  double a[kRiddersTable][kRiddersTable];
  double h = h0, err = INFINITY, ans = NAN;
  a[0][0] = (f(x0 + h) - f(x0 - h)) / (2 * h);
  for (int i = 1; i < kRiddersTable; ++i) {
    h /= kRiddersShrink;
    a[0][i] = (f(x0 + h) - f(x0 - h)) / (2 * h);
    double fac = kRiddersShrink * kRiddersShrink;
    for (int j = 1; j <= i; ++j) {
      a[j][i] = (a[j - 1][i] * fac - a[j - 1][i - 1]) / (fac - 1);
      fac *= kRiddersShrink * kRiddersShrink;
      const double e = std::max(std::abs(a[j][i] - a[j - 1][i]), std::abs(a[j][i] - a[j - 1][i - 1]));
      if (e <= err) {
        err = e;
        ans = a[j][i];
      }
    }
    // Higher orders stopped improving: rounding has taken over.
    if (std::abs(a[i][i] - a[i - 1][i - 1]) >= 2 * err) break;
  }
  return ans;
}

std::vector<double> fd_grad(CpuModel<double>& m, const GradCase& c, const Data& d, std::vector<double> params) {
  std::vector<double> fd(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    const double x0 = params[i];
    auto f = [&](double x) {
      params[i] = x;
      return eval_loss(m, c, d, params);
    };
    fd[i] = ridders_derivative(f, x0, kFdRelStep * std::max(std::abs(x0), 0.1));
    params[i] = x0;
  }
  return fd;
}

double norm2(const double* a, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += a[i] * a[i];
  return std::sqrt(s);
}

// ‖fd − an‖ / ‖an‖ over one tensor; printing the worst entries when over the bound.
double tensor_rel_error(const ParamTensor& t, const std::vector<double>& fd, const std::vector<double>& an) {
  std::vector<double> diff(t.size);
  for (std::size_t i = 0; i < t.size; ++i) diff[i] = fd[t.offset + i] - an[t.offset + i];
  const double denom = std::max(norm2(an.data() + t.offset, t.size), 1e-300);
  return norm2(diff.data(), t.size) / denom;
}

void report_mismatches(const ParamTensor& t, const std::vector<double>& fd, const std::vector<double>& an) {
  int shown = 0;
  for (std::size_t i = 0; i < t.size && shown < 5; ++i) {
    const double f = fd[t.offset + i], a = an[t.offset + i];
    if (std::abs(f - a) > kGradRelTol * std::max(std::abs(a), 1e-12)) {
      ADD_FAILURE() << t.name << "[" << i << "]: finite difference " << f << " vs backward " << a;
      ++shown;
    }
  }
}

// Stats of the clamp over every FHN layer of the last forward: how many (sample, neuron, step)
// raw Euler results fell strictly outside [−clip, clip], and how close any raw value came to ±clip
// (the finite differences are only valid if no perturbation moves a value across the kink).
struct ClampStats {
  long clamped = 0;
  long total = 0;
  double min_margin = INFINITY;
};

ClampStats clamp_stats(const ModelSpec& spec, const ParamTable& table, const CpuModel<double>& m,
                       const std::vector<double>& params, int B) {
  ClampStats st;
  for (int l = 0; l < static_cast<int>(spec.layers.size()); ++l) {
    const NeuronShape s = fhn_shape(spec.layers[l], B);
    if (!(s.clip > 0)) continue;
    const auto& in = fhn_layer_input(m.layer(l));
    const int N = s.neurons;
    for (int b = 0; b < B; ++b) {
      for (int n = 0; n < N; ++n) {
        const FhnParams<double> p{params[table.at(l, ParamKind::kFhnA).offset + n],
                                  params[table.at(l, ParamKind::kFhnB).offset + n],
                                  params[table.at(l, ParamKind::kFhnG).offset + n],
                                  params[table.at(l, ParamKind::kFhnI).offset + n]};
        double v = 0, w = 0, current = p.I;
        if (s.coupling == Coupling::kInitialCondition) {
          v = in[static_cast<std::size_t>(b) * 2 * N + n];
          w = in[static_cast<std::size_t>(b) * 2 * N + N + n];
        } else {
          current += in[static_cast<std::size_t>(b) * N + n];
        }
        for (int k = 0; k < s.steps; ++k) {
          double vn, wn;
          fhn_euler_raw(v, w, p, current, s.dt, vn, wn);
          for (double r : {vn, wn}) {
            ++st.total;
            if (std::abs(r) > s.clip) ++st.clamped;
            st.min_margin = std::min(st.min_margin, std::abs(std::abs(r) - s.clip));
          }
          fhn_euler_step(v, w, p, current, s.dt, s.clip);
        }
      }
    }
  }
  return st;
}

class GradientCheck : public ::testing::TestWithParam<GradCase> {};

TEST_P(GradientCheck, BackwardMatchesFiniteDifferences) {
  const GradCase& c = GetParam();
  const ParamTable table(c.spec);
  const std::vector<double> params = make_params(c.spec, table, c.seed);
  const Data d = make_data(c);
  CpuModel<double> m(c.spec, table);

  const std::vector<double> an = analytic_grad(m, c, d, params);
  bool any_clip = false;
  for (const auto& L : c.spec.layers) any_clip = any_clip || L.clip > 0;
  if (any_clip) {
    // A clip case that never clamps would test nothing beyond the unclipped ones; one that
    // clamps everything would have no gradient left through the FHN layer.
    const ClampStats st = clamp_stats(c.spec, table, m, params, c.batch);
    EXPECT_GT(st.clamped, 0) << "no state reached the clip: raise input_scale or lower clip";
    EXPECT_LT(st.clamped, st.total) << "every state clamped: nothing left to differentiate";
    // Ridders' steps shrink to ~1e-7, so it copes with kinks down to about that distance; one
    // closer than this would be a state sitting on the kink, where the derivative is undefined.
    EXPECT_GT(st.min_margin, 1e-6) << "a raw state lies on ±clip: choose another seed";
    std::printf("[ grad-fd  ] %-28s clamped %ld of %ld raw states, nearest %.1e from ±clip\n", c.name.c_str(),
                st.clamped, st.total, st.min_margin);
  }
  const std::vector<double> fd = fd_grad(m, c, d, params);

  double worst = 0;
  std::string worst_name;
  for (const auto& t : table.tensors()) {
    for (std::size_t i = 0; i < t.size; ++i) ASSERT_TRUE(std::isfinite(an[t.offset + i])) << t.name << "[" << i << "]";
    if (!t.trainable) {
      for (std::size_t i = 0; i < t.size; ++i) EXPECT_EQ(an[t.offset + i], 0.0) << t.name << " is frozen";
      continue;
    }
    // A vanishing gradient would make the relative comparison vacuous.
    ASSERT_GT(norm2(an.data() + t.offset, t.size), 1e-10) << t.name << ": gradient vanishes, the case is degenerate";
    const double err = tensor_rel_error(t, fd, an);
    if (err > worst) {
      worst = err;
      worst_name = t.name;
    }
    EXPECT_LT(err, kGradRelTol) << t.name << ": relative error " << err;
    if (!(err < kGradRelTol)) report_mismatches(t, fd, an);
  }
  std::printf("[ grad-fd  ] %-28s worst ‖fd−an‖/‖an‖ = %.2e (%s)\n", c.name.c_str(), worst, worst_name.c_str());
}

std::vector<GradCase> grad_cases() {
  using C = Coupling;
  using A = Activation;
  std::vector<GradCase> cs;
  auto add = [&](std::string name, ModelSpec spec, int batch, Loss loss, std::uint64_t seed, double scale = 1.0) {
    cs.push_back(GradCase{std::move(name), std::move(spec), batch, loss, seed, scale});
  };
  // The paper's architecture (one neuron, LayerNorm, SiLU, initial-condition coupling) at a
  // stable dt; one step is the edge of the checkpoint logic (no recomputation at all).
  add("paper_arch_steps1", model(8, 1, {layer(1, C::kInitialCondition, true, A::kSiLU, 0.5, 1)}), 4, Loss::kMse, 1);
  add("paper_arch_steps17", model(8, 1, {layer(1, C::kInitialCondition, true, A::kSiLU, 0.5, 17)}), 4, Loss::kLinear, 2);
  // 17 steps: two segments of interval 16, the second one step long.
  add("ic_ln_tanh_n3_steps17", model(5, 2, {layer(3, C::kInitialCondition, true, A::kTanh, 0.25, 17)}), 3,
      Loss::kLinear, 3);
  add("current_noln_silu_n5_steps40", model(4, 1, {layer(5, C::kCurrent, false, A::kSiLU, 0.25, 40)}), 3,
      Loss::kMse, 4);
  add("current_ln_identity_n3_steps17", model(6, 2, {layer(3, C::kCurrent, true, A::kIdentity, 0.5, 17)}), 3,
      Loss::kLinear, 5);
  add("ic_noln_identity_n1_steps40", model(3, 1, {layer(1, C::kInitialCondition, false, A::kIdentity, 0.25, 40)}),
      5, Loss::kLinear, 6);
  // Two layers, mixing couplings and normalisations, so the gradient flows through one FHN layer
  // into the next one's input.
  add("two_layers_ic_then_current", model(5, 2, {layer(3, C::kInitialCondition, true, A::kSiLU, 0.25, 17),
                                                  layer(5, C::kCurrent, false, A::kTanh, 0.125, 40)}),
      3, Loss::kMse, 7);
  add("two_layers_current_then_ic", model(4, 1, {layer(5, C::kCurrent, true, A::kTanh, 0.5, 3),
                                                  layer(1, C::kInitialCondition, true, A::kIdentity, 0.25, 40)}),
      4, Loss::kLinear, 8);
  // 300 steps: interval 32, ten segments (the last one 12 steps), two register blocks each. With
  // initial-condition coupling dt is small enough that t_end (9.4) does not let the neuron forget
  // its initial state (else that gradient decays to ~1e-8, below what differences resolve); with
  // current coupling the input sets the resting point, so a long t_end keeps its gradient.
  add("ic_ln_silu_n3_steps300", model(4, 1, {layer(3, C::kInitialCondition, true, A::kSiLU, 0.03125, 300)}), 2,
      Loss::kLinear, 9);
  add("current_ln_silu_n3_steps300", model(4, 1, {layer(3, C::kCurrent, true, A::kSiLU, 0.125, 300)}), 2,
      Loss::kMse, 13);
  // Clamping on: larger inputs and a tight clip so that some raw states fall outside (asserted).
  add("clip_ic_identity_n5_steps40", model(4, 1, {layer(5, C::kInitialCondition, false, A::kIdentity, 0.25, 40, 0.9)}),
      3, Loss::kLinear, 10, 2.0);
  add("clip_two_layers_steps17_300",
      model(4, 2, {layer(3, C::kCurrent, false, A::kIdentity, 0.5, 17, 1.2),
                   layer(5, C::kInitialCondition, true, A::kTanh, 0.125, 300, 0.8)}),
      2, Loss::kMse, 11, 2.0);
  // Frozen FHN parameters (the paper's setting): exact zeros, and the rest still checked.
  add("frozen_fhn_two_layers", model(5, 1, {layer(3, C::kInitialCondition, true, A::kSiLU, 0.25, 17, 0.0, false),
                                             layer(3, C::kCurrent, true, A::kSiLU, 0.25, 17, 0.0, false)}),
      3, Loss::kMse, 12);
  return cs;
}

INSTANTIATE_TEST_SUITE_P(CpuModel, GradientCheck, ::testing::ValuesIn(grad_cases()),
                         [](const ::testing::TestParamInfo<GradCase>& info) { return info.param.name; });

// Clamping must change the gradient (not only the forward): otherwise the clip cases above could
// pass with the clamp ignored in the backward.
TEST(GradientClip, ClampChangesPredictionsAndGradient) {
  auto spec_with = [](double clip) {
    return model(4, 1, {layer(5, Coupling::kInitialCondition, false, Activation::kIdentity, 0.25, 40, clip)});
  };
  const ModelSpec clipped = spec_with(0.9), free = spec_with(0.0);
  const ParamTable table(clipped);
  ASSERT_EQ(table.total(), ParamTable(free).total());
  GradCase c{"clip", clipped, 3, Loss::kLinear, 10, 2.0};
  const std::vector<double> params = make_params(clipped, table, c.seed);
  const Data d = make_data(c);
  CpuModel<double> mc(clipped, table), mf(free, table);
  const std::vector<double> gc = analytic_grad(mc, c, d, params);
  GradCase cf = c;
  cf.spec = free;
  const std::vector<double> gf = analytic_grad(mf, cf, d, params);
  EXPECT_NE(eval_loss(mc, c, d, params), eval_loss(mf, cf, d, params));
  double diff = 0;
  for (std::size_t i = 0; i < gc.size(); ++i) diff = std::max(diff, std::abs(gc[i] - gf[i]));
  EXPECT_GT(diff, 1e-3);
}

// The frozen-parameter test above checks the zeros; this checks that the zeros are a choice and
// not an accident: the loss does depend on those parameters, and training them gives non-zero
// gradients at the same parameter values.
TEST(GradientFrozen, FrozenFhnParamsGetZeroWhileTheLossDependsOnThem) {
  auto spec_with = [](bool train) {
    return model(5, 1, {layer(3, Coupling::kInitialCondition, true, Activation::kSiLU, 0.25, 17, 0.0, train)});
  };
  const ModelSpec frozen = spec_with(false), trained = spec_with(true);
  const ParamTable tf(frozen), tt(trained);
  GradCase c{"frozen", frozen, 3, Loss::kMse, 12, 1.0};
  const std::vector<double> params = make_params(frozen, tf, c.seed);
  const Data d = make_data(c);
  CpuModel<double> mf(frozen, tf), mt(trained, tt);
  const std::vector<double> gf = analytic_grad(mf, c, d, params);
  GradCase ct = c;
  ct.spec = trained;
  const std::vector<double> gt = analytic_grad(mt, ct, d, params);
  for (ParamKind k : {ParamKind::kFhnA, ParamKind::kFhnB, ParamKind::kFhnG, ParamKind::kFhnI}) {
    const ParamTensor& t = tf.at(0, k);
    ASSERT_FALSE(t.trainable);
    ASSERT_TRUE(tt.at(0, k).trainable);
    for (std::size_t i = 0; i < t.size; ++i) {
      EXPECT_EQ(gf[t.offset + i], 0.0) << t.name << "[" << i << "]";
      EXPECT_NE(gt[t.offset + i], 0.0) << t.name << "[" << i << "] (trained)";
    }
  }
  // Everything that is trained in both agrees exactly: freezing only drops the FHN parameters.
  for (const auto& t : tf.tensors())
    if (t.trainable)
      for (std::size_t i = 0; i < t.size; ++i) EXPECT_EQ(gf[t.offset + i], gt[t.offset + i]) << t.name;
}

// ---- The checkpointed trajectory backward against a plain one that stores every state ----------

struct PlainResult {
  double v, w, lv, lw;
  FhnParamGrad<double> grad;
};

// The trajectory's stepper run step by step, every state stored: what the checkpointed trajectory
// must reproduce bit for bit.
template <bool kClip>
PlainResult plain_stepper(double v0, double w0, const FhnParams<double>& p, double current, double dt, int steps,
                          double clip, double lv, double lw) {
  const double q[4] = {p.a, p.b, p.g, p.I};
  FhnStepper<Integrator::kEuler, kClip, double> st(q, current, dt, clip);
  std::vector<std::array<double, 2>> xs(steps + 1);
  double x[2] = {v0, w0};
  st.enter(x);
  xs[0] = {x[0], x[1]};
  for (int k = 0; k < steps; ++k) {
    st.step(x);
    xs[k + 1] = {x[0], x[1]};
  }
  st.leave(x);
  double l[2] = {lv, lw};
  st.adjoint_enter(l);
  NeuronGrad<FitzHughNagumo, double> g;
  for (int k = steps - 1; k >= 0; --k) {
    const double xk[2] = {xs[k][0], xs[k][1]};
    st.reverse(xk, l, g);
  }
  st.adjoint_leave(l, g);
  return {x[0], x[1], l[0], l[1], fhn_param_grad(g)};
}

PlainResult plain_forward_backward(double v0, double w0, const FhnParams<double>& p, double current, double dt,
                                   int steps, double clip, double lv, double lw) {
  return clip > 0 ? plain_stepper<true>(v0, w0, p, current, dt, steps, clip, lv, lw)
                  : plain_stepper<false>(v0, w0, p, current, dt, steps, clip, lv, lw);
}

// The (v, w) Euler step and its reverse, as the paper writes them, every state stored.
PlainResult plain_vw_euler(double v0, double w0, const FhnParams<double>& p, double current, double dt, int steps,
                           double lv, double lw) {
  std::vector<double> vs(steps + 1), ws(steps + 1);
  vs[0] = v0;
  ws[0] = w0;
  for (int k = 0; k < steps; ++k) {
    double v = vs[k], w = ws[k];
    fhn_euler_step(v, w, p, current, dt, 0.0);
    vs[k + 1] = v;
    ws[k + 1] = w;
  }
  PlainResult r{vs[steps], ws[steps], lv, lw, {}};
  for (int k = steps - 1; k >= 0; --k) fhn_euler_step_backward(vs[k], ws[k], p, current, dt, 0.0, r.lv, r.lw, r.grad);
  return r;
}

double rel(double a, double b) { return std::abs(a - b) / std::max({std::abs(a), std::abs(b), 1e-300}); }

// The unclamped Euler trajectory runs in (v, z), z = dt·(current − w) (kernels/neurons/fhn.h): the same map as
// the (v, w) step, so in double the state, the input adjoints and all four parameter gradients
// agree with it to rounding, for step sizes from small to the paper's 20 and non-zero currents
// (where w = current − z/dt loses most). The gradients are against |value| + 1e-3·scale, the
// scale the largest gradient of that run, since a parameter's gradient can be ~0 by cancellation.
TEST(FhnTrajectory, ShiftedEulerStateIsTheVwEulerMap) {
  std::mt19937_64 gen(7);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  double worst_state = 0, worst_grad = 0;
  int runs = 0;
  for (double dt : {0.01, 0.125, 0.5, 2.0, 20.0}) {
    for (int steps : {1, 2, 17, 100, 500}) {
      if (dt * steps > 60) continue;  // keep the trajectory on the attractor, not at ±Inf
      const FhnParams<double> p{0.2 + 0.1 * u(gen), 0.02 + 0.01 * u(gen), 3.0 + 0.5 * u(gen), 0.5 * u(gen)};
      const double v0 = 0.5 * u(gen), w0 = 0.2 * u(gen), current = p.I + 0.3 * u(gen);
      const double lv0 = u(gen), lw0 = u(gen);
      const PlainResult vw = plain_vw_euler(v0, w0, p, current, dt, steps, lv0, lw0);
      if (!std::isfinite(vw.v) || !std::isfinite(vw.lv)) continue;
      const PlainResult vz = plain_stepper<false>(v0, w0, p, current, dt, steps, 0.0, lv0, lw0);
      ++runs;
      for (auto [a, b] : {std::pair{vz.v, vw.v}, std::pair{vz.w, vw.w}}) {
        const double e = std::abs(a - b) / (std::abs(b) + std::abs(current) + 1e-3);
        worst_state = std::max(worst_state, e);
        EXPECT_LE(e, 1e-11) << "state, dt " << dt << " steps " << steps << ": " << a << " vs " << b;
      }
      const double scale = std::max({std::abs(vw.lv), std::abs(vw.lw), std::abs(vw.grad.a), std::abs(vw.grad.b),
                                     std::abs(vw.grad.g), std::abs(vw.grad.I)});
      for (auto [a, b, what] : {std::tuple{vz.lv, vw.lv, "lv"}, std::tuple{vz.lw, vw.lw, "lw"},
                                std::tuple{vz.grad.a, vw.grad.a, "a"}, std::tuple{vz.grad.b, vw.grad.b, "b"},
                                std::tuple{vz.grad.g, vw.grad.g, "g"}, std::tuple{vz.grad.I, vw.grad.I, "I"}}) {
        const double e = std::abs(a - b) / (std::abs(b) + 1e-3 * scale);
        worst_grad = std::max(worst_grad, e);
        EXPECT_LE(e, 1e-9) << what << ", dt " << dt << " steps " << steps << ": " << a << " vs " << b;
      }
    }
  }
  EXPECT_GE(runs, 15);
  std::printf("[ traj     ] (v, z) against (v, w) Euler over %d runs: worst state %.2e, gradient %.2e\n", runs,
              worst_state, worst_grad);
}

TEST(FhnTrajectory, CheckpointedBackwardEqualsFullTrajectoryBackward) {
  std::mt19937_64 gen(2024);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<int> step_counts;
  for (int s = 1; s <= 70; ++s) step_counts.push_back(s);
  // Past the single-block interval: 257 → interval 32; 1025 → 48 (three register blocks).
  for (int s : {255, 256, 257, 300, 1000, 1024, 1025}) step_counts.push_back(s);
  double worst = 0;
  long clamped_runs = 0;
  for (int steps : step_counts) {
    for (double clip : {0.0, 0.7}) {
      const FhnParams<double> p{0.2 + 0.1 * u(gen), 0.3 + 0.2 * u(gen), 2.0 + 0.5 * u(gen), 0.3 * u(gen)};
      const double v0 = u(gen), w0 = 0.5 * u(gen), current = p.I + 0.5 * u(gen), dt = 0.125;
      const double lv0 = u(gen), lw0 = u(gen);
      const PlainResult ref = plain_forward_backward(v0, w0, p, current, dt, steps, clip, lv0, lw0);

      const int nck = fhn_num_checkpoints(steps);
      // One slot past the end, poisoned, so a write out of range or an unwritten slot shows.
      std::vector<double> ckv(nck + 1, std::nan("")), ckw(nck + 1, std::nan(""));
      double v = v0, w = w0;
      fhn_forward_trajectory(v, w, p, current, dt, steps, clip, ckv.data(), ckw.data(), 1);
      for (int i = 0; i < nck; ++i) ASSERT_TRUE(std::isfinite(ckv[i]) && std::isfinite(ckw[i])) << steps << " " << i;
      ASSERT_TRUE(std::isnan(ckv[nck]) && std::isnan(ckw[nck])) << "checkpoint written past the end, steps " << steps;
      EXPECT_EQ(v, ref.v) << steps;
      EXPECT_EQ(w, ref.w) << steps;

      double lv = lv0, lw = lw0;
      FhnParamGrad<double> g;
      fhn_backward_trajectory(v0, w0, p, current, dt, steps, clip, ckv.data(), ckw.data(), 1, lv, lw, g);
      for (auto [a, b, what] : {std::tuple{lv, ref.lv, "lv"}, std::tuple{lw, ref.lw, "lw"},
                                std::tuple{g.a, ref.grad.a, "a"}, std::tuple{g.b, ref.grad.b, "b"},
                                std::tuple{g.g, ref.grad.g, "g"}, std::tuple{g.I, ref.grad.I, "I"}}) {
        const double e = rel(a, b);
        worst = std::max(worst, e);
        EXPECT_LE(e, 1e-14) << what << " at steps " << steps << " clip " << clip << ": " << a << " vs " << b;
      }
      if (clip > 0 && std::abs(ref.v) == clip) ++clamped_runs;
    }
  }
  EXPECT_GT(clamped_runs, 0) << "the clipped runs never clamped";
  std::printf("[ traj     ] checkpointed vs full-trajectory backward, worst relative difference %.2e\n", worst);
}

// The backward stores steps/interval states per (sample, neuron) and recomputes interval steps at
// a time; both must stay near √steps, or the memory saving is lost.
TEST(FhnTrajectory, CheckpointStorageIsOrderSqrtSteps) {
  EXPECT_LE(fhn_num_checkpoints(10000), 100);
  EXPECT_LE(fhn_checkpoint_interval(10000), 100 + kFhnRegisterBlock);
  EXPECT_EQ(fhn_num_checkpoints(1), 0);
  EXPECT_EQ(fhn_num_checkpoints(kFhnRegisterBlock), 0);
  // The layout the 300-step gradient cases rely on: interval 32 (two register blocks), ten
  // segments, nine stored states.
  EXPECT_EQ(fhn_checkpoint_interval(300), 2 * kFhnRegisterBlock);
  EXPECT_EQ(fhn_num_checkpoints(300), 9);
  for (int steps = 1; steps <= 100000; steps += (steps < 2000 ? 1 : 97)) {
    const int interval = fhn_checkpoint_interval(steps);
    const double root = std::sqrt(static_cast<double>(steps));
    ASSERT_EQ(interval % kFhnRegisterBlock, 0) << steps;
    ASSERT_LE(fhn_num_checkpoints(steps), root) << steps;
    ASSERT_LT(interval, root + kFhnRegisterBlock + 1) << steps;
    // Every step is covered: the segments (num_checkpoints + 1 of them) span exactly `steps`.
    ASSERT_GE((fhn_num_checkpoints(steps) + 1) * interval, steps) << steps;
    ASSERT_LT(fhn_num_checkpoints(steps) * interval, steps) << steps;
  }
}

}  // namespace
}  // namespace dynpmnn
