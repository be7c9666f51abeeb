// The embedding API (host/embed/embed.h): train a configuration into a run folder and predict from
// it in the same process. examples/consumer/check.sh compares it with the CLI against an install;
// these check its own contract.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/california.h"
#include "host/config/config.h"
#include "host/embed/embed.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;

class EmbedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dynpmnn-embed-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream csv(dir_ / "rows.csv");
    csv << "p,q,y\n";
    for (int i = 0; i < 120; ++i) {
      const double p = std::sin(0.37 * i), q = std::cos(0.11 * i) * 3;
      csv << p << "," << q << "," << (2 * p - q * q + 10) << "\n";
    }
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(EmbedTest, TrainsARunFolderAndPredictsFromIt) {
  const std::string summary =
      train("", {"data=" + (dir_ / "rows.csv").string(), "target=y", "neurons=2", "layers=1", "dt=0.5", "t_end=1",
                 "epochs=2", "device=cpu"},
            (dir_ / "run").string());
  const nlohmann::json s = nlohmann::json::parse(summary);
  EXPECT_EQ(s.at("epochs"), 2) << summary;
  EXPECT_TRUE(fs::is_regular_file(dir_ / "run" / "best.bin"));
  EXPECT_TRUE(fs::is_regular_file(dir_ / "run" / "final.json"));

  Predictor model = Predictor::load((dir_ / "run").string(), "cpu");
  EXPECT_EQ(model.feature_names(), (std::vector<std::string>{"p", "q"}));
  EXPECT_TRUE(model.class_labels().empty());
  EXPECT_EQ(model.outputs(), 1);
  const std::vector<double> y = model.predict({0.1, 1.0, -0.5, 2.0, 0.3, -1.0}, 3);
  ASSERT_EQ(y.size(), 3u);
  for (double v : y) EXPECT_TRUE(std::isfinite(v));
  EXPECT_NE(y[0], y[1]);  // the rows reach the model
  // The same rows again: the same predictions (the backend keeps no state between calls).
  EXPECT_EQ(model.predict({0.1, 1.0, -0.5, 2.0, 0.3, -1.0}, 3), y);
  try {
    (void)model.predict({1.0, 2.0, 3.0}, 2);
    FAIL() << "predict took 3 values for 2 rows of 2 features";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("3 values for 2 rows of 2 features"), std::string::npos) << e.what();
  }
}

TEST_F(EmbedTest, BadArgumentsAreNamed) {
  try {
    (void)Predictor::load((dir_ / "nowhere").string());
    FAIL() << "loaded a run folder that does not exist";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("nowhere: no such run folder"), std::string::npos) << e.what();
  }
  try {
    (void)train("", {"data=" + (dir_ / "rows.csv").string(), "target=y", "neurons=0"}, (dir_ / "bad").string());
    FAIL() << "trained with neurons = 0";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("neurons = 0"), std::string::npos) << e.what();
  }
}

TEST_F(EmbedTest, CaliforniaFeaturesAreTheCliDerivation) {
  const std::vector<double> raw = {-122.23, 37.88, 41, 880, 129, 322, 126, 8.3252,
                                   -122.22, 37.86, 21, 7099, 1106, 2401, 1138, 8.3014};
  Table table{2, 8, raw};
  EXPECT_EQ(Predictor::california_features(raw, 2, 8), california_features(table, "t"));
  EXPECT_THROW((void)Predictor::california_features(raw, 2, 7), DataError);
}

}  // namespace
}  // namespace dynpmnn
