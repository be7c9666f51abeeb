// The training loop shared by every backend: Adam steps through Backend::train_epoch, validation
// MSE after each epoch, the paper's early stopping (patience, min_delta on validation MSE, best
// weights restored before testing) and divergence reporting.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "host/backend.h"
#include "host/config.h"

namespace dynpmnn {

struct EpochRecord {
  int epoch = 0;  // 1-based
  double train_loss = 0;
  double val_mse = 0;
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
  double val_mse = 0;  // of the restored best weights
  Metrics test;
  Metrics val;
  std::size_t params = 0;  // trainable
  double epoch_seconds = 0;  // mean training time per epoch
  std::string backend;
  Divergence divergence;
  std::string message;  // for divergence: what happened, the likely cause and a fix
  std::vector<EpochRecord> history;
};

class TrainObserver {
 public:
  virtual ~TrainObserver() = default;
  virtual void on_epoch(const EpochRecord& /*rec*/, int /*max_epochs*/) {}
  // Called when a new best is found, with the parameters (table order) to keep.
  virtual void on_best(const std::vector<double>& /*params*/, const EpochRecord& /*rec*/) {}
};

// params: the initial parameters in, the best (restored) parameters out.
TrainReport train_model(const Config& cfg, const ModelSpec& spec, Backend& backend, const SplitData& data,
                        std::vector<double>& params, TrainObserver* observer);

// The explanation printed when training diverges (epoch, step, layer, likely cause, a fix).
std::string explain_divergence(const Divergence& d, const ModelSpec& spec);

}  // namespace dynpmnn
