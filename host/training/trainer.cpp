#include <algorithm>
#include "host/training/trainer.h"

#include <array>
#include <chrono>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "kernels/neurons/fhn.h"
#include "models/cpu_model.h"
#include "models/layers/fhn_layer.h"
#include "models/layers/ode_layer.h"

namespace dynpmnn {

TrainHyper train_hyper(const Config& cfg) {
  TrainHyper hyper;
  hyper.batch_size = cfg.batch_size;
  hyper.data_shards = cfg.data_shards;
  hyper.adam.lr = cfg.lr;
  hyper.adam.weight_decay = cfg.weight_decay;
  hyper.seed = cfg.seed;
  hyper.loss = cfg.task == "classification" ? Loss::kSoftmaxCrossEntropy : Loss::kMse;
  return hyper;
}

Metrics regression_metrics(const std::vector<double>& pred, const std::vector<double>& target) {
  Metrics m;
  const std::size_t n = target.size();
  if (n == 0 || pred.size() != n) return m;
  double mean = 0;
  for (double t : target) mean += t;
  mean /= static_cast<double>(n);
  double sse = 0, sae = 0, sst = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = pred[i] - target[i];
    sse += d * d;
    sae += std::abs(d);
    sst += (target[i] - mean) * (target[i] - mean);
  }
  m.mse = sse / static_cast<double>(n);
  m.rmse = std::sqrt(m.mse);
  m.mae = sae / static_cast<double>(n);
  m.r2 = sst > 0 ? 1.0 - sse / sst : 0.0;
  return m;
}

