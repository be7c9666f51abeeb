// libFuzzer target: the generic CSV reader (data/csv_dataset.h), its split and standardisation,
// as classification and as regression on the last column, and predict's feature table. Anything
// but a DataError is a bug; so is a result that breaks what the reader promises.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "data/csv_dataset.h"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

void check_split(const dynpmnn::SplitData& s, std::size_t rows, dynpmnn::Task task) {
  require(static_cast<std::size_t>(s.train.rows + s.val.rows + s.test.rows) == rows);
  const int F = static_cast<int>(s.feature_names.size());
  require(F >= 1 && s.scaler.mean.size() == static_cast<std::size_t>(F));
  for (const dynpmnn::Dataset* d : {&s.train, &s.val, &s.test}) {
    require(d->rows >= 1 && d->features == F && d->targets == 1);
    require(d->x.size() == static_cast<std::size_t>(d->rows) * F && d->y.size() == static_cast<std::size_t>(d->rows));
    for (const double v : d->x) require(!std::isnan(v));  // finite inputs, finite scaler: no NaN
    for (const double y : d->y) {
      require(std::isfinite(y));
      if (task == dynpmnn::Task::kClassification)
        require(y >= 0 && y < static_cast<double>(s.class_labels.size()) && y == std::floor(y));
    }
  }
  if (task == dynpmnn::Task::kClassification) {
    require(s.class_labels.size() >= 2);
    require(std::set<std::string>(s.class_labels.begin(), s.class_labels.end()).size() == s.class_labels.size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  dynpmnn::CsvText csv;
  try {
    csv = dynpmnn::parse_csv(text, "fuzz.csv");
  } catch (const dynpmnn::DataError&) {
    return 0;
  }
  require(!csv.header.empty() && csv.rows.size() == csv.lines.size());
  require(std::set<std::string>(csv.header.begin(), csv.header.end()).size() == csv.header.size());
  for (const auto& row : csv.rows) require(row.size() == csv.header.size());
  for (const dynpmnn::Task task : {dynpmnn::Task::kClassification, dynpmnn::Task::kRegression}) {
    dynpmnn::CsvOptions options;
    options.target = csv.header.back();
    options.task = task;
    try {
      check_split(dynpmnn::make_csv_splits(csv, "fuzz.csv", options), csv.rows.size(), task);
    } catch (const dynpmnn::DataError&) {
    }
  }
  try {
    const dynpmnn::Table t = dynpmnn::csv_feature_table(csv, "fuzz.csv", {csv.header.front()});
    require(t.cols == 1 && t.values.size() == csv.rows.size());
    for (const double v : t.values) require(std::isfinite(v));
  } catch (const dynpmnn::DataError&) {
  }
  return 0;
}
