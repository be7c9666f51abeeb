#include "data/california.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string_view>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

#include "data/share_dir.h"

namespace dynpmnn {

namespace {

namespace fs = std::filesystem;

constexpr int kRawColumns = 9;
constexpr int kInputColumns = 8;  // what predict reads: the raw columns without medianHouseValue
constexpr std::array<const char*, kRawColumns> kRawColumnNames = {
    "longitude", "latitude", "housingMedianAge", "totalRooms", "totalBedrooms",
    "population", "households", "medianIncome", "medianHouseValue"};
enum RawColumn { kLongitude, kLatitude, kHouseAge, kTotalRooms, kTotalBedrooms, kPopulation, kHouseholds,
                 kMedianIncome, kMedianHouseValue };

constexpr int kFeatures = 8;
constexpr std::array<const char*, kFeatures> kFeatureNames = {
    "MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude", "Longitude"};

// The paper's split: numpy.random.RandomState(42).rand(rows) against these thresholds.
constexpr std::uint32_t kSplitSeed = 42;
constexpr double kTrainUpTo = 0.7;
constexpr double kValUpTo = 0.9;

constexpr double kTargetUnit = 1e5;  // MedHouseVal is in $100k, as scikit-learn reports it

std::string quoted(std::string_view text) {
  // A binary file would otherwise put a whole megabyte into the message.
  constexpr std::size_t kMaxShown = 40;
  std::string out = "'";
  out += text.substr(0, kMaxShown);
  out += text.size() > kMaxShown ? "...'" : "'";
  return out;
}

// Whether text that from_chars found out of range is so because it is too large (not too small).
bool overflows_double(std::string_view field) {
  return std::isinf(std::strtod(std::string(field).c_str(), nullptr));
}

[[noreturn]] void fail_at(const std::string& path, int line, int column, const std::string& what) {
  throw DataError(path + ": line " + std::to_string(line) + ", column " + std::to_string(column) + " (" +
                  kRawColumnNames[column - 1] + "): " + what);
}

double parse_field(std::string_view field, const std::string& path, int line, int column) {
  if (field.empty()) fail_at(path, line, column, "empty field, expected a number");
  double value = 0;
  const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (ec == std::errc::invalid_argument) fail_at(path, line, column, quoted(field) + " is not a number");
  if (ec == std::errc::result_out_of_range)
    fail_at(path, line, column, quoted(field) + (overflows_double(field) ? " overflows a double (beyond ±1.8e308)"
                                                                         : " is out of the range of a double"));
  if (end != field.data() + field.size())
    fail_at(path, line, column, quoted(field) + " has trailing characters after the number, expected only a number");
  if (!std::isfinite(value)) fail_at(path, line, column, quoted(field) + " is not finite, expected a finite number");
  return value;
}

std::string read_whole_file(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw DataError(path + ": no such file");
  if (fs::is_directory(path, ec)) throw DataError(path + ": is a directory, expected the cal_housing.data file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": cannot be opened: " + std::strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) throw DataError(path + ": cannot be read as a file (no size), expected the cal_housing.data file");
  in.seekg(0, std::ios::beg);
  std::string text(static_cast<std::size_t>(size), '\0');
  if (!in.read(text.data(), size)) throw DataError(path + ": read failed: " + std::strerror(errno));
  return text;
}

// Calls row(line, text) for each line, LF or CRLF, the last newline optional.
template <typename F>
void for_each_line(std::string_view text, F&& row) {
  const char* p = text.data();
  const char* const end = p + text.size();
  int line = 0;
  while (p < end) {
    ++line;
    const char* eol = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    if (eol == nullptr) eol = end;
    const char* stop = (eol > p && eol[-1] == '\r') ? eol - 1 : eol;
    const std::string_view text_of_row(p, static_cast<std::size_t>(stop - p));
    p = eol == end ? end : eol + 1;
    row(line, text_of_row);
  }
}

// The first `columns` raw column names, comma-separated: the optional header of an input file.
std::string raw_header(int columns) {
  std::string header;
  for (int c = 0; c < columns; ++c) header += std::string(c ? "," : "") + kRawColumnNames[c];
  return header;
}

// Whether a field starts like a number, to tell a header line from a row with a bad first field.
bool looks_numeric(std::string_view field) {
  return !field.empty() && (std::isdigit(static_cast<unsigned char>(field[0])) || field[0] == '-' ||
                            field[0] == '.' || field[0] == '+');
}

// One raw row (at least the 8 input columns) → the 8 features in kFeatureNames order, unscaled.
// `row` is 0-based; in the file it is line row + 1.
void derive_features(const double* v, const std::string& source, int row, double* out) {
  const double households = v[kHouseholds];
  if (!(households > 0))
    throw DataError(source + ": row " + std::to_string(row + 1) + " (line " + std::to_string(row + 1) +
                    " of the file), column 7 (households): " + std::to_string(households) +
                    ", expected > 0 to derive AveRooms, AveBedrms and AveOccup");
  const double features[kFeatures] = {v[kMedianIncome], v[kHouseAge], v[kTotalRooms] / households,
                                      v[kTotalBedrooms] / households, v[kPopulation], v[kPopulation] / households,
                                      v[kLatitude], v[kLongitude]};
  std::copy(features, features + kFeatures, out);
}

SplitData make_splits(const Table& raw, const std::string& source, const Scaler* given);

// Why a place was passed over, for the not-found message.
std::string why_not_used(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return "does not exist";
  return "is not a regular file";
}

bool is_regular_file(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

const char* split_name(int split) {
  static constexpr std::array<const char*, 3> kNames = {"train", "validation", "test"};
  return kNames[split];
}

}  // namespace

Scaler fit_scaler(const Dataset& train, const std::vector<std::string>& names, const std::string& source,
                  std::vector<std::string>& warnings) {
  const int F = train.features;
  const std::size_t n = static_cast<std::size_t>(train.rows);
  if (names.size() != static_cast<std::size_t>(F) || train.x.size() != n * static_cast<std::size_t>(F))
    throw std::invalid_argument(fmt::format("fit_scaler: {} names and {} values for {} rows of {} features",
                                            names.size(), train.x.size(), n, F));
  Scaler scaler;
  scaler.mean.assign(static_cast<std::size_t>(F), 0.0);
  scaler.std.assign(static_cast<std::size_t>(F), 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (int j = 0; j < F; ++j) scaler.mean[j] += train.x[i * F + j];
  for (double& m : scaler.mean) m /= static_cast<double>(n);
  for (std::size_t i = 0; i < n; ++i)
    for (int j = 0; j < F; ++j) {
      const double d = train.x[i * F + j] - scaler.mean[j];
      scaler.std[j] += d * d;
    }
  for (int j = 0; j < F; ++j) {
    scaler.std[j] = n > 1 ? std::sqrt(scaler.std[j] / static_cast<double>(n - 1)) : 0.0;
    if (!std::isfinite(scaler.mean[j]) || !std::isfinite(scaler.std[j])) {
      double largest = 0;
      for (std::size_t i = 0; i < n; ++i) largest = std::max(largest, std::abs(train.x[i * F + j]));
      throw DataError(fmt::format("{}: feature column '{}' overflows: its values (up to {:.3g} in magnitude) make the "
                                  "{} over the {} train rows overflow a double; rescale the column (divide it by a "
                                  "power of ten) or leave it out with the features key",
                                  source, names[j], largest, std::isfinite(scaler.mean[j]) ? "variance" : "mean", n));
    }
    if (scaler.std[j] == 0) {
      warnings.push_back(fmt::format("{}: feature column '{}' is constant over the {} train rows (value {}); it is "
                                     "kept unscaled (std taken as 1, as scikit-learn's StandardScaler does) and "
                                     "gives the model nothing to learn from",
                                     source, names[j], n, scaler.mean[j]));
      scaler.std[j] = 1.0;
    }
  }
  return scaler;
}

TargetScaler fit_target_scaler(const Dataset& train, const std::string& target, const std::string& source) {
  Dataset column;
  column.rows = train.rows;
  column.features = 1;
  for (int i = 0; i < train.rows; ++i) column.x.push_back(train.y[static_cast<std::size_t>(i) * train.targets]);
  std::vector<std::string> constant;
  Scaler fitted;
  try {
    fitted = fit_scaler(column, {target}, source, constant);
  } catch (const DataError&) {
    throw DataError(fmt::format("{}: target column '{}' overflows: its train mean or variance overflows a double, so "
                                "it cannot be standardised; rescale it (divide it by a power of ten)",
                                source, target));
  }
  return TargetScaler{fitted.mean[0], fitted.std[0]};
}

void Scaler::apply(std::vector<double>& x, int features) const {
  if (features <= 0 || mean.size() != static_cast<std::size_t>(features) ||
      std.size() != static_cast<std::size_t>(features) || x.size() % static_cast<std::size_t>(features) != 0)
    throw std::invalid_argument("Scaler::apply: " + std::to_string(x.size()) + " values with " +
                                std::to_string(features) + " features, scaler fitted on " +
                                std::to_string(mean.size()));
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::size_t j = i % static_cast<std::size_t>(features);
    x[i] = (x[i] - mean[j]) / std[j];
  }
}

std::vector<double> numpy_rand(std::uint32_t seed, std::size_t n) {
  std::mt19937 gen(seed);
  std::vector<double> out(n);
  for (double& r : out) {
    // Two statements: the order of two gen() calls inside one expression is unspecified.
    const double high = static_cast<double>(gen() >> 5);
    const double low = static_cast<double>(gen() >> 6);
    r = (high * 67108864.0 + low) / 9007199254740992.0;
  }
  return out;
}

Table parse_california_raw(std::string_view text, const std::string& name) {
  if (text.empty()) throw DataError(name + ": file is empty, expected 9 comma-separated numbers per line");

  Table table;
  table.cols = kRawColumns;
  table.values.reserve(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n') + 1) * kRawColumns);
  for_each_line(text, [&](int line, std::string_view row) {
    if (row.empty())
      throw DataError(name + ": line " + std::to_string(line) + ": blank line, expected 9 comma-separated numbers");
    const auto columns = std::count(row.begin(), row.end(), ',') + 1;
    if (columns != kRawColumns)
      throw DataError(name + ": line " + std::to_string(line) + ": " + std::to_string(columns) +
                      " comma-separated columns, expected 9");
    std::size_t start = 0;
    for (int column = 1; column <= kRawColumns; ++column) {
      const std::size_t comma = column < kRawColumns ? row.find(',', start) : row.size();
      table.values.push_back(parse_field(row.substr(start, comma - start), name, line, column));
      start = comma + 1;
    }
    ++table.rows;
  });
  return table;
}

Table read_california_raw(const std::string& path) { return parse_california_raw(read_whole_file(path), path); }

Table parse_california_inputs(std::string_view text, const std::string& name) {
  const std::string expected = "rows of 8 comma-separated numbers (" + raw_header(kInputColumns) +
                               "), optionally a 9th (medianHouseValue, ignored)";
  if (text.empty()) throw DataError(name + ": file is empty, expected " + expected);
  Table table;
  table.cols = kInputColumns;
  table.values.reserve(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n') + 1) * kInputColumns);
  int columns_seen = 0;  // of the first row (or the header); every row must have as many
  for_each_line(text, [&](int line, std::string_view row) {
    const std::string at = name + ": line " + std::to_string(line) + ": ";
    if (row.empty()) throw DataError(at + "blank line, expected " + expected);
    const int columns = static_cast<int>(std::count(row.begin(), row.end(), ',') + 1);
    if (line == 1 && (row == raw_header(kInputColumns) || row == raw_header(kRawColumns))) {
      columns_seen = columns;
      return;
    }
    if (columns != kInputColumns && columns != kRawColumns)
      throw DataError(at + std::to_string(columns) + " comma-separated columns, expected " + expected);
    if (columns_seen != 0 && columns != columns_seen)
      throw DataError(at + std::to_string(columns) + " comma-separated columns, but the first line has " +
                      std::to_string(columns_seen));
    columns_seen = columns;
    std::size_t start = 0;
    for (int column = 1; column <= kInputColumns; ++column) {
      const std::size_t comma = row.find(',', start);
      const std::string_view field = row.substr(start, comma - start);
      double value = 0;
      if (line == 1 && column == 1 && !looks_numeric(field))
        throw DataError(at + "neither numbers nor the header line '" + raw_header(kInputColumns) + "' (with or " +
                        "without ',medianHouseValue'): column 1 is " + quoted(field));
      value = parse_field(field, name, line, column);
      if (column == kHouseholds + 1 && !(value > 0))
        fail_at(name, line, column, quoted(field) + " is not > 0 (AveRooms, AveBedrms and AveOccup divide by it)");
      table.values.push_back(value);
      start = comma + 1;
    }
    ++table.rows;
  });
  if (table.rows == 0) throw DataError(name + ": holds only the header line, expected " + expected);
  return table;
}

Table read_california_inputs(const std::string& path) { return parse_california_inputs(read_whole_file(path), path); }

std::vector<std::string> california_feature_names() { return {kFeatureNames.begin(), kFeatureNames.end()}; }

std::vector<double> california_features(const Table& raw, const std::string& source) {
  if (raw.cols != kInputColumns && raw.cols != kRawColumns)
    throw DataError(source + ": table has " + std::to_string(raw.cols) + " columns, expected 8 or 9");
  if (raw.values.size() != static_cast<std::size_t>(raw.rows) * static_cast<std::size_t>(raw.cols))
    throw DataError(source + ": table holds " + std::to_string(raw.values.size()) + " values for " +
                    std::to_string(raw.rows) + " rows of " + std::to_string(raw.cols));
  std::vector<double> x(static_cast<std::size_t>(raw.rows) * kFeatures);
  for (int i = 0; i < raw.rows; ++i)
    derive_features(&raw.values[static_cast<std::size_t>(i) * raw.cols], source, i,
                    &x[static_cast<std::size_t>(i) * kFeatures]);
  return x;
}

SplitData make_california_splits(const Table& raw, const std::string& source) {
  return make_splits(raw, source, nullptr);
}

SplitData make_california_splits(const Table& raw, const std::string& source, const Scaler& scaler) {
  return make_splits(raw, source, &scaler);
}

namespace {

SplitData make_splits(const Table& raw, const std::string& source, const Scaler* given) {
  if (raw.cols != kRawColumns)
    throw DataError(source + ": table has " + std::to_string(raw.cols) + " columns, expected 9");
  if (raw.rows <= 0) throw DataError(source + ": table has no rows");
  if (raw.values.size() != static_cast<std::size_t>(raw.rows) * kRawColumns)
    throw DataError(source + ": table holds " + std::to_string(raw.values.size()) + " values for " +
                    std::to_string(raw.rows) + " rows of 9");

  SplitData out;
  out.source = source;
  out.feature_names.assign(kFeatureNames.begin(), kFeatureNames.end());
  std::array<Dataset*, 3> splits = {&out.train, &out.val, &out.test};
  for (Dataset* d : splits) d->features = kFeatures;

  const std::vector<double> r = numpy_rand(kSplitSeed, static_cast<std::size_t>(raw.rows));
  for (int i = 0; i < raw.rows; ++i) {
    const double* v = &raw.values[static_cast<std::size_t>(i) * kRawColumns];
    Dataset& d = r[i] <= kTrainUpTo ? out.train : r[i] <= kValUpTo ? out.val : out.test;
    double features[kFeatures];
    derive_features(v, source, i, features);
    d.x.insert(d.x.end(), features, features + kFeatures);
    d.y.push_back(v[kMedianHouseValue] / kTargetUnit);
    ++d.rows;
  }
  for (int s = 0; s < 3; ++s)
    if (splits[s]->rows == 0)
      throw DataError(source + ": splitting " + std::to_string(raw.rows) + " rows leaves the " + split_name(s) +
                      " split empty (the paper's split is meant for the 20640-row file)");
  if (out.train.rows < 2)
    throw DataError(source + ": the train split has " + std::to_string(out.train.rows) +
                    " row, the unbiased std needs at least 2");

  if (given != nullptr && (given->mean.size() != kFeatures || given->std.size() != kFeatures))
    throw DataError(source + ": the scaler given has " + std::to_string(given->mean.size()) + " means and " +
                    std::to_string(given->std.size()) + " standard deviations, expected 8 of each");
  out.scaler = given != nullptr ? *given : fit_scaler(out.train, out.feature_names, source, out.warnings);
  for (Dataset* d : splits) out.scaler.apply(d->x, kFeatures);
  return out;
}

}  // namespace

std::string locate_california(const std::string& explicit_path, const std::vector<std::string>& default_places) {
  // A path the user named is never replaced by another file: training on data they did not ask for
  // is worse than stopping.
  if (!explicit_path.empty()) {
    if (is_regular_file(explicit_path)) return explicit_path;
    throw DataError("--data " + explicit_path + ": " + why_not_used(explicit_path));
  }
  const char* env = std::getenv(kDataEnvVar);
  if (env != nullptr && *env != '\0') {
    if (is_regular_file(env)) return env;
    throw DataError(std::string("$") + kDataEnvVar + "=" + env + ": " + why_not_used(env));
  }
  std::string tried;
  for (const std::string& place : default_places) {
    if (is_regular_file(place)) return place;
    tried += "  " + place + " (" + why_not_used(place) + ")\n";
  }
  throw DataError(std::string("California Housing data (cal_housing.data) not found. Tried:\n") +
                  "  --data PATH (not given)\n  $" + kDataEnvVar + " (not set)\n" + tried +
                  "Run data/fetch_california.sh to download and verify it into data/cache/, "
                  "or pass --data PATH, or set " + kDataEnvVar + "=PATH.");
}

std::vector<std::string> california_default_places() {
  // None where the program finds no share folder (an embedding program that set none): --data and
  // $DYNPMNN_DATA still work.
  const std::optional<fs::path> share = find_share_dir();
  if (!share) return {};
  return {(*share / "data" / "cache" / "cal_housing.data").string(),
          (*share / ".." / "shared" / "data" / "cal_housing.data").string()};
}

std::string locate_california(const std::string& explicit_path) {
  return locate_california(explicit_path, california_default_places());
}

SplitData load_california(const std::string& explicit_path) {
  const std::string path = locate_california(explicit_path);
  return make_california_splits(read_california_raw(path), path);
}

}  // namespace dynpmnn