namespace {

// What early stopping watches: the validation MSE, or the mean cross-entropy for classification.
double validation_loss(const Config& cfg, const ModelSpec& spec, const std::vector<double>& pred,
                       const Dataset& val) {
  if (train_hyper(cfg).loss == Loss::kSoftmaxCrossEntropy)
    return classification_metrics(pred, val.y, spec.outputs).loss;
  return regression_metrics(pred, val.y).mse;
}

// Largest dt for which explicit Euler keeps the linearised v-equation stable,
// |1 − dt·f'(v)| ≤ 1 with f'(v) = 3v² − 2(1 + a)v + a, over states |v| ≤ v_max: the closed form
// FitzHugh–Nagumo's divergence report quotes.
double euler_stable_dt(double a, double v_max) {
  double worst = 0;
  for (int i = 0; i <= 200; ++i) {
    const double v = -v_max + 2.0 * v_max * i / 200.0;
    worst = std::max(worst, std::abs(3 * v * v - 2 * (1 + a) * v + a));
  }
  return worst > 0 ? 2.0 / worst : std::numeric_limits<double>::infinity();
}

// --- the linearised one-step stability limit of any neuron model and scheme ----------------------

// A K×K matrix, row-major, K <= kMaxNeuronStates.
using StateMatrix = std::array<double, kMaxNeuronStates * kMaxNeuronStates>;

// When one step amplifies deviations too much. Where the ODE contracts them, the step may grow them
// by no more than kGrowthTolerance (room for the finite differences and for exactly neutral
// directions: a state the field does not move). Where the ODE itself grows them (between the roots
// of FitzHugh–Nagumo's cubic, or on a spike's upstroke) the step may grow them kFlowTolerance more
// than the flow does: a first-order scheme's Jacobian is only O(dt²) from the flow's, and near a
// defective Jacobian that moves its eigenvalues by O(dt), an inaccuracy, not a blow-up.
constexpr double kGrowthTolerance = 1e-3, kFlowTolerance = 0.1;
// Steps over which the growth per step is averaged (step_is_stable).
constexpr int kGrowthSteps = 8;
// The dt range searched: below it every scheme is the ODE itself, above it no layer steps.
constexpr double kSmallestDt = 1e-9, kLargestDt = 1e6;
// The flow's reference integration: RK4 substeps with dt·(the field's speed) at most this, and at
// most kMaxSubsteps of them; beyond that the flow's growth is estimated from its rates at the ends.
constexpr double kSubstepSpeed = 0.25;
constexpr int kMaxSubsteps = 1024;

// ∂step(x)/∂x of one clamp-free step, by central differences.
StateMatrix step_jacobian(const NeuronModelOps& ops, Integrator scheme, const double* x, const double* p,
                          double current, double dt) {
  const int K = ops.states;
  StateMatrix J{};
  double plus[kMaxNeuronStates], minus[kMaxNeuronStates], xp[kMaxNeuronStates], xm[kMaxNeuronStates];
  for (int j = 0; j < K; ++j) {
    for (int i = 0; i < K; ++i) xp[i] = xm[i] = x[i];
    const double h = 1e-6 * std::max(1.0, std::abs(x[j]));
    xp[j] += h;
    xm[j] -= h;
    ops.step(scheme, xp, p, current, dt, 0.0, plus);
    ops.step(scheme, xm, p, current, dt, 0.0, minus);
    for (int i = 0; i < K; ++i) J[i * K + j] = (plus[i] - minus[i]) / (xp[j] - xm[j]);
  }
  return J;
}

// log ρ(M) by Gelfand's formula, ρ = lim ‖M^(2^k)‖^(1/2^k): squared 64 times, the largest entry
// divided out after each squaring and its logarithm summed with weight 2^−k. Any K, no eigenvalue
// solver, and exact in the limit for defective and non-normal matrices too. −∞ for a nilpotent
// matrix, +∞ for a non-finite one.
double log_spectral_radius(StateMatrix m, int K) {
  double log_rho = 0, weight = 1;
  StateMatrix square{};
  for (int k = 0; k <= 64; ++k) {
    double norm = 0;
    for (int i = 0; i < K * K; ++i) norm = std::max(norm, std::abs(m[i]));
    if (!std::isfinite(norm) || std::isnan(m[0])) return std::numeric_limits<double>::infinity();
    if (norm == 0) return -std::numeric_limits<double>::infinity();
    log_rho += weight * std::log(norm);
    if (k == 64) break;
    for (int i = 0; i < K * K; ++i) m[i] /= norm;
    for (int i = 0; i < K; ++i)
      for (int j = 0; j < K; ++j) {
        double sum = 0;
        for (int l = 0; l < K; ++l) sum += m[i * K + l] * m[l * K + j];
        square[i * K + j] = sum;
      }
    m = square;
    weight *= 0.5;
  }
  return log_rho;
}

// ∂f/∂x at x: explicit Euler's step Jacobian at dt = 1 less the identity.
StateMatrix field_jacobian(const NeuronModelOps& ops, const double* x, const double* p, double current) {
  StateMatrix a = step_jacobian(ops, Integrator::kEuler, x, p, current, 1.0);
  for (int i = 0; i < ops.states; ++i) a[i * ops.states + i] -= 1;
  return a;
}

// A bound on |λ| of ∂f/∂x at x (K times its largest entry): the field's speed there.
double field_speed(const NeuronModelOps& ops, const double* x, const double* p, double current) {
  const StateMatrix a = field_jacobian(ops, x, p, current);
  double norm = 0;
  for (int i = 0; i < ops.states * ops.states; ++i) norm = std::max(norm, std::abs(a[i]));
  return ops.states * norm;  // NaN stays NaN
}

// The ODE's own growth rate at x, the spectral abscissa α = max Re λ(∂f/∂x), from
// log ρ(I + ε·∂f/∂x) = ε·α + O(ε²|λ|²).
double spectral_abscissa(const NeuronModelOps& ops, const double* x, const double* p, double current) {
  const int K = ops.states;
  StateMatrix a = field_jacobian(ops, x, p, current);
  double norm = 0;
  for (int i = 0; i < K * K; ++i) norm = std::max(norm, std::abs(a[i]));
  if (!std::isfinite(norm)) return std::numeric_limits<double>::infinity();
  if (norm == 0) return 0;
  const double eps = 1e-4 / (K * norm);
  for (int i = 0; i < K * K; ++i) a[i] *= eps;
  for (int i = 0; i < K; ++i) a[i * K + i] += 1;
  return log_spectral_radius(a, K) / eps;
}

// log ρ of the flow's Jacobian over dt from x, ∂φ_dt(x)/∂x: by central differences of `substeps`
// RK4 steps, or where that many would be too few, from the growth rates α at x and at `end` (where
// the scheme's steps over dt ended) as max(α)·dt.
double log_flow_growth(const NeuronModelOps& ops, const double* x, const double* p, double current, double dt,
                       const double* end) {
  const int K = ops.states;
  const double speed = std::max(field_speed(ops, x, p, current), field_speed(ops, end, p, current));
  const double needed = std::isfinite(speed) ? std::ceil(dt * speed / kSubstepSpeed) : INFINITY;
  if (!(needed <= kMaxSubsteps))
    return dt * std::max(spectral_abscissa(ops, x, p, current), spectral_abscissa(ops, end, p, current));
  const int substeps = std::max(1, static_cast<int>(needed));
  const double h = dt / substeps;
  StateMatrix phi{};
  double y[kMaxNeuronStates], next[kMaxNeuronStates];
  for (int j = 0; j < K; ++j)
    for (const double sign : {1.0, -1.0}) {
      const double delta = 1e-6 * std::max(1.0, std::abs(x[j]));
      for (int i = 0; i < K; ++i) y[i] = x[i];
      y[j] += sign * delta;
      for (int k = 0; k < substeps; ++k) {
        ops.step(Integrator::kRk4, y, p, current, h, 0.0, next);
        for (int i = 0; i < K; ++i) y[i] = next[i];
      }
      for (int i = 0; i < K; ++i) phi[i * K + j] += sign * y[i] / (2 * delta);
    }
  return log_spectral_radius(phi, K);
}

// Whether steps of dt from x are stable in the sense of kGrowthTolerance and kFlowTolerance. The
// growth per step is the geometric mean over the first kGrowthSteps steps from x,
// ρ(J(x_{n−1})···J(x₁)·J(x))^{1/n}, x_{k+1} = step(x_k): at a fixed point that is ρ(J(x)) itself,
// and a step that throws the state onto a slow manifold, amplifying a deviation once and
// contracting it from there on (FitzHugh–Nagumo's semi-implicit step at large dt, bounded at any
// dt), does not count as unstable.
bool step_is_stable(const NeuronModelOps& ops, Integrator scheme, const double* x, const double* p, double current,
                    double dt) {
  const int K = ops.states;
  double y[kMaxNeuronStates], next[kMaxNeuronStates];
  for (int i = 0; i < K; ++i) y[i] = x[i];
  StateMatrix product{}, factor{};
  for (int i = 0; i < K; ++i) product[i * K + i] = 1;
  for (int k = 0; k < kGrowthSteps; ++k) {
    const StateMatrix j = step_jacobian(ops, scheme, y, p, current, dt);
    for (int r = 0; r < K; ++r)
      for (int c = 0; c < K; ++c) {
        double sum = 0;
        for (int l = 0; l < K; ++l) sum += j[r * K + l] * product[l * K + c];
        factor[r * K + c] = sum;
      }
    product = factor;
    ops.step(scheme, y, p, current, dt, 0.0, next);
    for (int i = 0; i < K; ++i) {
      if (!std::isfinite(next[i])) return false;
      y[i] = next[i];
    }
  }
  const double log_rho = log_spectral_radius(product, K) / kGrowthSteps;
  if (log_rho <= std::log1p(kGrowthTolerance)) return true;
  if (!std::isfinite(log_rho)) return false;
  return log_rho <= log_flow_growth(ops, x, p, current, kGrowthSteps * dt, y) / kGrowthSteps +
                        std::log1p(kFlowTolerance);
}

// A neuron layer's starting points: one (sample, neuron) pair's initial states, parameters and current.
struct StartingPoint {
  double x[kMaxNeuronStates];
  double p[kMaxNeuronParams];
  double current;
};

// The starting points of neuron layer l that the CPU model's last forward (`rows` samples) gave:
// at most `limit` of them, spread evenly over the samples and neurons; non-finite ones left out.
std::vector<StartingPoint> starting_points(const ModelSpec& spec, const ParamTable& table,
                                           const std::vector<double>& physical, const CpuModel<double>& model, int l,
                                           int rows, int limit) {
  const LayerSpec& L = spec.layers[l];
  const NeuronModelOps& ops = find_neuron_model(L.neuron_model);
  const std::vector<double>& in = fhn_layer_input(model.layer(l));
  const int N = L.units, width = fhn_linear_width(L);
  const bool current_coupling = L.coupling == Coupling::kCurrent;
  const long long total = static_cast<long long>(rows) * N;
  const long long stride = std::max<long long>(1, (total + limit - 1) / limit);
  std::vector<StartingPoint> points;
  for (long long i = 0; i < total; i += stride) {
    const int b = static_cast<int>(i / N), n = static_cast<int>(i % N);
    const double* row = in.data() + static_cast<std::size_t>(b) * width;
    StartingPoint sp{};
    for (int k = 0; k < ops.params; ++k) sp.p[k] = physical[neuron_param_tensor(table, l, k).offset + n];
    sp.current = sp.p[ops.current_param] + (current_coupling ? row[n] : 0.0);
    for (int s = 0; s < ops.states; ++s)
      sp.x[s] = !current_coupling && s < ops.coupled ? row[s * N + n] : ops.state_info[s].initial;
    bool finite = std::isfinite(sp.current);
    for (int s = 0; s < ops.states; ++s) finite = finite && std::isfinite(sp.x[s]);
    for (int k = 0; k < ops.params; ++k) finite = finite && std::isfinite(sp.p[k]);
    if (finite) points.push_back(sp);
  }
  return points;
}

// The smallest linearised_stable_dt over the points (+∞ for none).
double smallest_stable_dt(const NeuronModelOps& ops, Integrator scheme, const std::vector<StartingPoint>& points) {
  double limit = std::numeric_limits<double>::infinity();
  for (const StartingPoint& sp : points)
    limit = std::min(limit, linearised_stable_dt(ops, scheme, sp.x, sp.p, sp.current));
  return limit;
}

std::string dt_text(double dt) {
  return std::isfinite(dt) ? fmt::format("{:.3g}", dt) : std::string("any dt");
}

// A step a little under `limit`, rounded down to two significant digits.
double suggested_dt(double limit) {
  const double scale = std::pow(10.0, std::floor(std::log10(0.9 * limit)) - 1);
  return std::floor(0.9 * limit / scale) * scale;
}

// The likely cause and fixes of a blow-up in a neuron layer whose model is not FitzHugh–Nagumo
// (whose closed form explain_divergence keeps): the linearised limit at the model's resting state
// with the layer's starting parameters, the layer's actual states being unknown here.
void explain_neuron_divergence(std::ostringstream& os, int l, const LayerSpec& L) {
  const NeuronModelOps& ops = find_neuron_model(L.neuron_model);
  const std::vector<double> p = L.neuron_values();
  double x[kMaxNeuronStates];
  for (int s = 0; s < ops.states; ++s) x[s] = ops.state_info[s].initial;
  const double current = p[ops.current_param];
  double limit = std::numeric_limits<double>::quiet_NaN();
  try {
    limit = linearised_stable_dt(ops, L.integrator, x, p.data(), current);
  } catch (const std::exception&) {  // the report must not fail where the model's step does
  }
  os << fmt::format("\nLikely cause: the {} neuron model of layer {}, integrated by {} with dt = {}, grew without "
                    "bound: a step too large for the scheme, or parameters and states driven out of range by too "
                    "large a learning rate.",
                    ops.name, l, to_string(L.integrator), L.dt);
  if (std::isfinite(limit))
    os << fmt::format(" Linearised at the model's resting state with the layer's starting parameters, one {} step "
                      "is stable for dt <= {:.3g}{}; states away from rest may need less.",
                      to_string(L.integrator), limit, L.dt > limit ? ", which dt exceeds" : "");
  else if (limit == std::numeric_limits<double>::infinity())
    os << fmt::format(" Linearised at the model's resting state, {} is stable at any dt there; states away from "
                      "rest are not.", to_string(L.integrator));
  const double smaller = std::isfinite(limit) && limit < L.dt ? suggested_dt(limit) : L.dt / 4;
  os << fmt::format("\nFix: reduce dt (e.g. --set dt={:.2g} with t_end a multiple of it)", smaller);
  if (ops.semi_implicit && L.integrator != Integrator::kImex)
    os << ", or use the model's semi-implicit step (--set integrator=imex)";
  os << ", or clamp the state after each step (--set clip=20), or lower lr (e.g. --set lr=1e-4).";
  if (L.clip > 0)
    os << fmt::format("\nNote: clip = {} was on, so the blow-up came through the parameters or gradients.", L.clip);
}

}  // namespace

