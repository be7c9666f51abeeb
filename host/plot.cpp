#include "host/plot.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_easy_font.h>
#include <stb/stb_image_write.h>

namespace dynpmnn {

namespace {

using Rgb = std::array<std::uint8_t, 3>;
constexpr Rgb kWhite{255, 255, 255};
constexpr Rgb kInk{40, 40, 40};
constexpr Rgb kGrid{225, 225, 225};
constexpr Rgb kTrainColor{31, 119, 180};  // matplotlib's first two colours, familiar from papers
constexpr Rgb kValColor{255, 127, 14};

constexpr int kFontScale = 2;
constexpr int kGlyphHeight = 7;  // stb_easy_font's capital height in font pixels

// stb_easy_font indexes its glyph table by (char - 32) without a check, so anything outside
// printable ASCII (a UTF-8 preset name, a tab) must not reach it.
std::string printable(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c < 32 || c > 126) c = '?';
  return out;
}

enum class TextDirection { kHorizontal, kUpward };

class Canvas {
 public:
  Canvas(int width, int height) : width_(width), height_(height), rgb_(3 * width * height, 255) {}

  int width() const { return width_; }
  int height() const { return height_; }
  const std::uint8_t* data() const { return rgb_.data(); }

  void fill(int x0, int y0, int x1, int y1, Rgb c) {  // [x0, x1) × [y0, y1), clipped
    x0 = std::max(x0, 0), y0 = std::max(y0, 0);
    x1 = std::min(x1, width_), y1 = std::min(y1, height_);
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) std::copy(c.begin(), c.end(), &rgb_[3 * (y * width_ + x)]);
  }

  // Bresenham, `thickness` pixels wide and tall.
  void line(int x0, int y0, int x1, int y1, Rgb c, int thickness) {
    const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (;;) {
      fill(x0, y0, x0 + thickness, y0 + thickness, c);
      if (x0 == x1 && y0 == y1) break;
      const int e2 = 2 * err;
      if (e2 >= dy) err += dy, x0 += sx;
      if (e2 <= dx) err += dx, y0 += sy;
    }
  }

  // stb_easy_font builds glyphs from axis-aligned quads, so scaling (and a quarter turn) keeps them
  // rectangles we can fill. (x, y) is the top-left of horizontal text and the bottom-left of
  // upward text.
  void text(int x, int y, std::string_view s, Rgb c, TextDirection dir = TextDirection::kHorizontal) {
    std::string buffer = printable(s);
    std::vector<char> vertices(buffer.size() * 400 + 64);
    const int quads = stb_easy_font_print(0, 0, buffer.data(), nullptr, vertices.data(),
                                          static_cast<int>(vertices.size()));
    struct Vertex {
      float x, y, z;
      std::uint8_t color[4];
    };
    const auto* v = reinterpret_cast<const Vertex*>(vertices.data());
    for (int q = 0; q < quads; ++q) {
      const Vertex* quad = v + 4 * q;
      const int u0 = kFontScale * static_cast<int>(quad[0].x), u1 = kFontScale * static_cast<int>(quad[2].x);
      const int v0 = kFontScale * static_cast<int>(quad[0].y), v1 = kFontScale * static_cast<int>(quad[2].y);
      if (dir == TextDirection::kHorizontal) fill(x + u0, y + v0, x + u1, y + v1, c);
      else fill(x + v0, y - u1, x + v1, y - u0, c);
    }
  }

  static int text_width(std::string_view s) {
    std::string buffer = printable(s);
    return kFontScale * stb_easy_font_width(buffer.data());
  }

 private:
  int width_, height_;
  std::vector<std::uint8_t> rgb_;  // (height, width, 3)
};

// One axis: data range, mapping to pixels, and ticks.
struct Axis {
  double lo = 0, hi = 1;
  bool log = false;
  int pixel_lo = 0, pixel_hi = 1;  // pixel of lo and of hi (hi may be the smaller, as on y)

