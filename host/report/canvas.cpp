#include "host/report/canvas.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_easy_font.h>
#include <stb/stb_image_write.h>

namespace dynpmnn {

namespace {

// stb_easy_font indexes its glyph table by (char - 32) without a check, so anything outside
// printable ASCII (a UTF-8 model name, a tab) must not reach it. A UTF-8 character becomes one
// '?', not one per byte: its continuation bytes (10xxxxxx) are dropped.
std::string printable(std::string_view s) {
  std::string out;
  for (const unsigned char c : s) {
    if ((c & 0xC0) == 0x80) continue;
    out += (c < 32 || c > 126) ? '?' : static_cast<char>(c);
  }
  return out;
}

}  // namespace

void Canvas::fill(int x0, int y0, int x1, int y1, Rgb c) {
  x0 = std::max(x0, 0), y0 = std::max(y0, 0);
  x1 = std::min(x1, width_), y1 = std::min(y1, height_);
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) std::copy(c.begin(), c.end(), &rgb_[3 * (y * width_ + x)]);
}

int Canvas::line(int x0, int y0, int x1, int y1, Rgb c, int thickness, int dash, int phase) {
  const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
  const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  int err = dx + dy;
  for (int step = phase;; ++step) {
    if (dash <= 0 || (step / dash) % 2 == 0) fill(x0, y0, x0 + thickness, y0 + thickness, c);
    if (x0 == x1 && y0 == y1) return dash > 0 ? step % (2 * dash) : 0;
    const int e2 = 2 * err;
    if (e2 >= dy) err += dy, x0 += sx;
    if (e2 <= dx) err += dx, y0 += sy;
  }
}

int Canvas::clipped_line(double x0, double y0, double x1, double y1, const PlotArea& area, Rgb c, int thickness,
                         int dash, int phase) {
  if (!std::isfinite(x0) || !std::isfinite(y0) || !std::isfinite(x1) || !std::isfinite(y1)) return phase;
  // Liang–Barsky: the part of x0 + t·(x1 − x0), t ∈ [0, 1], inside the area.
  const double dx = x1 - x0, dy = y1 - y0;
  double t0 = 0, t1 = 1;
  const double p[4] = {-dx, dx, -dy, dy};
  const double q[4] = {x0 - area.left, area.right - x0, y0 - area.top, area.bottom - y0};
  for (int i = 0; i < 4; ++i) {
    if (p[i] == 0) {
      if (q[i] < 0) return phase;
      continue;
    }
    const double t = q[i] / p[i];
    if (p[i] < 0) t0 = std::max(t0, t);
    else t1 = std::min(t1, t);
    if (t0 > t1) return phase;
  }
  return line(static_cast<int>(std::lround(x0 + t0 * dx)), static_cast<int>(std::lround(y0 + t0 * dy)),
       static_cast<int>(std::lround(x0 + t1 * dx)), static_cast<int>(std::lround(y0 + t1 * dy)), c, thickness, dash,
              phase);
}

