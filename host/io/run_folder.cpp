#include "host/io/run_folder.h"

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <system_error>

#include <fmt/format.h>

#include "host/io/atomic_file.h"
#include "host/io/checkpoint.h"
#include "host/config/config_io.h"
#include "host/report/plot.h"

namespace dynpmnn {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFinalFile = "final.json";

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// Invalid UTF-8 (a path, say) becomes U+FFFD instead of an exception at the end of a long run.
template <typename Json>
std::string dump(const Json& json, int indent) {
  return json.dump(indent, ' ', false, Json::error_handler_t::replace);
}

// val_key: "val_mse", or "val_loss" (the cross-entropy) for classification.
std::string metrics_line(const EpochRecord& rec, const char* val_key) {
  const nlohmann::ordered_json line = {{"epoch", rec.epoch},
                                       {"train_loss", rec.train_loss},
                                       {val_key, rec.val_mse},
                                       {"seconds", rec.seconds},
                                       {"improved", rec.improved}};
  return dump(line, -1) + '\n';
}

}  // namespace

fs::path default_run_path(const Config& cfg, std::chrono::system_clock::time_point now) {
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm local{};
  ::localtime_r(&t, &local);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &local);
  return fs::path("runs") / fmt::format("{}-{}-seed{}", cfg.preset.empty() ? "run" : cfg.preset, stamp, cfg.seed);
}

nlohmann::ordered_json final_summary(const TrainReport& report, const fs::path& run_dir,
                                     std::string_view divergence_message) {
  nlohmann::ordered_json json;
  json["status"] = report.status;
  if (report.test_withheld) json["test"] = "withheld";  // no test_* keys: the split was not evaluated
  if (report.classification) {
    if (!report.test_withheld) {
      json["test_accuracy"] = report.test_class.accuracy;
      json["test_f1"] = report.test_class.macro_f1;
      json["test_loss"] = report.test_class.loss;
    }
    json["val_accuracy"] = report.val_class.accuracy;
    json["val_f1"] = report.val_class.macro_f1;
    json["val_loss"] = report.val_mse;
    if (!report.test_withheld)
      json["test_confusion"] = report.test_class.confusion;  // (K, K) row-major: true class, predicted class
  } else {
    if (!report.test_withheld) {
      json["test_rmse"] = report.test.rmse;
      json["test_mae"] = report.test.mae;
      json["test_r2"] = report.test.r2;
      json["test_mse"] = report.test.mse;
    }
    json["val_mse"] = report.val_mse;
  }
  json["params"] = report.params;
  json["epochs"] = report.epochs;
  json["best_epoch"] = report.best_epoch;
  json["epoch_seconds"] = report.epoch_seconds;
  json["backend"] = report.backend;
  json["run_dir"] = run_dir.string();
  if (report.divergence.diverged)
    json["divergence"] = {{"epoch", report.divergence.epoch},
                          {"step", report.divergence.step},
                          {"layer", report.divergence.layer},
                          {"message", divergence_message}};
  return json;
}

RunFolder::RunFolder(const Config& cfg, const ParamTable& table, const SplitData& data, const TrainState* resumed)
    : cfg_(cfg), table_(table), scaler_(data.scaler), feature_names_(data.feature_names),
      class_labels_(data.class_labels), target_scaler_(data.target_scaler) {
  if (resumed != nullptr) {
    path_ = cfg.out;
    if (!fs::is_directory(path_)) throw ConfigError(fmt::format("--resume {}: no such run folder", cfg.out));
    if (fs::exists(path_ / kFinalFile))
      throw ConfigError(fmt::format("--resume {}: the run has finished ({} exists); nothing to resume", cfg.out,
                                    kFinalFile));
  } else if (cfg.out.empty()) {
    // Two runs started in the same second with the same seed must not share a folder.
    const fs::path base = default_run_path(cfg, std::chrono::system_clock::now());
    path_ = base;
    for (int n = 2; fs::exists(path_); ++n) path_ = fs::path(fmt::format("{}-{}", base.string(), n));
  } else {
    path_ = cfg.out;
    if (fs::exists(path_ / kFinalFile))
      throw ConfigError(fmt::format("out = '{}' already holds a finished run ({}); choose another --out or remove it",
                                    cfg.out, kFinalFile));
  }
  std::error_code ec;
  fs::create_directories(path_, ec);
  if (ec || !fs::is_directory(path_))
    throw ConfigError(fmt::format("out = '{}': cannot create the run folder{}", path_.string(),
                                  ec ? ": " + ec.message() : std::string(" (a file of that name exists)")));
  write_file_atomically(path_ / "config.toml", to_toml(cfg));
  if (resumed != nullptr) {
    // The checkpoint's history is the truth: an epoch logged after the last checkpoint was written
    // (a crash between the two) is dropped, and lost lines are restored.
    std::string lines;
    for (const EpochRecord& rec : resumed->history) lines += metrics_line(rec, val_key());
    write_file_atomically(path_ / "metrics.jsonl", lines);
    metrics_.open(path_ / "metrics.jsonl", std::ios::out | std::ios::app);
  } else {
    // Truncated, so a folder reused after a crashed run does not mix two runs' epochs.
    metrics_.open(path_ / "metrics.jsonl", std::ios::out | std::ios::trunc);
  }
  if (!metrics_) throw_errno("cannot create " + (path_ / "metrics.jsonl").string());
  if (const char* stop = std::getenv(kStopAfterEpochEnv); stop != nullptr && *stop != '\0')
    stop_after_epoch_ = std::atoi(stop);
  if (resumed != nullptr) {
    written_epoch_ = resumed->epoch;  // the checkpoint it resumed from
    best_written_epoch_ = resumed->best_epoch;
  }
}