// The limit is local. It linearises the discrete step map x → step(x) at the starting state x and
// the few states the steps from it reach (kGrowthSteps), which in general are not fixed points (the
// states a layer starts from are whatever its Linear gives), so it is neither the stability of an
// equilibrium nor a bound for the whole trajectory: it says whether the scheme, at this step size,
// amplifies small deviations from the states the neurons start from where the ODE would not
// (step_is_stable: a growth per step of at most 1 + kGrowthTolerance, or within kFlowTolerance of
// the growth of the flow itself, integrated finely by RK4, so that states the ODE itself moves
// apart — between the roots of FitzHugh–Nagumo's cubic — do not count as a numerical
// instability). At a fixed point it is exactly the one-step Jacobian's ρ <= 1 + kGrowthTolerance.
// dt is scanned upward in factors of 2 from a step far below the field's time scale to the first
// unstable step and then bisected, so the result is the edge of the stability interval that
// contains the smallest steps.
double linearised_stable_dt(const NeuronModelOps& ops, Integrator scheme, const double* x, const double* p,
                            double current) {
  if (ops.step == nullptr) throw std::invalid_argument("linearised_stable_dt: model " + ops.name + " has no step");
  const double speed = field_speed(ops, x, p, current);
  if (!std::isfinite(speed)) return 0;
  const auto stable = [&](double dt) { return step_is_stable(ops, scheme, x, p, current, dt); };
  double lo = speed > 0 ? std::clamp(1e-3 / speed, kSmallestDt, 1.0) : 1e-3;
  while (!stable(lo)) {
    if (lo <= kSmallestDt) return 0;
    lo = std::max(kSmallestDt, lo / 4);
  }
  double hi = 0;
  for (double dt = 2 * lo; dt <= kLargestDt; dt *= 2) {
    if (!stable(dt)) {
      hi = dt;
      break;
    }
    lo = dt;
  }
  if (hi == 0) return std::numeric_limits<double>::infinity();
  for (int k = 0; k < 24; ++k) {
    const double mid = std::sqrt(lo * hi);
    (stable(mid) ? lo : hi) = mid;
  }
  return lo;
}