  double position(double value) const {
    const double t = log ? (std::log10(value) - std::log10(lo)) / (std::log10(hi) - std::log10(lo))
                         : (value - lo) / (hi - lo);
    return pixel_lo + t * (pixel_hi - pixel_lo);
  }
  int pixel(double value) const { return static_cast<int>(std::lround(position(value))); }
};

struct Tick {
  double value;
  std::string label;  // empty: a minor tick
};

// 1, 2 or 5 times a power of ten, the smallest such step giving at most `max_ticks` intervals.
double nice_step(double range, int max_ticks) {
  const double raw = range / max_ticks;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * power >= raw) return m * power;
  return 10 * power;
}

std::string tick_label(double value, double step) {
  if (std::abs(value) < step * 1e-9) return "0";
  if (step >= 1 && std::abs(value) < 1e6) return fmt::format("{:.0f}", value);
  if (step >= 1e-4 && std::abs(value) < 1e6)
    return fmt::format("{:.{}f}", value, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  return fmt::format("{:.3g}", value);
}

std::vector<Tick> linear_ticks(const Axis& axis, double step) {
  std::vector<Tick> ticks;
  for (double k = std::ceil(axis.lo / step - 1e-9); k * step <= axis.hi + step * 1e-9; k += 1)
    ticks.push_back({k * step, tick_label(k * step, step)});
  return ticks;
}

std::vector<Tick> log_ticks(const Axis& axis) {
  std::vector<Tick> ticks;
  for (int e = static_cast<int>(std::lround(std::log10(axis.lo))); std::pow(10.0, e) <= axis.hi * (1 + 1e-9); ++e) {
    const double decade = std::pow(10.0, e);
    ticks.push_back({decade, e >= -3 && e <= 4 ? fmt::format("{:g}", decade) : fmt::format("1e{}", e)});
    for (int m = 2; m <= 9 && m * decade < axis.hi; ++m) ticks.push_back({m * decade, ""});
  }
  return ticks;
}

// The y range of the finite (and, on a log axis, positive) values, padded; log where they span
// more than two decades.
Axis y_axis(std::span<const double> a, std::span<const double> b, bool& any_finite) {
  double lo = INFINITY, hi = -INFINITY;
  for (auto series : {a, b})
    for (double v : series)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  any_finite = lo <= hi;
  Axis axis;
  if (!any_finite) return axis;
  if (lo > 0 && hi / lo > 100) {
    axis.log = true;
    axis.lo = std::pow(10.0, std::floor(std::log10(lo)));
    axis.hi = std::pow(10.0, std::ceil(std::log10(hi)));
    return axis;
  }
  const double pad = hi > lo ? 0.05 * (hi - lo) : std::max(0.1 * std::abs(lo), 1e-3);
  axis.lo = lo - pad;
  axis.hi = hi + pad;
  // An MSE is never negative: do not let the padding show a negative region.
  if (lo >= 0 && axis.lo < 0) axis.lo = 0;
  return axis;
}

void draw_series(Canvas& canvas, const Axis& x, const Axis& y, std::span<const double> values, Rgb color) {
  auto drawable = [&](std::size_t i) {
    return i < values.size() && std::isfinite(values[i]) && (!y.log || values[i] > 0);
  };
  const bool markers = values.size() <= 50;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!drawable(i)) continue;
    const int px = x.pixel(static_cast<double>(i + 1)), py = y.pixel(values[i]);
    if (drawable(i + 1)) canvas.line(px, py, x.pixel(static_cast<double>(i + 2)), y.pixel(values[i + 1]), color, 2);
    // A point with no drawable neighbour would otherwise be invisible.
    const bool isolated = !(i > 0 && drawable(i - 1)) && !drawable(i + 1);
    if (markers || isolated) canvas.fill(px - 2, py - 2, px + 3, py + 3, color);
  }
}

}  // namespace

