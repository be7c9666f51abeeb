// loss_curve.png: a valid PNG of the promised size, with the curves drawn inside the plot area, for
// ordinary, log-scale, single-epoch, empty and non-finite inputs.
#include <gtest/gtest.h>

#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

#include "host/report/canvas.h"
#include "host/report/plot.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

struct Decoded {
  int width = 0, height = 0;
  std::vector<std::uint8_t> rgb;
  // Pixels of exactly this colour inside the frame (the plot area, away from the title and labels).
  int count_in_plot_area(std::array<std::uint8_t, 3> c) const {
    int n = 0;
    for (int y = 60; y < height - 80; ++y)
      for (int x = 115; x < width - 30; ++x) {
        const std::uint8_t* p = &rgb[3 * (static_cast<std::size_t>(y) * width + x)];
        n += p[0] == c[0] && p[1] == c[1] && p[2] == c[2];
      }
    return n;
  }
  int non_white_in_plot_area() const {
    int n = 0;
    for (int y = 60; y < height - 80; ++y)
      for (int x = 115; x < width - 30; ++x) {
        const std::uint8_t* p = &rgb[3 * (static_cast<std::size_t>(y) * width + x)];
        n += !(p[0] == 255 && p[1] == 255 && p[2] == 255);
      }
    return n;
  }
};

constexpr std::array<std::uint8_t, 3> kTrain{31, 119, 180};
constexpr std::array<std::uint8_t, 3> kVal{255, 127, 14};

class PlotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dynpmnn_test_plot_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes the plot, checks the PNG signature and the IHDR size, and decodes it.
  Decoded plot(const std::vector<double>& train, const std::vector<double>& val) {
    const fs::path path = dir_ / "loss.png";
    write_loss_curve_png(path, train, val, "test title");
    std::ifstream in(path, std::ios::binary);
    const std::vector<unsigned char> bytes{std::istreambuf_iterator<char>(in), {}};
    EXPECT_GE(bytes.size(), 33u);
    if (bytes.size() < 33) return {};
    const std::array<unsigned char, 8> signature{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    EXPECT_TRUE(std::equal(signature.begin(), signature.end(), bytes.begin()));
    EXPECT_EQ(std::string(bytes.begin() + 12, bytes.begin() + 16), "IHDR");
    auto be32 = [&](int at) {
      return (bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3];
    };
    EXPECT_EQ(be32(16), kPlotWidth);
    EXPECT_EQ(be32(20), kPlotHeight);

    Decoded d;
    int channels = 0;
    unsigned char* pixels = stbi_load(path.c_str(), &d.width, &d.height, &channels, 3);
    EXPECT_NE(pixels, nullptr) << stbi_failure_reason();
    if (pixels == nullptr) return {};
    d.rgb.assign(pixels, pixels + 3 * d.width * d.height);
    stbi_image_free(pixels);
    return d;
  }

  fs::path dir_;
};

TEST_F(PlotTest, DrawsBothCurves) {
  std::vector<double> train, val;
  for (int i = 0; i < 30; ++i) {
    train.push_back(0.3 + std::exp(-i / 6.0));
    val.push_back(0.35 + std::exp(-i / 7.0));
  }
  const Decoded d = plot(train, val);
  ASSERT_EQ(d.width, kPlotWidth);
  ASSERT_EQ(d.height, kPlotHeight);
  EXPECT_GT(d.count_in_plot_area(kTrain), 200);
  EXPECT_GT(d.count_in_plot_area(kVal), 200);
}

TEST_F(PlotTest, LogScaleAndGapsStillDraw) {
  std::vector<double> train, val;
  for (int i = 0; i < 100; ++i) {
    train.push_back(1e3 * std::exp(-i / 10.0));
    val.push_back(i % 10 == 5 ? kNaN : 1.2e3 * std::exp(-i / 10.0));
  }
  const Decoded d = plot(train, val);
  EXPECT_GT(d.count_in_plot_area(kTrain), 200);
  EXPECT_GT(d.count_in_plot_area(kVal), 200);
}

