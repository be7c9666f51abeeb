// The run-time look-up of the presets' folder (data/share_dir.h): no path of the build machine is
// compiled into the library, so these check that each place of the look-up is found and that a
// wrong one is reported by name.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "data/california.h"
#include "data/share_dir.h"
#include "host/config/config.h"
#include "host/config/config_io.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;

class ShareDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* v = std::getenv(kShareDirEnvVar)) saved_ = v;
    ::unsetenv(kShareDirEnvVar);
    dir_ = fs::temp_directory_path() / ("dynpmnn-share-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "models" / "presets");
    std::ofstream(dir_ / "models" / "presets" / "tiny.toml") << "neurons = 3\ndt = 0.5\nt_end = 2\n";
  }
  void TearDown() override {
    set_share_dir({});
    if (saved_) ::setenv(kShareDirEnvVar, saved_->c_str(), 1);
    else ::unsetenv(kShareDirEnvVar);
    fs::remove_all(dir_);
  }
  fs::path dir_;
  std::optional<std::string> saved_;
};

TEST_F(ShareDirTest, TheBuildTreeFindsTheSourceTreeThroughItsLink) {
  // build/share/dynpmnn -> the source tree, found from build/tests/dynpmnn_tests two levels up.
  const std::optional<fs::path> found = find_share_dir();
  ASSERT_TRUE(found.has_value()) << share_dir_places_tried();
  EXPECT_EQ(*found, fs::canonical(DYNPMNN_SOURCE_DIR));
  EXPECT_TRUE(fs::is_regular_file(preset_dir() / "default.toml"));
  EXPECT_EQ(california_default_places().front(), (*found / "data" / "cache" / "cal_housing.data").string());
}

TEST_F(ShareDirTest, TheEnvironmentVariableComesFirst) {
  ::setenv(kShareDirEnvVar, dir_.c_str(), 1);
  EXPECT_EQ(find_share_dir(), fs::canonical(dir_));
  EXPECT_EQ(preset_names(), std::vector<std::string>{"tiny"});
  const Config cfg = preset("tiny");
  EXPECT_EQ(cfg.neurons, 3);
  EXPECT_EQ(cfg.dt, 0.5);
}

TEST_F(ShareDirTest, AFolderNamedByTheEnvironmentIsNotPassedOverForAGuess) {
  const fs::path empty = dir_ / "empty";
  fs::create_directories(empty);
  ::setenv(kShareDirEnvVar, empty.c_str(), 1);
  EXPECT_FALSE(find_share_dir().has_value());
  try {
    (void)preset("default");
    FAIL() << "preset() found a share folder although $DYNPMNN_SHARE_DIR names an empty one";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(empty.string() + " ($DYNPMNN_SHARE_DIR): no models/presets/ there"), std::string::npos)
        << what;
    EXPECT_NE(what.find("Set DYNPMNN_SHARE_DIR"), std::string::npos) << what;
  }
}

TEST_F(ShareDirTest, AnEmbeddingProgramSetsTheFolder) {
  set_share_dir(dir_);
  EXPECT_EQ(find_share_dir(), fs::canonical(dir_));
  EXPECT_EQ(preset("tiny").t_end, 2.0);
  set_share_dir({});
  EXPECT_EQ(find_share_dir(), fs::canonical(DYNPMNN_SOURCE_DIR));
}

}  // namespace
}  // namespace dynpmnn
