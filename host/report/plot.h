// The run folder's loss_curve.png: training loss and validation MSE per epoch, drawn by a small
// rasteriser of our own (no plotting library is packaged for C++ here) and encoded by stb.
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dynpmnn {

inline constexpr int kPlotWidth = 800;
inline constexpr int kPlotHeight = 500;

// Epoch i+1 is train_loss[i] / val_mse[i]. The y axis is logarithmic where the finite values span
// more than two decades. NaN and ±Inf points are left out (the line breaks there); with no epochs
// the plot says so. Throws std::runtime_error naming the path if it cannot be written.
void write_loss_curve_png(const std::filesystem::path& path, std::span<const double> train_loss,
                          std::span<const double> val_mse, std::string_view title);

// One curve of write_curves_png: value i is at epoch i+1.
struct CurveSeries {
  std::string label;
  std::vector<double> values;
};

// Several per-epoch curves on one set of axes (series i in the palette's colour i), with a legend;
// the same axes, log rule and non-finite handling as write_loss_curve_png.
void write_curves_png(const std::filesystem::path& path, std::span<const CurveSeries> series, std::string_view title,
                      std::string_view y_title);

// One series of write_xy_png: points (x, y) with a symmetric error bar of half-height err (0: none),
// joined in the given order.
struct XyPoint {
  double x = 0, y = 0, err = 0;
};
struct XySeries {
  std::string label;
  std::vector<XyPoint> points;
};

// Several series of points on one set of axes, x logarithmic when log_x (every x > 0), with error
// bars and a legend: the parameters-against-accuracy plot of `dynpmnn table`. Points with a
// non-finite coordinate are left out. Throws std::runtime_error naming the path if it cannot be
// written.
void write_xy_png(const std::filesystem::path& path, std::span<const XySeries> series, std::string_view title,
                  std::string_view x_title, std::string_view y_title, bool log_x);

// A grid of cells, row r and column c at values[r * columns + c]: a colour per finite value on a
// logarithmic scale from the smallest finite value to `cap` times it (larger values take the last
// colour), the value written in the cell, and a cell without a finite value grey with its note
// (notes[r * columns + c], e.g. "skipped" or "diverged"). Row 0 is drawn at the bottom. A colour
// bar says the scale. Throws std::runtime_error naming the path if it cannot be written.
struct Heatmap {
  std::vector<std::string> column_labels, row_labels;
  std::vector<double> values;
  std::vector<std::string> notes;
  std::string title, x_title, y_title, value_title;
  double cap = 10;
};
void write_heatmap_png(const std::filesystem::path& path, const Heatmap& map);

}  // namespace dynpmnn
