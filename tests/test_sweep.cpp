// dynpmnn sweep through the real binary: a tiny grid runs concurrently, invalid points are skipped
// with the reason, the results are sorted by validation MSE, a rerun trains nothing, an interrupted
// run is resumed, a diverging point does not stop the sweep, and a bad grid file names key and line.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "host/cli/command.h"
#include "host/io/run_folder.h"
#include "tests/cli_runner.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;
using testing::CliFixture;
using testing::CliResult;
using testing::last_line;
using testing::quote;
using testing::read_file;
using testing::write_file;

using testing::contains;

std::size_t occurrences(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// results.csv as rows of named cells (no cell of these tests holds a quoted comma but the reason).
std::vector<std::map<std::string, std::string>> read_csv(const fs::path& path) {
  std::istringstream in(read_file(path));
  auto split = [](const std::string& line) {
    std::vector<std::string> cells;
    std::string cell;
    bool quoted = false;
    for (char c : line) {
      if (c == '"') quoted = !quoted;
      else if (c == ',' && !quoted) cells.push_back(std::exchange(cell, {}));
      else cell += c;
    }
    cells.push_back(cell);
    return cells;
  };
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> header = split(line);
  std::vector<std::map<std::string, std::string>> rows;
  while (std::getline(in, line)) {
    const std::vector<std::string> cells = split(line);
    std::map<std::string, std::string> row;
    for (std::size_t i = 0; i < header.size() && i < cells.size(); ++i) row[header[i]] = cells[i];
    rows.push_back(row);
  }
  return rows;
}

// metrics.jsonl without the timings, which a second training would change.
std::string metrics_without_seconds(const fs::path& file) {
  std::istringstream in(read_file(file));
  std::string out;
  for (std::string line; std::getline(in, line);) out += line.substr(0, line.find(",\"seconds\"")) + "\n";
  return out;
}

constexpr const char* kTinyGrid = R"(# four points, one of them invalid: 1.0 is not a multiple of 0.3
preset = "wide-california"

[base]
neurons = 2
epochs = 1

[grid]
dt = [0.1, 0.3]
t_end = [0.6, 1.0]
)";

class Sweep : public CliFixture {};

TEST_F(Sweep, TinyGridRunsConcurrentlySkipsTheInvalidPointAndRerunsNothing) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  write_file(dir_ / "tiny.toml", kTinyGrid);
  const fs::path out = dir_ / "out";
  const std::string command = "sweep " + quote(dir_ / "tiny.toml") + " --jobs 2 --device cpu --out " + quote(out);
  const CliResult r = run(command);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json summary = nlohmann::json::parse(last_line(r.out));
  EXPECT_EQ(summary["runs"], 4);
  EXPECT_EQ(summary["finished"], 3);
  EXPECT_EQ(summary["skipped"], 1);
  EXPECT_EQ(summary["diverged"], 0);
  EXPECT_EQ(summary["results"]["csv"], (out / "results.csv").string());
  EXPECT_EQ(occurrences(r.err, "] dt="), 3u) << r.err;  // one line per finished run
  EXPECT_FALSE(contains(r.err, "epoch 1/")) << "a run printed its own progress:\n" << r.err;

  const auto rows = read_csv(out / "results.csv");
  ASSERT_EQ(rows.size(), 4u);
  double previous = -1;
  for (std::size_t i = 0; i < 3; ++i) {
    const double val = std::stod(rows[i].at("val_mse"));
    EXPECT_GE(val, previous) << "row " << i << " is out of order";
    previous = val;
    EXPECT_EQ(rows[i].at("epochs"), "1");
    EXPECT_TRUE(fs::is_regular_file(out / rows[i].at("run") / "final.json")) << rows[i].at("run");
    EXPECT_TRUE(fs::is_regular_file(out / rows[i].at("run") / "checkpoint.bin")) << rows[i].at("run");
  }
  EXPECT_EQ(summary["best"]["run"], rows[0].at("run"));
  const auto& skipped = rows[3];
  EXPECT_EQ(skipped.at("dt"), "0.3");
  EXPECT_EQ(skipped.at("t_end"), "1");
  EXPECT_EQ(skipped.at("seed"), "0");
  EXPECT_EQ(skipped.at("status").rfind("skipped: ", 0), 0u) << skipped.at("status");
  EXPECT_TRUE(contains(skipped.at("status"), "not a multiple of dt")) << skipped.at("status");
  EXPECT_TRUE(skipped.at("val_mse").empty());
  EXPECT_TRUE(contains(read_file(out / "results.md"), "| run | dt | t_end | seed | status | val_mse |"));

  std::map<std::string, std::string> metrics;
  for (std::size_t i = 0; i < 3; ++i)
    metrics[rows[i].at("run")] = read_file(out / rows[i].at("run") / "metrics.jsonl");  // timings included
  const CliResult again = run(command);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(occurrences(again.err, "already finished"), 3u) << again.err;
  for (const auto& [run_name, text] : metrics) EXPECT_EQ(read_file(out / run_name / "metrics.jsonl"), text) << run_name;
  EXPECT_EQ(read_csv(out / "results.csv"), rows);
}

