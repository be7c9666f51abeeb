// A generic CSV dataset for the paper's other experiments (iris, banknote authentication, breast
// cancer, ...): a header row naming the columns, one target column chosen by name, numeric feature
// columns, a seeded train/validation/test split (stratified by class for classification) and the
// train-split standardisation. docs/datasets.md documents the options.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/california.h"

namespace dynpmnn {

enum class Task : int { kRegression = 0, kClassification = 1 };
Task task_from_string(std::string_view name);  // std::invalid_argument naming the accepted values
const char* to_string(Task task);

struct CsvOptions {
  std::string target;                         // the target column's name
  std::vector<std::string> features;          // feature columns in this order; empty: all but the target
  Task task = Task::kRegression;
  std::array<double, 3> split = {0.7, 0.15, 0.15};  // train, validation, test fractions, summing to 1
  std::uint64_t seed = 42;                    // of the split's shuffle (not the training seed)
};

// "0.7,0.15,0.15" → {0.7, 0.15, 0.15}: three fractions in [0, 1] summing to 1 (within 1e-6).
// std::invalid_argument naming the key split and the value otherwise.
std::array<double, 3> parse_split_fractions(std::string_view text);
// "a, b,c" → {"a", "b", "c"} (blanks around names trimmed; "" → none). std::invalid_argument, naming
// `key`, for an empty name or one listed twice.
std::vector<std::string> parse_column_list(std::string_view text, std::string_view key);

// A CSV file as text fields: the header and the data rows, with each row's line number in the file.
struct CsvText {
  char delimiter = ',';
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<int> lines;  // (rows) 1-based line of each row, for messages
};

// The delimiter is the one of ',', ';' and tab that the header line holds most often. Fields are
// trimmed of blanks and may be double-quoted ("" inside quotes is one quote). Blank lines are
// skipped; a UTF-8 byte order mark and CR line ends are accepted. DataError, naming the file and
// line, for: an empty file, a header of numbers only (a header row is required), an empty or
// duplicated column name, a row whose field count differs from the header's, an unclosed quote.
CsvText parse_csv(std::string_view text, const std::string& name);
CsvText read_csv(const std::string& path);

// Class labels in class order: numerically when every label is a number (so "10" follows "9"),
// else by their bytes; duplicates removed.
std::vector<std::string> sorted_class_labels(std::vector<std::string> labels);

// The three splits: rows shuffled with `options.seed` (per class for classification, so that each
// split keeps the class proportions; a class of a single row is then an error), cut at the
// fractions (rounded per group), each split in file order. Features are standardised by the train
// split's mean and unbiased std (fit_scaler: a constant feature is kept unscaled and warned about in
// SplitData::warnings, one that overflows is an error); y holds the target (regression)
// or the class index 0..K-1 into SplitData::class_labels (classification). DataError names the
// file, line and column of a non-numeric, empty, NaN, infinite or overflowing (1e999) feature or
// regression target, a
// missing or repeated column in `options`, a bad split, and a split left without rows.
SplitData make_csv_splits(const CsvText& csv, const std::string& source, const CsvOptions& options);
// The same standardised with a given scaler (a checkpoint's) instead of one fitted here.
SplitData make_csv_splits(const CsvText& csv, const std::string& source, const CsvOptions& options,
                          const Scaler& scaler);
SplitData load_csv_dataset(const std::string& path, const CsvOptions& options);

// The input of `dynpmnn predict` for a CSV run: a CSV with a header holding at least the given
// feature columns (any order; other columns, the target among them, are ignored). Returns
// (rows, features) in the order of `features`, unscaled; DataError as above.
Table csv_feature_table(const CsvText& csv, const std::string& source, const std::vector<std::string>& features);

}  // namespace dynpmnn
