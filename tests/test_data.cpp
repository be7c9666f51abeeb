// The California Housing module: numpy's split stream, the reader's rejections, the features and
// standardisation on the real file (skipped where the file is absent), and the look-up order.
#include "data/california.h"
#include "tests/data_test_util.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <unistd.h>

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;

constexpr int kFeatures = 8;

// The DataError's message, or a test failure where none is thrown.
std::string data_error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const DataError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a DataError, none was thrown";
  return {};
}

// A folder of small files for one test, removed afterwards.
class TempFolder {
 public:
  TempFolder() {
    const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() /
            ("dynpmnn_test_data_" + std::to_string(::getpid()) + "_" + test->test_suite_name() + "_" + test->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempFolder() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;

  std::string write(const std::string& name, const std::string& contents) const {
    const fs::path file = path_ / name;
    std::ofstream(file, std::ios::binary) << contents;
    return file.string();
  }
  std::string path(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// Sets or unsets an environment variable for one test and restores it afterwards.
class EnvOverride {
 public:
  EnvOverride(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value->c_str(), 1);
    else
      ::unsetenv(name);
  }
  ~EnvOverride() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  EnvOverride(const EnvOverride&) = delete;
  EnvOverride& operator=(const EnvOverride&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// Line 1 of cal_housing.data, in the file's own notation.
constexpr const char* kLine1 =
    "-122.230000,37.880000,41.000000,880.000000,129.000000,322.000000,126.000000,8.325200,452600.000000";

// A plausible raw row whose every column varies with i, for files big enough to split.
std::string varied_row(int i, double households) {
  return std::to_string(-122.0 + 0.01 * i) + "," + std::to_string(37.0 + 0.01 * i) + "," + std::to_string(10 + i) +
         "," + std::to_string(100 + 13 * i) + "," + std::to_string(20 + i) + "," + std::to_string(300 + 7 * i) +
         "," + std::to_string(households) + "," + std::to_string(2.0 + 0.1 * i) + "," +
         std::to_string(100000 + 1000 * i) + "\n";
}

std::string varied_rows(int count) {
  std::string text;
  for (int i = 0; i < count; ++i) text += varied_row(i, 50 + i);
  return text;
}

SplitData split_file(const std::string& path) { return make_california_splits(read_california_raw(path), path); }

// ---- numpy's stream ---------------------------------------------------------------------------

TEST(NumpyRand, FirstDrawsEqualNumpy) {
  const auto r = numpy_rand(42, 3);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0], 0.3745401188473625);
  EXPECT_EQ(r[1], 0.9507143064099162);
  EXPECT_EQ(r[2], 0.7319939418114051);
}

TEST(NumpyRand, DrawsDeepInTheStreamEqualNumpy) {
  // From numpy 1.24.2: r = numpy.random.RandomState(42).rand(20640); repr(r[10000]), repr(r[-1]).
  const auto r = numpy_rand(42, 20640);
  EXPECT_EQ(r[10000], 0.3736408184666985);
  EXPECT_EQ(r.back(), 0.09321147077486958);
}

TEST(NumpyRand, ThePapersThresholdsGiveThePapersSplitSizes) {
  const auto r = numpy_rand(42, 20640);
  std::array<int, 3> counts{};
  for (double v : r) ++counts[v <= 0.7 ? 0 : v <= 0.9 ? 1 : 2];
  EXPECT_EQ(counts, (std::array<int, 3>{14489, 4102, 2049}));
}

// ---- the real file ----------------------------------------------------------------------------

class CaliforniaRealFile : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      path_ = new std::string(locate_california(""));
    } catch (const DataError& e) {
      absent_reason_ = new std::string(e.what());
      return;
    }
    raw_ = new Table(read_california_raw(*path_));
    data_ = new SplitData(make_california_splits(*raw_, *path_));
  }
  static void TearDownTestSuite() {
    delete path_;
    delete absent_reason_;
    delete raw_;
    delete data_;
    path_ = absent_reason_ = nullptr;
    raw_ = nullptr;
    data_ = nullptr;
  }
  void SetUp() override {
    DYNPMNN_STOP_IF_DATA_MISSING(absent_reason_ ? *absent_reason_ : std::string());
  }

