// dynpmnn inspect RUN_DIR: pictures of what a run's best model (RUN_DIR/best.bin) learned, per
// neuron layer, whatever its neuron model (models/neuron_models.h): the distribution of each of the
// model's parameters over the neurons, the phase plane of a few neurons (the model's plane_x and
// plane_y states: FitzHugh–Nagumo's (v, w) with its nullclines, Hodgkin–Huxley's (v, n)) with the
// trajectories of a few test samples, and those neurons' voltage x[0](t). The trajectories are
// integrated again here with the layer's own scheme, dt, steps and clip through the model's
// NeuronModelOps::step, from the initial states (or currents) that the CPU model's forward gives
// the samples.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "data/california.h"
#include "host/report/canvas.h"
#include "host/io/checkpoint.h"
#include "host/cli/command.h"
#include "host/config/config.h"
#include "host/io/run_data.h"
#include "kernels/neurons/fhn.h"
#include "models/cpu_model.h"
#include "models/layers/fhn_layer.h"
#include "models/dynpmnn.h"
#include "models/neuron_models.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;

constexpr int kWidth = 800;
constexpr int kHeight = 500;
// The phase plane's plot area (v(t) is 50 pixels wider: its legend labels are shorter); three
// lines of title above it, the legend right of it.
constexpr PlotArea kArea{100, 70, 590, 420};
// FHN states live within a few units (clip = 20 stays inside); beyond this they are off the plot:
// they set no axis range (a diverging trajectory would otherwise squash the others into a point)
// and the title says how many trajectories leave.
constexpr double kAbsurd = 100;
// v(t) shows the first few samples only: colour tells neurons apart, the dash pattern samples.
constexpr int kVoltageSamples = 3;
constexpr int kSampleDash[kVoltageSamples] = {0, 10, 3};
// Rows of sample entries in the phase plane's legend (it must fit beside the plot).
constexpr int kLegendSamples = 10;

struct InspectOptions {
  std::string run_dir, out, data;
  int neurons = 4, samples = 8;
};

// One (sample, neuron) trajectory: the states at t = k·dt, k = 0 … steps.
struct Trajectory {
  std::vector<std::vector<double>> x;  // (states) × (steps + 1)
};

// What one layer's neurons are and what the sample rows give them.
struct LayerView {
  int index = 0;
  const LayerSpec* spec = nullptr;
  const NeuronModelOps* model = nullptr;
  std::vector<std::vector<double>> params;  // (model params) × (N), physical values
  std::vector<bool> trained;                // (model params)
  std::vector<double> input;                // (S, coupled·N) initial states or (S, N) currents
  int samples = 0;

  int neurons() const { return spec->units; }
  bool is_fhn() const { return model->name == FitzHughNagumo::kName; }
  // "FHN" for FitzHugh–Nagumo, as the pictures always said; the registry's name for the others.
  std::string model_title() const { return is_fhn() ? std::string("FHN") : model->name; }
  const char* state_name(int i) const { return model->state_info[i].name; }
  std::vector<double> neuron_params(int n) const {
    std::vector<double> p(model->params);
    for (int k = 0; k < model->params; ++k) p[k] = params[k][n];
    return p;
  }
  bool current_coupling() const { return spec->coupling == Coupling::kCurrent; }
  // The parameter current plus the sample's input current: the constant drive of the (sample, neuron) ODE.
  double drive(int s, int n) const {
    return params[model->current_param][n] + (current_coupling() ? input[s * neurons() + n] : 0.0);
  }
  // The states the (sample, neuron) ODE starts from: the coupled ones from the Linear under
  // initial-condition coupling (state-major blocks of N), the others at the model's initial values.
  std::vector<double> initial_state(int s, int n) const {
    const int N = neurons();
    std::vector<double> x(model->states);
    for (int i = 0; i < model->states; ++i)
      x[i] = !current_coupling() && i < model->coupled
                 ? input[static_cast<std::size_t>(s) * model->coupled * N + static_cast<std::size_t>(i) * N + n]
                 : model->state_info[i].initial;
    return x;
  }
  Trajectory trajectory(int s, int n) const {
    const int K = model->states, steps = spec->steps();
    const std::vector<double> p = neuron_params(n);
    const double current = drive(s, n);
    std::vector<double> x = initial_state(s, n), next(K);
    Trajectory t;
    t.x.assign(K, {});
    for (int i = 0; i < K; ++i) {
      t.x[i].reserve(steps + 1);
      t.x[i].push_back(x[i]);
    }
    for (int k = 0; k < steps; ++k) {
      model->step(spec->integrator, x.data(), p.data(), current, spec->dt, spec->clip, next.data());
      x.swap(next);
      for (int i = 0; i < K; ++i) t.x[i].push_back(x[i]);
    }
    return t;
  }
};

