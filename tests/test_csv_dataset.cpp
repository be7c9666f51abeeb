// The generic CSV reader (data/csv_dataset.h): parsing, column selection, class mapping, the
// seeded (stratified) split, standardisation, and every error naming the file, line and column.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "data/csv_dataset.h"
#include "tests/cli_runner.h"

namespace dynpmnn {
namespace {

using testing::contains;

// The DataError's message of `f`, or "" when it does not throw one.
template <typename F>
std::string data_error(F&& f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  }
  return "";
}

template <typename F>
std::string invalid_argument(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

CsvOptions options(const std::string& target, Task task = Task::kRegression) {
  CsvOptions o;
  o.target = target;
  o.task = task;
  return o;
}

// n rows "x1,x2,label" with label cycling through `labels`, x1 = row, x2 = row², so every row is
// recognisable after the split.
std::string labelled_csv(int n, const std::vector<std::string>& labels) {
  std::string text = "x1,x2,label\n";
  for (int i = 0; i < n; ++i) text += fmt::format("{},{},{}\n", i, i * i, labels[i % labels.size()]);
  return text;
}

TEST(CsvParse, HeaderFieldsDelimitersQuotesAndLineEnds) {
  const CsvText comma = parse_csv("\xEF\xBB\xBF" "a, b ,\"c,d\"\r\n\r\n1,2,\"x \"\"y\"\"\"\r\n  \n3,4,z\n", "f.csv");
  EXPECT_EQ(comma.delimiter, ',');
  EXPECT_EQ(comma.header, (std::vector<std::string>{"a", "b", "c,d"}));
  ASSERT_EQ(comma.rows.size(), 2u);
  EXPECT_EQ(comma.rows[0], (std::vector<std::string>{"1", "2", "x \"y\""}));
  EXPECT_EQ(comma.lines, (std::vector<int>{3, 5}));  // blank lines skipped, numbering kept

  const CsvText semicolon = parse_csv("a;b;c\n1,5;2;3\n", "f.csv");
  EXPECT_EQ(semicolon.delimiter, ';');
  EXPECT_EQ(semicolon.rows[0], (std::vector<std::string>{"1,5", "2", "3"}));
  const CsvText tab = parse_csv("a\tb\n1\t2", "f.csv");  // no final line break
  EXPECT_EQ(tab.delimiter, '\t');
  EXPECT_EQ(tab.rows.at(0), (std::vector<std::string>{"1", "2"}));
}

TEST(CsvParse, ErrorsNameTheFileAndLine) {
  EXPECT_TRUE(contains(data_error([] { parse_csv("a,b,a\n1,2,3\n", "d.csv"); }),
                       "d.csv: line 1: header: column name 'a' appears twice (columns 1 and 3)"));
  EXPECT_TRUE(contains(data_error([] { parse_csv("a,b\n1,2\n3,4,5\n", "d.csv"); }),
                       "d.csv: line 3: 3 fields, the header has 2 columns"));
  EXPECT_TRUE(contains(data_error([] { parse_csv("a,b\n1\n", "d.csv"); }), "d.csv: line 2: 1 fields"));
  EXPECT_TRUE(contains(data_error([] { parse_csv("3.6,8.1,0\n1,2,1\n", "d.csv"); }),
                       "d.csv: line 1: the first line holds numbers only"));
  EXPECT_TRUE(contains(data_error([] { parse_csv("", "d.csv"); }), "d.csv: empty file"));
  EXPECT_TRUE(contains(data_error([] { parse_csv("\n \n", "d.csv"); }), "d.csv: empty file"));
  EXPECT_TRUE(contains(data_error([] { parse_csv("a,,c\n", "d.csv"); }), "line 1: header: column 2 has no name"));
  EXPECT_TRUE(contains(data_error([] { parse_csv("a,b\n\"1,2\n", "d.csv"); }), "line 2: a quoted field is not closed"));
  EXPECT_TRUE(contains(data_error([] { read_csv("/nonexistent/x.csv"); }), "/nonexistent/x.csv: no such file"));
}

TEST(CsvSplit, FeaturesMustBeFiniteNumbers) {
  for (const auto& [value, why] : std::vector<std::pair<std::string, std::string>>{
           {"abc", "'abc' is not a number"},
           {"", "empty field, expected a number"},
           {"nan", "'nan' is not a finite number"},
           {"-inf", "'-inf' is not a finite number"},
           {"1.5.2", "'1.5.2' is not a number"}}) {
    std::string text = labelled_csv(20, {"a", "b"});
    text += fmt::format("7,{},a\n", value);  // line 22
    const std::string message = data_error([&] {
      make_csv_splits(parse_csv(text, "n.csv"), "n.csv", options("label", Task::kClassification));
    });
    EXPECT_TRUE(contains(message, "n.csv: line 22: column 'x2': " + why)) << value << ": " << message;
  }
  // A regression target is a number too.
  const std::string message =
      data_error([] { make_csv_splits(parse_csv("x,y\n1,2\n2,3\n3,oops\n", "r.csv"), "r.csv", options("y")); });
  EXPECT_TRUE(contains(message, "r.csv: line 4: column 'y': 'oops' is not a number")) << message;
  // Columns that are neither features nor the target are not read.
  CsvOptions o = options("label", Task::kClassification);
  o.features = {"x1"};
  std::string text = "x1,notes,label\n";
  for (int i = 0; i < 20; ++i) text += fmt::format("{},free text {},{}\n", i, i, i % 2 ? "b" : "a");
  EXPECT_EQ(make_csv_splits(parse_csv(text, "n.csv"), "n.csv", o).feature_names, std::vector<std::string>{"x1"});
}

TEST(CsvSplit, ColumnErrors) {
  const CsvText csv = parse_csv(labelled_csv(20, {"a", "b"}), "c.csv");
  std::string message = data_error([&] { make_csv_splits(csv, "c.csv", options("y")); });
  EXPECT_TRUE(contains(message, "c.csv: no column named 'y' for the target (the header has: x1, x2, label)"))
      << message;
  CsvOptions o = options("label", Task::kClassification);
  o.features = {"x1", "x3"};
  message = data_error([&] { make_csv_splits(csv, "c.csv", o); });
  EXPECT_TRUE(contains(message, "no column named 'x3' for the features")) << message;
  o.features = {"x1", "label"};
  message = data_error([&] { make_csv_splits(csv, "c.csv", o); });
  EXPECT_TRUE(contains(message, "'label' is the target column")) << message;
  message = data_error([&] { make_csv_splits(parse_csv("y\n1\n2\n", "c.csv"), "c.csv", options("y")); });
  EXPECT_TRUE(contains(message, "no feature columns besides the target 'y'")) << message;
  message = data_error([&] { make_csv_splits(parse_csv("x,y\n", "c.csv"), "c.csv", options("y")); });
  EXPECT_TRUE(contains(message, "c.csv: no data rows")) << message;
}

TEST(CsvSplit, ClassesMapToSortedIndices) {
  EXPECT_EQ(sorted_class_labels({"setosa", "virginica", "versicolor", "setosa"}),
            (std::vector<std::string>{"setosa", "versicolor", "virginica"}));
  // Numbers in numeric order, not by their text: 10 after 9, -1 first.
  EXPECT_EQ(sorted_class_labels({"10", "9", "-1", "2", "9"}), (std::vector<std::string>{"-1", "2", "9", "10"}));
  EXPECT_EQ(sorted_class_labels({"b", "10", "9"}), (std::vector<std::string>{"10", "9", "b"}));

  const std::vector<std::string> labels = {"virginica", "setosa", "versicolor"};
  const SplitData d = make_csv_splits(parse_csv(labelled_csv(60, labels), "i.csv"), "i.csv",
                                      options("label", Task::kClassification));
  EXPECT_EQ(d.class_labels, (std::vector<std::string>{"setosa", "versicolor", "virginica"}));
  EXPECT_EQ(d.feature_names, (std::vector<std::string>{"x1", "x2"}));
  // Row i has label labels[i % 3]: recover i from x1 through the scaler and check its class index.
  for (const Dataset* s : {&d.train, &d.val, &d.test}) {
    EXPECT_EQ(s->targets, 1);
    for (int r = 0; r < s->rows; ++r) {
      const int i = static_cast<int>(std::lround(s->x[r * 2] * d.scaler.std[0] + d.scaler.mean[0]));
      const std::string& label = labels[static_cast<std::size_t>(i % 3)];
      EXPECT_EQ(d.class_labels[static_cast<std::size_t>(s->y[r])], label) << "row " << i;
    }
  }
}

// The rows of each split, recovered from x1 = row index.
std::vector<std::set<int>> split_rows(const SplitData& d) {
  std::vector<std::set<int>> rows;
  for (const Dataset* s : {&d.train, &d.val, &d.test}) {
    std::set<int> r;
    for (int i = 0; i < s->rows; ++i)
      r.insert(static_cast<int>(std::lround(s->x[static_cast<std::size_t>(i) * s->features] * d.scaler.std[0] +
                                            d.scaler.mean[0])));
    rows.push_back(r);
  }
  return rows;
}

TEST(CsvSplit, SeededStratifiedSplitCoversEveryRowOnce) {
  // 100 rows of class a, 50 of b, 10 of c: 0.7 / 0.15 / 0.15 of each class.
  std::string text = "x1,x2,label\n";
  for (int i = 0; i < 160; ++i) text += fmt::format("{},{},{}\n", i, i % 7, i < 100 ? "a" : i < 150 ? "b" : "c");
  const CsvText csv = parse_csv(text, "s.csv");
  CsvOptions o = options("label", Task::kClassification);
  o.seed = 7;
  const SplitData d = make_csv_splits(csv, "s.csv", o);
  EXPECT_EQ(d.train.rows, 70 + 35 + 7);
  EXPECT_EQ(d.val.rows, 15 + 8 + 2);  // llround(7.5) = 8, llround(1.5) = 2
  EXPECT_EQ(d.test.rows, 15 + 7 + 1);
  std::map<int, int> val_per_class;
  for (const double y : d.val.y) ++val_per_class[static_cast<int>(y)];
  EXPECT_EQ(val_per_class, (std::map<int, int>{{0, 15}, {1, 8}, {2, 2}}));
  const auto rows = split_rows(d);
  std::set<int> all;
  for (const auto& r : rows) all.insert(r.begin(), r.end());
  EXPECT_EQ(all.size(), 160u);  // disjoint and complete
  EXPECT_EQ(rows[0].size() + rows[1].size() + rows[2].size(), 160u);

  EXPECT_EQ(split_rows(make_csv_splits(csv, "s.csv", o)), rows);  // the seed fixes it
  o.seed = 8;
  EXPECT_NE(split_rows(make_csv_splits(csv, "s.csv", o)), rows);
  // Regression: one group, 0.5 / 0.25 / 0.25 of 160.
  CsvOptions r = options("x2");
  r.split = {0.5, 0.25, 0.25};
  const SplitData reg = make_csv_splits(csv, "s.csv", {r.target, {"x1"}, r.task, r.split, 3});
  EXPECT_EQ(reg.train.rows, 80);
  EXPECT_EQ(reg.val.rows, 40);
  EXPECT_EQ(reg.test.rows, 40);
  EXPECT_TRUE(reg.class_labels.empty());
}

TEST(CsvSplit, SplitErrors) {
  // A class of one row cannot be stratified.
  std::string text = labelled_csv(20, {"a", "b"}) + "99,1,lonely\n";  // line 22
  std::string message = data_error(
      [&] { make_csv_splits(parse_csv(text, "s.csv"), "s.csv", options("label", Task::kClassification)); });
  EXPECT_TRUE(contains(message, "s.csv: class 'lonely' of column 'label' has a single row (line 22)")) << message;
  // 4 rows per class: 0.8 · 4 = 3.2 → 3 train, 0.1 · 4 → 0 validation rows.
  CsvOptions o = options("label", Task::kClassification);
  o.split = {0.8, 0.1, 0.1};
  message = data_error([&] { make_csv_splits(parse_csv(labelled_csv(8, {"a", "b"}), "s.csv"), "s.csv", o); });
  EXPECT_TRUE(contains(message, "s.csv: split = [0.8, 0.1, 0.1] leaves the validation split without rows (8 rows in "
                                "all, 6 / 0 / 2)"))
      << message;
  message = data_error([&] {
    make_csv_splits(parse_csv(labelled_csv(8, {"a"}), "s.csv"), "s.csv", options("label", Task::kClassification));
  });
  EXPECT_TRUE(contains(message, "holds one class only ('a')")) << message;
  o.split = {0.7, 0.2, 0.2};
  message = data_error([&] { make_csv_splits(parse_csv(labelled_csv(40, {"a", "b"}), "s.csv"), "s.csv", o); });
  EXPECT_TRUE(contains(message, "must sum to 1")) << message;

  EXPECT_EQ(parse_split_fractions(" 0.6, 0.2 ,0.2"), (std::array<double, 3>{0.6, 0.2, 0.2}));
  EXPECT_TRUE(
      contains(invalid_argument([] { parse_split_fractions("0.7,0.3"); }), "holds 2 fractions, expected three"));
  EXPECT_TRUE(contains(invalid_argument([] { parse_split_fractions("0.5,0.25,0.125"); }), "sums to 0.875"));
  EXPECT_TRUE(contains(invalid_argument([] { parse_split_fractions("0.7,x,0.3"); }), "holds 'x', not a number"));
  EXPECT_TRUE(
      contains(invalid_argument([] { parse_split_fractions("1.5,-0.25,-0.25"); }), "holds 1.5, outside [0, 1]"));
  EXPECT_TRUE(contains(invalid_argument([] { parse_split_fractions("0.5,0.2,0.2,0.1"); }), "more than three"));
  EXPECT_EQ(parse_column_list(" a, b ,c", "features"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(parse_column_list("  ", "features").empty());
  EXPECT_TRUE(
      contains(invalid_argument([] { parse_column_list("a,,b", "features"); }), "features = 'a,,b' holds an empty"));
  EXPECT_TRUE(contains(invalid_argument([] { parse_column_list("a,b,a", "features"); }), "lists the column 'a' twice"));
}

TEST(CsvSplit, StandardisedByTheTrainSplit) {
  std::string text = "u,v,y\n";
  for (int i = 0; i < 50; ++i) text += fmt::format("{},{},{}\n", 3.0 * i + 1.0, std::sin(i) * 100.0, i % 2);
  const CsvText csv = parse_csv(text, "z.csv");
  const SplitData d = make_csv_splits(csv, "z.csv", options("y", Task::kClassification));
  // Train columns have mean 0 and unbiased std 1; the scaler maps the raw values of every split.
  for (int j = 0; j < 2; ++j) {
    double mean = 0, var = 0;
    for (int r = 0; r < d.train.rows; ++r) mean += d.train.x[r * 2 + j];
    mean /= d.train.rows;
    for (int r = 0; r < d.train.rows; ++r) var += std::pow(d.train.x[r * 2 + j] - mean, 2);
    EXPECT_NEAR(mean, 0.0, 1e-12);
    EXPECT_NEAR(std::sqrt(var / (d.train.rows - 1)), 1.0, 1e-12);
  }
  for (int r = 0; r < d.test.rows; ++r) {
    const double u = d.test.x[r * 2] * d.scaler.std[0] + d.scaler.mean[0];
    const int i = static_cast<int>(std::lround((u - 1.0) / 3.0));
    EXPECT_NEAR(d.test.x[r * 2 + 1], (std::sin(i) * 100.0 - d.scaler.mean[1]) / d.scaler.std[1], 1e-12);
  }
  // A given scaler is applied instead of fitting one.
  Scaler unit{{0.0, 0.0}, {1.0, 1.0}};
  const SplitData raw = make_csv_splits(csv, "z.csv", options("y", Task::kClassification), unit);
  EXPECT_EQ(raw.train.rows, d.train.rows);
  for (int r = 0; r < raw.train.rows; ++r) {
    const int i = static_cast<int>(std::lround((raw.train.x[r * 2] - 1.0) / 3.0));
    EXPECT_EQ(raw.train.x[r * 2], 3.0 * i + 1.0);
    EXPECT_EQ(raw.train.x[r * 2 + 1], std::sin(i) * 100.0);
  }
  // A constant feature is kept unscaled (std 1, as scikit-learn's StandardScaler) and warned about
  // (issue 12; it used to be refused). tests/test_defaults.cpp checks the values.
  std::string flat = "u,c,y\n";
  for (int i = 0; i < 20; ++i) flat += fmt::format("{},5,{}\n", i, i % 2);
  const SplitData kept = make_csv_splits(parse_csv(flat, "k.csv"), "k.csv", options("y", Task::kClassification));
  EXPECT_EQ(kept.scaler.std[1], 1.0);
  ASSERT_EQ(kept.warnings.size(), 1u);
  EXPECT_TRUE(contains(kept.warnings[0], "k.csv: feature column 'c' is constant over the 14 train rows"))
      << kept.warnings[0];
  EXPECT_TRUE(d.warnings.empty());
}

TEST(CsvSplit, FeatureTableForPredictReadsNamedColumnsInOrder) {
  const CsvText csv = parse_csv("label,b,a,extra\nx,1,2,q\ny,3,4,r\n", "p.csv");
  const Table t = csv_feature_table(csv, "p.csv", {"a", "b"});
  EXPECT_EQ(t.rows, 2);
  EXPECT_EQ(t.cols, 2);
  EXPECT_EQ(t.values, (std::vector<double>{2, 1, 4, 3}));
  EXPECT_TRUE(contains(data_error([&] { csv_feature_table(csv, "p.csv", {"a", "z"}); }), "no column named 'z'"));
  EXPECT_TRUE(contains(data_error([&] { csv_feature_table(csv, "p.csv", {"label"}); }),
                       "p.csv: line 2: column 'label': 'x' is not a number"));
}

}  // namespace
}  // namespace dynpmnn
