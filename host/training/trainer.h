// The training loop shared by every backend: Adam steps through Backend::train_epoch, validation
// MSE after each epoch, the paper's early stopping (patience, min_delta on validation MSE, best
// weights restored before testing) and divergence reporting.
#pragma once

#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "host/runtime/backend.h"
#include "host/runtime/population.h"
#include "host/training/class_metrics.h"
#include "host/config/config.h"
#include "models/neuron_models.h"

namespace dynpmnn {

struct EpochRecord {
  int epoch = 0;  // 1-based
  double train_loss = 0;
  double val_mse = 0;  // the early-stopping loss: validation MSE, or cross-entropy for classification
  double seconds = 0;  // training pass of this epoch only (no validation)
  bool improved = false;  // new best validation MSE (by more than min_delta)
};

struct Metrics {
  double mse = 0, rmse = 0, mae = 0, r2 = 0;
};
Metrics regression_metrics(const std::vector<double>& pred, const std::vector<double>& target);

struct TrainReport {
  std::string status;  // "ok", "early_stopped" or "diverged"
  int epochs = 0;      // epochs run
  int best_epoch = 0;  // 0: the initial weights were never beaten
  double val_mse = 0;  // of the restored best weights; for classification their val cross-entropy
  Metrics test;        // regression only
  // The data had no test rows (a model search, host/cli/table_command.cpp, withholds the test split
  // until the configurations are chosen): test and test_class were not evaluated.
  bool test_withheld = false;
  Metrics val;
  bool classification = false;
  ClassMetrics test_class;  // classification only
  ClassMetrics val_class;
  std::size_t params = 0;  // trainable
  double epoch_seconds = 0;  // mean training time per epoch
  std::string backend;
  Divergence divergence;
  std::string message;  // for divergence: what happened, the likely cause and a fix
  std::vector<EpochRecord> history;
};

// The trainer's own state between epochs: with the backend's parameters and optimizer state
// (Backend::get_optimizer_state) it is everything a checkpoint needs to continue a run exactly.
// The epoch order needs nothing more: it is epoch_permutation(seed, epoch), a pure function.
struct TrainState {
  int epoch = 0;  // epochs completed; the next is epoch + 1
  double best_val = std::numeric_limits<double>::infinity();      // lowest validation MSE so far
  double patience_ref = std::numeric_limits<double>::infinity();  // the best by more than min_delta
  int waited = 0;      // epochs since patience_ref last improved
  int best_epoch = 0;  // 0: the initial weights were never beaten
  std::vector<double> best_params;  // (table.total()) of best_epoch, the initial ones while it is 0
  std::vector<EpochRecord> history;  // one per completed epoch
};

// A fresh run from the initial parameters.
TrainState initial_train_state(const std::vector<double>& params);

// Early stopping's count after one epoch's validation loss: patience_ref and waited move as the
// trainer moves them.
void count_patience(TrainState& state, double val_loss, double min_delta);
// patience_ref and waited recounted over state.history as if the run had had `min_delta` from its
// first epoch: for `train --resume` with another min_delta.
void recount_patience(TrainState& state, double min_delta);

class TrainObserver {
 public:
  virtual ~TrainObserver() = default;
  virtual void on_epoch(const EpochRecord& /*rec*/, int /*max_epochs*/) {}
  // Called when a new best is found, with the parameters (table order) to keep.
  virtual void on_best(const std::vector<double>& /*params*/, const EpochRecord& /*rec*/) {}
  // Called after on_epoch of every epoch that did not diverge, with the state to checkpoint and
  // the backend holding the parameters and optimizer state that the next epoch starts from.
  virtual void on_epoch_end(const TrainState& /*state*/, Backend& /*backend*/) {}
  // Called once after the last epoch (stopped, diverged or out of epochs), before the best
  // parameters are restored in the backend: the backend still holds the last epoch's parameters
  // and optimizer state (those of the diverged epoch, not to be continued, when `diverged`). For a
  // folder that checkpoints every k epochs, the moment to write what it deferred.
  virtual void on_train_end(const TrainState& /*state*/, Backend& /*backend*/, bool /*diverged*/) {}
};

// The backend's optimiser and shuffling settings from a configuration.
TrainHyper train_hyper(const Config& cfg);

// params: the initial parameters in, the best (restored) parameters out.
TrainReport train_model(const Config& cfg, const ModelSpec& spec, Backend& backend, const SplitData& data,
                        std::vector<double>& params, TrainObserver* observer);

// Continues from `state` (epochs state.epoch + 1 .. cfg.epochs) with the backend already holding
// the parameters and optimizer state to start from; `state` ends as the run does, its best_params
// restored in the backend. From initial_train_state and set_params this is the run above; from a
// checkpoint it is, on the CPU backend, bit for bit the run that was interrupted.
TrainReport continue_training(const Config& cfg, const ModelSpec& spec, Backend& backend, const SplitData& data,
                              TrainState& state, TrainObserver* observer);

// A population's training (population.h): model m as continue_training would train it alone with
// cfgs[m], specs[m], states[m] and observers[m] (null: none), on pop.member(m) holding its
// parameters and optimizer state; every model reads the same `data`. Epoch by epoch in lockstep:
// before each, every model that has not stopped, diverged or run out of its own epochs takes one
// (pop.train_epochs), then each is validated, checkpointed and counted as alone. Models with fewer
// epochs, an earlier stop or a divergence drop out and cost nothing after. Returns the reports
// in model order; states end as continue_training leaves its one.
std::vector<TrainReport> continue_training_population(std::span<const Config> cfgs, std::span<const ModelSpec> specs,
                                                      PopulationBackend& pop, const SplitData& data,
                                                      std::span<TrainState> states,
                                                      std::span<TrainObserver* const> observers);

// The largest step at which `scheme`'s step map of the neuron model, linearised at the state x
// (ops.states values; parameters p, ops.params values; `current` the whole input current,
// p[current_param] included) and at the next few states its steps reach, amplifies small deviations
// by no more than 1 + a small tolerance per step, or where the ODE itself grows them, no more than
// its flow does. Step Jacobians by central differences of ops.step (no clamp), spectral radii by
// Gelfand's formula, dt by bisection. At a fixed point: the largest dt with ρ(∂step/∂x) <= 1 + 1e-3.
// Local: x need not be a fixed point, and the limit speaks for states near x only (trainer.cpp
// says more). +∞ where no dt up to 1e6 fails, 0 where even 1e-9 does; std::invalid_argument for
// imex on a model without a semi-implicit step.
double linearised_stable_dt(const NeuronModelOps& ops, Integrator scheme, const double* x, const double* p,
                            double current);

// Before training: for each neuron layer, at a sample of the (sample, neuron) states it starts from
// (initial parameters, first training rows), whether its scheme's step at the layer's dt is stable
// by linearised_stable_dt's measure; where it is not, a warning naming the layer, the model, the
// scheme, the smallest limit over the failing states and a dt to use (and imex's limit there, where
// the model has a semi-implicit step).
std::vector<std::string> stability_warnings(const ModelSpec& spec, std::span<const double> params,
                                            const Dataset& train);

// The explanation printed when training diverges (epoch, step, layer, likely cause, a fix).
std::string explain_divergence(const Divergence& d, const ModelSpec& spec);

}  // namespace dynpmnn