bool plottable(double x) { return std::isfinite(x) && std::abs(x) <= kAbsurd; }

// [lo, hi] widened to at least `min_span` around its middle, then padded by 5% each side.
Axis padded_axis(double lo, double hi, double min_span) {
  if (!(lo <= hi)) lo = -1, hi = 1;
  if (hi - lo < min_span) {
    const double mid = 0.5 * (lo + hi);
    lo = mid - 0.5 * min_span, hi = mid + 0.5 * min_span;
  }
  const double pad = 0.05 * (hi - lo);
  Axis axis;
  axis.lo = lo - pad;
  axis.hi = hi + pad;
  return axis;
}

void place(Axis& x, Axis& y, const PlotArea& area) {
  x.pixel_lo = area.left, x.pixel_hi = area.right;
  y.pixel_lo = area.bottom, y.pixel_hi = area.top;
}

// Linear ticks with at least two labels (a narrow range may hold only one multiple of a coarse step).
std::vector<Tick> ticks(const Axis& axis, int max_ticks) {
  double step = nice_step(axis.hi - axis.lo, max_ticks);
  std::vector<Tick> result = linear_ticks(axis, step);
  while (result.size() < 2 && step > 0) result = linear_ticks(axis, step /= 2);
  return result;
}

std::string number(double x) { return fmt::format("{:.4g}", x); }

const char* trained_word(bool trained) { return trained ? "trained" : "frozen"; }

// --- params_layer<L>.png ---------------------------------------------------------------------

void draw_histogram(Canvas& canvas, const PlotArea& area, const std::vector<double>& values) {
  std::vector<double> finite;
  for (double x : values)
    if (std::isfinite(x)) finite.push_back(x);
  const auto centre_text = [&](const std::string& s) {
    canvas.text((area.left + area.right - Canvas::text_width(s)) / 2, (area.top + area.bottom - kTextHeight) / 2, s,
                kInk);
  };
  if (finite.empty()) {
    centre_text("no finite values");
    return;
  }
  const auto [lo_it, hi_it] = std::minmax_element(finite.begin(), finite.end());
  const double lo = *lo_it, hi = *hi_it;
  // One neuron, or all alike (frozen parameters are): the value itself says more than one bar.
  if (hi - lo <= 1e-12 * std::max(1.0, std::abs(lo))) {
    centre_text(finite.size() == 1 ? fmt::format("the neuron: {}", number(lo))
                                   : fmt::format("all {} neurons: {}", finite.size(), number(lo)));
    return;
  }
  const int bins = std::clamp(static_cast<int>(std::ceil(std::sqrt(static_cast<double>(finite.size())))), 5, 20);
  std::vector<int> counts(bins, 0);
  for (double x : finite) ++counts[std::min(bins - 1, static_cast<int>((x - lo) / (hi - lo) * bins))];
  const int most = *std::max_element(counts.begin(), counts.end());
  Axis x, y;
  x.lo = lo, x.hi = hi;
  y.lo = 0, y.hi = 1.1 * most;
  place(x, y, area);
  x.pixel_lo += 6, x.pixel_hi -= 6;  // the outer bars stay clear of the frame
  draw_x_ticks(canvas, area, x, ticks(x, 3));
  draw_y_ticks(canvas, area, y, linear_ticks(y, std::max(1.0, nice_step(y.hi, 4))));
  for (int k = 0; k < bins; ++k) {
    if (counts[k] == 0) continue;
    const int x0 = x.pixel(lo + (hi - lo) * k / bins), x1 = x.pixel(lo + (hi - lo) * (k + 1) / bins);
    const int top = y.pixel(counts[k]);
    canvas.fill(x0, top, x1 + 1, area.bottom, kInk);
    canvas.fill(x0 + 1, top + 1, x1, area.bottom, kPalette[0]);
  }
}