  // The standardised value of a hand-derived feature, with the train scaler.
  static double standardised(double value, int feature) {
    return (value - data_->scaler.mean[feature]) / data_->scaler.std[feature];
  }

  static std::string* path_;
  static std::string* absent_reason_;
  static Table* raw_;
  static SplitData* data_;
};
std::string* CaliforniaRealFile::path_ = nullptr;
std::string* CaliforniaRealFile::absent_reason_ = nullptr;
Table* CaliforniaRealFile::raw_ = nullptr;
SplitData* CaliforniaRealFile::data_ = nullptr;

TEST_F(CaliforniaRealFile, HasThePapersShapeAndSplitSizes) {
  EXPECT_EQ(raw_->rows, 20640);
  EXPECT_EQ(raw_->cols, 9);
  EXPECT_EQ(data_->source, *path_);
  EXPECT_EQ(data_->feature_names, (std::vector<std::string>{"MedInc", "HouseAge", "AveRooms", "AveBedrms",
                                                            "Population", "AveOccup", "Latitude", "Longitude"}));
  const std::array<const Dataset*, 3> splits = {&data_->train, &data_->val, &data_->test};
  const std::array<int, 3> sizes = {14489, 4102, 2049};
  for (int s = 0; s < 3; ++s) {
    SCOPED_TRACE(s);
    EXPECT_EQ(splits[s]->rows, sizes[s]);
    EXPECT_EQ(splits[s]->features, kFeatures);
    EXPECT_EQ(splits[s]->targets, 1);
    EXPECT_EQ(splits[s]->x.size(), static_cast<std::size_t>(sizes[s]) * kFeatures);
    EXPECT_EQ(splits[s]->y.size(), static_cast<std::size_t>(sizes[s]));
  }
}

TEST_F(CaliforniaRealFile, TrainFeaturesHaveMeanZeroAndUnbiasedStdOne) {
  const Dataset& train = data_->train;
  for (int j = 0; j < kFeatures; ++j) {
    SCOPED_TRACE(data_->feature_names[j]);
    double sum = 0;
    for (int i = 0; i < train.rows; ++i) sum += train.x[i * kFeatures + j];
    const double mean = sum / train.rows;
    double squares = 0;
    for (int i = 0; i < train.rows; ++i) squares += std::pow(train.x[i * kFeatures + j] - mean, 2);
    EXPECT_NEAR(mean, 0.0, 1e-12);
    EXPECT_NEAR(std::sqrt(squares / (train.rows - 1)), 1.0, 1e-12);
  }
}

TEST_F(CaliforniaRealFile, ScalerMatchesNumpy) {
  // From numpy 1.24.2 on the same file: X[train].mean(0) and X[train].std(0, ddof=1), with X the
  // 8 scikit-learn features and train = RandomState(42).rand(20640) <= 0.7.
  const std::array<double, kFeatures> mean = {3.8676839326385588, 28.608392573676582, 5.3989031848122515,
                                              1.0917112199567827, 1422.2237559527919, 3.0012720496650469,
                                              35.613317689281594, -119.55495134239645};
  const std::array<double, kFeatures> std = {1.9086018408498358, 12.558455310956154, 2.2034595919048590,
                                             0.37774744131267279, 1118.0627476153286, 4.7409473434165470,
                                             2.1230521169260355, 1.9944096495627193};
  for (int j = 0; j < kFeatures; ++j) {
    SCOPED_TRACE(data_->feature_names[j]);
    EXPECT_NEAR(data_->scaler.mean[j], mean[j], 1e-12 * std::abs(mean[j]));
    EXPECT_NEAR(data_->scaler.std[j], std[j], 1e-12 * std[j]);
  }
}

