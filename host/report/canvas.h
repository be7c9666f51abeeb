// A small RGB rasteriser for the run folder's pictures (loss_curve.png, dynpmnn inspect): filled
// rectangles, lines (clipped, optionally dashed), stb_easy_font text, linear and log axes with
// ticks, a frame and a legend, encoded as PNG by stb. No plotting library is packaged for C++ here.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dynpmnn {

using Rgb = std::array<std::uint8_t, 3>;
inline constexpr Rgb kWhite{255, 255, 255};
inline constexpr Rgb kInk{40, 40, 40};
inline constexpr Rgb kGrid{225, 225, 225};
// matplotlib's tab10, familiar from papers; series i takes kPalette[i % 10].
inline constexpr std::array<Rgb, 10> kPalette{{{31, 119, 180},
                                                {255, 127, 14},
                                                {44, 160, 44},
                                                {214, 39, 40},
                                                {148, 103, 189},
                                                {140, 86, 75},
                                                {227, 119, 194},
                                                {127, 127, 127},
                                                {188, 189, 34},
                                                {23, 190, 207}}};

inline constexpr int kFontScale = 2;
inline constexpr int kGlyphHeight = 7;  // stb_easy_font's capital height in font pixels
inline constexpr int kTextHeight = kFontScale * kGlyphHeight;

enum class TextDirection { kHorizontal, kUpward };

// The pixel rectangle [left, right] × [top, bottom] that a plot's data is drawn in.
struct PlotArea {
  int left = 0, top = 0, right = 0, bottom = 0;
};

class Canvas {
 public:
  Canvas(int width, int height) : width_(width), height_(height), rgb_(3 * width * height, 255) {}

  int width() const { return width_; }
  int height() const { return height_; }
  const std::uint8_t* data() const { return rgb_.data(); }

  void fill(int x0, int y0, int x1, int y1, Rgb c);  // [x0, x1) × [y0, y1), clipped to the canvas

  // Bresenham, `thickness` pixels wide and tall. dash > 0: dash pixels drawn, dash left out, ...,
  // starting `phase` pixels into the pattern. Returns the phase after the line, so that a polyline
  // of short segments keeps its pattern.
  int line(int x0, int y0, int x1, int y1, Rgb c, int thickness, int dash = 0, int phase = 0);

  // A segment in (sub)pixel coordinates, cut to `area` first: its ends may lie anywhere, far off
  // the canvas included (a diverged trajectory). Non-finite ends draw nothing. Returns the dash
  // phase after it, as line.
  int clipped_line(double x0, double y0, double x1, double y1, const PlotArea& area, Rgb c, int thickness,
                   int dash = 0, int phase = 0);

  // (x, y) is the top-left of horizontal text and the bottom-left of upward text. Characters
  // outside printable ASCII are drawn as '?'.
  void text(int x, int y, std::string_view s, Rgb c, TextDirection dir = TextDirection::kHorizontal);
  static int text_width(std::string_view s);

  // The outline of `area`, one pixel wide.
  void frame(const PlotArea& area, Rgb c = kInk);

  // Throws std::runtime_error naming the path if it cannot be written.
  void write_png(const std::filesystem::path& path) const;

 private:
  int width_, height_;
  std::vector<std::uint8_t> rgb_;  // (height, width, 3)
};

// One axis: data range, mapping to pixels, and ticks.
struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  int pixel_lo = 0, pixel_hi = 1;  // pixel of lo and of hi (hi may be the smaller, as on y)

  double position(double value) const;
  int pixel(double value) const;
};

struct Tick {
  double value;
  std::string label;  // empty: a minor tick
};

// 1, 2 or 5 times a power of ten, the smallest such step giving at most `max_ticks` intervals.
double nice_step(double range, int max_ticks);
std::string tick_label(double value, double step);
std::vector<Tick> linear_ticks(const Axis& axis, double step);
std::vector<Tick> log_ticks(const Axis& axis);

// Ticks, labels and grid lines along the bottom (x) or left (y) edge of the area.
void draw_x_ticks(Canvas& canvas, const PlotArea& area, const Axis& x, const std::vector<Tick>& ticks);
void draw_y_ticks(Canvas& canvas, const PlotArea& area, const Axis& y, const std::vector<Tick>& ticks);

// Axis titles centred under the area and left of it (upward unless it is a symbol of a character
// or two, which reads better upright).
void draw_axis_titles(Canvas& canvas, const PlotArea& area, std::string_view x_title, std::string_view y_title,
                      int y_title_x);

inline constexpr int kTitleMargin = 8;       // clear of the canvas's left and right edges
inline constexpr int kTitleLinePitch = 20;   // from one title line's top to the next's
// The figure title centred with its top at `y`, broken at spaces into as many lines as keep it
// kTitleMargin clear of both edges (a centred line wider than the canvas would lose its ends).
// Returns the y of the line that would follow: y + lines · kTitleLinePitch (y for an empty title).
int draw_title(Canvas& canvas, int y, std::string_view title);

struct LegendEntry {
  std::string label;
  Rgb color;
  int dash = 0;         // as Canvas::line
  bool marker = false;  // a filled square instead of a line
};

int legend_width(const std::vector<LegendEntry>& entries);
// A boxed legend with its top-left at (x, y), one row per entry; its width fits the longest label.
void draw_legend(Canvas& canvas, int x, int y, const std::vector<LegendEntry>& entries);

}  // namespace dynpmnn