std::vector<std::string> stability_warnings(const ModelSpec& spec, std::span<const double> params,
                                            const Dataset& train) {
  std::vector<std::string> warnings;
  const ParamTable table(spec);
  CpuModel<double> model(spec, table);
  const int rows = std::min(train.rows, 512);
  if (rows == 0) return warnings;
  std::vector<double> pred(static_cast<std::size_t>(rows) * spec.outputs);
  model.forward(params.data(), train.x.data(), rows, pred.data());
  const std::vector<double> physical = physical_params(table, params);
  // Checking dt itself is cheap (two Jacobians a point); the search for the limit runs only at
  // the points where dt fails, at most kSearched of them.
  constexpr int kChecked = 1024, kSearched = 32;
  for (int l = 0; l < static_cast<int>(spec.layers.size()); ++l) {
    const LayerSpec& L = spec.layers[l];
    if (!is_fhn_layer(L)) continue;  // no time stepping
    const NeuronModelOps& ops = find_neuron_model(L.neuron_model);
    const std::vector<StartingPoint> points = starting_points(spec, table, physical, model, l, rows, kChecked);
    std::vector<StartingPoint> failing;
    for (const StartingPoint& sp : points)
      if (!step_is_stable(ops, L.integrator, sp.x, sp.p, sp.current, L.dt)) failing.push_back(sp);
    if (failing.empty()) continue;
    std::vector<StartingPoint> searched;
    const std::size_t stride = (failing.size() + kSearched - 1) / kSearched;
    for (std::size_t i = 0; i < failing.size(); i += stride) searched.push_back(failing[i]);
    const double limit = smallest_stable_dt(ops, L.integrator, searched);
    std::string alternative;
    if (L.integrator != Integrator::kImex && ops.semi_implicit) {
      const double imex = smallest_stable_dt(ops, Integrator::kImex, searched);
      alternative = imex >= L.dt ? fmt::format(", or --set integrator=imex, stable at these states up to {}",
                                               dt_text(imex))
                                 : fmt::format(", or --set integrator=imex with dt <= {:.2g}", suggested_dt(imex));
    }
    warnings.push_back(fmt::format(
        "layer {}: dt = {} is above {}'s stability limit for the {} neuron model, about {:.3g} at the states this "
        "layer starts from ({} of {} (sample, neuron) starting points of the first {} training rows fail; the "
        "limit linearises one step at them): expect NaN. Use dt <= {:.2g}{}.",
        l, L.dt, to_string(L.integrator), ops.name, limit, failing.size(), points.size(), rows, suggested_dt(limit),
        alternative));
  }
  return warnings;
}

