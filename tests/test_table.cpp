// dynpmnn table through the real binary: two tiny models over two seeds, the per-model mean ± std
// recomputed here from each run's final.json, the curves and the --doc copy, a rerun that trains
// nothing, and table files with mistakes named by file, line and key.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <algorithm>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "data/csv_dataset.h"
#include "host/io/run_claim.h"
#include "tests/cli_runner.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;
using testing::CliFixture;
using testing::CliResult;
using testing::contains;
using testing::last_line;
using testing::quote;
using testing::read_file;
using testing::write_file;

constexpr const char* kTinyTable = R"(title = "Tiny comparison"
seeds = [3, 4]

[base]
epochs = 1
dt = 0.1
t_end = 0.6

[[model]]
name = "Two neurons"
preset = "wide-california"
paper_rmse = 0.5
note = "a note under the table"
[model.set]
neurons = 2

[[model]]
name = "Three neurons"
preset = "wide-california"
[model.set]
neurons = 3
)";

class Table : public CliFixture {};

// The Markdown's cell for a metric over the seeds, as the command formats it.
std::string mean_std_cell(const std::vector<double>& v, const char* format) {
  double mean = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  double squares = 0;
  for (double x : v) squares += (x - mean) * (x - mean);
  const double sd = std::sqrt(squares / static_cast<double>(v.size() - 1));
  return fmt::format(fmt::runtime(std::string(format) + " ± " + format), mean, sd);
}

TEST_F(Table, TwoModelsTwoSeedsGiveMeanAndStdOfEachRunsMetrics) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  write_file(dir_ / "tiny.toml", kTinyTable);
  const fs::path out = dir_ / "out";
  const fs::path doc = dir_ / "docs" / "results.md";
  const std::string command = "table " + quote(dir_ / "tiny.toml") + " --jobs 2 --device cpu --out " + quote(out) +
                              " --doc " + quote(doc);
  const CliResult r = run(command);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json summary = nlohmann::json::parse(last_line(r.out));
  ASSERT_EQ(summary["models"].size(), 2u);

  const std::string md = read_file(out / "results.md");
  EXPECT_TRUE(contains(md, "# Tiny comparison")) << md;
  EXPECT_TRUE(contains(md, "- **Two neurons**: a note under the table")) << md;
  const std::pair<const char*, const char*> models[] = {{"Two neurons", "Two_neurons"},
                                                        {"Three neurons", "Three_neurons"}};
  for (std::size_t m = 0; m < 2; ++m) {
    const auto [name, slug] = models[m];
    std::vector<double> rmse, r2;
    long long params = -1;
    for (const char* run_folder : {"1-seed=3", "2-seed=4"}) {
      const fs::path folder = out / slug / run_folder;
      ASSERT_TRUE(fs::is_regular_file(folder / "final.json")) << folder;
      const nlohmann::json final_json = nlohmann::json::parse(read_file(folder / "final.json"));
      rmse.push_back(final_json["test_rmse"].get<double>());
      r2.push_back(final_json["test_r2"].get<double>());
      params = final_json["params"].get<long long>();
    }
    EXPECT_NE(rmse[0], rmse[1]) << "the seeds gave the same run";
    const std::string rmse_cell = mean_std_cell(rmse, "{:.3f}");
    const std::string row_start =
        fmt::format("| {} | preset wide-california | {} | {} | ", name, rmse_cell, m == 0 ? "0.5000" : "");
    EXPECT_TRUE(contains(md, row_start)) << "no row starting " << row_start << " in\n" << md;
    EXPECT_TRUE(contains(md, fmt::format(" | {} | {} | ", mean_std_cell(r2, "{:.3f}"), params))) << md;
    EXPECT_TRUE(contains(md, "| 0 of 2 |")) << md;
    EXPECT_NEAR(summary["models"][m]["test_rmse_mean"].get<double>(), (rmse[0] + rmse[1]) / 2, 1e-12);
    EXPECT_EQ(summary["models"][m]["finished"], 2);
    // The curves: a PNG per model in its folder and beside the doc.
    for (const fs::path& png : {out / slug / "val_mse.png", doc.parent_path() / "results" / (std::string(slug) + ".png")}) {
      const std::string bytes = read_file(png);
      ASSERT_GE(bytes.size(), 8u) << png;
      EXPECT_EQ(bytes.substr(1, 3), "PNG") << png;
    }
  }
  const std::string doc_md = read_file(doc);
  EXPECT_TRUE(contains(doc_md, "](results/Two_neurons.png)")) << doc_md;
  EXPECT_TRUE(contains(md, "](Two_neurons/val_mse.png)")) << md;
  EXPECT_TRUE(contains(doc_md, "neurons = 3")) << "the configurations section is missing";

  const CliResult again = run(command);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(contains(again.err, "already finished")) << again.err;
  EXPECT_EQ(read_file(out / "results.md"), md);
}

