// dynpmnn inside another C++ program (docs/cmake-package.md): a run folder's best model as a
// predictor, and training a configuration into a run folder. Only standard types cross this header,
// so a program that includes it needs none of the project's header-only dependencies; it links
// dynpmnn::core (find_package(dynpmnn)).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace dynpmnn {

// A run folder's best model (RUN_DIR/best.bin, what `dynpmnn predict` uses).
class Predictor {
 public:
  // device: "cpu" (double precision), "cuda" or "auto". Throws std::runtime_error (a CheckpointError,
  // ConfigError, ...) naming the folder or file and what is wrong.
  static Predictor load(const std::string& run_dir, const std::string& device = "cpu");

  Predictor(Predictor&&) noexcept;
  Predictor& operator=(Predictor&&) noexcept;
  ~Predictor();

  // The input's F columns, in order: for a California run MedInc ... Longitude (california_features
  // derives them from raw rows), for a CSV run its feature columns.
  const std::vector<std::string>& feature_names() const;
  // A classification run's K labels, in the order of its outputs; empty for regression.
  const std::vector<std::string>& class_labels() const;
  int outputs() const;  // 1 for regression, K for classification

  // features: (rows, F) row-major, unscaled, in the data's own units. Returns (rows, outputs): the
  // target in its own units, or the K logits. std::invalid_argument for a size that is not rows × F.
  std::vector<double> predict(const std::vector<double>& features, int rows);

  // California Housing: raw StatLib rows (rows, 8 or 9), longitude ... medianIncome[, value], to the
  // 8 features (rows, 8) a California run takes (data/california.h).
  static std::vector<double> california_features(const std::vector<double>& raw, int rows, int cols);

 private:
  struct Impl;
  explicit Predictor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// What `dynpmnn train --preset PRESET --set K=V ... --out OUT --quiet` does, in this process: the
// configuration resolved as the CLI resolves it (preset "" and no overrides: the default model;
// "key=value" overrides as --set), validated, trained on its data into the run folder `out`.
// Returns final.json's object as text (status, test_rmse, val_mse, ...). ConfigError for a bad key
// or value, naming it.
std::string train(const std::string& preset, const std::vector<std::string>& overrides, const std::string& out);

}  // namespace dynpmnn