void RunFolder::on_epoch(const EpochRecord& rec, int /*max_epochs*/) {
  metrics_ << metrics_line(rec, val_key()) << std::flush;
  if (!metrics_) throw_errno("cannot append to " + (path_ / "metrics.jsonl").string());
}

void RunFolder::on_epoch_end(const TrainState& state, Backend& backend) {
  if (state.epoch % cfg_.checkpoint_every == 0) write_checkpoints(state, backend);
}

void RunFolder::on_train_end(const TrainState& state, Backend& backend, bool diverged) {
  if (cfg_.checkpoint_every == 1) return;  // everything was written epoch by epoch
  // A diverged run's last epoch is not checkpointed (there is nothing to continue), as without
  // checkpoint_every, but best.bin and best_params.json must still be the best's.
  if (!diverged) {
    if (state.epoch != written_epoch_) write_checkpoints(state, backend);
    return;
  }
  if (state.best_epoch != best_written_epoch_) {
    Checkpoint ck = with_labels_and_target(make_checkpoint(cfg_, table_, scaler_, feature_names_, state, backend));
    ck.params = state.best_params;
    write_file_atomically(path_ / "best.bin", serialize_checkpoint(ck));
    best_written_epoch_ = state.best_epoch;
  }
  flush_best_params();
}

void RunFolder::write_checkpoints(const TrainState& state, Backend& backend) {
  const Checkpoint ck =
      with_labels_and_target(make_checkpoint(cfg_, table_, scaler_, feature_names_, state, backend));
  const std::string bytes = serialize_checkpoint(ck);
  // best.bin first: were the process to die between the two, the resumed run redoes this epoch
  // and writes the same best.bin again.
  if (state.best_epoch == state.epoch) {
    write_file_atomically(path_ / "best.bin", bytes);
    best_written_epoch_ = state.best_epoch;
  } else if (state.best_epoch != best_written_epoch_) {
    // checkpoint_every > 1: the best epoch was not written when it happened; its parameters are
    // the state's best_params (what eval and predict read of best.bin).
    Checkpoint best = ck;
    best.params = state.best_params;
    write_file_atomically(path_ / "best.bin", serialize_checkpoint(best));
    best_written_epoch_ = state.best_epoch;
  }
  flush_best_params();
  write_file_atomically(path_ / "checkpoint.bin", bytes);
  written_epoch_ = state.epoch;
  if (state.epoch == stop_after_epoch_) std::_Exit(kStopAfterEpochExit);
}

void RunFolder::on_best(const std::vector<double>& params, const EpochRecord& rec) {
  if (cfg_.checkpoint_every == 1) return write_best_params(params, rec.epoch, rec.val_mse);
  pending_best_ = params;  // written with the next checkpoint
  pending_best_epoch_ = rec.epoch;
  pending_best_val_ = rec.val_mse;
}

void RunFolder::flush_best_params() {
  if (pending_best_epoch_ < 0) return;
  write_best_params(pending_best_, pending_best_epoch_, pending_best_val_);
  pending_best_epoch_ = -1;
}

void RunFolder::write_best_params(const std::vector<double>& params, int epoch, double val_mse) {
  // Physical values (a, b, g as the neurons use them), not the stored θ of a reparametrised tensor.
  const std::vector<double> physical = physical_params(table_, params);
  nlohmann::ordered_json tensors = nlohmann::ordered_json::array();
  for (const ParamTensor& t : table_.tensors()) {
    const auto first = physical.begin() + static_cast<std::ptrdiff_t>(t.offset);
    tensors.push_back({{"name", t.name},
                       {"shape", t.shape},
                       {"trainable", t.trainable},
                       {"values", std::vector<double>(first, first + static_cast<std::ptrdiff_t>(t.size))}});
  }
  const nlohmann::ordered_json json = {{"epoch", epoch}, {val_key(), val_mse}, {"tensors", std::move(tensors)}};
  write_file_atomically(path_ / "best_params.json", dump(json, -1) + '\n');
}

void RunFolder::finish(const nlohmann::ordered_json& summary, const TrainReport& report,
                       const std::vector<double>& best_params, std::string_view plot_title) {
  write_best_params(best_params, report.best_epoch, report.val_mse);
  std::vector<double> train_loss, val_mse;
  for (const EpochRecord& rec : report.history) {
    train_loss.push_back(rec.train_loss);
    val_mse.push_back(rec.val_mse);
  }
  write_loss_curve_png(path_ / "loss_curve.png", train_loss, val_mse, plot_title);
  write_file_atomically(path_ / kFinalFile, dump(summary, 2) + '\n');
}

}  // namespace dynpmnn