// A grid file for the search test: 4 configurations of a tiny model, 2 sizes.
constexpr const char* kTinyGrid = R"(preset = "wide-california"
[base]
epochs = 2
dt = 0.1
t_end = 0.6
[grid]
neurons = [2, 3]
lr = [1e-3, 4e-3]
)";

constexpr const char* kSearchTable = R"(title = "Tiny search"
seeds = [3, 4, 5]
size_seeds = 2
[[model]]
name = "Searched"
grid = "tiny-grid.toml"
sizes = ["neurons"]
)";

// A search trains every configuration with the first seed and the test split withheld, chooses the
// lowest validation MSE (recomputed here from the runs' final.json), trains only the chosen
// configurations' other seeds, and evaluates the test split of exactly the chosen runs, with the
// metrics `dynpmnn eval` gives for their best.bin.
TEST_F(Table, SearchChoosesOnValidationAndEvaluatesTestOnlyForTheChosenRuns) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  write_file(dir_ / "tiny-grid.toml", kTinyGrid);
  write_file(dir_ / "search.toml", kSearchTable);
  const fs::path out = dir_ / "out";
  const CliResult r = run("table " + quote(dir_ / "search.toml") + " --jobs 2 --device cpu --out " + quote(out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "test split withheld")) << r.err;

  // expand(): 4 points × 3 seeds, point p seed k in folder p·3 + k + 1.
  const char* points[] = {"neurons=2_lr=0.001", "neurons=2_lr=0.004", "neurons=3_lr=0.001", "neurons=3_lr=0.004"};
  const char* seeds[] = {"3", "4", "5"};
  auto folder = [&](int p, int k) {
    return out / "Searched" / fmt::format("{:02}-{}_seed={}", p * 3 + k + 1, points[p], seeds[k]);
  };
  double val[4];
  for (int p = 0; p < 4; ++p) {
    ASSERT_TRUE(fs::is_regular_file(folder(p, 0) / "final.json")) << folder(p, 0);
    const nlohmann::json f = nlohmann::json::parse(read_file(folder(p, 0) / "final.json"));
    EXPECT_EQ(f["test"], "withheld") << folder(p, 0);
    EXPECT_FALSE(f.contains("test_rmse")) << "a searched run was evaluated on test: " << folder(p, 0);
    val[p] = f["val_mse"].get<double>();
  }
  const int chosen = static_cast<int>(std::min_element(val, val + 4) - val);
  const int best_of_size[2] = {val[0] <= val[1] ? 0 : 1, val[2] <= val[3] ? 2 : 3};
  const nlohmann::json summary = nlohmann::json::parse(last_line(r.out));
  const std::string chosen_label = fmt::format("neurons={}, lr={}", chosen < 2 ? 2 : 3, chosen % 2 ? 0.004 : 0.001);
  EXPECT_EQ(summary["models"][0]["chosen"], chosen_label);
  EXPECT_EQ(summary["models"][0]["finished"], 3);

  // Seeds beyond the first exist exactly for the chosen point (all 3) and the size points (2 each).
  for (int p = 0; p < 4; ++p)
    for (int k = 1; k < 3; ++k) {
      const bool wanted = p == chosen || (k < 2 && (p == best_of_size[0] || p == best_of_size[1]));
      EXPECT_EQ(fs::exists(folder(p, k)), wanted) << folder(p, k);
    }

  // The CSV: a test RMSE exactly on the chosen and size-point runs, equal to eval's of their best.bin.
  const CsvText csv = read_csv((out / "results.csv").string());
  ASSERT_GE(csv.header.size(), 17u);
  EXPECT_EQ(csv.header[2], "config_hash");
  EXPECT_EQ(csv.header[9], "test_rmse");
  int rows = 0, with_test = 0;
  for (const std::vector<std::string>& cells : csv.rows) {
    ++rows;
    ASSERT_EQ(cells.size(), 17u);
    const bool used = cells[5] == "true" || cells[6] == "true";
    EXPECT_EQ(!cells[9].empty(), used) << cells[16];
    if (!used) continue;
    ++with_test;
    const CliResult ev = run("eval " + quote(out / cells[16]) + " --device cpu");
    ASSERT_EQ(ev.exit_code, 0) << ev.err;
    EXPECT_DOUBLE_EQ(std::stod(cells[9]), nlohmann::json::parse(last_line(ev.out))["rmse"].get<double>()) << cells[16];
  }
  // The chosen point is its own size's best: 4 searched + its seeds 4 and 5 + the other size's seed 4;
  // on test, the chosen point's 3 runs and the other size's 2.
  ASSERT_TRUE(chosen == best_of_size[0] || chosen == best_of_size[1]);
  EXPECT_EQ(rows, 4 + 3);
  EXPECT_EQ(with_test, 3 + 2);
  const std::string png = read_file(out / "params.png");
  ASSERT_GE(png.size(), 8u);
  EXPECT_EQ(png.substr(1, 3), "PNG");
  const nlohmann::json made = nlohmann::json::parse(read_file(out / "provenance.json"));
  for (const char* key : {"command", "commit", "date", "device", "machine"}) EXPECT_TRUE(made.contains(key)) << key;
  EXPECT_TRUE(contains(read_file(out / "results.md"), "(chosen)"));
}