// Two columns of panels for up to four parameters (FitzHugh–Nagumo's a, b, g, I on the usual
// 800×500), three for more, the canvas as tall as the rows need.
fs::path write_params_png(const fs::path& dir, const LayerView& layer) {
  const int P = layer.model->params;
  const int cols = P <= 4 ? 2 : 3, rows = (P + cols - 1) / cols;
  constexpr int kPanelHeight = 230;
  const int panel_width = kWidth / cols;
  Canvas canvas(kWidth, std::max(kHeight, 40 + rows * kPanelHeight));
  // Each panel's title says whether its parameter is trained or frozen.
  draw_title(canvas, 10, fmt::format("layer {}: {} parameters of its {} neuron{}; bars count neurons", layer.index,
                                     layer.model_title(), layer.neurons(), layer.neurons() == 1 ? "" : "s"));
  for (int k = 0; k < P; ++k) {
    const int col = k % cols, row = k / cols;
    const int x0 = col * panel_width, y0 = 40 + row * kPanelHeight;
    const PlotArea area = cols == 2 ? PlotArea{x0 + 90, y0 + 30, x0 + panel_width - 24, y0 + 180}
                                    : PlotArea{x0 + 64, y0 + 30, x0 + panel_width - 16, y0 + 180};
    const std::vector<double>& values = layer.params[k];
    int non_finite = 0;
    for (double x : values) non_finite += !std::isfinite(x);
    const std::string panel_title =
        fmt::format("{} ({}){}", layer.model->param_info[k].name, trained_word(layer.trained[k]),
                    non_finite > 0 ? fmt::format(", {} non-finite", non_finite) : std::string());
    canvas.text((area.left + area.right - Canvas::text_width(panel_title)) / 2, y0 + 6, panel_title, kInk);
    draw_histogram(canvas, area, values);
    canvas.frame(area);
  }
  const fs::path path = dir / fmt::format("params_layer{}.png", layer.index);
  canvas.write_png(path);
  return path;
}

// --- phase_layer<L>_neuron<n>.png ------------------------------------------------------------

// A polyline through (xs[k], ys[k]) broken at non-finite points, clipped to the area. A segment
// with both ends far off the plot is left out (a diverging Euler trajectory jumps across it with
// every step); a far end of a segment that starts near is pulled in along the segment to where it
// is still well outside, so the pixel arithmetic stays exact.
void draw_polyline(Canvas& canvas, const PlotArea& area, const Axis& x, const Axis& y, const std::vector<double>& xs,
                   const std::vector<double>& ys, Rgb color, int thickness, int dash = 0) {
  const auto near = [](const Axis& axis, double value) {
    return std::abs(value - 0.5 * (axis.lo + axis.hi)) <= 10 * (axis.hi - axis.lo);
  };
  const auto pull_in = [&](double ax, double ay, double& bx, double& by) {
    const double scale = std::min({1.0, 20 * (x.hi - x.lo) / std::abs(bx - ax), 20 * (y.hi - y.lo) / std::abs(by - ay)});
    bx = ax + scale * (bx - ax), by = ay + scale * (by - ay);
  };
  int phase = 0;
  for (std::size_t k = 0; k + 1 < xs.size(); ++k) {
    double ax = xs[k], ay = ys[k], bx = xs[k + 1], by = ys[k + 1];
    if (!std::isfinite(ax) || !std::isfinite(ay) || !std::isfinite(bx) || !std::isfinite(by)) continue;
    const bool a_near = near(x, ax) && near(y, ay), b_near = near(x, bx) && near(y, by);
    if (!a_near && !b_near) continue;
    if (!b_near) pull_in(ax, ay, bx, by);
    if (!a_near) pull_in(bx, by, ax, ay);
    phase = canvas.clipped_line(x.position(ax), y.position(ay), x.position(bx), y.position(by), area, color,
                                thickness, dash, phase);
  }
}


