// The dynpmnn binary as a user runs it: help, version, exit codes and messages for bad input, and
// short real training runs on California Housing with everything they leave in the run folder.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/california.h"
#include "host/runtime/backend.h"
#include "host/config/config_io.h"
#include "host/report/progress.h"
#include "models/dynpmnn.h"
#include "tests/cli_runner.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;

using testing::CliResult;
using testing::last_line;
using testing::read_file;

class CliTest : public testing::CliFixture {};

TEST_F(CliTest, HelpListsEveryKeyWithItsDefault) {
  const CliResult r = run("train --help");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Each key's row: name, type, default, help.
  auto row_of = [&](const std::string& key) {
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) {
      std::istringstream words(line);
      std::string first;
      if (words >> first && first == key) return line;
    }
    return std::string();
  };
  // The defaults shown are the default model's (models/presets/default.toml, issue 12), where a run
  // without --preset and --config starts; they were the paper's (Config{}) before.
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"dt", "0.1"},      {"t_end", "2"},           {"clip", "0"},       {"neurons", "44"},
      {"layers", "2"},    {"coupling", "\"current\""}, {"lr", "0.001"}, {"batch_size", "32"},
      {"weight_decay", "0.005"}, {"patience", "10"}, {"min_delta", "0"}, {"epochs", "100"},
      {"seed", "0"},      {"integrator", "\"imex\""}, {"target_scaling", "\"standard\""}};
  for (const auto& [key, value] : expected) {
    const std::string row = row_of(key);
    EXPECT_NE(row.find(" " + value + " "), std::string::npos) << key << ": '" << row << "'";
  }
  const Config defaults = default_config();
  for (const auto& key : config_keys())
    EXPECT_NE(row_of(std::string(key.name)).find(value_string(defaults, key)), std::string::npos) << key.name;
  for (const char* option : {"--preset", "--config", "--set", "--epochs", "--seed", "--device", "--out", "--data",
                             "--quiet"})
    EXPECT_NE(r.out.find(option), std::string::npos) << option;
}

TEST_F(CliTest, VersionMatchesTheProject) {
  const std::string cmake = read_file(fs::path(DYNPMNN_SOURCE_DIR) / "CMakeLists.txt");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(cmake, m, std::regex(R"(project\(dynpmnn VERSION ([0-9.]+))")));
  const CliResult r = run("--version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(last_line(r.out), "dynpmnn " + m[1].str());
}

TEST_F(CliTest, BadCommandLinesExitTwoNamingTheCulprit) {
  struct Case {
    std::string args, culprit;
  };
  const std::vector<Case> cases = {
      {"train --no-such-option", "--no-such-option"},
      {"train --set nonsense=1", "nonsense"},
      {"train --set dt=0", "dt"},
      // The paper's dt of 20 named: the default model's dt is 0.1 (issue 12).
      {"train --preset paper-california --set t_end=501", "t_end = 501 is not a multiple of dt = 20"},
      {"train --epochs many", "epochs"},
      {"train --preset no-such-preset", "paper-california"},
      {"train --config /nonexistent/x.toml", "/nonexistent/x.toml"},
      {"train --data /nonexistent/cal_housing.data", "/nonexistent/cal_housing.data"},
      {"", "subcommand"},
  };
  for (const auto& c : cases) {
    const CliResult r = run(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.culprit), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_EQ(r.out, "") << c.args;  // stdout is for results only
  }
}

TEST_F(CliTest, CudaWithoutCudaExitsTwo) {
  std::string why;
  if (cuda_available(&why)) GTEST_SKIP() << "this machine has CUDA";
  DYNPMNN_REQUIRE_CALIFORNIA();  // the data is read before the backend is made
  const CliResult r = run("train --device cuda --epochs 0");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("cuda"), std::string::npos) << r.err;
}

