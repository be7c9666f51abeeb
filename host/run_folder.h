// The folder a training run leaves behind:
//   config.toml       the resolved configuration (dynpmnn train --config it repeats the run)
//   metrics.jsonl     one JSON object per epoch, flushed as the epoch ends, so a crash keeps them
//   best_params.json  the parameters of the best epoch so far, by tensor name with shapes
//   loss_curve.png    training loss and validation MSE per epoch
//   final.json        the summary the CLI prints as its last stdout line; written last, so its
//                     presence marks a finished run
// Every file but metrics.jsonl is replaced atomically, so a reader (or a crash) never sees half of one.
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "host/config.h"
#include "host/trainer.h"
#include "models/dynpmnn.h"

namespace dynpmnn {

// Writes to a temporary file beside `path`, flushes it to disk and renames it over `path`.
void write_file_atomically(const std::filesystem::path& path, std::string_view contents);

// runs/<preset or "run">-<YYYYmmdd-HHMMSS>-seed<seed> under the current directory (local time).
std::filesystem::path default_run_path(const Config& cfg, std::chrono::system_clock::time_point now);

// The object of final.json and of the CLI's last stdout line. `divergence_message` goes into the
// "divergence" object, present only for a diverged run.
nlohmann::ordered_json final_summary(const TrainReport& report, const std::filesystem::path& run_dir,
                                     std::string_view divergence_message);

class RunFolder : public TrainObserver {
 public:
  // Uses cfg.out, or a new default_run_path (suffixed -2, -3, ... if taken), creating it as needed,
  // and writes config.toml. Throws ConfigError if the folder already holds a finished run.
  RunFolder(const Config& cfg, const ParamTable& table);

  const std::filesystem::path& path() const { return path_; }

  void on_epoch(const EpochRecord& rec, int max_epochs) override;
  void on_best(const std::vector<double>& params, const EpochRecord& rec) override;

  // best_params.json from the parameters train_model returned (the best ones, restored), then
  // loss_curve.png, then final.json.
  void finish(const nlohmann::ordered_json& summary, const TrainReport& report, const std::vector<double>& best_params,
              std::string_view plot_title);

 private:
  void write_best_params(const std::vector<double>& params, int epoch, double val_mse);

  std::filesystem::path path_;
  ParamTable table_;
  std::ofstream metrics_;
};

}  // namespace dynpmnn
