// The committed results documents against the committed per-run files behind them: every table
// row of docs/results.md and docs/results-paper-protocol.md is recomputed here from the CSV beside
// it (mean ± sample standard deviation of the test RMSE over the row's finished runs), no searched
// run that was not chosen has a test metric (the test split is evaluated for the chosen runs
// alone), and the provenance names the commit, machine, date and command that made the file.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "data/csv_dataset.h"
#include "tests/cli_runner.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;
using testing::contains;
using testing::read_file;

std::string mean_std(const std::vector<double>& v) {
  double mean = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  double squares = 0;
  for (double x : v) squares += (x - mean) * (x - mean);
  const double sd = v.size() > 1 ? std::sqrt(squares / static_cast<double>(v.size() - 1)) : 0.0;
  return fmt::format("{:.3f} ± {:.3f}", mean, sd);
}

class CommittedResults : public ::testing::TestWithParam<const char*> {};

TEST_P(CommittedResults, EveryRowIsRecomputedFromTheCommittedCsv) {
  const fs::path doc = fs::path(DYNPMNN_SOURCE_DIR) / "docs" / (std::string(GetParam()) + ".md");
  const fs::path folder = fs::path(DYNPMNN_SOURCE_DIR) / "docs" / GetParam();
  ASSERT_TRUE(fs::is_regular_file(doc)) << doc;
  ASSERT_TRUE(fs::is_regular_file(folder / "results.csv")) << "no per-run results behind " << doc;
  const std::string md = read_file(doc);
  const CsvText csv = read_csv((folder / "results.csv").string());
  std::map<std::string, int> column;
  for (std::size_t i = 0; i < csv.header.size(); ++i) column[csv.header[i]] = static_cast<int>(i);
  for (const char* name : {"model", "configuration", "config_hash", "seed", "searched", "in_table", "size_point",
                           "status", "val_mse", "test_rmse"})
    ASSERT_TRUE(column.count(name)) << "results.csv has no column " << name;

  std::map<std::string, std::vector<double>> rmse;  // per model, the table row's finished runs
  std::vector<std::string> order;
  for (const std::vector<std::string>& row : csv.rows) {
    auto cell = [&](const char* name) { return row.at(column.at(name)); };
    const bool used = cell("in_table") == "true" || cell("size_point") == "true";
    if (!used)
      EXPECT_TRUE(cell("test_rmse").empty()) << "a searched run that was not chosen has a test RMSE: "
                                             << cell("model") << ", " << cell("configuration") << ", seed "
                                             << cell("seed");
    if (cell("in_table") != "true") continue;
    if (!rmse.count(cell("model"))) order.push_back(cell("model"));
    const std::string status = cell("status");
    if (status == "ok" || status == "early_stopped") rmse[cell("model")].push_back(std::stod(cell("test_rmse")));
    else rmse[cell("model")];
  }
  ASSERT_FALSE(order.empty()) << "no table rows in " << folder / "results.csv";
  for (const std::string& model : order) {
    if (rmse[model].empty()) continue;  // every seed diverged: the row says n/a
    const std::string row_start = fmt::format("| {} | ", model);
    const std::size_t at = md.find(row_start);
    ASSERT_NE(at, std::string::npos) << "no row for " << model << " in " << doc;
    const std::string row = md.substr(at, md.find('\n', at) - at);
    EXPECT_TRUE(contains(row, " " + mean_std(rmse[model]) + " |"))
        << doc << ": the row of " << model << " does not hold " << mean_std(rmse[model]) << ":\n" << row;
  }
  const nlohmann::json made = nlohmann::json::parse(read_file(folder / "provenance.json"));
  for (const char* key : {"commit", "machine", "date", "command"}) {
    ASSERT_TRUE(made.contains(key)) << key;
    EXPECT_NE(made[key].get<std::string>(), "unknown") << key;
  }
}

INSTANTIATE_TEST_SUITE_P(Docs, CommittedResults, ::testing::Values("results", "results-paper-protocol"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (c == '-') c = '_';
                           return name;
                         });

}  // namespace
}  // namespace dynpmnn
