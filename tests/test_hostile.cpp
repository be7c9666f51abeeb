// Nothing lost, nothing crashes: interrupted runs resume exactly (the real binary, killed at a known
// epoch or at a random moment), eval and predict use the saved model, and every bad input
// (checkpoint, prediction CSV, configuration text) is refused with a message naming the file and
// the line, column or key.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/california.h"
#include "host/runtime/backend.h"
#include "host/io/checkpoint.h"
#include "host/config/config_io.h"
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

const std::string kSmallRun = "train --preset wide-california --set neurons=4 --device cpu --quiet ";

// epoch, train_loss and val_mse of each metrics.jsonl line, as written (not re-parsed).
std::vector<std::string> metric_strings(const fs::path& file) {
  std::vector<std::string> out;
  std::istringstream in(read_file(file));
  for (std::string line; std::getline(in, line);) {
    const auto seconds = line.find(",\"seconds\"");
    out.push_back(line.substr(0, seconds));
  }
  return out;
}

class Interrupted : public CliFixture {};

TEST_F(Interrupted, ResumedRunIsBitIdenticalToAnUninterruptedOne) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  const fs::path whole = dir_ / "whole", cut = dir_ / "cut";
  const CliResult a = run(kSmallRun + "--epochs 4 --out " + quote(whole));
  ASSERT_EQ(a.exit_code, 0) << a.err;

  const CliResult stopped =
      run(kSmallRun + "--epochs 4 --out " + quote(cut), std::string(kStopAfterEpochEnv) + "=2 ");
  ASSERT_EQ(stopped.exit_code, kStopAfterEpochExit) << stopped.err;
  EXPECT_FALSE(fs::exists(cut / "final.json"));
  EXPECT_EQ(load_checkpoint(cut / "checkpoint.bin").state.epoch, 2);
  // As if the process had died after logging epoch 3 but before its checkpoint.
  write_file(cut / "metrics.jsonl",
             read_file(cut / "metrics.jsonl") + R"({"epoch":3,"train_loss":1,"val_mse":1,"seconds":1,"improved":true})"
                                                "\n");

  const CliResult resumed = run("train --resume " + quote(cut) + " --quiet");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const std::vector<std::string> expected = metric_strings(whole / "metrics.jsonl");
  ASSERT_EQ(expected.size(), 4u);
  EXPECT_EQ(metric_strings(cut / "metrics.jsonl"), expected);
  EXPECT_EQ(read_file(cut / "best_params.json"), read_file(whole / "best_params.json"));
  nlohmann::json fa = nlohmann::json::parse(last_line(a.out)), fb = nlohmann::json::parse(last_line(resumed.out));
  for (const char* key : {"test_rmse", "test_mae", "test_r2", "test_mse", "val_mse", "epochs", "best_epoch", "status"})
    EXPECT_EQ(fb[key], fa[key]) << key;
  EXPECT_EQ(fb["run_dir"], cut.string());
  const Config ca = load_config_file(whole / "config.toml");
  Config cb = load_config_file(cut / "config.toml");
  EXPECT_EQ(cb.out, cut.string());
  cb.out = ca.out;
  EXPECT_EQ(to_json(cb), to_json(ca));
}

TEST_F(Interrupted, ResumeCanExtendTheEpochs) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  const fs::path whole = dir_ / "whole", cut = dir_ / "cut";
  ASSERT_EQ(run(kSmallRun + "--epochs 3 --out " + quote(whole)).exit_code, 0);
  ASSERT_EQ(run(kSmallRun + "--epochs 2 --out " + quote(cut), std::string(kStopAfterEpochEnv) + "=1 ").exit_code,
            kStopAfterEpochExit);
  const CliResult resumed = run("train --resume " + quote(cut) + " --epochs 3 --device cpu --quiet");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(metric_strings(cut / "metrics.jsonl"), metric_strings(whole / "metrics.jsonl"));
  EXPECT_EQ(load_config_file(cut / "config.toml").epochs, 3);
}

