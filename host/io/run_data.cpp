#include "host/io/run_data.h"

#include <stdexcept>

#include <fmt/format.h>

#include "data/california_fetch.h"

namespace dynpmnn {

namespace {

std::string csv_path(const Config& cfg, const std::string& path) {
  const std::string file = path.empty() ? cfg.data : path;
  if (file.empty())
    throw ConfigError(fmt::format("target = '{}' names a column of a CSV file, but no file is given (--data FILE.csv)",
                                  cfg.target));
  return file;
}

}  // namespace

bool uses_csv(const Config& cfg) { return !cfg.target.empty(); }

CsvOptions csv_options(const Config& cfg) {
  CsvOptions options;
  try {
    options.target = cfg.target;
    options.task = task_from_string(cfg.task);
    options.features = parse_column_list(cfg.features, "features");
    options.split = parse_split_fractions(cfg.split);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(e.what());
  }
  options.seed = cfg.split_seed;
  return options;
}

int model_outputs(const SplitData& data) {
  return data.class_labels.empty() ? data.train.targets : static_cast<int>(data.class_labels.size());
}

SplitData load_run_data(const Config& cfg) {
  if (!uses_csv(cfg)) {
    const std::string file = locate_or_fetch_california(cfg.data);
    return make_california_splits(read_california_raw(file), file);
  }
  return load_csv_dataset(csv_path(cfg, ""), csv_options(cfg));
}

SplitData load_run_data(const Config& cfg, const std::string& path, const Scaler& scaler,
                        const std::vector<std::string>& class_labels) {
  if (!uses_csv(cfg)) {
    const std::string file = locate_or_fetch_california(path.empty() ? cfg.data : path);
    return make_california_splits(read_california_raw(file), file, scaler);
  }
  const std::string file = csv_path(cfg, path);
  SplitData data = make_csv_splits(read_csv(file), file, csv_options(cfg), scaler);
  if (data.class_labels != class_labels)
    throw DataError(fmt::format("{} holds the classes {}, the model was trained on {}", file,
                                fmt::join(data.class_labels, ", "), fmt::join(class_labels, ", ")));
  return data;
}

}  // namespace dynpmnn