TEST_F(CliTest, TrainsAndWritesTheRunFolder) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  const fs::path out = dir_ / "run";
  // --epochs after --set epochs=3: the later one wins.
  const CliResult r = run("train --preset wide-california --set neurons=4 --set epochs=3 --epochs 1 --device cpu "
                          "--seed 1 --out '" + out.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const nlohmann::json final = nlohmann::json::parse(last_line(r.out));
  for (const char* key : {"test_rmse", "test_mae", "test_r2", "val_mse", "params", "epochs", "best_epoch",
                          "epoch_seconds", "status", "backend", "run_dir"})
    EXPECT_TRUE(final.contains(key)) << key << " missing from " << final.dump();
  EXPECT_EQ(final["status"], "ok");
  EXPECT_EQ(final["epochs"], 1);
  EXPECT_EQ(final["backend"], "cpu");
  EXPECT_EQ(final["run_dir"], out.string());
  EXPECT_FALSE(final.contains("divergence"));
  EXPECT_GT(final["test_rmse"].get<double>(), 0.0);
  EXPECT_NE(r.err.find("epoch 1/1"), std::string::npos) << r.err;  // progress, on stderr

  for (const char* file : {"config.toml", "metrics.jsonl", "final.json", "best_params.json", "loss_curve.png"})
    EXPECT_TRUE(fs::is_regular_file(out / file)) << file;
  EXPECT_EQ(nlohmann::json::parse(read_file(out / "final.json")), final);

  const Config resolved = load_config_file(out / "config.toml");
  EXPECT_EQ(resolved.preset, "wide-california");
  EXPECT_EQ(resolved.split, "paper") << "California is cut by the paper's split, not the CSV default";
  EXPECT_EQ(resolved.neurons, 4);
  EXPECT_EQ(resolved.epochs, 1);
  EXPECT_EQ(resolved.seed, 1u);
  EXPECT_EQ(resolved.dt, 0.1);

  const std::string metrics = read_file(out / "metrics.jsonl");
  EXPECT_EQ(std::count(metrics.begin(), metrics.end(), '\n'), 1);
  const nlohmann::json epoch = nlohmann::json::parse(last_line(metrics));
  for (const char* key : {"epoch", "train_loss", "val_mse", "seconds", "improved"})
    EXPECT_TRUE(epoch.contains(key)) << key;

  const nlohmann::json best = nlohmann::json::parse(read_file(out / "best_params.json"));
  const ParamTable table(resolved.model_spec(8, 1));
  ASSERT_EQ(best["tensors"].size(), table.tensors().size());
  std::size_t trainable = 0;
  for (std::size_t i = 0; i < table.tensors().size(); ++i) {
    const auto& t = table.tensors()[i];
    EXPECT_EQ(best["tensors"][i]["name"], t.name);
    EXPECT_EQ(best["tensors"][i]["shape"].get<std::vector<int>>(), t.shape);
    EXPECT_EQ(best["tensors"][i]["values"].size(), t.size);
    if (t.trainable) trainable += t.size;
  }
  EXPECT_EQ(final["params"], trainable);

  const std::string png = read_file(out / "loss_curve.png");
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));

  // A finished run is not overwritten.
  const CliResult again = run("train --preset wide-california --set neurons=4 --epochs 1 --device cpu --quiet --out '" +
                        out.string() + "'");
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("final.json"), std::string::npos) << again.err;
}

TEST_F(CliTest, FlagsAndSetApplyInCommandLineOrder) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  const fs::path out = dir_ / "run";
  const CliResult r = run("train --preset wide-california --set neurons=2 --epochs 1 --set epochs=2 --set patience=0 "
                    "--device cpu --quiet --out '" + out.string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(last_line(r.out))["epochs"], 2);
  EXPECT_EQ(r.err.find("epoch 1/"), std::string::npos) << "--quiet still printed progress:\n" << r.err;
}

TEST_F(CliTest, DivergenceExitsThreeWithTheExplanation) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  // The paper's dt = 20 without clamping blows up explicit Euler in the first minibatch.
  const fs::path out = dir_ / "run";
  const CliResult r =
      run("train --preset paper-california --epochs 2 --device cpu --quiet --out '" + out.string() + "'");
  ASSERT_EQ(r.exit_code, 3) << r.err;
  const nlohmann::json final = nlohmann::json::parse(last_line(r.out));
  EXPECT_EQ(final["status"], "diverged");
  ASSERT_TRUE(final.contains("divergence"));
  for (const char* key : {"epoch", "step", "layer", "message"}) EXPECT_TRUE(final["divergence"].contains(key)) << key;
  EXPECT_NE(r.err.find("dt"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::is_regular_file(out / "best_params.json"));
  EXPECT_TRUE(fs::is_regular_file(out / "final.json"));
}

TEST(Progress, LiveLineShowsBarLossesBestAndEta) {
  EpochRecord rec;
  rec.epoch = 12;
  rec.train_loss = 0.43211;
  rec.val_mse = 0.45671;
  EXPECT_EQ(ProgressPrinter::format_line(rec, 100, 0.4501, 10, 0.012, ProgressStyle::kLiveLine),
            "epoch 12/100 [#.........] train 0.4321 val 0.4567 best 0.4501@10  0.012 s/epoch  ETA 1.1 s");
  rec.epoch = 1;
  EXPECT_NE(ProgressPrinter::format_line(rec, 1, 0, 0, 0.5, ProgressStyle::kPlainLines).find("best -"),
            std::string::npos);
}

}  // namespace
}  // namespace dynpmnn
