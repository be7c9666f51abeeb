// dynpmnn report SWEEP_DIR... --doc FILE.md: a grid report of finished sweeps (issue 11): for each
// sweep, its best runs by validation MSE and a heatmap of the best validation MSE over two of its
// axes (dt × t_end by default; the best over every other axis and seed), from the sweep's
// results.csv alone. FILE.md gets a section per sweep; the folder FILE/ (beside it, named by its
// stem) gets each sweep's heatmap PNG, the heatmap's cells as CSV and a copy of its results.csv,
// the raw data behind every figure, so that one command regenerates the report.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "data/csv_dataset.h"
#include "host/cli/command.h"
#include "host/config/config.h"
#include "host/io/atomic_file.h"
#include "host/io/csv.h"
#include "host/report/plot.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;

struct ReportOptions {
  std::vector<std::string> sweeps;
  std::string doc;
  std::string note;  // a paragraph after the first, e.g. which points the sweeps hold
  std::string x = "dt", y = "t_end";
  int top = 10;
};

bool finished(const std::string& status) { return status == "ok" || status == "early_stopped"; }

double number_or_nan(const std::string& text) {
  try {
    std::size_t used = 0;
    const double v = std::stod(text, &used);
    return used == text.size() ? v : std::numeric_limits<double>::quiet_NaN();
  } catch (const std::exception&) {
    return std::numeric_limits<double>::quiet_NaN();
  }
}

// The axis values in numeric order where every one is a number, else as first seen.
std::vector<std::string> axis_values(const CsvText& csv, std::size_t column) {
  std::vector<std::string> values;
  for (const auto& row : csv.rows)
    if (std::find(values.begin(), values.end(), row[column]) == values.end()) values.push_back(row[column]);
  const bool numeric = std::all_of(values.begin(), values.end(), [](const std::string& v) {
    return std::isfinite(number_or_nan(v));
  });
  if (numeric)
    std::stable_sort(values.begin(), values.end(),
                     [](const std::string& a, const std::string& b) { return number_or_nan(a) < number_or_nan(b); });
  return values;
}

