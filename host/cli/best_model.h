// A run folder's best model (RUN_DIR/best.bin) and its metrics on one split: what `dynpmnn eval`
// prints, and how `dynpmnn table` evaluates the test split of the configurations it chose, after
// they were trained with the test split withheld.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "host/io/checkpoint.h"
#include "host/runtime/backend.h"
#include "models/dynpmnn.h"

namespace dynpmnn {

struct BestModel {
  std::string path;
  Checkpoint ck;
  ModelSpec spec;
};

// Throws ConfigError when the folder does not exist, CheckpointError when best.bin is unreadable.
BestModel load_best_model(const std::string& run_dir);

// Metrics of the best weights on `split` of the run's own split of its data (`data`: a path, or ""
// for the run's file and the usual look-up), on `device` ("" for the run's): rmse, mae, r2, mse for
// regression; accuracy, f1, loss, classes, confusion for classification; then best_epoch,
// checkpoint, data and backend.
nlohmann::ordered_json evaluate_best(const BestModel& best, Split split, const std::string& device,
                                     const std::string& data);

}  // namespace dynpmnn
