// dynpmnn inspect: the canvas it draws with (clipped lines, dashes, legends) and the command end to
// end on a tiny trained run: every promised PNG is written, decodes to 800×500 with curves in the
// plot area, and is listed in the one JSON line on stdout; a missing run folder or best.bin is a
// bad-input exit naming the path.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>


#include "host/report/canvas.h"
#include "tests/cli_runner.h"
#include "tests/png_image.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;
using testing::CliFixture;
using testing::CliResult;
using testing::last_line;
using testing::quote;

using testing::Image;

class CanvasTest : public CliFixture {};

TEST_F(CanvasTest, FarAwayAndNonFiniteSegmentsAreCutToTheArea) {
  Canvas canvas(200, 100);
  const PlotArea area{50, 20, 150, 80};
  // A diverged trajectory's segment: ends astronomically far off, crossing the area diagonally.
  canvas.clipped_line(-1e12, -1e12, 1e12, 1e12, area, kPalette[3], 1);
  canvas.clipped_line(0, 0, NAN, 50, area, kPalette[3], 1);      // draws nothing
  canvas.clipped_line(0, 90, 199, 90, area, kPalette[3], 1);     // entirely below the area
  canvas.write_png(dir_ / "c.png");
  Image image;
  ASSERT_TRUE(image.load(dir_ / "c.png"));
  const int inside = image.count(area, &kPalette[3]);
  EXPECT_GE(inside, 25);  // the diagonal y = x from (50, 50) to (80, 80)
  int outside = 0;
  for (int y = 0; y < 100; ++y)
    for (int x = 0; x < 200; ++x) {
      if (x >= area.left && x <= area.right + 1 && y >= area.top && y <= area.bottom + 1) continue;
      const std::uint8_t* p = &image.rgb[3 * (static_cast<std::size_t>(y) * 200 + x)];
      outside += p[0] != 255 || p[1] != 255 || p[2] != 255;
    }
  EXPECT_EQ(outside, 0);
}

TEST_F(CanvasTest, DashedLineDrawsAboutHalfItsPixels) {
  Canvas solid(120, 20), dashed(120, 20);
  const PlotArea all{0, 0, 119, 19};
  solid.line(10, 10, 109, 10, kInk, 1);
  dashed.line(10, 10, 109, 10, kInk, 1, 10);
  solid.write_png(dir_ / "s.png");
  dashed.write_png(dir_ / "d.png");
  Image s, d;
  ASSERT_TRUE(s.load(dir_ / "s.png"));
  ASSERT_TRUE(d.load(dir_ / "d.png"));
  EXPECT_EQ(s.count(all, &kInk), 100);
  EXPECT_EQ(d.count(all, &kInk), 50);
}

TEST_F(CanvasTest, LegendFitsItsLongestLabel) {
  const std::vector<LegendEntry> entries{{"a", kInk}, {"a much longer label", kInk, 8}, {"start", kInk, 0, true}};
  EXPECT_EQ(legend_width(entries), 60 + Canvas::text_width("a much longer label"));
  Canvas canvas(400, 120);
  draw_legend(canvas, 10, 10, entries);
  canvas.write_png(dir_ / "l.png");
  Image image;
  ASSERT_TRUE(image.load(dir_ / "l.png"));
  EXPECT_GT(image.count(PlotArea{10, 10, 10 + legend_width(entries), 88}, &kInk), 100);
}

class Inspect : public CliFixture {};

const PlotArea kPhaseArea{100, 70, 590, 420};
const PlotArea kVoltageArea{100, 70, 640, 420};

TEST_F(Inspect, WritesEveryPictureOfATinyRun) {
  DYNPMNN_REQUIRE_CALIFORNIA();
  const fs::path run_dir = dir_ / "run";
  const CliResult train =
      run("train --preset wide-california --set neurons=3 --set train_a=true --epochs 1 --device cpu --quiet --out " +
          quote(run_dir));
  ASSERT_EQ(train.exit_code, 0) << train.err;

  // --neurons 4 of 3: all three; --samples 5 of the test split.
  const CliResult r = run("inspect " + quote(run_dir) + " --samples 5");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, last_line(r.out) + "\n") << "stdout must hold the JSON line only";
  const auto json = nlohmann::json::parse(last_line(r.out));
  EXPECT_EQ(json.at("samples"), 5);

  const fs::path out = run_dir / "inspect";
  const std::vector<std::string> names = {"params_layer0.png", "phase_layer0_neuron0.png",
                                          "phase_layer0_neuron1.png", "phase_layer0_neuron2.png",
                                          "voltage_layer0.png"};
  std::set<std::string> expected, listed;
  for (const auto& name : names) expected.insert((out / name).string());
  for (const auto& file : json.at("files")) listed.insert(file.get<std::string>());
  EXPECT_EQ(listed, expected);

  for (const auto& name : names) {
    SCOPED_TRACE(name);
    const std::string bytes = testing::read_file(out / name);
    ASSERT_GT(bytes.size(), 2000u);
    EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    Image image;
    ASSERT_TRUE(image.load(out / name)) << stbi_failure_reason();
    EXPECT_EQ(image.width, 800);
    EXPECT_EQ(image.height, 500);
    if (name.starts_with("phase")) {
      // Every sample's trajectory is in its colour, and the nullclines in ink.
      for (int s = 0; s < 5; ++s) EXPECT_GT(image.count(kPhaseArea, &kPalette[s]), 10) << "sample " << s;
      EXPECT_GT(image.count(kPhaseArea, &kInk), 200);
    } else if (name.starts_with("voltage")) {
      for (int n = 0; n < 3; ++n) EXPECT_GT(image.count(kVoltageArea, &kPalette[n]), 100) << "neuron " << n;
    } else {
      // a is trained: a histogram's bars (top-left panel); b, g, I are frozen: a value as text.
      EXPECT_GT(image.count(PlotArea{90, 70, 376, 220}, &kPalette[0]), 200);
      EXPECT_GT(image.count(PlotArea{490, 70, 776, 220}), 50);
    }
  }

  // --out elsewhere, one neuron.
  const CliResult one = run("inspect " + quote(run_dir) + " --neurons 1 --samples 2 --out " + quote(dir_ / "pics"));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(nlohmann::json::parse(last_line(one.out)).at("files").size(), 3u);
  EXPECT_TRUE(fs::is_regular_file(dir_ / "pics" / "phase_layer0_neuron0.png"));
  EXPECT_FALSE(fs::exists(dir_ / "pics" / "phase_layer0_neuron1.png"));
}

TEST_F(Inspect, MissingRunFolderOrBestBinIsBadInputNamingIt) {
  const fs::path missing = dir_ / "no_such_run";
  const CliResult r = run("inspect " + quote(missing));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(missing.string()), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());

  const fs::path empty = dir_ / "empty_run";
  fs::create_directories(empty);
  const CliResult e = run("inspect " + quote(empty));
  EXPECT_EQ(e.exit_code, 2);
  EXPECT_NE(e.err.find((empty / "best.bin").string()), std::string::npos) << e.err;
}

}  // namespace
}  // namespace dynpmnn