std::string explain_divergence(const Divergence& d, const ModelSpec& spec) {
  std::ostringstream os;
  const int nl = static_cast<int>(spec.layers.size());
  std::string where;
  const bool in_layer = d.layer >= 0 && d.layer < nl;
  const auto is_fhn_model = [](const LayerSpec& L) { return L.neuron_model == FitzHughNagumo::kName; };
  if (in_layer && !is_fhn_layer(spec.layers[d.layer]))
    where = fmt::format("in layer {} ({})", d.layer, spec.layers[d.layer].kind);
  else if (in_layer && is_fhn_model(spec.layers[d.layer]))
    where = fmt::format("in FHN layer {}'s Euler integration", d.layer);
  else if (in_layer)
    where = fmt::format("in neuron layer {}'s {} integration of the {} model", d.layer,
                        to_string(spec.layers[d.layer].integrator), spec.layers[d.layer].neuron_model);
  else if (d.layer == nl) where = "in the readout";
  else where = "in the loss or the gradients";
  os << fmt::format("training diverged: NaN/Inf first appeared in epoch {}, minibatch {}, {}.", d.epoch, d.step + 1,
                    where);
  if (!has_fhn_layers(spec)) {  // a baseline: no FHN time stepping to blame
    os << "\nLikely cause: a learning rate too large for this model; lower lr (e.g. --set lr=1e-4).";
    if (std::any_of(spec.layers.begin(), spec.layers.end(), [](const LayerSpec& L) { return L.kind == kOdeLayer; }))
      os << "\nFor the Neural ODE also: integrate more accurately (more ode_steps, or ode_solver = \"dopri5\").";
    return os.str();
  }
  int l = in_layer ? d.layer : 0;
  while (!is_fhn_layer(spec.layers[l])) l = (l + 1) % nl;  // the neuron layer to blame
  const LayerSpec& L = spec.layers[l];
  if (!is_fhn_model(L)) {
    explain_neuron_divergence(os, l, L);
    return os.str();
  }
  const double stable = euler_stable_dt(L.a, 1.0);
  os << fmt::format(
      "\nLikely cause: explicit Euler with dt = {} is unstable for the cubic FitzHugh–Nagumo term: a step "
      "multiplies deviations by |1 − dt·(3v² − 2(1+a)v + a)|, which exceeds 1 unless dt ≤ {:.3g} for states "
      "|v| ≤ 1 (dt ≤ {:.3g} even at rest, v = 0), and the state then grows without bound.",
      L.dt, stable, 2.0 / std::max(L.a, 1e-12));
  os << fmt::format(
      "\nFix: reduce dt (e.g. --set dt={:.3g} with t_end a multiple of it), or use the semi-implicit scheme "
      "(--set integrator=imex, stable at any dt), or clamp the state after each step (--set clip=20, the "
      "authors' later remedy; it trains but to a poor model), or lower lr.",
      stable >= 0.1 ? 0.1 : stable / 2);
  if (L.clip > 0)
    os << fmt::format("\nNote: clip = {} was on, so the blow-up came through the parameters or gradients.", L.clip);
  return os.str();
}

