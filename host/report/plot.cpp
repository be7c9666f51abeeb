#include "host/report/plot.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "host/report/canvas.h"

namespace dynpmnn {

namespace {

// The y range of the finite values of all series, padded; log where they span more than two
// decades.
Axis y_axis(std::span<const CurveSeries> series, bool& any_finite) {
  double lo = INFINITY, hi = -INFINITY;
  for (const CurveSeries& s : series)
    for (double v : s.values)
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

void write_curves_png(const std::filesystem::path& path, std::span<const CurveSeries> series, std::string_view title,
                      std::string_view y_title) {
  Canvas canvas(kPlotWidth, kPlotHeight);
  const PlotArea area{110, 54, kPlotWidth - 24, kPlotHeight - 74};
  draw_title(canvas, 18, title);
  draw_axis_titles(canvas, area, "epoch", y_title, 22);

  std::size_t epochs = 0;
  for (const CurveSeries& s : series) epochs = std::max(epochs, s.values.size());
  bool any_finite = false;
  Axis y = y_axis(series, any_finite);
  y.pixel_lo = area.bottom;
  y.pixel_hi = area.top;
  Axis x;
  // One epoch gets a range around it so the point sits in the middle.
  x.lo = epochs > 1 ? 1.0 : 0.0;
  x.hi = epochs > 1 ? static_cast<double>(epochs) : 2.0;
  x.pixel_lo = area.left + 8;
  x.pixel_hi = area.right - 8;

  if (epochs > 0 && any_finite) {
    draw_x_ticks(canvas, area, x, linear_ticks(x, std::max(1.0, nice_step(x.hi - x.lo, 10))));
    draw_y_ticks(canvas, area, y, y.log ? log_ticks(y) : linear_ticks(y, nice_step(y.hi - y.lo, 6)));
    std::vector<LegendEntry> legend;
    for (std::size_t i = 0; i < series.size(); ++i) {
      const Rgb color = kPalette[i % kPalette.size()];
      draw_series(canvas, x, y, series[i].values, color);
      legend.push_back({series[i].label, color});
    }
    draw_legend(canvas, area.right - 10 - legend_width(legend), area.top + 10, legend);
  } else {
    const std::string_view note = epochs == 0 ? "no epochs" : "no finite values";
    canvas.text((area.left + area.right - Canvas::text_width(note)) / 2, (area.top + area.bottom - kTextHeight) / 2,
                note, kInk);
  }
  // The frame last, so grid lines and curves do not cover it.
  canvas.frame(area);
  canvas.write_png(path);
}

void write_xy_png(const std::filesystem::path& path, std::span<const XySeries> series, std::string_view title,
                  std::string_view x_title, std::string_view y_title, bool log_x) {
  Canvas canvas(kPlotWidth, kPlotHeight);
  const PlotArea area{110, 54, kPlotWidth - 24, kPlotHeight - 74};
  draw_title(canvas, 18, title);
  draw_axis_titles(canvas, area, x_title, y_title, 22);
  auto usable = [&](const XyPoint& p) {
    return std::isfinite(p.x) && std::isfinite(p.y) && std::isfinite(p.err) && (!log_x || p.x > 0);
  };
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (const XySeries& s : series)
    for (const XyPoint& p : s.points)
      if (usable(p)) {
        x_lo = std::min(x_lo, p.x), x_hi = std::max(x_hi, p.x);
        y_lo = std::min(y_lo, p.y - p.err), y_hi = std::max(y_hi, p.y + p.err);
      }
  if (x_lo > x_hi) {
    const std::string_view note = "no finite values";
    canvas.text((area.left + area.right - Canvas::text_width(note)) / 2, (area.top + area.bottom - kTextHeight) / 2,
                note, kInk);
    canvas.frame(area);
    canvas.write_png(path);
    return;
  }
  Axis x;
  x.log = log_x;
  if (log_x) {
    x.lo = std::pow(10.0, std::floor(std::log10(x_lo)));
    x.hi = std::pow(10.0, std::ceil(std::log10(x_hi)));
    if (x.hi <= x.lo) x.hi = x.lo * 10;
  } else {
    const double pad = x_hi > x_lo ? 0.05 * (x_hi - x_lo) : std::max(0.1 * std::abs(x_lo), 1e-3);
    x.lo = x_lo - pad, x.hi = x_hi + pad;
  }
  x.pixel_lo = area.left + 8;
  x.pixel_hi = area.right - 8;
  Axis y;
  const double pad = y_hi > y_lo ? 0.08 * (y_hi - y_lo) : std::max(0.1 * std::abs(y_lo), 1e-3);
  y.lo = y_lo - pad, y.hi = y_hi + pad;
  y.pixel_lo = area.bottom;
  y.pixel_hi = area.top;
  draw_x_ticks(canvas, area, x, log_x ? log_ticks(x) : linear_ticks(x, nice_step(x.hi - x.lo, 8)));
  draw_y_ticks(canvas, area, y, linear_ticks(y, nice_step(y.hi - y.lo, 6)));
  std::vector<LegendEntry> legend;
  for (std::size_t i = 0; i < series.size(); ++i) {
    const Rgb color = kPalette[i % kPalette.size()];
    const XyPoint* previous = nullptr;
    for (const XyPoint& p : series[i].points) {
      if (!usable(p)) continue;
      const int px = x.pixel(p.x), py = y.pixel(p.y);
      if (previous != nullptr) canvas.line(x.pixel(previous->x), y.pixel(previous->y), px, py, color, 1, 6);
      if (p.err > 0) {
        const int top = y.pixel(p.y + p.err), bottom = y.pixel(p.y - p.err);
        canvas.line(px, top, px, bottom, color, 1);
        canvas.line(px - 4, top, px + 4, top, color, 1);
        canvas.line(px - 4, bottom, px + 4, bottom, color, 1);
      }
      canvas.fill(px - 3, py - 3, px + 4, py + 4, color);
      previous = &p;
    }
    legend.push_back({series[i].label, color, 0, true});
  }
  draw_legend(canvas, area.right - 10 - legend_width(legend), area.top + 10, legend);
  canvas.frame(area);
  canvas.write_png(path);
}

void write_loss_curve_png(const std::filesystem::path& path, std::span<const double> train_loss,
                          std::span<const double> val_mse, std::string_view title) {
  const CurveSeries series[] = {{"train loss", {train_loss.begin(), train_loss.end()}},
                                {"val MSE", {val_mse.begin(), val_mse.end()}}};
  write_curves_png(path, series, title, "MSE");
}

namespace {

// viridis at five stops, interpolated linearly: dark (small) to yellow (large).
Rgb ramp(double t) {
  static constexpr std::array<Rgb, 5> stops{{{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}}};
  t = std::clamp(t, 0.0, 1.0) * (stops.size() - 1);
  const std::size_t k = std::min<std::size_t>(static_cast<std::size_t>(t), stops.size() - 2);
  const double f = t - static_cast<double>(k);
  Rgb c;
  for (int i = 0; i < 3; ++i)
    c[i] = static_cast<std::uint8_t>(std::lround(stops[k][i] + f * (stops[k + 1][i] - stops[k][i])));
  return c;
}

}  // namespace

void write_heatmap_png(const std::filesystem::path& path, const Heatmap& map) {
  const int columns = static_cast<int>(map.column_labels.size()), rows = static_cast<int>(map.row_labels.size());
  if (map.values.size() != static_cast<std::size_t>(columns) * rows || map.notes.size() != map.values.size())
    throw std::invalid_argument("write_heatmap_png: values and notes must be rows x columns");
  // Cells wide enough for an 8-character label ("diverged", "5.7e+276").
  const int cell = std::max(80, Canvas::text_width("diverged") + 16);
  const int grid_width = std::max(kPlotWidth - 134, cell * std::max(columns, 1));
  Canvas canvas(110 + grid_width + 190, kPlotHeight + 60);
  const PlotArea area{110, 54, 110 + grid_width, kPlotHeight - 14};
  draw_title(canvas, 18, map.title);
  draw_axis_titles(canvas, area, map.x_title, map.y_title, 22);
  double lo = INFINITY;
  for (double v : map.values)
    if (std::isfinite(v) && v > 0) lo = std::min(lo, v);
  const double hi = std::isfinite(lo) ? lo * std::max(map.cap, 1.0 + 1e-9) : 1;
  const auto shade = [&](double v) { return ramp(std::log(v / lo) / std::log(hi / lo)); };
  const double cw = double(area.right - area.left) / std::max(columns, 1);
  const double ch = double(area.bottom - area.top) / std::max(rows, 1);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < columns; ++c) {
      const std::size_t at = static_cast<std::size_t>(r) * columns + c;
      const int x0 = area.left + static_cast<int>(std::lround(c * cw)), x1 = area.left + static_cast<int>(std::lround((c + 1) * cw));
      const int y1 = area.bottom - static_cast<int>(std::lround(r * ch)), y0 = area.bottom - static_cast<int>(std::lround((r + 1) * ch));
      const double v = map.values[at];
      const bool finite = std::isfinite(v) && v > 0;
      const Rgb fill = finite ? shade(v) : Rgb{200, 200, 200};
      canvas.fill(x0, y0, x1, y1, fill);
      const std::string label = finite ? fmt::format("{:.3g}", v) : map.notes[at];
      const bool dark = finite && (fill[0] + fill[1] + fill[2]) < 3 * 140;
      canvas.text((x0 + x1 - Canvas::text_width(label)) / 2, (y0 + y1 - kTextHeight) / 2, label, dark ? kWhite : kInk);
    }
  for (int c = 0; c <= columns; ++c) {
    const int x = area.left + static_cast<int>(std::lround(c * cw));
    canvas.line(x, area.top, x, area.bottom, kWhite, 1);
  }
  for (int r = 0; r <= rows; ++r) {
    const int y = area.bottom - static_cast<int>(std::lround(r * ch));
    canvas.line(area.left, y, area.right, y, kWhite, 1);
  }
  for (int c = 0; c < columns; ++c) {
    const std::string& l = map.column_labels[c];
    const int x = area.left + static_cast<int>(std::lround((c + 0.5) * cw));
    canvas.text(x - Canvas::text_width(l) / 2, area.bottom + 8, l, kInk);
  }
  for (int r = 0; r < rows; ++r) {
    const std::string& l = map.row_labels[r];
    const int y = area.bottom - static_cast<int>(std::lround((r + 0.5) * ch));
    canvas.text(area.left - 8 - Canvas::text_width(l), y - kTextHeight / 2, l, kInk);
  }
  canvas.frame(area);
  // The colour bar, right of the grid: lo at the bottom, cap x lo at the top.
  const int bx0 = area.right + 30, bx1 = bx0 + 20;
  for (int y = area.top; y < area.bottom; ++y)
    canvas.fill(bx0, y, bx1, y + 1, ramp(double(area.bottom - 1 - y) / std::max(1, area.bottom - area.top - 1)));
  canvas.frame(PlotArea{bx0, area.top, bx1, area.bottom});
  if (std::isfinite(lo)) {
    canvas.text(bx1 + 6, area.bottom - kTextHeight, fmt::format("{:.3g}", lo), kInk);
    canvas.text(bx1 + 6, area.top, fmt::format(">={:.3g}", hi), kInk);
  }
  canvas.text(bx0, area.top - kTextHeight - 10, map.value_title, kInk);
  canvas.write_png(path);
}

}  // namespace dynpmnn