// As Lightning continues a run that reached max_epochs when given a larger one: the result is the
// run that had the larger limit from the start.
TEST_F(Interrupted, ResumeExtendsARunThatRanToItsEpochLimit) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  const fs::path whole = dir_ / "whole", done = dir_ / "done";
  const CliResult a = run(kSmallRun + "--epochs 3 --out " + quote(whole));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(run(kSmallRun + "--epochs 2 --out " + quote(done)).exit_code, 0);
  const CliResult extended = run("train --resume " + quote(done) + " --epochs 3");
  ASSERT_EQ(extended.exit_code, 0) << extended.err;
  EXPECT_TRUE(contains(extended.err, "extending the finished run " + done.string() + " (status ok) from epoch 2 to "
                                     "at most 3")) << extended.err;
  EXPECT_EQ(metric_strings(done / "metrics.jsonl"), metric_strings(whole / "metrics.jsonl"));
  EXPECT_EQ(read_file(done / "best_params.json"), read_file(whole / "best_params.json"));
  const nlohmann::json fa = nlohmann::json::parse(last_line(a.out));
  const nlohmann::json fb = nlohmann::json::parse(read_file(done / "final.json"));
  for (const char* key : {"test_rmse", "val_mse", "epochs", "best_epoch", "status"}) EXPECT_EQ(fb[key], fa[key]) << key;
}

// A run that stopped early continues only under other stopping keys, and then as the run that had
// those keys from the start.
TEST_F(Interrupted, ResumeContinuesAnEarlyStoppedRunOnlyWithOtherStoppingKeys) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  // min_delta 100: no epoch after the first improves by that much, so patience 1 stops after epoch 2.
  const std::string stopping = "--epochs 5 --set min_delta=100 --set patience=";
  const fs::path early = dir_ / "early", whole = dir_ / "whole";
  const CliResult first = run(kSmallRun + stopping + "1 --out " + quote(early));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(nlohmann::json::parse(last_line(first.out))["status"], "early_stopped");
  ASSERT_EQ(nlohmann::json::parse(last_line(first.out))["epochs"], 2);
  const std::string finished = "--resume " + early.string() + ": the run has finished (final.json exists): it stopped "
                               "early after epoch 2";
  struct Case {
    std::string args, message;
  };
  for (const Case& c : std::vector<Case>{
           {" --epochs 9", finished + ", its validation loss not having improved by more than min_delta = 100 for "
                                      "patience = 1 epochs"},
           {" --epochs 9", "it continues only with other stopping keys: --set patience=N (above 1; 0 never stops "
                           "early) or --set min_delta=D"},
           {" --set min_delta=50", "with patience = 1 and min_delta = 50 it would stop again at once (1 epochs "
                                   "without such an improvement)"}}) {
    const CliResult r = run("train --resume " + quote(early) + c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.err;
    EXPECT_TRUE(contains(r.err, c.message)) << c.args << "\n" << r.err;
    EXPECT_TRUE(fs::exists(early / "final.json")) << "a refused resume changed the run";
  }
  const CliResult b = run(kSmallRun + stopping + "2 --out " + quote(whole));
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const CliResult continued = run("train --resume " + quote(early) + " --set patience=2 --quiet");
  ASSERT_EQ(continued.exit_code, 0) << continued.err;
  EXPECT_EQ(metric_strings(early / "metrics.jsonl"), metric_strings(whole / "metrics.jsonl"));
  const nlohmann::json fa = nlohmann::json::parse(last_line(b.out));
  const nlohmann::json fb = nlohmann::json::parse(last_line(continued.out));
  for (const char* key : {"test_rmse", "val_mse", "epochs", "best_epoch", "status"}) EXPECT_EQ(fb[key], fa[key]) << key;
  EXPECT_EQ(fb["epochs"], 3);
  EXPECT_EQ(load_config_file(early / "config.toml").patience, 2);
}

TEST_F(Interrupted, ResumeRefusesADivergedRun) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  const fs::path out = dir_ / "diverged";
  const CliResult r = run("train --preset paper-california --device cpu --quiet --epochs 2 --out " + quote(out));
  ASSERT_EQ(r.exit_code, 3) << r.err;
  const CliResult again = run("train --resume " + quote(out) + " --epochs 5");
  EXPECT_EQ(again.exit_code, 2) << again.err;
  EXPECT_TRUE(contains(again.err, "the run has finished (final.json exists): it diverged in epoch 1")) << again.err;
}

