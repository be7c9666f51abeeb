#include <algorithm>
#include "host/training/trainer.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

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
// |1 − dt·f'(v)| ≤ 1 with f'(v) = 3v² − 2(1 + a)v + a, over states |v| ≤ v_max.
double euler_stable_dt(double a, double v_max) {
  double worst = 0;
  for (int i = 0; i <= 200; ++i) {
    const double v = -v_max + 2.0 * v_max * i / 200.0;
    worst = std::max(worst, std::abs(3 * v * v - 2 * (1 + a) * v + a));
  }
  return worst > 0 ? 2.0 / worst : std::numeric_limits<double>::infinity();
}

// The largest dt for which the scheme keeps the linearised v-equation stable: its stability
// interval on the negative real axis (Euler and Heun 2, RK4 about 2.785) over max |f'(v)|.
double explicit_stable_dt(Integrator scheme, double a, double v_max) {
  const double interval = scheme == Integrator::kRk4 ? 2.785 : 2.0;
  return interval * euler_stable_dt(a, v_max) / 2.0;
}

}  // namespace

std::vector<std::string> stability_warnings(const ModelSpec& spec, std::span<const double> params,
                                            const Dataset& train) {
  std::vector<std::string> warnings;
  const ParamTable table(spec);
  CpuModel<double> model(spec, table);
  const int rows = std::min(train.rows, 512);
  if (rows == 0) return warnings;
  std::vector<double> pred(static_cast<std::size_t>(rows) * spec.outputs);
  model.forward(params.data(), train.x.data(), rows, pred.data());
  for (int l = 0; l < static_cast<int>(spec.layers.size()); ++l) {
    const LayerSpec& L = spec.layers[l];
    if (!is_fhn_layer(L)) continue;                   // no time stepping
    if (L.integrator == Integrator::kImex) continue;  // no step-size limit from the cubic
    // The FHN attractor of the paper's parameters spans |v| ≲ 1.2; initial states can start further out.
    double v_max = 1.2;
    if (L.coupling == Coupling::kInitialCondition) {
      const std::vector<double>& in = fhn_layer_input(model.layer(l));
      for (int b = 0; b < rows; ++b)
        for (int n = 0; n < L.units; ++n) {
          const double v0 = in[static_cast<std::size_t>(b) * 2 * L.units + n];
          if (std::isfinite(v0)) v_max = std::max(v_max, std::abs(v0));
        }
    }
    const double limit = explicit_stable_dt(L.integrator, L.a, v_max);
    if (L.dt > limit)
      warnings.push_back(fmt::format(
          "layer {}: dt = {} is above {}'s stability limit, about {:.3g} for the states |v| <= {:.3g} this layer "
          "starts from (linearised, first {} training rows): expect NaN. Use dt <= {:.3g}, or "
          "--set integrator=imex, which has no such limit.",
          l, L.dt, to_string(L.integrator), limit, v_max, rows, limit));
  }
  return warnings;
}

std::string explain_divergence(const Divergence& d, const ModelSpec& spec) {
  std::ostringstream os;
  const int nl = static_cast<int>(spec.layers.size());
  std::string where;
  const bool in_layer = d.layer >= 0 && d.layer < nl;
  if (in_layer && !is_fhn_layer(spec.layers[d.layer]))
    where = fmt::format("in layer {} ({})", d.layer, spec.layers[d.layer].kind);
  else if (in_layer) where = fmt::format("in FHN layer {}'s Euler integration", d.layer);
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
  while (!is_fhn_layer(spec.layers[l])) l = (l + 1) % nl;  // the FHN layer to blame
  const LayerSpec& L = spec.layers[l];
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
  const ParamTable table(spec);
  if (state.best_params.size() != table.total())
    throw std::invalid_argument(fmt::format("continue_training: {} best parameters, the model has {}",
                                            state.best_params.size(), table.total()));
  TrainReport rep;
  rep.backend = backend.name();
  rep.params = table.trainable_count();
  std::vector<double> current(table.total());
  rep.status = "ok";

  for (int epoch = state.epoch + 1; epoch <= cfg.epochs; ++epoch) {
    // Decided before the epoch rather than after the previous one, so that a run resumed from the
    // checkpoint of the epoch that ran out of patience stops there too.
    if (cfg.patience > 0 && state.waited >= cfg.patience) {
      rep.status = "early_stopped";
      break;
    }
    const auto t0 = std::chrono::steady_clock::now();
    const EpochStats st = backend.train_epoch(epoch);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (st.divergence.diverged) {
      // Not checkpointed: the backend's parameters are non-finite, there is nothing to continue.
      rep.status = "diverged";
      rep.divergence = st.divergence;
      rep.message = explain_divergence(st.divergence, spec);
      state.epoch = epoch;
      state.history.push_back(
          EpochRecord{epoch, st.train_loss, std::numeric_limits<double>::quiet_NaN(), secs, false});
      if (observer) observer->on_epoch(state.history.back(), cfg.epochs);
      break;
    }
    const double val_loss = validation_loss(cfg, spec, backend.predict(Split::kVal), data.val);
    EpochRecord rec{epoch, st.train_loss, val_loss, secs, false};
    const Metrics val{val_loss};  // .mse: the early-stopping loss below
    if (std::isfinite(val.mse) && val.mse < state.best_val) {
      // Restore the lowest validation MSE seen; min_delta only decides whether patience resets.
      state.best_val = val.mse;
      state.best_epoch = epoch;
      rec.improved = true;
      backend.get_params(current);
      state.best_params = current;
      if (observer) observer->on_best(state.best_params, rec);
    }
    count_patience(state, val.mse, cfg.min_delta);
    state.epoch = epoch;
    state.history.push_back(rec);
    if (observer) {
      observer->on_epoch(rec, cfg.epochs);
      observer->on_epoch_end(state, backend);
    }
  }
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
    return rep;
  }
  rep.val = regression_metrics(backend.predict(Split::kVal), data.val.y);
  rep.val_mse = rep.val.mse;
  rep.test_withheld = data.test.rows == 0;
  if (!rep.test_withheld) rep.test = regression_metrics(backend.predict(Split::kTest), data.test.y);
  return rep;
}

}  // namespace dynpmnn
