// dynpmnn sweep through the real binary: a tiny grid runs concurrently, invalid points are skipped
// with the reason, the results are sorted by validation MSE, a rerun trains nothing, an interrupted
// run is resumed, a diverging point does not stop the sweep, and a bad grid file names key and line.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "host/cli/command.h"
#include "host/io/run_claim.h"
#include "host/io/run_folder.h"
#include "tests/claims_log.h"
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

// Four valid points (two dt by two seeds), a few tenths of a second each: two sweeps started
// together overlap on them.
constexpr const char* kFourRuns = R"(preset = "wide-california"
seeds = [0, 1]
[base]
neurons = 8
epochs = 2
patience = 0
t_end = 2.0
[grid]
dt = [0.1, 0.2]
)";

// The same four points, about a second each: long enough to kill a sweep in the middle of one.
constexpr const char* kFourLongerRuns = R"(preset = "wide-california"
seeds = [0, 1]
[base]
neurons = 32
epochs = 4
patience = 0
t_end = 4.0
[grid]
dt = [0.1, 0.2]
)";

// Two sweeps started at once on one folder: every run is trained by exactly one of them (the
// other finds its claim held or its final.json written), and a rerun collects every row.
TEST_F(Sweep, TwoSweepsOnOneFolderTrainEveryRunOnce) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  write_file(dir_ / "four.toml", kFourRuns);
  const fs::path out = dir_ / "out";
  const std::string sweep = std::string(DYNPMNN_CLI_PATH) + " sweep " + quote(dir_ / "four.toml") +
                            " --jobs 1 --device cpu --out " + quote(out);
  const std::string both = "(" + sweep + " >" + quote(dir_ / "a.out") + " 2>" + quote(dir_ / "a.err") + " & " + sweep +
                           " >" + quote(dir_ / "b.out") + " 2>" + quote(dir_ / "b.err") + "; wait)";
  ASSERT_EQ(std::system(both.c_str()), 0) << read_file(dir_ / "a.err") << read_file(dir_ / "b.err");
  const auto events = testing::claim_event_words(out / "claims.log");
  ASSERT_EQ(events.size(), 4u) << read_file(out / "claims.log");
  for (const auto& [run_name, list] : events) {
    EXPECT_EQ(list, (std::vector<std::string>{"claimed", "finished ok"})) << run_name << "\n"
                                                                           << read_file(out / "claims.log");
    EXPECT_TRUE(fs::is_regular_file(out / run_name / "final.json")) << run_name;
  }
  // Each process trained some runs and passed the others by; together they trained four.
  const std::string err = read_file(dir_ / "a.err") + read_file(dir_ / "b.err");
  EXPECT_EQ(occurrences(err, ": ok val_mse"), 4u) << err;
  const CliResult again = run("sweep " + quote(dir_ / "four.toml") + " --jobs 2 --device cpu --out " + quote(out));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  const nlohmann::json summary = nlohmann::json::parse(last_line(again.out));
  EXPECT_EQ(summary["finished"], 4);
  EXPECT_EQ(summary["held"], 0);
  EXPECT_EQ(occurrences(again.err, "already finished"), 4u) << again.err;
}