TEST_F(Interrupted, SigkillAtARandomMomentLeavesALoadableCheckpoint) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  const fs::path out = dir_ / "killed";
  std::random_device seed;
  std::mt19937 gen(seed());
  const int delay_ms = std::uniform_int_distribution<int>(200, 450)(gen);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (std::freopen("/dev/null", "w", stdout) == nullptr || std::freopen("/dev/null", "w", stderr) == nullptr)
      std::_Exit(126);
    const std::string out_arg = out.string();
    ::execl(DYNPMNN_CLI_PATH, DYNPMNN_CLI_PATH, "train", "--preset", "wide-california", "--set", "neurons=4",
            "--set", "patience=0", "--epochs", "100000", "--device", "cpu", "--quiet", "--out", out_arg.c_str(),
            static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run ended by itself within " << delay_ms << " ms, status " << status;
  if (!fs::exists(out / "checkpoint.bin")) GTEST_SKIP() << "killed after " << delay_ms << " ms, before the first checkpoint";
  const Checkpoint ck = load_checkpoint(out / "checkpoint.bin");  // throws if half-written
  EXPECT_GE(ck.state.epoch, 0);
  if (fs::exists(out / "best.bin")) EXPECT_NO_THROW(load_checkpoint(out / "best.bin"));
  // And it resumes, one epoch further.
  const CliResult resumed =
      run("train --resume " + quote(out) + " --epochs " + std::to_string(ck.state.epoch + 1) + " --quiet");
  EXPECT_EQ(resumed.exit_code, 0) << "killed after " << delay_ms << " ms at epoch " << ck.state.epoch << "\n"
                                  << resumed.err;
  EXPECT_EQ(nlohmann::json::parse(last_line(resumed.out))["epochs"], ck.state.epoch + 1);
}

TEST_F(Interrupted, ResumeRefusals) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  const fs::path cut = dir_ / "cut", done = dir_ / "done";
  ASSERT_EQ(run(kSmallRun + "--epochs 3 --out " + quote(cut), std::string(kStopAfterEpochEnv) + "=2 ").exit_code,
            kStopAfterEpochExit);
  ASSERT_EQ(run(kSmallRun + "--epochs 1 --out " + quote(done)).exit_code, 0);
  const std::string ck = (cut / "checkpoint.bin").string();
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"train --resume " + quote(cut) + " --set neurons=3",
       "only --epochs (to extend the run), --device, --data, patience, min_delta and checkpoint_every may go with it, "
       "not 'neurons=3'"},
      {"train --resume " + quote(cut) + " --seed 4", "not 'seed=4'"},
      {"train --resume " + quote(cut) + " --preset wide-california", "--preset and --config cannot change it"},
      {"train --resume " + quote(cut) + " --epochs 1", "epochs = 1 is fewer than the 2 epochs " + ck + " has completed"},
      {"train --resume " + quote(done), "--resume " + done.string() + ": the run has finished (final.json exists)"},
      {"train --resume " + quote(done) + " --epochs 1",
       "--resume " + done.string() + ": the run has finished (final.json exists): it ran all its 1 epochs; --epochs N "
       "with N above 1 continues it"},
      {"train --resume " + quote(dir_ / "absent"), "--resume " + (dir_ / "absent").string() + ": no such run folder"},
      {"train --resume " + quote(dir_), (dir_ / "checkpoint.bin").string() + ": no such file"},
  };
  for (const Case& c : cases) {
    const CliResult r = run(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.err;
    EXPECT_TRUE(contains(r.err, c.message)) << c.args << "\n" << r.err;
    EXPECT_EQ(r.out, "") << c.args;
  }
  // A damaged checkpoint is refused, and nothing in the folder changes.
  std::string bytes = read_file(ck);
  bytes[bytes.size() / 2] ^= 0x10;
  write_file(ck, bytes);
  const std::string metrics = read_file(cut / "metrics.jsonl");
  const CliResult r = run("train --resume " + quote(cut));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, ck + ": checksum mismatch")) << r.err;
  EXPECT_EQ(read_file(cut / "metrics.jsonl"), metrics);
}

// ---- eval and predict -------------------------------------------------------------------------

class SavedModel : public CliFixture {};