TEST_F(PlotTest, SingleEpochShowsItsPoints) {
  const Decoded d = plot({0.5}, {0.6});
  EXPECT_GT(d.count_in_plot_area(kTrain), 0);
  EXPECT_GT(d.count_in_plot_area(kVal), 0);
}

TEST_F(PlotTest, ZeroEpochsSaysSo) {
  const Decoded d = plot({}, {});
  EXPECT_EQ(d.count_in_plot_area(kTrain), 0);
  EXPECT_GT(d.non_white_in_plot_area(), 0);  // the "no epochs" note
}

TEST_F(PlotTest, NonFiniteOnlyDoesNotCrash) {
  const Decoded d = plot({kNaN, kInf, -kInf}, {kNaN, kNaN, kNaN});
  EXPECT_EQ(d.count_in_plot_area(kTrain), 0);
  EXPECT_EQ(d.count_in_plot_area(kVal), 0);
  EXPECT_GT(d.non_white_in_plot_area(), 0);
}

TEST_F(PlotTest, TitleOutsideAsciiIsDrawnSafely) {
  const fs::path path = dir_ / "title.png";
  write_loss_curve_png(path, std::vector<double>{1.0}, std::vector<double>{1.0}, "pr\xc3\xa9set\tseed\n0 \x7f\x01");
  EXPECT_TRUE(fs::is_regular_file(path));
}

// The phase portrait's subtitle (a, b, g, I and the nullcline's drive) ran wider than the 800-pixel
// canvas and lost its ends at both edges; a title now wraps to keep clear of them.
TEST(CanvasTitle, ATitleWiderThanTheCanvasWrapsAndKeepsClearOfBothEdges) {
  const std::string title = "a=0.200712 b=0.0205213 g=3.19004 I=-0.185221; v-nullcline for sample 0: I+u=-0.611934";
  Canvas canvas(400, 120);
  ASSERT_GT(Canvas::text_width(title), canvas.width());
  const int next = draw_title(canvas, 6, title);
  EXPECT_GE(next, 6 + 3 * kTitleLinePitch) << "three lines at least: the title is over twice as wide as the room";
  EXPECT_LE(next, canvas.height());
  int ink_at_edges = 0, ink = 0;
  for (int y = 0; y < canvas.height(); ++y)
    for (int x = 0; x < canvas.width(); ++x) {
      const std::uint8_t* p = canvas.data() + 3 * (static_cast<std::size_t>(y) * canvas.width() + x);
      const bool inked = !(p[0] == 255 && p[1] == 255 && p[2] == 255);
      ink += inked;
      if (inked && (x < kTitleMargin || x >= canvas.width() - kTitleMargin)) ++ink_at_edges;
    }
  EXPECT_EQ(ink_at_edges, 0) << "title pixels within " << kTitleMargin << " pixels of the left or right edge";
  EXPECT_GT(ink, 500);
}

TEST(CanvasTitle, ATitleThatFitsIsOneLineAndAnEmptyOneNone) {
  Canvas canvas(800, 60);
  EXPECT_EQ(draw_title(canvas, 6, "layer 0 neuron 0: phase plane"), 6 + kTitleLinePitch);
  EXPECT_EQ(draw_title(canvas, 26, ""), 26);
}

// One '?' per character outside ASCII, not one per byte of its UTF-8 ("×" is two bytes, "€" three).
TEST(CanvasText, AUtf8CharacterIsOneQuestionMark) {
  EXPECT_EQ(Canvas::text_width("2 \xc3\x97 44"), Canvas::text_width("2 ? 44"));
  EXPECT_EQ(Canvas::text_width("\xe2\x82\xac" "5"), Canvas::text_width("?5"));
  EXPECT_GT(Canvas::text_width("2 \xc3\x97 44"), Canvas::text_width("2  44"));
}

TEST_F(PlotTest, UnwritablePathThrows) {
  EXPECT_THROW(write_loss_curve_png(dir_ / "no" / "such" / "folder.png", std::vector<double>{1.0},
                                    std::vector<double>{1.0}, "t"),
               std::runtime_error);
}

}  // namespace
}  // namespace dynpmnn
