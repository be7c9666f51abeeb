#include "host/trainer.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <sstream>

#include <fmt/format.h>

namespace dynpmnn {

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

}  // namespace

std::string explain_divergence(const Divergence& d, const ModelSpec& spec) {
  std::ostringstream os;
  const int nl = static_cast<int>(spec.layers.size());
  std::string where;
  if (d.layer >= 0 && d.layer < nl) where = fmt::format("in FHN layer {}'s Euler integration", d.layer);
  else if (d.layer == nl) where = "in the readout";
  else where = "in the loss or the gradients";
  os << fmt::format("training diverged: NaN/Inf first appeared in epoch {}, minibatch {}, {}.", d.epoch, d.step + 1,
                    where);
  const int l = (d.layer >= 0 && d.layer < nl) ? d.layer : 0;
  const FhnLayerSpec& L = spec.layers[l];
  const double stable = euler_stable_dt(L.a, 1.0);
  os << fmt::format(
      "\nLikely cause: explicit Euler with dt = {} is unstable for the cubic FitzHugh–Nagumo term: a step "
      "multiplies deviations by |1 − dt·(3v² − 2(1+a)v + a)|, which exceeds 1 unless dt ≤ {:.3g} for states "
      "|v| ≤ 1 (dt ≤ {:.3g} even at rest, v = 0), and the state then grows without bound.",
      L.dt, stable, 2.0 / std::max(L.a, 1e-12));
  os << fmt::format(
      "\nFix: reduce dt (e.g. --set dt={:.3g} with t_end a multiple of it), or clamp the state after each step "
      "(--set clip=20, the authors' later remedy; it trains but to a poor model), or lower lr.",
      stable >= 0.1 ? 0.1 : stable / 2);
  if (L.clip > 0)
    os << fmt::format("\nNote: clip = {} was on, so the blow-up came through the parameters or gradients.", L.clip);
  return os.str();
}

TrainReport train_model(const Config& cfg, const ModelSpec& spec, Backend& backend, const SplitData& data,
                        std::vector<double>& params, TrainObserver* observer) {
  const ParamTable table(spec);
  TrainReport rep;
  rep.backend = backend.name();
  rep.params = table.trainable_count();
  backend.set_params(params);

  double best_val = std::numeric_limits<double>::infinity();
  double patience_ref = best_val;  // the best by more than min_delta: resets the patience counter
  int waited = 0;
  double train_seconds = 0;
  std::vector<double> current(params.size());
  rep.status = "ok";

  for (int epoch = 1; epoch <= cfg.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    const EpochStats st = backend.train_epoch(epoch);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    train_seconds += secs;
    rep.epochs = epoch;
    if (st.divergence.diverged) {
      rep.status = "diverged";
      rep.divergence = st.divergence;
      rep.message = explain_divergence(st.divergence, spec);
      rep.history.push_back(EpochRecord{epoch, st.train_loss, std::numeric_limits<double>::quiet_NaN(), secs, false});
      if (observer) observer->on_epoch(rep.history.back(), cfg.epochs);
      break;
    }
    const Metrics val = regression_metrics(backend.predict(Split::kVal), data.val.y);
    EpochRecord rec{epoch, st.train_loss, val.mse, secs, false};
    if (std::isfinite(val.mse) && val.mse < best_val) {
      // Restore the lowest validation MSE seen; min_delta only decides whether patience resets.
      best_val = val.mse;
      rep.best_epoch = epoch;
      rec.improved = true;
      backend.get_params(current);
      params = current;
      if (observer) observer->on_best(params, rec);
    }
    if (std::isfinite(val.mse) && val.mse < patience_ref - cfg.min_delta) {
      patience_ref = val.mse;
      waited = 0;
    } else {
      ++waited;
    }
    rep.history.push_back(rec);
    if (observer) observer->on_epoch(rec, cfg.epochs);
    if (cfg.patience > 0 && waited >= cfg.patience && epoch < cfg.epochs) {
      rep.status = "early_stopped";
      break;
    }
  }
  rep.epoch_seconds = rep.epochs ? train_seconds / rep.epochs : 0.0;

  // Test with the best weights (the initial ones if no epoch produced a finite validation MSE).
  backend.set_params(params);
  rep.val = regression_metrics(backend.predict(Split::kVal), data.val.y);
  rep.val_mse = rep.val.mse;
  rep.test = regression_metrics(backend.predict(Split::kTest), data.test.y);
  return rep;
}

}  // namespace dynpmnn