TEST_F(CaliforniaRealFile, FirstTrainRowIsLine1) {
  // Line 1: -122.23, 37.88, 41, 880, 129, 322, 126, 8.3252, 452600 (row 0 draws 0.37, so train).
  const std::array<double, kFeatures> features = {8.3252, 41.0, 880.0 / 126, 129.0 / 126,
                                                  322.0, 322.0 / 126, 37.88, -122.23};
  for (int j = 0; j < kFeatures; ++j)
    EXPECT_NEAR(data_->train.x[j], standardised(features[j], j), 1e-12) << data_->feature_names[j];
  EXPECT_DOUBLE_EQ(data_->train.y[0], 4.526);
}

TEST_F(CaliforniaRealFile, ValidationAndTestUseTheTrainScaler) {
  // Line 3 (draw 0.73) is the first validation row: -122.24, 37.85, 52, 1467, 190, 496, 177, 7.2574, 352100.
  const std::array<double, kFeatures> val_features = {7.2574, 52.0, 1467.0 / 177, 190.0 / 177,
                                                      496.0, 496.0 / 177, 37.85, -122.24};
  // numpy's ((X[val] - mean) / std)[0] with the train mean and std above.
  const std::array<double, kFeatures> val_numpy = {1.776020537553351, 1.8626182000198932, 1.3112255014898584,
                                                   -0.04835212704471597, -0.8284184031068896,
                                                   -0.04197729867971489, 1.053522093445778, -1.346287438085877};
  for (int j = 0; j < kFeatures; ++j) {
    SCOPED_TRACE(data_->feature_names[j]);
    EXPECT_NEAR(data_->val.x[j], standardised(val_features[j], j), 1e-12);
    EXPECT_NEAR(data_->val.x[j], val_numpy[j], 1e-12);
  }
  EXPECT_DOUBLE_EQ(data_->val.y[0], 3.521);

  // The last test row is line 20637: -121.21, 39.49, 18, 697, 150, 356, 114, 2.5568, 77100.
  const std::array<double, kFeatures> test_numpy = {-0.6868294395309116, -0.8447211309834967, 0.32454958808154283,
                                                    0.5931959537535337,  -0.9536349889367998, 0.02563516509998378,
                                                    1.8259948871775469,  -0.8298438878724933};
  const double* last = &data_->test.x[(data_->test.rows - 1) * kFeatures];
  for (int j = 0; j < kFeatures; ++j) EXPECT_NEAR(last[j], test_numpy[j], 1e-12) << data_->feature_names[j];
  EXPECT_DOUBLE_EQ(data_->test.y.back(), 0.771);
}

// ---- the reader's rejections ------------------------------------------------------------------