TEST_F(Sweep, InterruptedRunResumesFromItsCheckpoint) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  write_file(dir_ / "one.toml", "preset = \"wide-california\"\n[base]\nneurons = 2\nepochs = 2\npatience = 0\n"
                                "[grid]\ndt = [0.1]\nt_end = [0.6]\n");
  const fs::path out = dir_ / "out";
  const std::string command = "sweep " + quote(dir_ / "one.toml") + " --jobs 1 --device cpu --out " + quote(out);
  const CliResult stopped = run(command, std::string(kStopAfterEpochEnv) + "=1 ");
  ASSERT_EQ(stopped.exit_code, kStopAfterEpochExit) << stopped.err;
  const fs::path folder = out / "1-dt=0.1_t_end=0.6_seed=0";
  ASSERT_TRUE(fs::is_regular_file(folder / "checkpoint.bin"));
  ASSERT_FALSE(fs::exists(folder / "final.json"));
  const std::string first_epoch = read_file(folder / "metrics.jsonl");

  const CliResult resumed = run(command);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  // Resumed, not restarted: epoch 1's line, its timing included, comes from the checkpoint.
  EXPECT_EQ(read_file(folder / "metrics.jsonl").substr(0, first_epoch.size()), first_epoch);
  const CliResult whole = run("train --preset wide-california --set neurons=2 --set patience=0 --epochs 2 "
                              "--set dt=0.1 --set t_end=0.6 --device cpu --quiet --out " + quote(dir_ / "whole"));
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  EXPECT_EQ(metrics_without_seconds(folder / "metrics.jsonl"), metrics_without_seconds(dir_ / "whole" / "metrics.jsonl"));
  EXPECT_EQ(read_file(folder / "best_params.json"), read_file(dir_ / "whole" / "best_params.json"));
}

TEST_F(Sweep, DivergingPointIsListedAndTheSweepSucceeds) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  // The paper's dt = 20 without clamping blows up explicit Euler in the first minibatch.
  write_file(dir_ / "paper.toml", "preset = \"paper-california\"\n[base]\nepochs = 1\n"
                                  "[grid]\ndt = [20]\nt_end = [500]\n");
  const fs::path out = dir_ / "out";
  const CliResult r = run("sweep " + quote(dir_ / "paper.toml") + " --device cpu --out " + quote(out));
  ASSERT_EQ(r.exit_code, kExitOk) << r.err;
  const nlohmann::json summary = nlohmann::json::parse(last_line(r.out));
  EXPECT_EQ(summary["diverged"], 1);
  EXPECT_TRUE(summary["best"].is_null());
  const auto rows = read_csv(out / "results.csv");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].at("status"), "diverged");
  EXPECT_TRUE(fs::is_regular_file(out / rows[0].at("run") / "final.json"));
}

TEST_F(Sweep, UnknownGridKeyIsRefusedWithFileAndLine) {
  write_file(dir_ / "bad.toml", "preset = \"wide-california\"\n[grid]\ndt = [0.1]\nlearning_rate = [1e-3]\n");
  const CliResult r = run("sweep " + quote(dir_ / "bad.toml") + " --device cpu --out " + quote(dir_ / "out"));
  EXPECT_EQ(r.exit_code, kExitBadInput) << r.err;
  EXPECT_TRUE(contains(r.err, "bad.toml:4")) << r.err;
  EXPECT_TRUE(contains(r.err, "learning_rate")) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "out"));
}

TEST_F(Sweep, WrongValueTypeInTheGridIsRefusedWithFileAndLine) {
  write_file(dir_ / "bad.toml", "[grid]\n\nbatch_size = [32, \"many\"]\n");
  const CliResult r = run("sweep " + quote(dir_ / "bad.toml") + " --device cpu --out " + quote(dir_ / "out"));
  EXPECT_EQ(r.exit_code, kExitBadInput) << r.err;
  EXPECT_TRUE(contains(r.err, "bad.toml:3")) << r.err;
  EXPECT_TRUE(contains(r.err, "batch_size")) << r.err;
}

TEST_F(Sweep, UnknownPresetGridIsRefused) {
  const CliResult r = run("sweep --preset-grid nonesuch --device cpu --out " + quote(dir_ / "out"));
  EXPECT_EQ(r.exit_code, kExitBadInput) << r.err;
  EXPECT_TRUE(contains(r.err, "nonesuch")) << r.err;
}

}  // namespace
}  // namespace dynpmnn