TrainState initial_train_state(const std::vector<double>& params) {
  TrainState state;
  state.best_params = params;
  return state;
}

void count_patience(TrainState& state, double val_loss, double min_delta) {
  if (std::isfinite(val_loss) && val_loss < state.patience_ref - min_delta) {
    state.patience_ref = val_loss;
    state.waited = 0;
  } else {
    ++state.waited;
  }
}

void recount_patience(TrainState& state, double min_delta) {
  state.patience_ref = std::numeric_limits<double>::infinity();
  state.waited = 0;
  for (const EpochRecord& rec : state.history) count_patience(state, rec.val_mse, min_delta);
}

TrainReport train_model(const Config& cfg, const ModelSpec& spec, Backend& backend, const SplitData& data,
                        std::vector<double>& params, TrainObserver* observer) {
  backend.set_params(params);
  TrainState state = initial_train_state(params);
  TrainReport rep = continue_training(cfg, spec, backend, data, state, observer);
  params = std::move(state.best_params);
  return rep;
}

TrainReport continue_training(const Config& cfg, const ModelSpec& spec, Backend& backend, const SplitData& data,
                              TrainState& state, TrainObserver* observer) {
  const std::unique_ptr<PopulationBackend> pop = make_single_population(backend);
  return continue_training_population({&cfg, 1}, {&spec, 1}, *pop, data, {&state, 1}, {&observer, 1}).front();
}