// A search run that another process holds has no result yet: the table refuses to choose without
// it, naming the run and its holder, and chooses once the claim is let go.
TEST_F(Table, ASearchRunHeldElsewhereStopsTheChoice) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  write_file(dir_ / "tiny-grid.toml", kTinyGrid);
  write_file(dir_ / "search.toml", kSearchTable);
  const fs::path out = dir_ / "out";
  const std::string command = "table " + quote(dir_ / "search.toml") + " --jobs 2 --device cpu --out " + quote(out);
  {
    std::string holder;
    const std::optional<RunClaim> mine = RunClaim::take(out / "Searched" / "01-neurons=2_lr=0.001_seed=3", &holder);
    ASSERT_TRUE(mine.has_value()) << holder;
    const CliResult r = run(command);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_TRUE(contains(r.err, "1 runs are being trained by another process")) << r.err;
    EXPECT_TRUE(contains(r.err, "held by " + this_process())) << r.err;
    EXPECT_FALSE(fs::exists(out / "results.md"));
  }
  const CliResult r = run(command);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(out / "results.md"));
}

TEST_F(Table, MistakesInTheTableFileNameFileLineAndKey) {
  struct Case {
    const char* text;
    const char* expected;
  };
  const Case cases[] = {
      {"seeds = [0]\n", "no [[model]] entries"},
      {"[[model]]\nname = \"a\"\npreset = \"wide-california\"\n", "seeds expects a non-empty array"},
      {"seeds = [0]\n[[model]]\npreset = \"wide-california\"\n", "missing name"},
      {"seeds = [0]\n[[model]]\nname = \"a\"\npreset = \"no-such-preset\"\n", "no-such-preset"},
      {"seeds = [0]\n[[model]]\nname = \"a\"\npreset = \"wide-california\"\ncolour = 1\n",
       "bad.toml:5: unknown model key 'colour'"},
      {"seeds = [0]\n[[model]]\nname = \"a\"\npreset = \"wide-california\"\n[model.set]\nneurons = 0\n", "neurons"},
      {"seeds = [0]\n[[model]]\nname = \"a\"\npreset = \"wide-california\"\n[model.set]\nseed = 4\n",
       "bad.toml:6: seed cannot be set per model"},
      {"seeds = [0]\n[[model]]\nname = \"a b\"\npreset = \"wide-california\"\n[[model]]\nname = \"a_b\"\n"
       "preset = \"wide-california\"\n",
       "two models are named alike"},
      {"seeds = [0]\ncolour = 2\n", "bad.toml:2: unknown top-level key 'colour'"},
      {"seeds = [0]\n[[model]]\nname = \"a\"\npreset = \"wide-california\"\ngrid = \"dynpmnn\"\n",
       "bad.toml:2: a model names either a preset (one configuration) or a grid (a search)"},
      {"seeds = [0]\n[[model]]\nname = \"a\"\ngrid = \"no-such\"\n", "grid no-such: there is no"},
      {"seeds = [0]\n[[model]]\nname = \"a\"\ngrid = \"dynpmnn\"\nsizes = [\"dt\"]\n",
       "bad.toml:5: sizes: dt is not a key of the grid dynpmnn"},
      {"seeds = [0]\n[[model]]\nname = \"a\"\npreset = \"wide-california\"\nsizes = [\"neurons\"]\n",
       "sizes expects, with a grid"},
      {"seeds = [0]\n[base]\nlr = 0.1\n[[model]]\nname = \"a\"\ngrid = \"dynpmnn\"\n",
       "bad.toml:3: lr is searched by the grid dynpmnn and cannot be set over it"},
      {"seeds = [0, 1]\nsize_seeds = 3\n[[model]]\nname = \"a\"\npreset = \"wide-california\"\n",
       "bad.toml:2: size_seeds expects an integer from 1 to the number of seeds (2)"},
  };
  for (const Case& c : cases) {
    write_file(dir_ / "bad.toml", c.text);
    const CliResult r = run("table " + quote(dir_ / "bad.toml") + " --device cpu --out " + quote(dir_ / "out"));
    EXPECT_EQ(r.exit_code, 2) << c.text << "\n" << r.err;
    EXPECT_TRUE(contains(r.err, c.expected)) << "expected '" << c.expected << "' for\n" << c.text << "got\n" << r.err;
  }
}

}  // namespace
}  // namespace dynpmnn
