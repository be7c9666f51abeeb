// The data a configuration trains on: California Housing (data/california.h) when the target key is
// empty, exactly as before; else the CSV file `data` with the target, task, features, split and
// split_seed keys (data/csv_dataset.h). train, eval, predict and sweep all load through here.
#pragma once

#include <string>
#include <vector>

#include "data/california.h"
#include "data/csv_dataset.h"
#include "host/config/config.h"

namespace dynpmnn {

bool uses_csv(const Config& cfg);  // target set
CsvOptions csv_options(const Config& cfg);  // ConfigError for a bad split or features value

// The model's outputs for this data: one per class for classification, else one per target.
int model_outputs(const SplitData& data);

// The splits of cfg.data (for CSV runs, ConfigError when no file is given).
SplitData load_run_data(const Config& cfg);
// The same file as `path` (empty: cfg.data, then California's look-up) standardised with a stored
// scaler, for eval. For a classification run, DataError when the file's classes differ from
// `class_labels` (the checkpoint's).
SplitData load_run_data(const Config& cfg, const std::string& path, const Scaler& scaler,
                        const std::vector<std::string>& class_labels);

}  // namespace dynpmnn
