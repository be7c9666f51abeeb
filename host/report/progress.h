// What the CLI shows on stderr while training: on a terminal one live line, redrawn each epoch,
// otherwise (a log file, a pipe) one plain line per epoch. And a TrainObserver that forwards to
// several, so progress and the run folder both follow one run.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "host/training/trainer.h"

namespace dynpmnn {

enum class ProgressStyle { kLiveLine, kPlainLines };

// kLiveLine where `stream` is a terminal.
ProgressStyle progress_style_for(std::FILE* stream);

class ProgressPrinter : public TrainObserver {
 public:
  // The clock starts here, so the first epoch's time includes the first validation.
  ProgressPrinter(std::FILE* stream, ProgressStyle style);

  void on_epoch(const EpochRecord& rec, int max_epochs) override;
  // Ends the live line, so what follows starts on a line of its own.
  void finish();

  // The line for an epoch, given the wall-clock seconds per epoch so far (validation included).
  static std::string format_line(const EpochRecord& rec, int max_epochs, double best_val, int best_epoch,
                                 double seconds_per_epoch, ProgressStyle style);

 private:
  std::FILE* stream_;
  ProgressStyle style_;
  std::chrono::steady_clock::time_point start_;
  double best_val_ = 0;
  int best_epoch_ = 0;  // 0: no epoch improved yet
  bool line_open_ = false;
};

class ObserverList : public TrainObserver {
 public:
  explicit ObserverList(std::vector<TrainObserver*> observers) : observers_(std::move(observers)) {}
  void on_epoch(const EpochRecord& rec, int max_epochs) override;
  void on_best(const std::vector<double>& params, const EpochRecord& rec) override;
  void on_epoch_end(const TrainState& state, Backend& backend) override;
  void on_train_end(const TrainState& state, Backend& backend, bool diverged) override;

 private:
  std::vector<TrainObserver*> observers_;
};

}  // namespace dynpmnn
