// Defaults that train (issue 12): constant and overflowing feature columns.
// Every data file is generated here; none of the scikit-learn files is needed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <fmt/format.h>

#include "data/csv_dataset.h"

namespace dynpmnn {
namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// ---- the data: constant and overflowing columns ---------------------------------------------

TEST(FeatureScaler, ConstantColumnIsKeptUnscaledWithAWarning) {
  std::string text = "u,c,y\n";
  for (int i = 0; i < 20; ++i) text += fmt::format("{},5,{}\n", i, 2 * i);
  CsvOptions options;
  options.target = "y";
  const SplitData d = make_csv_splits(parse_csv(text, "k.csv"), "k.csv", options);
  EXPECT_EQ(d.scaler.mean[1], 5.0);
  EXPECT_EQ(d.scaler.std[1], 1.0);  // scikit-learn's StandardScaler: std 0 -> scale 1
  for (const Dataset* s : {&d.train, &d.val, &d.test})
    for (int r = 0; r < s->rows; ++r) EXPECT_EQ(s->x[static_cast<std::size_t>(r) * 2 + 1], 0.0);
  EXPECT_GT(d.scaler.std[0], 1.0);
  ASSERT_EQ(d.warnings.size(), 1u);
  EXPECT_TRUE(contains(d.warnings[0], "k.csv: feature column 'c' is constant over the 14 train rows (value 5)"))
      << d.warnings[0];
  EXPECT_TRUE(contains(d.warnings[0], "kept unscaled")) << d.warnings[0];
}

TEST(FeatureScaler, OverflowingColumnIsNamed) {
  // Each value is a double, their variance is not.
  std::string text = "u,huge,y\n";
  for (int i = 0; i < 20; ++i) text += fmt::format("{},{},{}\n", i, i % 2 ? "1e300" : "-1e300", i);
  CsvOptions options;
  options.target = "y";
  std::string message;
  try {
    make_csv_splits(parse_csv(text, "o.csv"), "o.csv", options);
  } catch (const DataError& e) {
    message = e.what();
  }
  EXPECT_TRUE(contains(message, "o.csv: feature column 'huge' overflows")) << message;
  EXPECT_TRUE(contains(message, "variance")) << message;

  // A field beyond a double is named as overflowing where it is read.
  std::string beyond = "u,v,y\n1,2,3\n4,1e999,6\n";
  message.clear();
  try {
    make_csv_splits(parse_csv(beyond, "b.csv"), "b.csv", options);
  } catch (const DataError& e) {
    message = e.what();
  }
  EXPECT_TRUE(contains(message, "b.csv: line 3: column 'v': '1e999' overflows a double")) << message;
}

}  // namespace
}  // namespace dynpmnn