// A run whose claim another process holds is passed by, named with the holder, and trained by the
// next sweep once the claim is let go; a sweep killed by SIGKILL leaves no claim behind.
TEST_F(Sweep, AHeldRunIsPassedByAndAKilledSweepLeavesNoClaim) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  write_file(dir_ / "four.toml", kFourLongerRuns);
  const fs::path out = dir_ / "out";
  const std::string command = "sweep " + quote(dir_ / "four.toml") + " --jobs 1 --device cpu --out " + quote(out);
  const fs::path first = out / "1-dt=0.1_seed=0";
  {
    std::string holder;
    const std::optional<RunClaim> mine = RunClaim::take(first, &holder);
    ASSERT_TRUE(mine.has_value()) << holder;
    const CliResult r = run(command);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const nlohmann::json summary = nlohmann::json::parse(last_line(r.out));
    EXPECT_EQ(summary["finished"], 3);
    EXPECT_EQ(summary["held"], 1);
    EXPECT_TRUE(contains(r.err, "held by " + this_process())) << r.err;
    EXPECT_TRUE(contains(r.err, "being trained by another process")) << r.err;
    EXPECT_FALSE(fs::exists(first / "final.json"));
    EXPECT_TRUE(contains(read_file(out / "results.csv"), "held by " + this_process()));
  }
  // A sweep killed while it trains the freed run: its claim goes with it, and the next sweep takes
  // the run over and finishes it once.
  const std::string log = quote(out / "claims.log");
  const std::string killed = "(" + std::string(DYNPMNN_CLI_PATH) + " " + command + " >/dev/null 2>&1 & pid=$!; " +
                             "for i in $(seq 400); do tail -n 1 " + log + " | grep -q ' claimed ' && break; " +
                             "sleep 0.02; done; kill -9 $pid; wait $pid; true) 2>/dev/null";
  ASSERT_EQ(std::system(killed.c_str()), 0);
  EXPECT_FALSE(fs::exists(first / "final.json")) << "the run finished before the kill; the test needs a longer run";
  const CliResult rerun = run(command);
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_EQ(nlohmann::json::parse(last_line(rerun.out))["finished"], 4);
  const auto events = testing::claim_event_words(out / "claims.log");
  EXPECT_EQ(events.at(first.filename().string()),
            (std::vector<std::string>{"claimed", "claimed", "finished ok"}))
      << read_file(out / "claims.log");
}

// Shards of a job array train disjoint shares; a sweep without --shard then collects them, with
// the rows an unsharded sweep gives.
TEST_F(Sweep, ShardsTrainDisjointSharesAndAPlainRerunCollectsThem) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  write_file(dir_ / "four.toml", kFourRuns);
  const fs::path out = dir_ / "out";
  const std::string command = "sweep " + quote(dir_ / "four.toml") + " --jobs 1 --device cpu --out " + quote(out);
  const CliResult one = run(command + " --shard 1/2");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(nlohmann::json::parse(last_line(one.out))["finished"], 2);
  EXPECT_TRUE(fs::exists(out / "1-dt=0.1_seed=0" / "final.json"));
  EXPECT_FALSE(fs::exists(out / "2-dt=0.1_seed=1" / "final.json"));
  EXPECT_TRUE(contains(read_file(out / "results.csv"), "in another shard (not 1/2)"));
  const CliResult two = run(command + " --shard 2/2");
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_EQ(nlohmann::json::parse(last_line(two.out))["finished"], 4);  // its two, and shard 1's read back
  const CliResult all = run(command);
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(occurrences(all.err, "already finished"), 4u) << all.err;

  const CliResult whole = run("sweep " + quote(dir_ / "four.toml") + " --jobs 1 --device cpu --out " + quote(dir_ / "whole"));
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  auto without_timing = [](std::vector<std::map<std::string, std::string>> rows) {
    for (auto& row : rows) row.erase("epoch_seconds");
    return rows;
  };
  EXPECT_EQ(without_timing(read_csv(out / "results.csv")), without_timing(read_csv(dir_ / "whole" / "results.csv")));

  for (const char* bad : {"3/2", "0/2", "1/0", "a/b", "1/2x"}) {
    const CliResult r = run(command + " --shard " + bad);
    EXPECT_EQ(r.exit_code, kExitBadInput) << bad << "\n" << r.err;
    EXPECT_TRUE(contains(r.err, std::string("--shard '") + bad + "'")) << r.err;
  }
}

