// Classification: the softmax cross-entropy against finite differences and a hand computation,
// accuracy and macro F1 against a hand-made confusion matrix, checkpoints with class labels, a
// separable CSV that trains, and the CLI's train / eval / predict on a CSV file.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "data/csv_dataset.h"
#include "host/runtime/backend.h"
#include "host/io/checkpoint.h"
#include "host/training/class_metrics.h"
#include "host/config/config.h"
#include "host/training/trainer.h"
#include "kernels/loss.h"
#include "kernels/loss_math.h"
#include "models/cpu_model.h"
#include "tests/cli_runner.h"
#include "tests/cpu_training.h"

namespace dynpmnn {
namespace {

using testing::contains;
namespace fs = std::filesystem;

// ---- the loss -------------------------------------------------------------------------------

// The cross-entropy written out the naive way in long double, for logits small enough for exp.
double naive_cross_entropy(const std::vector<double>& logits, const std::vector<double>& labels, int K) {
  const std::size_t B = labels.size();
  long double total = 0;
  for (std::size_t i = 0; i < B; ++i) {
    long double sum = 0;
    for (int k = 0; k < K; ++k) sum += std::exp(static_cast<long double>(logits[i * K + k]));
    total += std::log(sum) - logits[i * K + static_cast<std::size_t>(labels[i])];
  }
  return static_cast<double>(total / B);
}

TEST(CrossEntropy, ValueMatchesAHandComputation) {
  // log(e¹ + e² + e³) − 3 = log(1 + e⁻¹ + e⁻²)
  const std::vector<double> logits = {1, 2, 3};
  const std::vector<double> label = {2};
  EXPECT_NEAR(softmax_cross_entropy_cpu(logits.data(), label.data(), 1, 3, static_cast<double*>(nullptr)),
              std::log(1 + std::exp(-1.0) + std::exp(-2.0)), 1e-15);
  std::mt19937 gen(5);
  std::normal_distribution<double> normal(0.0, 3.0);
  for (const auto [B, K] : {std::pair{1, 2}, std::pair{7, 3}, std::pair{33, 10}}) {
    std::vector<double> z(static_cast<std::size_t>(B) * K), y(static_cast<std::size_t>(B));
    for (double& v : z) v = normal(gen);
    for (int i = 0; i < B; ++i) y[i] = (i * 7) % K;
    EXPECT_NEAR(softmax_cross_entropy_cpu(z.data(), y.data(), B, K, static_cast<double*>(nullptr)),
                naive_cross_entropy(z, y, K), 1e-13)
        << B << "x" << K;
  }
}

TEST(CrossEntropy, GradientMatchesFiniteDifferences) {
  std::mt19937 gen(11);
  std::normal_distribution<double> normal(0.0, 2.0);
  for (const auto [B, K] : {std::pair{1, 2}, std::pair{5, 3}, std::pair{9, 7}}) {
    std::vector<double> z(static_cast<std::size_t>(B) * K), y(static_cast<std::size_t>(B)), grad(z.size());
    for (double& v : z) v = normal(gen);
    for (int i = 0; i < B; ++i) y[i] = (i * 5 + 1) % K;
    softmax_cross_entropy_cpu(z.data(), y.data(), B, K, grad.data());
    const double h = 1e-6;
    for (std::size_t i = 0; i < z.size(); ++i) {
      std::vector<double> plus = z, minus = z;
      plus[i] += h;
      minus[i] -= h;
      const double fd = (softmax_cross_entropy_cpu(plus.data(), y.data(), B, K, static_cast<double*>(nullptr)) -
                         softmax_cross_entropy_cpu(minus.data(), y.data(), B, K, static_cast<double*>(nullptr))) /
                        (2 * h);
      EXPECT_NEAR(grad[i], fd, 1e-9 + 1e-6 * std::abs(fd)) << B << "x" << K << " element " << i;
    }
  }
}

TEST(CrossEntropy, StableForHugeLogitsAndNaNForABadLabel) {
  // exp(1000) overflows; the log-sum-exp around the maximum does not.
  const std::vector<double> z = {1000, 0, -1000, 0, 1000, 1000};
  const std::vector<double> y = {1, 2};
  std::vector<double> grad(6);
  const double loss = softmax_cross_entropy_cpu(z.data(), y.data(), 2, 3, grad.data());
  EXPECT_DOUBLE_EQ(loss, (1000.0 + std::log(2.0)) / 2);  // row 0: 1000 − 0; row 1: 1000 + log 2 − 1000
  const std::vector<double> want = {0.5, -0.5, 0, 0, 0.25, -0.25};  // (softmax − onehot) / B
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(grad[i], want[i], 1e-15) << i;
  const std::vector<float> zf(z.begin(), z.end()), yf(y.begin(), y.end());
  std::vector<float> gf(6);
  EXPECT_DOUBLE_EQ(softmax_cross_entropy_cpu(zf.data(), yf.data(), 2, 3, gf.data()), loss);

  for (const double bad : {-1.0, 3.0, 0.5, std::nan("")}) {
    const std::vector<double> yb = {0, bad};
    EXPECT_TRUE(std::isnan(softmax_cross_entropy_cpu(z.data(), yb.data(), 2, 3, grad.data()))) << bad;
    EXPECT_TRUE(std::isnan(grad[3])) << bad;
    EXPECT_FALSE(std::isnan(grad[0])) << bad;
  }
}

TEST(CrossEntropy, ModelGradientThroughTheLossMatchesFiniteDifferences) {
  // The whole model with K = 3 outputs trained through the cross-entropy: every parameter kind.
  Config cfg;
  cfg.neurons = 2;
  cfg.dt = 0.1;
  cfg.t_end = 0.5;
  cfg.train_a = cfg.train_b = true;
  const ModelSpec spec = cfg.model_spec(4, 3);
  const ParamTable table(spec);
  std::vector<double> params(table.total()), grad(table.total());
  init_params(spec, table, 3, params);
  const int B = 5;
  std::mt19937 gen(2);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<double> x(static_cast<std::size_t>(B) * 4), y = {0, 2, 1, 1, 0}, pred(B * 3), dpred(B * 3);
  for (double& v : x) v = normal(gen);
  CpuModel<double> model(spec, table);
  auto loss_at = [&](const std::vector<double>& p) {
    model.forward(p.data(), x.data(), B, pred.data());
    return softmax_cross_entropy_cpu(pred.data(), y.data(), B, 3, static_cast<double*>(nullptr));
  };
  model.forward(params.data(), x.data(), B, pred.data());
  softmax_cross_entropy_cpu(pred.data(), y.data(), B, 3, dpred.data());
  model.backward(params.data(), x.data(), dpred.data(), grad.data());
  int checked = 0;
  for (const ParamTensor& t : table.tensors()) {
    if (!t.trainable) continue;
    for (std::size_t i = t.offset; i < t.offset + t.size; i += std::max<std::size_t>(1, t.size / 3)) {
      const double h = 1e-6;
      std::vector<double> plus = params, minus = params;
      plus[i] += h;
      minus[i] -= h;
      const double fd = (loss_at(plus) - loss_at(minus)) / (2 * h);
      EXPECT_NEAR(grad[i], fd, 1e-8 + 1e-5 * std::abs(fd)) << t.name << " element " << i - t.offset;
      ++checked;
    }
  }
  EXPECT_GT(checked, 10);
}

// ---- metrics --------------------------------------------------------------------------------

TEST(ClassMetrics, AccuracyAndMacroF1FromAHandMadeConfusionMatrix) {
  // true:      0 0 1 1 2 2 2 0
  // predicted: 0 1 1 1 2 0 2 0
  const std::vector<double> labels = {0, 0, 1, 1, 2, 2, 2, 0};
  const std::vector<int> predicted = {0, 1, 1, 1, 2, 0, 2, 0};
  for (const int K : {3, 4}) {  // class 3 neither true nor predicted: left out of the mean
    std::vector<double> logits(labels.size() * K, -1.0);
    for (std::size_t i = 0; i < labels.size(); ++i) logits[i * K + predicted[i]] = 5.0 + i;
    const ClassMetrics m = classification_metrics(logits, labels, K);
    std::vector<long> want(static_cast<std::size_t>(K) * K, 0);
    auto at = [&](int t, int p) -> long& { return want[static_cast<std::size_t>(t) * K + p]; };
    at(0, 0) = 2, at(0, 1) = 1, at(1, 1) = 2, at(2, 0) = 1, at(2, 2) = 2;
    EXPECT_EQ(m.confusion, want);
    EXPECT_DOUBLE_EQ(m.accuracy, 6.0 / 8.0);
    // F1: class 0 2·2/(2·2+1+1) = 2/3, class 1 4/5, class 2 4/5.
    EXPECT_NEAR(m.macro_f1, (2.0 / 3 + 0.8 + 0.8) / 3, 1e-15) << K;
    EXPECT_NEAR(m.loss, naive_cross_entropy(logits, labels, K), 1e-12);
  }
  // A class that occurs but is never predicted counts with F1 = 0.
  const ClassMetrics all_zero = classification_metrics({1, 0, 1, 0, 1, 0, 1, 0}, {0, 0, 0, 1}, 2);
  EXPECT_DOUBLE_EQ(all_zero.accuracy, 0.75);
  EXPECT_NEAR(all_zero.macro_f1, (2.0 * 3 / (2 * 3 + 1) + 0.0) / 2, 1e-15);
  // Ties go to the first class; no rows give zeros.
  EXPECT_EQ(predicted_classes({2, 2, 1, 0, 3, 3}, 3), (std::vector<int>{0, 1}));
  EXPECT_EQ(classification_metrics({}, {}, 3).accuracy, 0.0);
  EXPECT_THROW(classification_metrics({0, 1}, {2}, 2), std::invalid_argument);
}

// ---- data, training, checkpoints --------------------------------------------------------------

// Three well separated Gaussian blobs in the plane, classes named so that their sorted order is
// not the file's: "west", "east", "north" → east 0, north 1, west 2. A column of noise besides.
std::string blobs_csv(int per_class, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> normal(0.0, 0.5);
  const std::vector<std::pair<std::string, std::pair<double, double>>> centres = {
      {"west", {-3, 0}}, {"east", {3, 0}}, {"north", {0, 3}}};
  std::string text = "x,y,noise,kind\n";
  for (int i = 0; i < per_class; ++i)
    for (const auto& [name, c] : centres)
      text += fmt::format("{},{},{},{}\n", c.first + normal(gen), c.second + normal(gen), normal(gen), name);
  return text;
}

Config small_classifier() {
  Config cfg;
  cfg.target = "kind";
  cfg.task = "classification";
  cfg.neurons = 8;
  cfg.dt = 0.1;
  cfg.t_end = 1;
  cfg.lr = 0.02;
  cfg.batch_size = 16;
  cfg.weight_decay = 0;
  cfg.patience = 0;
  cfg.epochs = 8;
  cfg.device = "cpu";
  return cfg;
}

TEST(Classification, SeparableCsvTrainsToHighAccuracyOnTheCpu) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("dynpmnn_blobs_{}", ::getpid());
  fs::create_directories(dir);
  testing::write_file(dir / "blobs.csv", blobs_csv(80, 1));
  Config cfg = small_classifier();
  CsvOptions options;
  options.target = "kind";
  options.task = Task::kClassification;
  const SplitData data = load_csv_dataset((dir / "blobs.csv").string(), options);
  fs::remove_all(dir);
  ASSERT_EQ(data.class_labels, (std::vector<std::string>{"east", "north", "west"}));
  testing::CpuTraining training(cfg, cfg.model_spec(data.train.features, 3), data);
  const TrainReport report = training.train(cfg, data);
  EXPECT_TRUE(report.classification);
  EXPECT_EQ(report.status, "ok");
  EXPECT_GE(report.test_class.accuracy, 0.95);
  EXPECT_GE(report.test_class.macro_f1, 0.95);
  // The training loss fell from about log 3 and early stopping watched the val cross-entropy.
  ASSERT_EQ(report.history.size(), 8u);
  EXPECT_LT(report.history.back().train_loss, 0.5 * report.history.front().train_loss);
  EXPECT_NEAR(report.val_mse, report.val_class.loss, 1e-12);
  ASSERT_GE(report.best_epoch, 1);
  EXPECT_NEAR(report.history[static_cast<std::size_t>(report.best_epoch - 1)].val_mse, report.val_class.loss, 1e-12);
}

TEST(Classification, BackendRefusesLabelsThatAreNoClass) {
  Config cfg = small_classifier();
  const ModelSpec spec = cfg.model_spec(2, 3);
  SplitData data;
  for (Dataset* d : {&data.train, &data.val, &data.test}) {
    d->rows = 2;
    d->features = 2;
    d->x = {0, 1, 2, 3};
    d->y = {0, 2};
  }
  const auto backend = make_cpu_backend(spec, train_hyper(cfg));
  EXPECT_NO_THROW(backend->set_data(data));
  data.val.y = {0, 3};
  EXPECT_THROW(backend->set_data(data), std::invalid_argument);
}

TEST(Classification, CheckpointKeepsTheClassLabels) {
  Config cfg = small_classifier();
  const testing::CpuTraining training(cfg.model_spec(2, 3), train_hyper(cfg), nullptr, 0);
  Checkpoint ck = make_checkpoint(cfg, training.table, Scaler{{0, 1}, {1, 2}}, {"x", "y"},
                                  initial_train_state(training.params), *training.backend);
  ck.class_labels = {"east", "north", "west"};
  const std::string bytes = serialize_checkpoint(ck);
  EXPECT_EQ(static_cast<unsigned char>(bytes[8]), kCheckpointVersionClasses);
  const Checkpoint back = parse_checkpoint(bytes, "c.bin");
  EXPECT_EQ(back.class_labels, ck.class_labels);
  EXPECT_EQ(back.config.task, "classification");
  EXPECT_EQ(back.config.target, "kind");
  EXPECT_EQ(back.params, ck.params);
  EXPECT_EQ(serialize_checkpoint(back), bytes);

  // Labels and task must agree, and the readout must have one output per class.
  ck.class_labels = {};
  std::string message;
  try {
    parse_checkpoint(serialize_checkpoint(ck), "c.bin");
  } catch (const CheckpointError& e) {
    message = e.what();
  }
  EXPECT_TRUE(contains(message, "c.bin: task = 'classification' with 0 class labels")) << message;
  ck.class_labels = {"a", "b"};
  message.clear();
  try {
    parse_checkpoint(serialize_checkpoint(ck), "c.bin");
  } catch (const CheckpointError& e) {
    message = e.what();
  }
  EXPECT_TRUE(contains(message, "readout")) << message;
}

// ---- the command line -------------------------------------------------------------------------

class ClassificationCli : public testing::CliFixture {
 protected:
  nlohmann::json last_json(const testing::CliResult& r) const {
    return nlohmann::json::parse(testing::last_line(r.out));
  }
  std::string train_args(const fs::path& csv, const fs::path& out) const {
    return fmt::format("train --data {} --target kind --task classification --device cpu --epochs 8 --set neurons=8 "
                       "--set dt=0.1 --set t_end=1 --set lr=0.02 --set batch_size=16 --set weight_decay=0 "
                       "--set patience=0 --out {} -q",
                       testing::quote(csv), testing::quote(out));
  }
};

TEST_F(ClassificationCli, TrainEvalAndPredictOnACsv) {
  const fs::path csv = dir_ / "blobs.csv", run_dir = dir_ / "run";
  testing::write_file(csv, blobs_csv(60, 2));
  const testing::CliResult r = run(train_args(csv, run_dir));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json summary = last_json(r);
  ASSERT_TRUE(summary.contains("test_accuracy")) << r.out;
  ASSERT_TRUE(summary.contains("test_f1")) << r.out;
  EXPECT_FALSE(summary.contains("test_rmse"));
  EXPECT_GE(summary["test_accuracy"].get<double>(), 0.9);
  EXPECT_GE(summary["test_f1"].get<double>(), 0.9);
  EXPECT_TRUE(summary.contains("val_accuracy") && summary.contains("val_f1") && summary.contains("val_loss"));
  const nlohmann::json final_json = nlohmann::json::parse(testing::read_file(run_dir / "final.json"));
  EXPECT_EQ(final_json["test_accuracy"], summary["test_accuracy"]);
  EXPECT_TRUE(contains(testing::read_file(run_dir / "metrics.jsonl"), "\"val_loss\""));
  EXPECT_TRUE(contains(testing::read_file(run_dir / "config.toml"), "task = \"classification\""));

  const testing::CliResult e = run("eval " + testing::quote(run_dir));
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const nlohmann::json ev = last_json(e);
  EXPECT_EQ(ev["classes"], (nlohmann::json{"east", "north", "west"}));
  EXPECT_NEAR(ev["accuracy"].get<double>(), summary["test_accuracy"].get<double>(), 1e-12);
  EXPECT_NEAR(ev["f1"].get<double>(), summary["test_f1"].get<double>(), 1e-12);

  // predict on the training file itself: the kind column is ignored, the label predicted.
  const testing::CliResult p = run(fmt::format("predict {} --input {} --output {}", testing::quote(run_dir),
                                                   testing::quote(csv), testing::quote(dir_ / "pred.csv")));
  ASSERT_EQ(p.exit_code, 0) << p.err;
  std::istringstream pred(testing::read_file(dir_ / "pred.csv")), truth(testing::read_file(csv));
  std::string line, truth_line;
  std::getline(pred, line);
  EXPECT_EQ(line, "kind,p_east,p_north,p_west");
  std::getline(truth, truth_line);
  int rows = 0, right = 0;
  while (std::getline(pred, line) && std::getline(truth, truth_line)) {
    ++rows;
    const std::string label = line.substr(0, line.find(','));
    right += label == truth_line.substr(truth_line.rfind(',') + 1);
    double sum = 0;
    std::istringstream fields(line.substr(line.find(',') + 1));
    for (std::string f; std::getline(fields, f, ',');) sum += std::stod(f);
    EXPECT_NEAR(sum, 1.0, 1e-9) << line;
  }
  EXPECT_EQ(rows, 180);
  EXPECT_GE(right, 0.9 * rows);
}

// A sweep of classification runs ranks them by validation cross-entropy and reports accuracy and
// macro F1, not the regression columns (which final.json of such a run does not hold).
TEST_F(ClassificationCli, SweepRanksByValidationLossAndReportsAccuracy) {
  const fs::path csv = dir_ / "blobs.csv";
  testing::write_file(csv, blobs_csv(30, 5));
  testing::write_file(dir_ / "grid.toml", fmt::format(R"([base]
data = "{}"
target = "kind"
task = "classification"
neurons = 4
dt = 0.1
t_end = 1.0
epochs = 2
batch_size = 16
patience = 0
[grid]
lr = [0.0001, 0.02]
)",
                                                   csv.string()));
  const testing::CliResult r =
      run("sweep " + testing::quote(dir_ / "grid.toml") + " --device cpu --jobs 1 --out " + testing::quote(dir_ / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "val_loss")) << r.err;
  EXPECT_TRUE(contains(r.err, "test_accuracy")) << r.err;
  const nlohmann::json summary = last_json(r);
  ASSERT_TRUE(summary["best"].contains("val_loss")) << r.out;
  ASSERT_TRUE(summary["best"].contains("test_accuracy")) << r.out;
  std::istringstream results(testing::read_file(dir_ / "out" / "results.csv"));
  std::string header, first, second;
  std::getline(results, header);
  std::getline(results, first);
  std::getline(results, second);
  EXPECT_EQ(header, "run,lr,seed,status,val_loss,test_accuracy,test_f1,params,epochs,epoch_seconds");
  auto cell = [](const std::string& line, int column) {
    std::istringstream fields(line);
    std::string f;
    for (int c = 0; c <= column; ++c) std::getline(fields, f, ',');
    return f;
  };
  ASSERT_FALSE(cell(first, 4).empty()) << first;
  ASSERT_FALSE(cell(second, 4).empty()) << second;
  EXPECT_LE(std::stod(cell(first, 4)), std::stod(cell(second, 4))) << "not ranked by val_loss:\n" << first << "\n" << second;
  EXPECT_EQ(cell(first, 1), "0.02") << "the larger lr should fit two epochs better";
  EXPECT_TRUE(contains(testing::read_file(dir_ / "out" / "results.md"), "sorted by validation loss"));
}

