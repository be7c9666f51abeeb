// California Housing (StatLib cal_housing.data): reader, scikit-learn's 8 features, the paper's
// split (numpy RandomState(42).rand thresholds 0.7 / 0.9) and the train-split standardisation.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace dynpmnn {

struct DataError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Rows × columns, row-major.
struct Table {
  int rows = 0;
  int cols = 0;
  std::vector<double> values;  // (rows, cols)
};

struct Dataset {
  int rows = 0;
  int features = 0;
  int targets = 1;
  std::vector<double> x;  // (rows, features), standardised
  std::vector<double> y;  // (rows, targets), unscaled
};

// Per-feature standardisation fitted on the train split (mean, unbiased std).
struct Scaler {
  std::vector<double> mean;
  std::vector<double> std;
  void apply(std::vector<double>& x, int features) const;
};

// The Scaler of a train split's features (names: one per feature, for messages). Two passes (the
// features reach 1e4, where sum-of-squares minus squared sum cancels). A constant column (std 0)
// keeps scale 1, as scikit-learn's StandardScaler does, so it enters the model as a constant 0, and
// a warning naming it is appended to `warnings`; a column whose mean or variance overflows a double
// is a DataError naming `source` and the column.
Scaler fit_scaler(const Dataset& train, const std::vector<std::string>& names, const std::string& source,
                  std::vector<std::string>& warnings);

// A regression target's standardisation (the target_scaling key, host/config/config.h): the model
// trains on (y - mean) / std and its outputs are mapped back, output * std + mean, before anything
// reads them, so metrics and predictions stay in the target's own units. mean 0, std 1 (the
// default) is target_scaling = "none".
struct TargetScaler {
  double mean = 0;
  double std = 1;
  bool identity() const { return mean == 0 && std == 1; }
  bool operator==(const TargetScaler&) const = default;
};

// The train split's target mean and unbiased std (column 0 of y; `target` names it in messages).
// A constant target keeps std 1; a target whose mean or variance overflows a double is a
// DataError naming `source` and the column.
TargetScaler fit_target_scaler(const Dataset& train, const std::string& target, const std::string& source);

struct SplitData {
  Dataset train, val, test;
  Scaler scaler;
  std::vector<std::string> feature_names;
  std::string source;  // the file read
  std::vector<std::string> class_labels;  // classification (data/csv_dataset.h): class k's label; else empty
  // y above stays in the target's units; a backend trains on it through this (host/runtime/backend.h,
  // with_target_scaling). The identity unless the run's target_scaling is "standard" (regression).
  TargetScaler target_scaler;
  // What the caller should tell the user before training (a constant feature column kept unscaled);
  // empty when the scaler was given rather than fitted.
  std::vector<std::string> warnings;
};

inline constexpr const char* kCaliforniaSha256 =
    "a2b44dcc7e1c9091b43c4f458b25cbd1f7e8068d08edd26bc4703108d3fa6214";
inline constexpr const char* kDataEnvVar = "DYNPMNN_DATA";

// Look-up order: `explicit_path` (--data) if not empty, $DYNPMNN_DATA, the repo cache
// data/cache/cal_housing.data (filled by data/fetch_california.sh), ../shared/data/cal_housing.data
// beside the repo. Throws DataError listing every place tried and how to fetch the file.
std::string locate_california(const std::string& explicit_path);

// The same look-up with the default places (repo cache, ../shared) given, so tests can reach the
// not-found message whatever this machine holds.
std::string locate_california(const std::string& explicit_path, const std::vector<std::string>& default_places);
// The default places, in order: the repo cache data/cache/cal_housing.data (first: where
// data/california_fetch.h downloads to), then ../shared/data/cal_housing.data beside the repo.
std::vector<std::string> california_default_places();

// numpy.random.RandomState(seed).rand(n), through std::mt19937.
std::vector<double> numpy_rand(std::uint32_t seed, std::size_t n);

// Reads the raw 9-column file; DataError names the file, line and column of anything malformed.
Table read_california_raw(const std::string& path);
// The same from text in memory (`name` stands for the file in messages): the fuzzers' entry point.
Table parse_california_raw(std::string_view text, const std::string& name);

// The input of `dynpmnn predict`: raw rows in the StatLib column order, 8 columns (longitude ..
// medianIncome) or 9 (medianHouseValue last, not read), every row as many; line 1 may instead be
// the header naming those columns exactly ("longitude,latitude,...,medianIncome[,medianHouseValue]").
// households must be > 0. Returns (rows, 8); DataError names the file, line and column.
Table read_california_inputs(const std::string& path);
Table parse_california_inputs(std::string_view text, const std::string& name);

// Raw rows (8 or 9 columns, StatLib order) → (rows, 8) features in SplitData::feature_names order,
// unscaled: the derivation make_california_splits applies, for data outside the file.
std::vector<double> california_features(const Table& raw, const std::string& source);
// MedInc, HouseAge, AveRooms, AveBedrms, Population, AveOccup, Latitude, Longitude.
std::vector<std::string> california_feature_names();

// Raw table → 8 features (MedInc, HouseAge, AveRooms, AveBedrms, Population, AveOccup, Latitude,
// Longitude) and target MedHouseVal in $100k, split and standardised as the paper does.
SplitData make_california_splits(const Table& raw, const std::string& source);
// The same split standardised with a given scaler (a checkpoint's) instead of one fitted here.
SplitData make_california_splits(const Table& raw, const std::string& source, const Scaler& scaler);

// locate + read + split.
SplitData load_california(const std::string& explicit_path);

}  // namespace dynpmnn