namespace {

// What becomes of one model of a population after an epoch: validation, the best weights, the
// patience count and the observers, as a lone run does them.
void finish_epoch(const Config& cfg, const ModelSpec& spec, Backend& backend, const SplitData& data, TrainState& state,
                  TrainObserver* observer, TrainReport& rep, int epoch, const EpochStats& st, std::size_t total) {
  if (st.divergence.diverged) {
    // Not checkpointed: the backend's parameters are non-finite, there is nothing to continue.
    rep.status = "diverged";
    rep.divergence = st.divergence;
    rep.message = explain_divergence(st.divergence, spec);
    state.epoch = epoch;
    state.history.push_back(
        EpochRecord{epoch, st.train_loss, std::numeric_limits<double>::quiet_NaN(), st.seconds, false});
    if (observer) observer->on_epoch(state.history.back(), cfg.epochs);
    return;
  }
  const double val_loss = validation_loss(cfg, spec, backend.predict(Split::kVal), data.val);
  EpochRecord rec{epoch, st.train_loss, val_loss, st.seconds, false};
  if (std::isfinite(val_loss) && val_loss < state.best_val) {
    // Restore the lowest validation MSE seen; min_delta only decides whether patience resets.
    state.best_val = val_loss;
    state.best_epoch = epoch;
    rec.improved = true;
    state.best_params.resize(total);
    backend.get_params(state.best_params);
    if (observer) observer->on_best(state.best_params, rec);
  }
  count_patience(state, val_loss, cfg.min_delta);
  state.epoch = epoch;
  state.history.push_back(rec);
  if (observer) {
    observer->on_epoch(rec, cfg.epochs);
    observer->on_epoch_end(state, backend);
  }
}

// After the last epoch: the best weights restored and evaluated on validation and test.
void finish_training(const Config& cfg, const ModelSpec& spec, Backend& backend, const SplitData& data,
                     TrainState& state, TrainObserver* observer, TrainReport& rep) {
  if (observer) observer->on_train_end(state, backend, rep.divergence.diverged);
  rep.epochs = state.epoch;
  rep.best_epoch = state.best_epoch;
  rep.history = state.history;
  double train_seconds = 0;
  for (const EpochRecord& rec : state.history) train_seconds += rec.seconds;
  rep.epoch_seconds = rep.epochs ? train_seconds / rep.epochs : 0.0;

  // Test with the best weights (the initial ones if no epoch produced a finite validation MSE).
  backend.set_params(state.best_params);
  if (train_hyper(cfg).loss == Loss::kSoftmaxCrossEntropy) {
    rep.classification = true;
    rep.val_class = classification_metrics(backend.predict(Split::kVal), data.val.y, spec.outputs);
    rep.val_mse = rep.val_class.loss;
    rep.test_withheld = data.test.rows == 0;
    if (!rep.test_withheld)
      rep.test_class = classification_metrics(backend.predict(Split::kTest), data.test.y, spec.outputs);
    return;
  }
  rep.val = regression_metrics(backend.predict(Split::kVal), data.val.y);
  rep.val_mse = rep.val.mse;
  rep.test_withheld = data.test.rows == 0;
  if (!rep.test_withheld) rep.test = regression_metrics(backend.predict(Split::kTest), data.test.y);
}

}  // namespace