void write_loss_curve_png(const std::filesystem::path& path, std::span<const double> train_loss,
                          std::span<const double> val_mse, std::string_view title) {
  Canvas canvas(kPlotWidth, kPlotHeight);
  const int left = 110, right = kPlotWidth - 24, top = 54, bottom = kPlotHeight - 74;
  const int text_height = kFontScale * kGlyphHeight;

  canvas.text((kPlotWidth - Canvas::text_width(title)) / 2, 18, title, kInk);
  canvas.text((left + right - Canvas::text_width("epoch")) / 2, kPlotHeight - 30, "epoch", kInk);
  canvas.text(22, (top + bottom + Canvas::text_width("MSE")) / 2, "MSE", kInk, TextDirection::kUpward);

  const std::size_t epochs = std::max(train_loss.size(), val_mse.size());
  bool any_finite = false;
  Axis y = y_axis(train_loss, val_mse, any_finite);
  y.pixel_lo = bottom;
  y.pixel_hi = top;
  Axis x;
  // One epoch gets a range around it so the point sits in the middle.
  x.lo = epochs > 1 ? 1.0 : 0.0;
  x.hi = epochs > 1 ? static_cast<double>(epochs) : 2.0;
  x.pixel_lo = left + 8;
  x.pixel_hi = right - 8;

  if (epochs > 0 && any_finite) {
    for (const Tick& t : linear_ticks(x, std::max(1.0, nice_step(x.hi - x.lo, 10)))) {
      const int px = x.pixel(t.value);
      canvas.line(px, top, px, bottom, kGrid, 1);
      canvas.line(px, bottom, px, bottom + 6, kInk, 1);
      canvas.text(px - Canvas::text_width(t.label) / 2, bottom + 12, t.label, kInk);
    }
    for (const Tick& t : y.log ? log_ticks(y) : linear_ticks(y, nice_step(y.hi - y.lo, 6))) {
      const int py = y.pixel(t.value);
      if (t.label.empty()) {
        canvas.line(left - 3, py, left, py, kInk, 1);
        continue;
      }
      canvas.line(left, py, right, py, kGrid, 1);
      canvas.line(left - 6, py, left, py, kInk, 1);
      canvas.text(left - 10 - Canvas::text_width(t.label), py - text_height / 2, t.label, kInk);
    }
    draw_series(canvas, x, y, train_loss, kTrainColor);
    draw_series(canvas, x, y, val_mse, kValColor);

    const int legend_x = right - 170, legend_y = top + 10;
    canvas.fill(legend_x, legend_y, right - 10, legend_y + 54, kWhite);
    canvas.line(legend_x, legend_y, right - 10, legend_y, kInk, 1);
    canvas.line(legend_x, legend_y + 54, right - 10, legend_y + 54, kInk, 1);
    canvas.line(legend_x, legend_y, legend_x, legend_y + 54, kInk, 1);
    canvas.line(right - 10, legend_y, right - 10, legend_y + 54, kInk, 1);
    const std::array<std::pair<std::string_view, Rgb>, 2> entries{
        {{"train loss", kTrainColor}, {"val MSE", kValColor}}};
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const int row = legend_y + 16 + 24 * static_cast<int>(i);
      canvas.line(legend_x + 10, row, legend_x + 40, row, entries[i].second, 3);
      canvas.text(legend_x + 50, row - text_height / 2, entries[i].first, kInk);
    }
  } else {
    const std::string_view note = epochs == 0 ? "no epochs" : "no finite values";
    canvas.text((left + right - Canvas::text_width(note)) / 2, (top + bottom - text_height) / 2, note, kInk);
  }
  // The frame last, so grid lines and curves do not cover it.
  canvas.line(left, top, right, top, kInk, 1);
  canvas.line(left, bottom, right, bottom, kInk, 1);
  canvas.line(left, top, left, bottom, kInk, 1);
  canvas.line(right, top, right, bottom, kInk, 1);

  if (!stbi_write_png(path.string().c_str(), canvas.width(), canvas.height(), 3, canvas.data(), 3 * canvas.width()))
    throw std::runtime_error("cannot write " + path.string());
}

}  // namespace dynpmnn