TEST_F(SavedModel, EvalReproducesTheRunsOwnMetrics) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  const fs::path out = dir_ / "run";
  const CliResult trained = run(kSmallRun + "--epochs 2 --out " + quote(out));
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  const nlohmann::json final = nlohmann::json::parse(last_line(trained.out));

  const CliResult test = run("eval " + quote(out) + " --device cpu");
  ASSERT_EQ(test.exit_code, 0) << test.err;
  const nlohmann::json t = nlohmann::json::parse(last_line(test.out));
  EXPECT_EQ(t["split"], "test");
  EXPECT_EQ(t["rows"], 2049);
  for (const char* key : {"rmse", "mae", "r2", "mse"}) EXPECT_EQ(t[key], final[std::string("test_") + key]) << key;
  EXPECT_EQ(t["best_epoch"], final["best_epoch"]);

  const CliResult val = run("eval " + quote(out) + " --split val");
  ASSERT_EQ(val.exit_code, 0) << val.err;
  EXPECT_EQ(nlohmann::json::parse(last_line(val.out))["mse"], final["val_mse"]);

  const CliResult bad_split = run("eval " + quote(out) + " --split everything");
  EXPECT_EQ(bad_split.exit_code, 2);
  EXPECT_TRUE(contains(bad_split.err, "everything")) << bad_split.err;
  const CliResult no_model = run("eval " + quote(dir_));
  EXPECT_EQ(no_model.exit_code, 2);
  EXPECT_TRUE(contains(no_model.err, (dir_ / "best.bin").string() + ": no such file")) << no_model.err;
}

TEST_F(SavedModel, PredictMatchesTheModelOnTheSameRows) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  const fs::path out = dir_ / "run";
  ASSERT_EQ(run(kSmallRun + "--epochs 1 --out " + quote(out)).exit_code, 0);

  // The test-split lines of the data file, verbatim, with and without the header and the 9th
  // column: their predictions must be the model's test predictions, bit for bit (all of them, so
  // that the GEMMs see the same batch shapes).
  const std::string data_path = locate_california("");
  const std::vector<double> draws = numpy_rand(42, 20640);
  std::istringstream in(read_file(data_path));
  std::string nine, eight = "longitude,latitude,housingMedianAge,totalRooms,totalBedrooms,population,households,"
                            "medianIncome\n";
  int taken = 0;
  std::string line;
  for (int i = 0; std::getline(in, line); ++i)
    if (draws[i] > 0.9) {
      nine += line + "\n";
      eight += line.substr(0, line.rfind(',')) + "\n";
      ++taken;
    }
  write_file(dir_ / "nine.csv", nine);
  write_file(dir_ / "eight.csv", eight);
  const CliResult r9 = run("predict " + quote(out) + " --input " + quote(dir_ / "nine.csv") + " --output " +
                           quote(dir_ / "p9.csv") + " --device cpu");
  ASSERT_EQ(r9.exit_code, 0) << r9.err;
  EXPECT_EQ(nlohmann::json::parse(last_line(r9.out))["rows"], taken);
  const CliResult r8 =
      run("predict " + quote(out) + " --input " + quote(dir_ / "eight.csv") + " --output " + quote(dir_ / "p8.csv"));
  ASSERT_EQ(r8.exit_code, 0) << r8.err;
  EXPECT_EQ(read_file(dir_ / "p8.csv"), read_file(dir_ / "p9.csv"));

  const Checkpoint ck = load_checkpoint(out / "best.bin");
  const SplitData data = load_california("");
  const ModelSpec spec = ck.config.model_spec(8, 1);
  auto backend = make_cpu_backend(spec, TrainHyper{});
  backend->set_data(data);
  backend->set_params(ck.state.best_params);
  const std::vector<double> expected = backend->predict(Split::kTest);
  std::istringstream predictions(read_file(dir_ / "p9.csv"));
  std::getline(predictions, line);
  EXPECT_EQ(line, "MedHouseVal");
  ASSERT_EQ(expected.size(), static_cast<std::size_t>(taken));
  for (int i = 0; i < taken; ++i) {
    ASSERT_TRUE(std::getline(predictions, line));
    ASSERT_EQ(std::stod(line), expected[i]) << i;
  }
  EXPECT_FALSE(std::getline(predictions, line));
}