// stb_easy_font builds glyphs from axis-aligned quads, so scaling (and a quarter turn) keeps them
// rectangles we can fill.
void Canvas::text(int x, int y, std::string_view s, Rgb c, TextDirection dir) {
  std::string buffer = printable(s);
  std::vector<char> vertices(buffer.size() * 400 + 64);
  const int quads =
      stb_easy_font_print(0, 0, buffer.data(), nullptr, vertices.data(), static_cast<int>(vertices.size()));
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

int Canvas::text_width(std::string_view s) {
  std::string buffer = printable(s);
  return kFontScale * stb_easy_font_width(buffer.data());
}

void Canvas::frame(const PlotArea& a, Rgb c) {
  line(a.left, a.top, a.right, a.top, c, 1);
  line(a.left, a.bottom, a.right, a.bottom, c, 1);
  line(a.left, a.top, a.left, a.bottom, c, 1);
  line(a.right, a.top, a.right, a.bottom, c, 1);
}

void Canvas::write_png(const std::filesystem::path& path) const {
  if (!stbi_write_png(path.string().c_str(), width_, height_, 3, rgb_.data(), 3 * width_))
    throw std::runtime_error("cannot write " + path.string());
}

double Axis::position(double value) const {
  const double t = log ? (std::log10(value) - std::log10(lo)) / (std::log10(hi) - std::log10(lo))
                       : (value - lo) / (hi - lo);
  return pixel_lo + t * (pixel_hi - pixel_lo);
}

int Axis::pixel(double value) const { return static_cast<int>(std::lround(position(value))); }

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
  // Enough significant digits that neighbouring ticks differ (a trained parameter's values may
  // sit close together far from zero).
  const int digits = std::clamp(static_cast<int>(std::ceil(std::log10(std::abs(value) / step))) + 1, 3, 12);
  return fmt::format("{:.{}g}", value, digits);
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

void draw_x_ticks(Canvas& canvas, const PlotArea& area, const Axis& x, const std::vector<Tick>& ticks) {
  for (const Tick& t : ticks) {
    const int px = x.pixel(t.value);
    if (t.label.empty()) {
      canvas.line(px, area.bottom, px, area.bottom + 3, kInk, 1);
      continue;
    }
    canvas.line(px, area.top, px, area.bottom, kGrid, 1);
    canvas.line(px, area.bottom, px, area.bottom + 6, kInk, 1);
    canvas.text(px - Canvas::text_width(t.label) / 2, area.bottom + 12, t.label, kInk);
  }
}

void draw_y_ticks(Canvas& canvas, const PlotArea& area, const Axis& y, const std::vector<Tick>& ticks) {
  for (const Tick& t : ticks) {
    const int py = y.pixel(t.value);
    if (t.label.empty()) {
      canvas.line(area.left - 3, py, area.left, py, kInk, 1);
      continue;
    }
    canvas.line(area.left, py, area.right, py, kGrid, 1);
    canvas.line(area.left - 6, py, area.left, py, kInk, 1);
    canvas.text(area.left - 10 - Canvas::text_width(t.label), py - kTextHeight / 2, t.label, kInk);
  }
}

void draw_axis_titles(Canvas& canvas, const PlotArea& area, std::string_view x_title, std::string_view y_title,
                      int y_title_x) {
  canvas.text((area.left + area.right - Canvas::text_width(x_title)) / 2, area.bottom + 44, x_title, kInk);
  if (y_title.size() <= 2)
    canvas.text(y_title_x, (area.top + area.bottom - kTextHeight) / 2, y_title, kInk);
  else
    canvas.text(y_title_x, (area.top + area.bottom + Canvas::text_width(y_title)) / 2, y_title, kInk,
                TextDirection::kUpward);
}

int draw_title(Canvas& canvas, int y, std::string_view title) {
  const int room = canvas.width() - 2 * kTitleMargin;
  // Greedy: `units` separated by `separator` join the last line while it has room.
  const auto fill = [&](std::vector<std::string>& lines, std::string_view text, std::string_view separator,
                        bool fresh_line, const auto& too_wide) {
    std::size_t start = 0;
    while (start <= text.size()) {
      std::size_t end = text.find(separator, start);
      if (end == std::string_view::npos) end = text.size();
      const std::string unit(text.substr(start, end - start));
      if (!fresh_line && !lines.empty() && Canvas::text_width(lines.back() + std::string(separator) + unit) <= room)
        lines.back() += std::string(separator) + unit;
      else if (Canvas::text_width(unit) > room)
        too_wide(lines, unit);
      else
        lines.push_back(unit);
      fresh_line = false;
      start = end + separator.size();
    }
  };
  std::vector<std::string> lines;
  if (!title.empty())
    // Clauses ("a=...; v-nullcline ...") stay whole where they fit; a longer one breaks at spaces.
    fill(lines, title, "; ", true, [&](std::vector<std::string>& out, const std::string& clause) {
      fill(out, clause, " ", true, [](std::vector<std::string>& words, const std::string& word) {
        words.push_back(word);
      });
    });
  for (const std::string& line : lines) {
    // A single word wider than the room keeps its start and loses its end.
    canvas.text(std::max(kTitleMargin, (canvas.width() - Canvas::text_width(line)) / 2), y, line, kInk);
    y += kTitleLinePitch;
  }
  return y;
}

int legend_width(const std::vector<LegendEntry>& entries) {
  int label_width = 0;
  for (const LegendEntry& e : entries) label_width = std::max(label_width, Canvas::text_width(e.label));
  return 60 + label_width;
}

void draw_legend(Canvas& canvas, int x, int y, const std::vector<LegendEntry>& entries) {
  const PlotArea box{x, y, x + legend_width(entries), y + 24 * static_cast<int>(entries.size()) + 6};
  canvas.fill(box.left, box.top, box.right, box.bottom, kWhite);
  canvas.frame(box);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const LegendEntry& e = entries[i];
    const int row = y + 16 + 24 * static_cast<int>(i);
    if (e.marker) canvas.fill(x + 20, row - 4, x + 29, row + 5, e.color);
    else canvas.line(x + 10, row, x + 40, row, e.color, 3, e.dash);
    canvas.text(x + 50, row - kTextHeight / 2, e.label, kInk);
  }
}

}  // namespace dynpmnn