// --withhold-test: every run trains and ranks without the test split; no test metric exists anywhere
// until a chosen run is evaluated (`dynpmnn eval`).
TEST_F(Sweep, WithheldTestSplitLeavesNoTestMetric) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  write_file(dir_ / "four.toml", kFourRuns);
  const fs::path out = dir_ / "out";
  const CliResult r = run("sweep " + quote(dir_ / "four.toml") + " --withhold-test --jobs 2 --device cpu --out " +
                          quote(out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(occurrences(r.err, "test_rmse withheld"), 4u) << r.err;
  const nlohmann::json summary = nlohmann::json::parse(last_line(r.out));
  EXPECT_TRUE(summary["best"]["test_rmse"].is_null()) << summary.dump();
  for (const auto& row : read_csv(out / "results.csv")) {
    EXPECT_TRUE(row.at("test_rmse").empty()) << row.at("run");
    const nlohmann::json f = nlohmann::json::parse(read_file(out / row.at("run") / "final.json"));
    EXPECT_EQ(f["test"], "withheld");
    EXPECT_FALSE(f.contains("test_rmse") || f.contains("test_mae") || f.contains("test_r2"));
  }
  const CliResult ev = run("eval " + quote(out / summary["best"]["run"].get<std::string>()) + " --device cpu");
  ASSERT_EQ(ev.exit_code, 0) << ev.err;
  EXPECT_TRUE(nlohmann::json::parse(last_line(ev.out))["rmse"].is_number());
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

// The paper's full grid (issue 11's presets), Euler and imex: --list prints every point of
// 8 dt x 8 t_end x 4 batch sizes x 9 learning rates with what becomes of it, trains nothing and
// writes nothing; the points skipped are exactly those whose t_end is below dt or not a multiple.
TEST_F(Sweep, ListShowsThePapersFullGridWithItsSkippedPointsAndTrainsNothing) {
  const std::vector<int> dts = {1, 2, 5, 10, 20, 50, 100, 500}, t_ends = {10, 20, 50, 100, 200, 500, 1000, 10000};
  for (const char* name : {"paper-full", "paper-full-imex"}) {
    SCOPED_TRACE(name);
    const fs::path out = dir_ / name;
    const CliResult r = run(fmt::format("sweep --preset-grid {} --device cpu --list --out {}", name, quote(out)));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(fs::exists(out)) << "--list wrote the folder";
    std::istringstream lines(r.out);
    std::map<std::pair<int, int>, int> points, skipped;  // (dt, t_end) -> points, of them skipped
    int count = 0;
    for (std::string line; std::getline(lines, line); ++count) {
      int dt = 0, t_end = 0;
      ASSERT_EQ(std::sscanf(line.c_str(), "%*d\tdt=%d t_end=%d", &dt, &t_end), 2) << line;
      ++points[{dt, t_end}];
      skipped[{dt, t_end}] += contains(line, "\tskipped: ");
      if (!contains(line, "\tskipped: ")) {
        EXPECT_TRUE(contains(line, "\tto train")) << line;
        // Its population: by batch size and step class (t_end / dt in (2^(k-1), 2^k]).
        int steps = t_end / dt, k = 0;
        while ((1 << k) < steps) ++k;
        EXPECT_TRUE(contains(line, fmt::format("(step class {})", k))) << line;
      }
    }
    EXPECT_EQ(count, 2304);
    for (int dt : dts)
      for (int t_end : t_ends) {
        const std::pair<int, int> key{dt, t_end};
        EXPECT_EQ(points[key], 36) << dt << " " << t_end;  // 4 batch sizes x 9 learning rates
        const bool invalid = t_end < dt || t_end % dt != 0;
        EXPECT_EQ(skipped[key], invalid ? 36 : 0) << dt << " " << t_end;
      }
    EXPECT_TRUE(contains(r.err, "2304 points, 432 skipped")) << r.err;
    // 4 batch sizes x the 14 step classes of the valid (dt, t_end) pairs (0 to 14, no 12).
    EXPECT_TRUE(contains(r.err, "the points to train form 56 populations")) << r.err;
  }
}

TEST_F(Sweep, UnknownPresetGridIsRefused) {
  const CliResult r = run("sweep --preset-grid nonesuch --device cpu --out " + quote(dir_ / "out"));
  EXPECT_EQ(r.exit_code, kExitBadInput) << r.err;
  EXPECT_TRUE(contains(r.err, "nonesuch")) << r.err;
}

}  // namespace
}  // namespace dynpmnn