// FitzHugh–Nagumo's nullclines over the plot's v range, for sample 0's drive: the cubic
// v-nullcline w = I + u − v(v − a)(v − 1) and the line w = v / g.
struct FhnNullclines {
  double a = 0, g = 0, drive = 0;
  std::vector<double> v, w;  // the v-nullcline's points

  double w_line(double v) const { return g != 0 ? v / g : NAN; }
};

FhnNullclines fhn_nullclines(const LayerView& layer, int n, const Axis& x) {
  FhnNullclines c;
  const std::vector<double> p = layer.neuron_params(n);
  c.a = p[0], c.g = p[2];
  c.drive = layer.samples > 0 ? layer.drive(0, n) : p[FitzHughNagumo::kCurrentParam];
  constexpr int kCurvePoints = 400;
  c.v.resize(kCurvePoints + 1);
  c.w.resize(kCurvePoints + 1);
  for (int k = 0; k <= kCurvePoints; ++k) {
    c.v[k] = x.lo + (x.hi - x.lo) * k / kCurvePoints;
    c.w[k] = c.drive - c.v[k] * (c.v[k] - c.a) * (c.v[k] - 1);
  }
  return c;
}

fs::path write_phase_png(const fs::path& dir, const LayerView& layer, int n) {
  const NeuronModelOps& model = *layer.model;
  const int ix = model.plane_x, iy = model.plane_y;
  const char* x_name = layer.state_name(ix);
  const char* y_name = layer.state_name(iy);
  std::vector<Trajectory> paths;
  for (int s = 0; s < layer.samples; ++s) paths.push_back(layer.trajectory(s, n));

  int diverged = 0, off_plot = 0;
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for (const Trajectory& t : paths) {
    bool finite = true, inside = true;
    for (std::size_t k = 0; k < t.x[0].size(); ++k) {
      for (const std::vector<double>& state : t.x) finite = finite && std::isfinite(state[k]);
      const double xv = t.x[ix][k], yv = t.x[iy][k];
      if (!plottable(xv) || !plottable(yv)) {
        inside = false;
        continue;
      }
      xlo = std::min(xlo, xv), xhi = std::max(xhi, xv);
      ylo = std::min(ylo, yv), yhi = std::max(yhi, yv);
    }
    diverged += !finite;
    off_plot += finite && !inside;
  }
  Axis x = padded_axis(xlo, xhi, 0.2);
  // FitzHugh–Nagumo's nullclines may widen the w range, but by no more than the data's own extent,
  // so that a steep cubic does not squash the trajectories. No other model draws nullclines.
  FhnNullclines nullclines;
  if (layer.is_fhn()) {
    nullclines = fhn_nullclines(layer, n, x);
    const double extent = std::max(yhi - ylo, x.hi - x.lo);
    double nlo = INFINITY, nhi = -INFINITY;
    for (std::size_t k = 0; k < nullclines.v.size(); ++k)
      for (double w : {nullclines.w[k], nullclines.w_line(nullclines.v[k])})
        if (plottable(w)) nlo = std::min(nlo, w), nhi = std::max(nhi, w);
    if (!(ylo <= yhi)) ylo = nlo, yhi = nhi;
    if (nlo <= nhi) ylo = std::max(std::min(ylo, nlo), ylo - extent), yhi = std::min(std::max(yhi, nhi), yhi + extent);
  }
  Axis y = padded_axis(ylo, yhi, 0.02);

  Canvas canvas(kWidth, kHeight);
  int title_y = draw_title(canvas, 6,
                           fmt::format("layer {} neuron {}: {}phase plane, {} dt={} x {} steps", layer.index, n,
                                       layer.is_fhn() ? "" : layer.model->name + " ",
                                       to_string(layer.spec->integrator), number(layer.spec->dt),
                                       layer.spec->steps()));
  std::vector<std::string> values;
  const std::vector<double> p = layer.neuron_params(n);
  for (int k = 0; k < model.params; ++k) values.push_back(fmt::format("{}={}", model.param_info[k].name, number(p[k])));
  std::string subtitle = fmt::format("{}", fmt::join(values, " "));
  if (layer.is_fhn() && layer.current_coupling())
    subtitle += fmt::format("; v-nullcline for sample 0: I+u={}", number(nullclines.drive));
  title_y = draw_title(canvas, title_y, subtitle);
  std::vector<std::string> notes;
  if (diverged > 0) notes.push_back(fmt::format("{} diverged: non-finite points skipped", diverged));
  if (off_plot > 0)
    notes.push_back(fmt::format("{} leave the plot ({} or {} beyond +-{:g})", off_plot, x_name, y_name, kAbsurd));
  title_y = draw_title(canvas, title_y, fmt::format("{}", fmt::join(notes, "; ")));
  // Title lines that wrapped push the plot down rather than run into it.
  PlotArea area = kArea;
  area.top = std::max(area.top, title_y + 4);
  place(x, y, area);
  draw_x_ticks(canvas, area, x, ticks(x, 8));
  draw_y_ticks(canvas, area, y, ticks(y, 6));
  draw_axis_titles(canvas, area, x_name, y_name, 16);

  if (layer.is_fhn()) {
    draw_polyline(canvas, area, x, y, nullclines.v, nullclines.w, kInk, 2);
    if (nullclines.g != 0)
      draw_polyline(canvas, area, x, y, {x.lo, x.hi}, {nullclines.w_line(x.lo), nullclines.w_line(x.hi)}, kInk, 2, 8);
    else
      canvas.clipped_line(x.position(0), area.top, x.position(0), area.bottom, area, kInk, 2, 8);  // v = 0
  }

  std::vector<LegendEntry> legend;
  for (int s = 0; s < layer.samples; ++s) {
    const Rgb color = kPalette[s % kPalette.size()];
    const Trajectory& t = paths[s];
    draw_polyline(canvas, area, x, y, t.x[ix], t.x[iy], color, 2);
    if (s < kLegendSamples) legend.push_back({fmt::format("sample {}", s), color});
  }
  if (layer.samples > kLegendSamples)
    legend.push_back({fmt::format("+{} more", layer.samples - kLegendSamples), kWhite});
  // Starts last, so no trajectory covers one.
  for (int s = 0; s < layer.samples; ++s) {
    const Trajectory& t = paths[s];
    if (!plottable(t.x[ix][0]) || !plottable(t.x[iy][0])) continue;
    const int px = x.pixel(t.x[ix][0]), py = y.pixel(t.x[iy][0]);
    canvas.fill(px - 5, py - 5, px + 6, py + 6, kInk);
    canvas.fill(px - 3, py - 3, px + 4, py + 4, kPalette[s % kPalette.size()]);
  }
  legend.push_back({"start", kInk, 0, true});
  if (layer.is_fhn()) {
    legend.push_back({"v-nullcline", kInk});
    legend.push_back({"w-nullcline", kInk, 8});
  }
  canvas.frame(area);
  draw_legend(canvas, area.right + 12, area.top, legend);

  const fs::path path = dir / fmt::format("phase_layer{}_neuron{}.png", layer.index, n);
  canvas.write_png(path);
  return path;
}