TEST_F(ClassificationCli, ResumedRunEqualsTheUninterruptedOneAndInspectReadsIt) {
  const fs::path csv = dir_ / "blobs.csv";
  testing::write_file(csv, blobs_csv(30, 3));
  const std::string args = fmt::format("train --data {} --target kind --task classification --device cpu --epochs 4 "
                                       "--set neurons=3 --set dt=0.1 --set t_end=1 --set lr=0.01 -q --out ",
                                       testing::quote(csv));
  const testing::CliResult full = run(args + testing::quote(dir_ / "full"));
  ASSERT_EQ(full.exit_code, 0) << full.err;
  const testing::CliResult cut = run(args + testing::quote(dir_ / "cut"), "DYNPMNN_TEST_STOP_AFTER_EPOCH=2 ");
  ASSERT_EQ(cut.exit_code, 75) << cut.err;
  const testing::CliResult resumed = run("train --resume " + testing::quote(dir_ / "cut") + " -q");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  nlohmann::json a = last_json(full), b = last_json(resumed);
  for (const char* volatile_key : {"run_dir", "epoch_seconds"}) {
    a.erase(volatile_key);
    b.erase(volatile_key);
  }
  EXPECT_EQ(a, b);  // the CPU backend continues bit for bit, class labels and all
  // A CSV with other classes cannot continue or be evaluated as this run.
  testing::write_file(dir_ / "other.csv", blobs_csv(30, 4) + "1,1,1,south\n1,2,1,south\n");
  const testing::CliResult other =
      run("eval " + testing::quote(dir_ / "full") + " --data " + testing::quote(dir_ / "other.csv"));
  EXPECT_EQ(other.exit_code, 2);
  EXPECT_TRUE(contains(other.err, "holds the classes east, north, south, west, the model was trained on east, "
                                  "north, west"))
      << other.err;

  const testing::CliResult inspect = run("inspect " + testing::quote(dir_ / "full") + " --neurons 1 --samples 2");
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_TRUE(fs::exists(dir_ / "full" / "inspect" / "params_layer0.png"));
}