TEST_F(SavedModel, PredictRefusesBadInputFilesNamingFileLineAndColumn) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  const fs::path out = dir_ / "run";
  ASSERT_EQ(run(kSmallRun + "--epochs 0 --out " + quote(out)).exit_code, 0);  // best.bin of the initial weights
  const std::string good = "-122.23,37.88,41,880,129,322,126,8.3252\n";
  struct Case {
    std::string name, text, message;  // message after "<path>: "
  };
  const std::vector<Case> cases = {
      {"empty.csv", "", "file is empty"},
      {"header_only.csv",
       "longitude,latitude,housingMedianAge,totalRooms,totalBedrooms,population,households,medianIncome\n",
       "holds only the header line"},
      {"columns.csv", good + "1,2,3\n", "line 2: 3 comma-separated columns, expected rows of 8"},
      {"mixed.csv", good + "-122.23,37.88,41,880,129,322,126,8.3252,452600\n",
       "line 2: 9 comma-separated columns, but the first line has 8"},
      {"word.csv", good + good + "-122.23,37.88,old,880,129,322,126,8.3252\n",
       "line 3, column 3 (housingMedianAge): 'old' is not a number"},
      {"nan.csv", good + "-122.23,37.88,41,880,129,nan,126,8.3252\n", "line 2, column 6 (population): 'nan' is not finite"},
      {"inf.csv", "-122.23,37.88,41,880,129,322,126,inf\n", "line 1, column 8 (medianIncome): 'inf' is not finite"},
      {"households.csv", good + "-122.23,37.88,41,880,129,322,0,8.3252\n",
       "line 2, column 7 (households): '0' is not > 0"},
      {"negative_households.csv", "-122.23,37.88,41,880,129,322,-3,8.3252\n",
       "line 1, column 7 (households): '-3' is not > 0"},
      {"blank.csv", good + "\n" + good, "line 2: blank line"},
      {"bad_header.csv", "lon,lat,age,rooms,bedrooms,population,households,income\n" + good,
       "line 1: neither numbers nor the header line"},
      {"empty_field.csv", "-122.23,,41,880,129,322,126,8.3252\n", "line 1, column 2 (latitude): empty field"},
  };
  for (const Case& c : cases) {
    const fs::path input = dir_ / c.name;
    write_file(input, c.text);
    const CliResult r =
        run("predict " + quote(out) + " --input " + quote(input) + " --output " + quote(dir_ / "p.csv"));
    EXPECT_EQ(r.exit_code, 2) << c.name << "\n" << r.err;
    EXPECT_TRUE(contains(r.err, input.string() + ": " + c.message)) << c.name << "\n" << r.err;
    EXPECT_FALSE(fs::exists(dir_ / "p.csv")) << c.name;
  }
  const CliResult missing = run("predict " + quote(out) + " --input " + quote(dir_ / "absent.csv") + " --output " +
                                quote(dir_ / "p.csv"));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_TRUE(contains(missing.err, (dir_ / "absent.csv").string() + ": no such file")) << missing.err;
}

TEST_F(SavedModel, HelpNamesTheCommandsAndTheInputLayout) {
  const CliResult top = run("--help");
  ASSERT_EQ(top.exit_code, 0) << top.err;
  for (const char* command : {"train", "eval", "predict"}) EXPECT_TRUE(contains(top.out, command)) << top.out;
  EXPECT_TRUE(contains(run("train --help").out, "--resume"));
  const CliResult predict = run("predict --help");
  for (const char* part : {"--input", "--output", "--device", "medianIncome", "header"})
    EXPECT_TRUE(contains(predict.out, part)) << part << "\n" << predict.out;
  const CliResult eval = run("eval --help");
  for (const char* part : {"--split", "--data", "--device", "best.bin"})
    EXPECT_TRUE(contains(eval.out, part)) << part << "\n" << eval.out;
}

// ---- readers, in process ----------------------------------------------------------------------

std::string data_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const DataError& e) {
    return e.what();
  }
  return "(no DataError)";
}

