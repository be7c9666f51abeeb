// libFuzzer target: the California Housing readers (the raw 9-column file and predict's input CSV)
// and the feature derivation and split behind them. Anything but a DataError is a bug; so is a
// table whose shape or values break what the readers promise.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "data/california.h"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

void check_table(const dynpmnn::Table& t, int cols) {
  require(t.cols == cols && t.rows >= 1);
  require(t.values.size() == static_cast<std::size_t>(t.rows) * cols);
  for (const double v : t.values) require(std::isfinite(v));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const dynpmnn::Table raw = dynpmnn::parse_california_raw(text, "fuzz.data");
    check_table(raw, 9);
    const dynpmnn::SplitData split = dynpmnn::make_california_splits(raw, "fuzz.data");
    require(split.train.rows + split.val.rows + split.test.rows == raw.rows);
    for (const dynpmnn::Dataset* d : {&split.train, &split.val, &split.test})
      require(d->x.size() == static_cast<std::size_t>(d->rows) * 8 && d->y.size() == static_cast<std::size_t>(d->rows));
  } catch (const dynpmnn::DataError&) {
  }
  try {
    const dynpmnn::Table inputs = dynpmnn::parse_california_inputs(text, "fuzz.csv");
    check_table(inputs, 8);
    const std::vector<double> x = dynpmnn::california_features(inputs, "fuzz.csv");
    require(x.size() == static_cast<std::size_t>(inputs.rows) * 8);
  } catch (const dynpmnn::DataError&) {
  }
  return 0;
}
