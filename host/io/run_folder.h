// The folder a training run leaves behind:
//   config.toml       the resolved configuration (dynpmnn train --config it repeats the run)
//   metrics.jsonl     one JSON object per epoch, flushed as the epoch ends, so a crash keeps them
//   best_params.json  the parameters of the best epoch so far, by tensor name with shapes
//   loss_curve.png    training loss and validation MSE per epoch
//   final.json        the summary the CLI prints as its last stdout line; written last, so its
//                     presence marks a finished run
//   checkpoint.bin    the state after the last completed epoch (epoch 0: before training), from
//                     which dynpmnn train --resume continues (checkpoint.h has the format)
//   best.bin          the same at the best validation MSE so far, with the data's scaler: what
//                     dynpmnn eval and predict use
// Every file but metrics.jsonl is replaced atomically, so a reader (or a crash) never sees half of one.
//
// Test hook: with DYNPMNN_TEST_STOP_AFTER_EPOCH=N in the environment, the process ends at once
// (std::_Exit(75), no clean-up, like a crash) right after the checkpoint of epoch N is written, so
// tests can interrupt a run at a known point and resume it.
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "host/io/checkpoint.h"
#include "host/config/config.h"
#include "host/training/trainer.h"
#include "models/dynpmnn.h"

namespace dynpmnn {

// runs/<preset or "run">-<YYYYmmdd-HHMMSS>-seed<seed> under the current directory (local time).
std::filesystem::path default_run_path(const Config& cfg, std::chrono::system_clock::time_point now);

// The object of final.json and of the CLI's last stdout line. `divergence_message` goes into the
// "divergence" object, present only for a diverged run.
nlohmann::ordered_json final_summary(const TrainReport& report, const std::filesystem::path& run_dir,
                                     std::string_view divergence_message);

inline constexpr const char* kStopAfterEpochEnv = "DYNPMNN_TEST_STOP_AFTER_EPOCH";
inline constexpr int kStopAfterEpochExit = 75;

class RunFolder : public TrainObserver {
 public:
  // Uses cfg.out, or a new default_run_path (suffixed -2, -3, ... if taken), creating it as needed,
  // and writes config.toml. Throws ConfigError if the folder already holds a finished run.
  // `resumed`: continue the run in cfg.out from this checkpointed state instead, metrics.jsonl
  // rewritten to its history (dropping any epoch logged after the checkpoint was written).
  // `data` gives the scalers, feature names and class labels that the checkpoints keep.
  RunFolder(const Config& cfg, const ParamTable& table, const SplitData& data, const TrainState* resumed = nullptr);

  const std::filesystem::path& path() const { return path_; }

  void on_epoch(const EpochRecord& rec, int max_epochs) override;
  // best_params.json; with checkpoint_every > 1, with the next checkpoint.
  void on_best(const std::vector<double>& params, const EpochRecord& rec) override;
  // checkpoint.bin, and best.bin too when this epoch is the best so far (epoch 0 included, so a
  // run that never improves still has one), after every epoch, or with checkpoint_every = k after
  // every k-th (best.bin then holds the best epoch's parameters since the last one written).
  void on_epoch_end(const TrainState& state, Backend& backend) override;
  // With checkpoint_every > 1: the last epoch's checkpoint (unless it diverged), best.bin and
  // best_params.json, where not written yet.
  void on_train_end(const TrainState& state, Backend& backend, bool diverged) override;

  // best_params.json from the parameters train_model returned (the best ones, restored), then
  // loss_curve.png, then final.json.
  void finish(const nlohmann::ordered_json& summary, const TrainReport& report, const std::vector<double>& best_params,
              std::string_view plot_title);

 private:
  void write_best_params(const std::vector<double>& params, int epoch, double val_mse);
  void write_checkpoints(const TrainState& state, Backend& backend);
  void flush_best_params();
  // The early-stopping loss's name in the files: val_mse, or val_loss for classification.
  const char* val_key() const { return class_labels_.empty() ? "val_mse" : "val_loss"; }
  Checkpoint with_labels_and_target(Checkpoint ck) const {
    ck.class_labels = class_labels_;
    ck.target_scaler = target_scaler_;
    return ck;
  }

  std::filesystem::path path_;
  Config cfg_;
  ParamTable table_;
  Scaler scaler_;
  std::vector<std::string> feature_names_;
  std::vector<std::string> class_labels_;  // (K) classification; empty for regression
  TargetScaler target_scaler_;
  std::ofstream metrics_;
  int stop_after_epoch_ = -1;  // the test hook; -1: off
  int written_epoch_ = -1;       // the epoch of checkpoint.bin as last written
  int best_written_epoch_ = -1;  // the best epoch best.bin holds
  std::vector<double> pending_best_;  // checkpoint_every > 1: best_params.json not written yet
  int pending_best_epoch_ = -1;       // -1: none pending
  double pending_best_val_ = 0;
};

}  // namespace dynpmnn