std::string md_cell(std::string text) {
  std::string out;
  for (char c : text) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

// One sweep's section of the report; writes its PNG, cells CSV and results copy into `assets`.
std::string report_sweep(const fs::path& sweep, const ReportOptions& options, const fs::path& assets,
                         const std::string& prefix) {
  const fs::path results = sweep / "results.csv";
  if (!fs::is_regular_file(results))
    throw ConfigError(fmt::format("report: {}: no such file (a sweep folder has it once the sweep ends)",
                                  results.string()));
  const CsvText csv = read_csv(results.string());
  const auto column = [&](const std::string& name) {
    const auto at = std::find(csv.header.begin(), csv.header.end(), name);
    if (at == csv.header.end())
      throw ConfigError(fmt::format("report: {} has no column {} (its columns: {})", results.string(), name,
                                    fmt::join(csv.header, ", ")));
    return static_cast<std::size_t>(at - csv.header.begin());
  };
  const std::size_t cx = column(options.x), cy = column(options.y), cstatus = column("status"), crun = column("run");
  const std::size_t cval = column("val_mse");
  const std::string name = sweep.filename().empty() ? sweep.parent_path().filename().string()
                                                    : sweep.filename().string();
  const std::vector<std::string> xs = axis_values(csv, cx), ys = axis_values(csv, cy);

  // The heatmap: per cell the best validation MSE of its finished runs; else why there is none.
  Heatmap map;
  map.column_labels = xs;
  map.row_labels = ys;
  map.values.assign(xs.size() * ys.size(), std::numeric_limits<double>::quiet_NaN());
  map.notes.assign(map.values.size(), "");
  std::vector<std::map<std::string, int>> counts(map.values.size());
  std::size_t n_finished = 0, n_diverged = 0, n_skipped = 0;
  for (const auto& row : csv.rows) {
    const std::size_t c = static_cast<std::size_t>(std::find(xs.begin(), xs.end(), row[cx]) - xs.begin());
    const std::size_t r = static_cast<std::size_t>(std::find(ys.begin(), ys.end(), row[cy]) - ys.begin());
    const std::size_t at = r * xs.size() + c;
    const std::string& status = row[cstatus];
    const std::string kind = finished(status) ? "finished" : status.rfind("skipped", 0) == 0 ? "skipped" : status;
    ++counts[at][kind];
    n_finished += kind == "finished";
    n_diverged += kind == "diverged";
    n_skipped += kind == "skipped";
    const double v = number_or_nan(row[cval]);
    if (finished(status) && std::isfinite(v) && !(v >= map.values[at])) map.values[at] = v;
  }
  for (std::size_t at = 0; at < map.values.size(); ++at) {
    if (std::isfinite(map.values[at])) continue;
    const auto& k = counts[at];
    map.notes[at] = k.empty() ? "" : k.count("skipped") && k.size() == 1 ? "skipped"
                               : k.count("diverged") && !k.count("finished") ? "diverged" : "no finite";
  }
  map.title = fmt::format("{}: best validation MSE over {} x {}", name, options.x, options.y);
  map.x_title = options.x;
  map.y_title = options.y;
  map.value_title = "val MSE";
  fs::create_directories(assets);
  const std::string stem = name + "-heatmap";
  write_heatmap_png(assets / (stem + ".png"), map);
  std::string cells = options.y + "," + options.x + ",best_val_mse,finished,diverged,skipped,other\n";
  for (std::size_t r = 0; r < ys.size(); ++r)
    for (std::size_t c = 0; c < xs.size(); ++c) {
      const std::size_t at = r * xs.size() + c;
      const auto& k = counts[at];
      int other = 0;
      for (const auto& [kind, n] : k)
        if (kind != "finished" && kind != "diverged" && kind != "skipped") other += n;
      const auto get = [&](const char* kind) { return k.count(kind) ? k.at(kind) : 0; };
      cells += fmt::format("{},{},{},{},{},{},{}\n", csv_field(ys[r]), csv_field(xs[c]),
                           std::isfinite(map.values[at]) ? fmt::format("{:.17g}", map.values[at]) : std::string(),
                           get("finished"), get("diverged"), get("skipped"), other);
    }
  write_file_atomically(assets / (name + "-heatmap.csv"), cells);
  fs::copy_file(results, assets / (name + "-results.csv"), fs::copy_options::overwrite_existing);

  // The best runs: finished ones by validation MSE.
  std::vector<const std::vector<std::string>*> best;
  for (const auto& row : csv.rows)
    if (finished(row[cstatus]) && std::isfinite(number_or_nan(row[cval]))) best.push_back(&row);
  std::stable_sort(best.begin(), best.end(), [&](const auto* a, const auto* b) {
    return number_or_nan((*a)[cval]) < number_or_nan((*b)[cval]);
  });
  if (best.size() > static_cast<std::size_t>(options.top)) best.resize(static_cast<std::size_t>(options.top));
  std::string md = fmt::format("## {}\n\n{} runs: {} finished, {} diverged, {} skipped (`{}`).\n\n", name,
                               csv.rows.size(), n_finished, n_diverged, n_skipped, results.string());
  md += fmt::format("![{} heatmap]({}{}.png)\n\nCells: `{}{}.csv`; every run: `{}{}-results.csv`.\n\n", name, prefix,
                    stem, prefix, stem, prefix, name);
  md += fmt::format("### Top {} by validation MSE\n\n", best.size());
  std::vector<std::size_t> shown;
  for (std::size_t i = 0; i < csv.header.size(); ++i)
    if (i != crun && csv.header[i] != "seed") shown.push_back(i);
  md += "| rank | run |";
  for (std::size_t i : shown) md += " " + md_cell(csv.header[i]) + " |";
  md += "\n| --- | --- |";
  for (std::size_t i = 0; i < shown.size(); ++i) md += " --- |";
  md += "\n";
  for (std::size_t k = 0; k < best.size(); ++k) {
    const auto& row = *best[k];
    md += fmt::format("| {} | {} |", k + 1, md_cell(row[crun]));
    for (std::size_t i : shown) {
      const double v = number_or_nan(row[i]);
      md += " " + md_cell(std::isfinite(v) && row[i].find('.') != std::string::npos ? fmt::format("{:.4g}", v) : row[i]) +
            " |";
    }
    md += "\n";
  }
  return md + "\n";
}

int run_report(const ReportOptions& options) {
  if (options.sweeps.empty()) throw ConfigError("report: give one or more sweep folders");
  if (options.top < 1) throw ConfigError(fmt::format("report: --top {} (expected >= 1)", options.top));
  const fs::path doc(options.doc);
  const fs::path assets = doc.parent_path() / doc.stem();
  const std::string prefix = doc.stem().string() + "/";
  std::string md = "# Grid report\n\nGenerated by `dynpmnn report";
  for (const std::string& s : options.sweeps) md += " " + s;
  md += fmt::format(" --doc {}` from each sweep's results.csv: the best validation MSE over {} x {} (the best "
                    "over every other axis and seed; runs that diverged or were skipped do not count) and the top "
                    "{} runs.\n\n", options.doc, options.x, options.y, options.top);
  if (!options.note.empty()) md += options.note + "\n\n";
  for (const std::string& s : options.sweeps) md += report_sweep(fs::path(s), options, assets, prefix);
  write_file_atomically(doc, md);
  fmt::print(stderr, "dynpmnn: report: {} ({} sweeps, figures and data in {})\n", doc.string(), options.sweeps.size(),
             assets.string());
  return kExitOk;
}

}  // namespace

Command add_report_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "report", "A grid report of finished sweeps: the top runs by validation MSE and a heatmap of the best "
                "validation MSE over two axes (default dt x t_end), as Markdown with its figures and data");
  auto options = std::make_shared<ReportOptions>();
  cmd->add_option("sweeps", options->sweeps, "Sweep folders (each with results.csv)")->required()->type_name("DIR");
  cmd->add_option("--doc", options->doc, "The Markdown to write; its figures and data go into the folder of its stem")
      ->required()
      ->type_name("FILE.md");
  cmd->add_option("--x", options->x, "The heatmap's columns: a grid key (default dt)")->type_name("KEY");
  cmd->add_option("--y", options->y, "The heatmap's rows: a grid key (default t_end)")->type_name("KEY");
  cmd->add_option("--top", options->top, "Runs in each top list (default 10)")->type_name("N");
  cmd->add_option("--note", options->note, "A paragraph for the report's top (what the sweeps are)")->type_name("TEXT");
  return {cmd, [options] { return run_report(*options); }};
}

}  // namespace dynpmnn