std::vector<TrainReport> continue_training_population(std::span<const Config> cfgs, std::span<const ModelSpec> specs,
                                                      PopulationBackend& pop, const SplitData& data,
                                                      std::span<TrainState> states,
                                                      std::span<TrainObserver* const> observers) {
  const std::size_t P = static_cast<std::size_t>(pop.size());
  if (cfgs.size() != P || specs.size() != P || states.size() != P || observers.size() != P)
    throw std::invalid_argument(fmt::format("continue_training_population: {} models, {} configurations, {} specs, "
                                            "{} states, {} observers", P, cfgs.size(), specs.size(), states.size(),
                                            observers.size()));
  std::vector<TrainReport> reps(P);
  std::vector<std::size_t> totals(P);
  for (std::size_t m = 0; m < P; ++m) {
    const ParamTable table(specs[m]);
    totals[m] = table.total();
    if (states[m].best_params.size() != totals[m])
      throw std::invalid_argument(fmt::format("continue_training: {} best parameters, the model has {}",
                                              states[m].best_params.size(), totals[m]));
    reps[m].backend = pop.member(static_cast<int>(m)).name();
    reps[m].params = table.trainable_count();
    reps[m].status = "ok";
  }
  std::vector<int> epochs(P);
  std::vector<char> done(P, 0);
  for (;;) {
    bool any = false;
    for (std::size_t m = 0; m < P; ++m) {
      epochs[m] = 0;
      if (done[m]) continue;
      const int next = states[m].epoch + 1;
      // Decided before the epoch rather than after the previous one, so that a run resumed from
      // the checkpoint of the epoch that ran out of patience stops there too.
      if (next > cfgs[m].epochs) {
        done[m] = 1;
      } else if (cfgs[m].patience > 0 && states[m].waited >= cfgs[m].patience) {
        reps[m].status = "early_stopped";
        done[m] = 1;
      } else {
        epochs[m] = next;
        any = true;
      }
    }
    if (!any) break;
    const std::vector<EpochStats> stats = pop.train_epochs(epochs);
    for (std::size_t m = 0; m < P; ++m) {
      if (epochs[m] == 0) continue;
      finish_epoch(cfgs[m], specs[m], pop.member(static_cast<int>(m)), data, states[m], observers[m], reps[m],
                   epochs[m], stats[m], totals[m]);
      if (stats[m].divergence.diverged) done[m] = 1;
    }
  }
  for (std::size_t m = 0; m < P; ++m)
    finish_training(cfgs[m], specs[m], pop.member(static_cast<int>(m)), data, states[m], observers[m], reps[m]);
  return reps;
}

}  // namespace dynpmnn