TEST_F(ClassificationCli, RegressionOnACsvAndBadInput) {
  const fs::path csv = dir_ / "lin.csv";
  std::string text = "a,b,y\n";
  for (int i = 0; i < 60; ++i) text += fmt::format("{},{},{}\n", i % 10, i % 7, 0.5 * (i % 10) - 0.2 * (i % 7));
  testing::write_file(csv, text);
  const testing::CliResult r =
      run(fmt::format("train --data {} --target y --device cpu --epochs 2 --set dt=0.1 --set t_end=1 --out {} -q",
                          testing::quote(csv), testing::quote(dir_ / "reg")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(last_json(r).contains("test_rmse")) << r.out;
  EXPECT_FALSE(last_json(r).contains("test_accuracy"));
  const testing::CliResult p = run(fmt::format("predict {} --input {} --output {}", testing::quote(dir_ / "reg"),
                                                   testing::quote(csv), testing::quote(dir_ / "p.csv")));
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_TRUE(testing::read_file(dir_ / "p.csv").starts_with("y\n"));

  const testing::CliResult no_target = run(fmt::format("train --data {} --task classification --device cpu -q",
                                                           testing::quote(csv)));
  EXPECT_EQ(no_target.exit_code, 2);
  EXPECT_TRUE(contains(no_target.err, "task = 'classification' needs a CSV file")) << no_target.err;
  const testing::CliResult bad_column = run(fmt::format(
      "train --data {} --target z --task classification --device cpu -q --out {}", testing::quote(csv),
      testing::quote(dir_ / "z")));
  EXPECT_EQ(bad_column.exit_code, 2);
  EXPECT_TRUE(contains(bad_column.err, "no column named 'z' for the target")) << bad_column.err;
}

}  // namespace
}  // namespace dynpmnn