// --- voltage_layer<L>.png --------------------------------------------------------------------

fs::path write_voltage_png(const fs::path& dir, const LayerView& layer, int neurons) {
  const int samples = std::min(layer.samples, kVoltageSamples);
  const int steps = layer.spec->steps();
  std::vector<double> t(steps + 1);
  for (int k = 0; k <= steps; ++k) t[k] = k * layer.spec->dt;

  struct Curve {
    int neuron, sample;
    std::vector<double> v;
  };
  std::vector<Curve> curves;
  int diverged = 0;
  double lo = INFINITY, hi = -INFINITY;
  for (int n = 0; n < neurons; ++n)
    for (int s = 0; s < samples; ++s) {
      Curve c{n, s, std::move(layer.trajectory(s, n).x[0])};
      bool finite = true;
      for (double v : c.v) {
        finite = finite && std::isfinite(v);
        if (plottable(v)) lo = std::min(lo, v), hi = std::max(hi, v);
      }
      diverged += !finite;
      curves.push_back(std::move(c));
    }

  Canvas canvas(kWidth, kHeight);
  const char* v_name = layer.state_name(0);
  int title_y = draw_title(canvas, 6, fmt::format("layer {}: {}{}(t) of neurons 0-{}, samples 0-{}, {} dt={}",
                                                  layer.index, layer.is_fhn() ? "" : layer.model->name + " ", v_name,
                                                  neurons - 1, samples - 1, to_string(layer.spec->integrator),
                                                  number(layer.spec->dt)));
  title_y = draw_title(canvas, title_y, "colour: neuron; line: sample (solid 0, dashed 1, dotted 2)");
  if (diverged > 0)
    title_y = draw_title(canvas, title_y, fmt::format("{} diverged: non-finite points skipped, {} beyond +-{:g} off "
                                                      "the plot", diverged, v_name, kAbsurd));
  const PlotArea area{kArea.left, std::max(kArea.top, title_y + 4), kArea.right + 50, kArea.bottom};
  Axis x, y = padded_axis(lo, hi, 0.1);
  x.lo = 0, x.hi = layer.spec->t_end;
  place(x, y, area);
  draw_x_ticks(canvas, area, x, ticks(x, 8));
  draw_y_ticks(canvas, area, y, ticks(y, 6));
  draw_axis_titles(canvas, area, "t", v_name, 16);
  std::vector<LegendEntry> legend;
  for (const Curve& c : curves) {
    const Rgb color = kPalette[c.neuron % kPalette.size()];
    draw_polyline(canvas, area, x, y, t, c.v, color, 2, kSampleDash[c.sample]);
    legend.push_back({fmt::format("n{} s{}", c.neuron, c.sample), color, kSampleDash[c.sample]});
  }
  canvas.frame(area);
  draw_legend(canvas, area.right + 12, area.top, legend);

  const fs::path path = dir / fmt::format("voltage_layer{}.png", layer.index);
  canvas.write_png(path);
  return path;
}