TEST(CaliforniaReader, MissingFile) {
  TempFolder dir;
  const std::string path = dir.path("absent.data");
  const std::string message = data_error_of([&] { read_california_raw(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("no such file"), std::string::npos) << message;
}

TEST(CaliforniaReader, EmptyFile) {
  TempFolder dir;
  const std::string path = dir.write("empty.data", "");
  const std::string message = data_error_of([&] { read_california_raw(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("empty"), std::string::npos) << message;
}

TEST(CaliforniaReader, WrongColumnCountNamesTheLine) {
  TempFolder dir;
  for (const std::string& bad : {"1,2,3,4,5,6,7,8\n", "1,2,3,4,5,6,7,8,9,10\n"}) {
    const std::string path = dir.write("columns.data", std::string(kLine1) + "\n" + kLine1 + "\n" + bad);
    const std::string message = data_error_of([&] { read_california_raw(path); });
    EXPECT_NE(message.find(path + ": line 3:"), std::string::npos) << message;
    EXPECT_NE(message.find("expected 9"), std::string::npos) << message;
  }
}

TEST(CaliforniaReader, BadFieldsNameLineAndColumn) {
  struct Case {
    std::string second_line;
    std::string where;
    std::string what;
  };
  const std::array<Case, 7> cases = {{
      {"-122.23,37.88,abc,880,129,322,126,8.3252,452600", "line 2, column 3 (housingMedianAge)", "not a number"},
      {"-122.23,37.88,41,880,nan,322,126,8.3252,452600", "line 2, column 5 (totalBedrooms)", "not finite"},
      {"-122.23,37.88,41,880,129,322,126,8.3252,inf", "line 2, column 9 (medianHouseValue)", "not finite"},
      {"-inf,37.88,41,880,129,322,126,8.3252,452600", "line 2, column 1 (longitude)", "not finite"},
      {"-122.23,37.88,41x,880,129,322,126,8.3252,452600", "line 2, column 3 (housingMedianAge)", "trailing"},
      {"-122.23,37.88,41,880,129,322,126,8.3252,452600 junk", "line 2, column 9 (medianHouseValue)", "trailing"},
      {"-122.23,,41,880,129,322,126,8.3252,452600", "line 2, column 2 (latitude)", "empty field"},
  }};
  TempFolder dir;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.second_line);
    const std::string path = dir.write("fields.data", std::string(kLine1) + "\n" + c.second_line + "\n");
    const std::string message = data_error_of([&] { read_california_raw(path); });
    EXPECT_NE(message.find(path + ": " + c.where), std::string::npos) << message;
    EXPECT_NE(message.find(c.what), std::string::npos) << message;
  }
}

TEST(CaliforniaReader, BlankLinesAreRejectedWhereverTheyAre) {
  TempFolder dir;
  const std::string middle = dir.write("middle.data", std::string(kLine1) + "\n\n" + kLine1 + "\n");
  std::string message = data_error_of([&] { read_california_raw(middle); });
  EXPECT_NE(message.find(middle + ": line 2: blank line"), std::string::npos) << message;

  const std::string crlf = dir.write("crlf_blank.data", std::string(kLine1) + "\r\n\r\n" + kLine1 + "\r\n");
  message = data_error_of([&] { read_california_raw(crlf); });
  EXPECT_NE(message.find(crlf + ": line 2: blank line"), std::string::npos) << message;

  const std::string trailing = dir.write("trailing.data", std::string(kLine1) + "\n" + kLine1 + "\n\n");
  message = data_error_of([&] { read_california_raw(trailing); });
  EXPECT_NE(message.find(trailing + ": line 3: blank line"), std::string::npos) << message;
}

TEST(CaliforniaReader, AcceptsCrlfAndAMissingFinalNewline) {
  TempFolder dir;
  for (const std::string& text : {std::string(kLine1) + "\r\n" + kLine1 + "\r\n", std::string(kLine1) + "\n" + kLine1}) {
    const Table table = read_california_raw(dir.write("ok.data", text));
    ASSERT_EQ(table.rows, 2);
    ASSERT_EQ(table.cols, 9);
    const std::array<double, 9> line1 = {-122.23, 37.88, 41, 880, 129, 322, 126, 8.3252, 452600};
    for (int c = 0; c < 9; ++c) {
      EXPECT_EQ(table.values[c], line1[c]) << c;
      EXPECT_EQ(table.values[9 + c], line1[c]) << c;
    }
  }
}

// ---- the split's rejections -------------------------------------------------------------------

TEST(CaliforniaSplit, ZeroHouseholdsNamesTheRow) {
  TempFolder dir;
  std::string text;
  for (int i = 0; i < 12; ++i) text += varied_row(i, i == 4 ? 0.0 : 50.0 + i);
  const std::string path = dir.write("households.data", text);
  const std::string message = data_error_of([&] { split_file(path); });
  EXPECT_NE(message.find(path + ": row 5 (line 5"), std::string::npos) << message;
  EXPECT_NE(message.find("households"), std::string::npos) << message;
}

TEST(CaliforniaSplit, EmptyOrTooSmallSplitsAreErrors) {
  TempFolder dir;
  // Rows 0 and 1 draw 0.37 and 0.95: train and test, no validation row.
  const std::string two = dir.write("two_rows.data", varied_rows(2));
  std::string message = data_error_of([&] { split_file(two); });
  EXPECT_NE(message.find(two), std::string::npos) << message;
  EXPECT_NE(message.find("validation split empty"), std::string::npos) << message;

  // Row 2 draws 0.73: every split has a row, but one train row has no unbiased std.
  const std::string three = dir.write("three_rows.data", varied_rows(3));
  message = data_error_of([&] { split_file(three); });
  EXPECT_NE(message.find(three), std::string::npos) << message;
  EXPECT_NE(message.find("train split has 1 row"), std::string::npos) << message;
}

TEST(CaliforniaSplit, ConstantFeatureIsKeptAndNamed) {
  TempFolder dir;
  std::string text;
  for (int i = 0; i < 12; ++i) {
    std::string row = varied_row(i, 50.0 + i);
    // Column 3 (housingMedianAge) → HouseAge, the same in every row.
    const auto second = row.find(',', row.find(',') + 1);
    const auto third = row.find(',', second + 1);
    row.replace(second + 1, third - second - 1, "30");
    text += row;
  }
  const std::string path = dir.write("constant.data", text);
  // Kept unscaled with a warning naming the file and the feature (issue 12; it used to be refused).
  const SplitData data = split_file(path);
  ASSERT_EQ(data.warnings.size(), 1u);
  const std::string& message = data.warnings[0];
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("feature column 'HouseAge' is constant"), std::string::npos) << message;
  EXPECT_EQ(data.scaler.std[1], 1.0);
  EXPECT_EQ(data.scaler.mean[1], 30.0);
}

TEST(CaliforniaSplit, SmallFileKeepsRowOrderInsideEachSplit) {
  TempFolder dir;
  const std::string path = dir.write("twelve.data", varied_rows(12));
  const SplitData data = split_file(path);
  // Draws of rows 0..11: .37 .95 .73 .60 .16 .16 .06 .87 .60 .71 .02 .97.
  EXPECT_EQ(data.train.rows, 7);
  EXPECT_EQ(data.val.rows, 3);
  EXPECT_EQ(data.test.rows, 2);
  // The target grows with the row, so each split's targets must be in file order: rows 0,3,4,5,6,8,10.
  EXPECT_EQ(data.train.y, (std::vector<double>{1.0, 1.03, 1.04, 1.05, 1.06, 1.08, 1.10}));
  EXPECT_EQ(data.val.y, (std::vector<double>{1.02, 1.07, 1.09}));
  EXPECT_EQ(data.test.y, (std::vector<double>{1.01, 1.11}));
}

TEST(CaliforniaSplit, ScalerRejectsMismatchedWidth) {
  Scaler scaler{{0.0, 0.0}, {1.0, 1.0}};
  std::vector<double> x(6, 1.0);
  EXPECT_THROW(scaler.apply(x, 3), std::invalid_argument);
  EXPECT_NO_THROW(scaler.apply(x, 2));
}

// ---- the look-up order ------------------------------------------------------------------------

TEST(CaliforniaLocate, ExplicitMissingPathIsAnErrorEvenWhenOthersExist) {
  TempFolder dir;
  const std::string present = dir.write("present.data", kLine1);
  const std::string missing = dir.path("missing.data");
  EnvOverride env(kDataEnvVar, present);
  const std::string message = data_error_of([&] { locate_california(missing, {present}); });
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
}

TEST(CaliforniaLocate, ExplicitPathWinsOverEnvironment) {
  TempFolder dir;
  const std::string chosen = dir.write("chosen.data", kLine1);
  EnvOverride env(kDataEnvVar, dir.write("env.data", kLine1));
  EXPECT_EQ(locate_california(chosen), chosen);
}

TEST(CaliforniaLocate, EnvironmentPathIsReturned) {
  TempFolder dir;
  const std::string from_env = dir.write("env.data", kLine1);
  EnvOverride env(kDataEnvVar, from_env);
  EXPECT_EQ(locate_california(""), from_env);
  EXPECT_EQ(locate_california("", {dir.write("default.data", kLine1)}), from_env);
}

TEST(CaliforniaLocate, EnvironmentMissingPathIsAnErrorEvenWhenDefaultsExist) {
  TempFolder dir;
  const std::string missing = dir.path("env_missing.data");
  EnvOverride env(kDataEnvVar, missing);
  const std::string message = data_error_of([&] { locate_california("", {dir.write("default.data", kLine1)}); });
  EXPECT_NE(message.find(std::string("$") + kDataEnvVar + "=" + missing), std::string::npos) << message;
}

TEST(CaliforniaLocate, DefaultPlacesInOrder) {
  TempFolder dir;
  EnvOverride env(kDataEnvVar, std::nullopt);
  const std::string first = dir.write("first.data", kLine1);
  const std::string second = dir.write("second.data", kLine1);
  EXPECT_EQ(locate_california("", {first, second}), first);
  EXPECT_EQ(locate_california("", {dir.path("absent.data"), second}), second);
}

TEST(CaliforniaLocate, NothingFoundListsEveryPlaceAndHowToFetch) {
  TempFolder dir;
  EnvOverride env(kDataEnvVar, std::nullopt);
  const std::string cache = dir.path("cache.data");
  const std::string shared = dir.path("shared.data");
  const std::string message = data_error_of([&] { locate_california("", {cache, shared}); });
  for (const std::string& expected : {cache, shared, std::string("--data"), std::string(kDataEnvVar),
                                      std::string("data/fetch_california.sh")})
    EXPECT_NE(message.find(expected), std::string::npos) << expected << " missing from:\n" << message;
}

TEST(CaliforniaFetchScript, VerifiesTheSameChecksumAsTheHeader) {
  std::ifstream script(DYNPMNN_SOURCE_DIR "/data/fetch_california.sh");
  ASSERT_TRUE(script) << "data/fetch_california.sh is missing";
  const std::string text((std::istreambuf_iterator<char>(script)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find(kCaliforniaSha256), std::string::npos);
}

// The data tests' skip turns into a failure under DYNPMNN_REQUIRE_DATA=1 (CI): this test binary
// runs one of them again with the file hidden ($DYNPMNN_DATA naming a missing path).
TEST(RequireData, MissingDataSkipsWithTheReasonOrFailsWhenRequired) {
  TempFolder dir;
  const std::string hidden = dir.path("no_such.data");
  const auto run = [&](const std::string& require) {
    const std::string out = dir.path("out.txt");
    const std::string command = "DYNPMNN_DATA='" + hidden + "' DYNPMNN_REQUIRE_DATA=" + require + " " +
                                std::filesystem::read_symlink("/proc/self/exe").string() +
                                " --gtest_filter=CaliforniaRealFile.HasThePapersShapeAndSplitSizes >'" + out +
                                "' 2>&1";
    const int status = std::system(command.c_str());
    std::ifstream in(out);
    return std::make_pair(status, std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
  };
  const auto [skip_status, skipped] = run("0");
  EXPECT_EQ(skip_status, 0) << skipped;
  EXPECT_NE(skipped.find("[  SKIPPED ]"), std::string::npos) << skipped;
  EXPECT_NE(skipped.find(hidden), std::string::npos) << "the reason names the place tried:\n" << skipped;
  const auto [fail_status, failed] = run("1");
  EXPECT_NE(fail_status, 0) << failed;
  EXPECT_NE(failed.find("DYNPMNN_REQUIRE_DATA=1 but cal_housing.data is not available"), std::string::npos)
      << failed;
  EXPECT_NE(failed.find("[  FAILED  ]"), std::string::npos) << failed;
}

}  // namespace
}  // namespace dynpmnn