TEST(CaliforniaInputs, HeaderIsOptionalAndTheNinthColumnIgnored) {
  const std::string header = "longitude,latitude,housingMedianAge,totalRooms,totalBedrooms,population,households,"
                             "medianIncome";
  const Table a = parse_california_inputs("-122.23,37.88,41,880,129,322,126,8.3252\r\n1,2,3,4,5,6,7,8", "a.csv");
  const Table b = parse_california_inputs(header + ",medianHouseValue\n-122.23,37.88,41,880,129,322,126,8.3252,x\n"
                                                   "1,2,3,4,5,6,7,8,9\n",
                                          "b.csv");
  EXPECT_EQ(a.rows, 2);
  EXPECT_EQ(a.cols, 8);
  EXPECT_EQ(a.values, b.values);
  const std::vector<double> x = california_features(a, "a.csv");
  ASSERT_EQ(x.size(), 16u);
  // MedInc, HouseAge, AveRooms, AveBedrms, Population, AveOccup, Latitude, Longitude.
  EXPECT_EQ(std::vector<double>(x.begin(), x.begin() + 8),
            (std::vector<double>{8.3252, 41, 880.0 / 126, 129.0 / 126, 322, 322.0 / 126, 37.88, -122.23}));
  EXPECT_NE(data_error_of([&] { parse_california_inputs(header + "\n" + header + "\n", "c.csv"); })
                .find("c.csv: line 2, column 1 (longitude): 'longitude' is not a number"),
            std::string::npos);
}

TEST(CaliforniaRawText, NamesTheSourceGiven) {
  EXPECT_EQ(data_error_of([] { parse_california_raw("1,2,3\n", "memory"); }),
            "memory: line 1: 3 comma-separated columns, expected 9");
  EXPECT_EQ(parse_california_raw("1,2,3,4,5,6,7,8,9", "memory").rows, 1);
}

std::string config_error_of(const std::string& text) {
  Config cfg;
  try {
    apply_config_text(cfg, text, "mem.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no ConfigError)";
}

// What tests/test_config.cpp does not already cover (it has dt <= 0, t_end not a multiple of dt,
// zero neurons, unknown keys and absurd sizes): TOML shapes that are valid TOML but not a config.
TEST(ConfigText, StructuresThatAreNotKeysNameTheLine) {
  struct Case {
    std::string text, message;
  };
  const std::vector<Case> cases = {
      {"neurons = 2\n[fhn]\nneurons = 3\n", "mem.toml:2: unknown key 'fhn'"},
      {"neurons = [1, 2]\n", "mem.toml:1: neurons expects an integer, got a TOML array"},
      {"dt = { value = 1 }\n", "mem.toml:1: dt expects a number, got a TOML table"},
      {"neurons = 2\nneurons = 3\n", "mem.toml:2:"},
      {"seed = -1\n", "mem.toml:1: seed = -1 is out of range for an unsigned integer"},
      {"epochs = 1e3\n", "mem.toml:1: epochs expects an integer, got a TOML floating-point"},
      {"dt = 0.1\n\x01", "mem.toml:2:"},
      {"data = \"unterminated\n", "mem.toml:1:"},
      {"\xef\xbb\xbfneurons = \"x\"\n", "mem.toml:1: neurons expects an integer, got a TOML string"},
  };
  for (const Case& c : cases) {
    const std::string message = config_error_of(c.text);
    EXPECT_TRUE(contains(message, c.message)) << c.text << "\n" << message;
  }
}

// Found by fuzz/fuzz_config.cpp (the inputs are in fuzz/corpus/config/regression-*): toml++ 3.3
// reached __builtin_unreachable() on a non-ASCII character where whitespace may stand. Now a clean
// error; without the work-around in config_io.cpp the sanitizer build of this test aborts.
TEST(ConfigText, NonAsciiWhereWhitespaceMayStandIsAnErrorNotUndefinedBehaviour) {
  const std::vector<std::string> texts = {
      "\xcc\xaa", "dt = 0.1\xc3\xa9\n", "neurons = 2 \xc3\xbc\n", "s = \"\"\"\\\n\xc2\xa7\"\"\"\n",
      read_file(fs::path(DYNPMNN_SOURCE_DIR) / "fuzz/corpus/config/regression-toml-unreachable-crash")};
  for (const std::string& text : texts) {
    const std::string message = config_error_of(text);
    EXPECT_TRUE(message.starts_with("mem.toml:")) << text << "\n" << message;
  }
  // And such characters stay fine inside strings.
  Config cfg;
  apply_config_text(cfg, "data = \"/d\xc3\xa9j\xc3\xa0/\xc2\xa7\xcc\xaa.data\"\n", "mem.toml");
  EXPECT_EQ(cfg.data, "/d\xc3\xa9j\xc3\xa0/\xc2\xa7\xcc\xaa.data");
}

}  // namespace
}  // namespace dynpmnn