int run_inspect(const InspectOptions& options) {
  if (!fs::is_directory(options.run_dir))
    throw ConfigError(fmt::format("{}: no such run folder", options.run_dir));
  const fs::path checkpoint_path = fs::path(options.run_dir) / "best.bin";
  if (!fs::exists(checkpoint_path))
    throw ConfigError(fmt::format("{}: no such file (a run folder holds best.bin from its first epoch on)",
                                  checkpoint_path.string()));
  const Checkpoint ck = load_checkpoint(checkpoint_path);
  const Config& cfg = ck.config;
  if (!uses_csv(cfg) && ck.feature_names != california_feature_names())
    throw DataError(fmt::format("{} was trained on the features {}, this dynpmnn derives {}",
                                checkpoint_path.string(), fmt::join(ck.feature_names, ", "),
                                fmt::join(california_feature_names(), ", ")));
  const int outputs = ck.class_labels.empty() ? 1 : static_cast<int>(ck.class_labels.size());
  const ModelSpec spec = cfg.model_spec(static_cast<int>(ck.feature_names.size()), outputs);
  if (!has_fhn_layers(spec))
    throw ConfigError(fmt::format("{}: model = '{}' has no FitzHugh-Nagumo layers; inspect draws the neurons of neuron layers (kind \"fhn\") only",
                                  checkpoint_path.string(), cfg.model));
  const ParamTable table(spec);

  // The inputs as the model saw them in training: standardised with the checkpoint's scaler.
  const SplitData data = load_run_data(cfg, options.data, ck.scaler, ck.class_labels);
  const std::string& data_path = data.source;
  const int samples = std::min(options.samples, data.test.rows);
  if (samples < 1) throw DataError(fmt::format("{}: the test split has no rows", data_path));

  const std::vector<double>& params = ck.state.best_params;
  const std::vector<double> physical = physical_params(table, params);  // θ of a mapped tensor → its value
  CpuModel<double> model(spec, table);
  std::vector<double> prediction(static_cast<std::size_t>(samples) * spec.outputs);
  model.forward(params.data(), data.test.x.data(), samples, prediction.data());

  const fs::path out = options.out.empty() ? fs::path(options.run_dir) / "inspect" : fs::path(options.out);
  fs::create_directories(out);
  std::vector<std::string> files;
  for (int l = 0; l < static_cast<int>(spec.layers.size()); ++l) {
    if (!is_fhn_layer(spec.layers[l])) continue;
    LayerView layer;
    layer.index = l;
    layer.spec = &spec.layers[l];
    layer.samples = samples;
    layer.model = &find_neuron_model(layer.spec->neuron_model);
    layer.input = fhn_layer_input(model.layer(l));
    for (int k = 0; k < layer.model->params; ++k) {
      const ParamTensor& tensor = neuron_param_tensor(table, l, k);
      layer.params.emplace_back(physical.begin() + static_cast<std::ptrdiff_t>(tensor.offset),
                                physical.begin() + static_cast<std::ptrdiff_t>(tensor.offset + tensor.size));
      layer.trained.push_back(tensor.trainable);
    }
    const int neurons = std::min(options.neurons, layer.neurons());
    files.push_back(write_params_png(out, layer).string());
    // A one-state model has no plane to draw.
    if (layer.model->states > 1)
      for (int n = 0; n < neurons; ++n) files.push_back(write_phase_png(out, layer, n).string());
    if (neurons > 0) files.push_back(write_voltage_png(out, layer, neurons).string());
  }

  nlohmann::ordered_json json;
  json["files"] = files;
  json["checkpoint"] = checkpoint_path.string();
  json["data"] = data_path;
  json["samples"] = samples;
  json["best_epoch"] = ck.state.best_epoch;
  std::cout << json.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << std::endl;
  return kExitOk;
}

}  // namespace

Command add_inspect_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "inspect", "PNGs of a run's best model (RUN_DIR/best.bin) per neuron layer, for any neuron model: histograms of "
                 "its parameters, phase planes with sample trajectories (FitzHugh-Nagumo's with nullclines), the "
                 "voltage x[0](t); the files as one JSON line on stdout");
  auto options = std::make_shared<InspectOptions>();
  cmd->add_option("run_dir", options->run_dir, "The run folder")->required()->type_name("RUN_DIR");
  cmd->add_option("--out", options->out, "Folder for the PNGs (default: RUN_DIR/inspect)")->type_name("DIR");
  cmd->add_option("--neurons", options->neurons, "Phase planes and voltages for the first K neurons of each layer")
      ->check(CLI::Range(1, 10000))
      ->type_name("K");
  cmd->add_option("--samples", options->samples, "Trajectories of the first S rows of the test split")
      ->check(CLI::Range(1, 10000))
      ->type_name("S");
  cmd->add_option("--data", options->data,
                  "cal_housing.data or the run's CSV file (default: the run's, then the usual look-up)")
      ->type_name("PATH");
  return {cmd, [options] { return run_inspect(*options); }};
}

}  // namespace dynpmnn
