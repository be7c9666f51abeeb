// A run folder's best model and its metrics on one split (host/cli/best_model.h).
#include "host/cli/best_model.h"

#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "data/california.h"
#include "host/io/train_run.h"
#include "host/config/config.h"
#include "host/io/run_data.h"
#include "host/training/class_metrics.h"
#include "host/training/trainer.h"

namespace dynpmnn {

BestModel load_best_model(const std::string& run_dir) {
  if (!std::filesystem::is_directory(run_dir)) throw ConfigError(fmt::format("{}: no such run folder", run_dir));
  BestModel best;
  best.path = (std::filesystem::path(run_dir) / "best.bin").string();
  best.ck = load_checkpoint(best.path);
  if (!uses_csv(best.ck.config)) require_same_features(best.ck, best.path, california_feature_names());
  const int outputs = best.ck.class_labels.empty() ? 1 : static_cast<int>(best.ck.class_labels.size());
  best.spec = best.ck.config.model_spec(static_cast<int>(best.ck.feature_names.size()), outputs);
  return best;
}

nlohmann::ordered_json evaluate_best(const BestModel& best, Split split, const std::string& device,
                                     const std::string& data_path) {
  const Config& cfg = best.ck.config;
  // Standardised with the checkpoint's scaler, as the model saw its inputs in training (for the
  // file it trained on this is the scaler that file gives).
  SplitData data = load_run_data(cfg, data_path, best.ck.scaler, best.ck.class_labels);
  data.target_scaler = best.ck.target_scaler;  // the model's outputs back to the target's units
  const std::unique_ptr<Backend> backend =
      make_backend(device.empty() ? cfg.device : device, best.spec, train_hyper(cfg));
  backend->set_data(data);
  backend->set_params(best.ck.state.best_params);
  const Dataset& d = split == Split::kTrain ? data.train : split == Split::kVal ? data.val : data.test;
  nlohmann::ordered_json json;
  json["rows"] = d.rows;
  if (!best.ck.class_labels.empty()) {
    const ClassMetrics m = classification_metrics(backend->predict(split), d.y, best.spec.outputs);
    json["accuracy"] = m.accuracy;
    json["f1"] = m.macro_f1;
    json["loss"] = m.loss;
    json["classes"] = best.ck.class_labels;
    json["confusion"] = m.confusion;
  } else {
    const Metrics m = regression_metrics(backend->predict(split), d.y);
    json["rmse"] = m.rmse;
    json["mae"] = m.mae;
    json["r2"] = m.r2;
    json["mse"] = m.mse;
  }
  json["best_epoch"] = best.ck.state.best_epoch;
  json["checkpoint"] = best.path;
  json["data"] = data.source;
  json["backend"] = backend->name();
  return json;
}

}  // namespace dynpmnn
