// dynpmnn table TABLE.toml: a comparison table regenerated in one command. Every model of the
// table is trained over the same seeds (through the sweep's run machinery, so several at once,
// interruptible and resumable), and the results are summarised per model as mean ± standard
// deviation over the seeds: test RMSE, MAE, R², parameters, epochs and seconds per epoch, beside
// the paper's figure. Writes OUT/results.md, OUT/results.csv (one row per run, with its config
// hash), OUT/provenance.json (commit, machine, date, command) and, per model, OUT/<model>/val_mse.png
// (validation MSE per epoch, one curve per seed); with --doc FILE also FILE (the Markdown), and
// the PNGs, CSV and provenance in FILE's stem folder.
//
// A model is a fixed configuration (preset) or a search (grid). A search trains every point of
// the grid with the first seed and the test split withheld, chooses the point with the lowest
// validation loss, trains it with every seed (test still withheld) and only then evaluates the
// test split, of the chosen runs alone (best.bin, as `dynpmnn eval`). With `sizes`, the point
// chosen on validation per value of those keys is also trained with the first size_seeds seeds
// and evaluated: the parameters-against-accuracy plot (OUT/params.png).
//
// The table file:
//   title = "California Housing: the paper's comparison"
//   note = "..."                  # optional: a paragraph under the header
//   seeds = [0, 1, 2, 3, 4]
//   size_seeds = 3                # optional: seeds per size point of the models with sizes
//   [base]                        # optional: keys applied to every model after its preset or grid
//   epochs = 100
//   [[model]]
//   name = "DynPMNN (paper preset)"
//   preset = "paper-california"   # the model's configuration, or
//   grid = "dynpmnn"              # models/presets/sweeps/dynpmnn-grid.toml: the configurations searched
//                                 # (a name ending in .toml: that grid file, beside the table file)
//   sizes = ["layers", "neurons"] # optional, with grid: the axes that set the model's size
//   paper_rmse = 0.6638           # optional: the paper's test RMSE, shown beside ours
//   note = "..."                  # optional: one line under the table
//   [model.set]                   # optional: keys over the preset (or grid base) and [base]
//   clip = 20.0
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <thread>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "host/config/toml.h"

#include "data/california.h"
#include "data/share_dir.h"
#include "host/cli/best_model.h"
#include "host/cli/command.h"
#include "host/cli/sweep.h"
#include "host/config/config.h"
#include "host/config/config_io.h"
#include "host/report/plot.h"
#include "host/io/atomic_file.h"
#include "host/io/csv.h"
#include "host/io/run_claim.h"
#include "host/io/run_data.h"
#include "host/io/run_folder.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;


struct TableModel {
  std::string name;
  std::string slug;  // its folder under --out
  std::optional<double> paper_rmse;
  std::string note;
  Config cfg;                  // the preset's, or the grid's base (with the table's keys)
  std::optional<Grid> grid;    // a search: the configurations tried
  std::string grid_name;
  std::vector<std::size_t> size_axes;  // indices into grid->axes
};

struct Table {
  std::string title;
  std::string note;  // optional: a paragraph under the header (how the runs were made, caveats)
  std::vector<std::string> seeds;
  int size_seeds = 0;
  std::vector<TableModel> models;
};

std::string text_at(const toml::table& t, const char* key, const std::string& where, bool required) {
  const toml::node* node = t.get(key);
  if (node == nullptr) {
    if (required) throw ConfigError(fmt::format("{}: missing {} (a string)", where, key));
    return "";
  }
  if (!node->is_string())
    throw ConfigError(fmt::format("{}:{}: {} expects a string", where, node->source().begin.line, key));
  return node->as_string()->get();
}

// Applies a TOML table of configuration keys (values as a TOML file spells them) to cfg.
void apply_keys(Config& cfg, const toml::table& keys, const std::string& file, const Grid* grid = nullptr) {
  for (const auto& [k, node] : keys) {
    const std::string where = fmt::format("{}:{}", file, k.source().begin.line);
    const std::string name(k.str());
    if (grid != nullptr)
      for (const GridAxis& axis : grid->axes)
        if (axis.key == name)
          throw ConfigError(fmt::format("{}: {} is searched by the grid {} and cannot be set over it", where, name,
                                        grid->name));
    if (name == "seed" || name == "out" || name == "device")
      throw ConfigError(fmt::format("{}: {} cannot be set per model: the table owns the seeds, folders and device",
                                    where, name));
    std::string value;
    if (const auto* s = node.as_string()) value = s->get();
    else if (const auto* i = node.as_integer()) value = std::to_string(i->get());
    else if (const auto* f = node.as_floating_point()) value = fmt::format("{}", f->get());
    else if (const auto* b = node.as_boolean()) value = b->get() ? "true" : "false";
    else throw ConfigError(fmt::format("{}: {} expects a string, number or boolean", where, name));
    try {
      apply_override(cfg, name + "=" + value);
    } catch (const ConfigError& e) {
      throw ConfigError(fmt::format("{}: {}", where, e.what()));
    }
  }
}

Table read_table(const fs::path& path) {
  const std::string file = path.string();
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw ConfigError(fmt::format("table file {}: no such file", file));
  std::ifstream in(path, std::ios::binary);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  toml::table root;
  try {
    root = toml::parse(text, std::string_view(file));
  } catch (const toml::parse_error& e) {
    throw ConfigError(fmt::format("{}:{}:{}: TOML syntax error: {}", file, e.source().begin.line,
                                  e.source().begin.column, e.description()));
  }
  for (const auto& [k, node] : root) {
    const std::string name(k.str());
    if (name != "title" && name != "note" && name != "seeds" && name != "size_seeds" && name != "base" &&
        name != "model")
      throw ConfigError(fmt::format("{}:{}: unknown top-level key '{}' (a table file has title, note, seeds, "
                                    "size_seeds, [base] and [[model]] entries)",
                                    file, k.source().begin.line, name));
  }
  Table table;
  table.title = text_at(root, "title", file, false);
  if (table.title.empty()) table.title = path.stem().string();
  table.note = text_at(root, "note", file, false);
  const toml::array* seeds = root["seeds"].as_array();
  if (seeds == nullptr || seeds->empty())
    throw ConfigError(fmt::format("{}: seeds expects a non-empty array of integers >= 0", file));
  for (const toml::node& s : *seeds) {
    if (!s.is_integer() || s.as_integer()->get() < 0)
      throw ConfigError(fmt::format("{}:{}: seeds expects integers >= 0", file, s.source().begin.line));
    table.seeds.push_back(std::to_string(s.as_integer()->get()));
  }
  if (const toml::node* n = root.get("size_seeds")) {
    if (!n->is_integer() || n->as_integer()->get() < 1 ||
        n->as_integer()->get() > static_cast<std::int64_t>(table.seeds.size()))
      throw ConfigError(fmt::format("{}:{}: size_seeds expects an integer from 1 to the number of seeds ({})", file,
                                    n->source().begin.line, table.seeds.size()));
    table.size_seeds = static_cast<int>(n->as_integer()->get());
  }
  const toml::array* models = root["model"].as_array();
  if (models == nullptr || models->empty()) throw ConfigError(fmt::format("{}: no [[model]] entries", file));
  for (const toml::node& node : *models) {
    const toml::table* m = node.as_table();
    const std::string where = fmt::format("{}:{}", file, node.source().begin.line);
    if (m == nullptr) throw ConfigError(fmt::format("{}: each model must be a [[model]] table", where));
    for (const auto& [k, v] : *m) {
      const std::string name(k.str());
      if (name != "name" && name != "preset" && name != "grid" && name != "sizes" && name != "paper_rmse" &&
          name != "note" && name != "set")
        throw ConfigError(fmt::format(
            "{}:{}: unknown model key '{}' (name, preset or grid, sizes, paper_rmse, note, [model.set])", file,
            k.source().begin.line, name));
    }
    TableModel model;
    model.name = text_at(*m, "name", where, true);
    model.slug = folder_safe(model.name);
    for (const TableModel& other : table.models)
      if (other.slug == model.slug)
        throw ConfigError(fmt::format("{}: two models are named alike ('{}' and '{}')", where, other.name, model.name));
    model.note = text_at(*m, "note", where, false);
    if (const toml::node* r = m->get("paper_rmse")) {
      const std::optional<double> value = r->value<double>();
      if (!value) throw ConfigError(fmt::format("{}:{}: paper_rmse expects a number", file, r->source().begin.line));
      model.paper_rmse = *value;
    }
    const bool has_preset = m->get("preset") != nullptr, has_grid = m->get("grid") != nullptr;
    if (has_preset == has_grid)
      throw ConfigError(fmt::format("{}: a model names either a preset (one configuration) or a grid (a search)", where));
    const Grid* grid = nullptr;
    if (has_grid) {
      model.grid_name = text_at(*m, "grid", where, true);
      // A name is a preset grid; a path ending in .toml is a grid file beside the table file.
      const bool is_file = fs::path(model.grid_name).extension() == ".toml";
      const fs::path grid_file = is_file ? path.parent_path() / model.grid_name : preset_grid_path(model.grid_name);
      if (!fs::is_regular_file(grid_file))
        throw ConfigError(fmt::format("{}: grid {}: there is no {}", where, model.grid_name, grid_file.string()));
      model.grid = read_grid(grid_file);
      model.grid->name = model.grid_name;
      if (!model.grid->seeds.empty())
        throw ConfigError(fmt::format("{}: grid {} lists seeds; in a table the table's seeds are used", where,
                                      model.grid_name));
      grid = &*model.grid;
      model.cfg = model.grid->base;
    } else {
      model.cfg = preset(text_at(*m, "preset", where, true));
    }
    if (const toml::table* base = root["base"].as_table()) apply_keys(model.cfg, *base, file, grid);
    if (const toml::node* set = m->get("set")) {
      if (!set->is_table()) throw ConfigError(fmt::format("{}: [model.set] must be a table", where));
      apply_keys(model.cfg, *set->as_table(), file, grid);
    }
    model.cfg.validate();
    if (const toml::node* sizes = m->get("sizes")) {
      const toml::array* keys = sizes->as_array();
      if (grid == nullptr || keys == nullptr || keys->empty())
        throw ConfigError(fmt::format("{}:{}: sizes expects, with a grid, a non-empty array of the grid's keys", file,
                                      sizes->source().begin.line));
      for (const toml::node& key : *keys) {
        const auto axis = std::find_if(grid->axes.begin(), grid->axes.end(), [&](const GridAxis& a) {
          return key.is_string() && a.key == key.as_string()->get();
        });
        if (axis == grid->axes.end())
          throw ConfigError(fmt::format("{}:{}: sizes: {} is not a key of the grid {}", file, key.source().begin.line,
                                        key.is_string() ? key.as_string()->get() : "a non-string", model.grid_name));
        model.size_axes.push_back(static_cast<std::size_t>(axis - grid->axes.begin()));
      }
    }
    if (model.grid) model.grid->base = model.cfg;
    table.models.push_back(std::move(model));
  }
  return table;
}

struct MeanStd {
  double mean = NAN, std = NAN;
  int count = 0;
};

// Over the finite values; the standard deviation is the sample one (n − 1), 0 for one value.
MeanStd mean_std(const std::vector<double>& values) {
  MeanStd m;
  double sum = 0;
  for (double v : values)
    if (std::isfinite(v)) sum += v, ++m.count;
  if (m.count == 0) return m;
  m.mean = sum / m.count;
  double squares = 0;
  for (double v : values)
    if (std::isfinite(v)) squares += (v - m.mean) * (v - m.mean);
  m.std = m.count > 1 ? std::sqrt(squares / (m.count - 1)) : 0.0;
  return m;
}

std::string cell(const MeanStd& m, const char* format) {
  if (m.count == 0) return "n/a";
  return fmt::format(fmt::runtime(std::string(format) + " ± " + format), m.mean, m.std);
}

double metric(const SweepRun& r, const char* key) {
  if (!r.summary.contains(key) || !r.summary[key].is_number()) return NAN;
  return r.summary[key].get<double>();
}

// Validation MSE per epoch from a run folder's metrics.jsonl (empty if there is none).
std::vector<double> val_curve(const fs::path& folder) {
  std::vector<double> curve;
  std::ifstream in(folder / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const auto json = nlohmann::json::parse(line, nullptr, false);
    if (json.is_discarded() || !json.contains("val_mse")) continue;
    curve.push_back(json["val_mse"].is_number() ? json["val_mse"].get<double>() : NAN);
  }
  return curve;
}

// A model's runs: expand()'s points × seeds (point p, seed k at p · seeds + k), only some of
// which run: a preset's every seed; a search's first seed of every point, then the seeds of the
// points it chose.
struct ModelResult {
  const TableModel* model = nullptr;
  std::vector<SweepRun> runs;
  std::size_t seeds = 1;
  std::vector<std::size_t> row;  // the table's row: the chosen point's seeds (a preset: all its runs)
  int chosen = -1;               // the chosen point (a search), -1: none finished
  std::size_t searched = 0;      // points tried (a search)
  struct SizePoint {
    std::string label;           // "layers=2, neurons=64"
    std::vector<std::size_t> runs;
  };
  std::vector<SizePoint> sizes;  // with `sizes`: the point chosen per size
  bool ran(std::size_t i) const { return !runs[i].status.empty() && !skipped(runs[i]); }
};

// "layers=2, neurons=64, lr=0.002": the axis values of a grid point (of the given axes; all when none).
std::string point_label(const TableModel& model, const SweepRun& run, const std::vector<std::size_t>& axes = {}) {
  if (!model.grid) return "preset";
  std::vector<std::string> pairs;
  for (std::size_t a = 0; a < model.grid->axes.size(); ++a)
    if (axes.empty() || std::find(axes.begin(), axes.end(), a) != axes.end())
      pairs.push_back(model.grid->axes[a].key + "=" + run.values[a]);
  return fmt::format("{}", fmt::join(pairs, ", "));
}

bool finished(const SweepRun& r) { return r.status == "ok" || r.status == "early_stopped"; }

const char* val_key(const SweepRun& r) { return r.summary.contains("val_loss") ? "val_loss" : "val_mse"; }

// The validation loss a search ranks by: +inf for a run that did not finish.
double val_loss(const SweepRun& r) {
  const double v = finished(r) ? metric(r, val_key(r)) : NAN;
  return std::isfinite(v) ? v : INFINITY;
}

// FNV-1a of the configuration as config.toml spells it, without the folder, device and seed: the
// seeds of one configuration share it.
std::string config_hash(Config cfg) {
  cfg = with_split_used(std::move(cfg));
  cfg.out.clear();
  cfg.device.clear();
  cfg.seed = 0;
  std::uint64_t h = 1469598103934665603ull;
  for (const unsigned char c : to_toml(cfg)) h = (h ^ c) * 1099511628211ull;
  return fmt::format("{:016x}", h);
}

// The first line a shell command prints ("" when it fails).
std::string first_line_of(const std::string& command) {
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return "";
  char buffer[512];
  std::string line = std::fgets(buffer, sizeof buffer, pipe) ? buffer : "";
  ::pclose(pipe);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  return line;
}

nlohmann::ordered_json provenance(const std::string& command, const std::string& device) {
  // The commit of the source tree (share_dir() is the source tree in a build tree; an install has none).
  const std::optional<fs::path> share = find_share_dir();
  const std::string source = share ? share->string() : ".";
  std::string commit = first_line_of("git -C '" + source + "' rev-parse HEAD 2>/dev/null");
  if (!commit.empty() && !first_line_of("git -C '" + source + "' status --porcelain --untracked-files=no 2>/dev/null").empty())
    commit += "-dirty";
  std::string cpu = first_line_of("grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//'");
  nlohmann::ordered_json json;
  json["command"] = command;
  json["commit"] = commit.empty() ? "unknown" : commit;
  json["date"] = utc_timestamp();
  json["device"] = device;
  json["machine"] = fmt::format("{} ({} hardware threads)", cpu.empty() ? "unknown CPU" : cpu,
                                std::thread::hardware_concurrency());
  return json;
}

struct Summary {
  MeanStd rmse, mae, r2, val, params, epochs, seconds;
  int diverged = 0, failures = 0;
};

Summary summarise(const ModelResult& r, const std::vector<std::size_t>& runs) {
  std::vector<double> rmse, mae, r2, val, params, epochs, seconds;
  Summary s;
  for (const std::size_t i : runs) {
    const SweepRun& run = r.runs[i];
    if (failed(run) || skipped(run) || run.status.empty()) {
      ++s.failures;
      continue;
    }
    if (run.status == "diverged") {
      ++s.diverged;
      continue;
    }
    rmse.push_back(metric(run, "test_rmse"));
    mae.push_back(metric(run, "test_mae"));
    r2.push_back(metric(run, "test_r2"));
    val.push_back(metric(run, val_key(run)));
    params.push_back(metric(run, "params"));
    epochs.push_back(metric(run, "epochs"));
    seconds.push_back(metric(run, "epoch_seconds"));
  }
  s.rmse = mean_std(rmse), s.mae = mean_std(mae), s.r2 = mean_std(r2), s.val = mean_std(val);
  s.params = mean_std(params), s.epochs = mean_std(epochs), s.seconds = mean_std(seconds);
  return s;
}

// Training time of every run the model cost (searched or seeded), in CPU-hours where one run
// holds one core: epochs × seconds per epoch.
double train_hours(const ModelResult& r) {
  double seconds = 0;
  for (std::size_t i = 0; i < r.runs.size(); ++i)
    if (r.ran(i) && !failed(r.runs[i])) seconds += metric(r.runs[i], "epochs") * metric(r.runs[i], "epoch_seconds");
  return seconds / 3600;
}

// The PNGs are at png_prefix + slug + png_suffix + ".png" and png_prefix + "params.png", relative to the Markdown.
std::string results_markdown(const Table& table, const std::vector<ModelResult>& results,
                             const nlohmann::ordered_json& made, const std::string& png_prefix,
                             const std::string& png_suffix, const std::string& csv_path) {
  const bool any_search = std::any_of(results.begin(), results.end(), [](const ModelResult& r) { return r.model->grid.has_value(); });
  const bool any_preset = std::any_of(results.begin(), results.end(), [](const ModelResult& r) { return !r.model->grid; });
  const bool any_paper = std::any_of(results.begin(), results.end(), [](const ModelResult& r) { return r.model->paper_rmse.has_value(); });
  std::string md = fmt::format("# {}\n\n", table.title);
  md += fmt::format("Generated by `{}` on {}, {} (commit {}, {}; {} seeds: {}). Per-run results: [{}]({}).\n\n",
                    made["command"].get<std::string>(), made["device"].get<std::string>(),
                    made["date"].get<std::string>().substr(0, 10), made["commit"].get<std::string>(),
                    made["machine"].get<std::string>(), table.seeds.size(), fmt::join(table.seeds, ", "), csv_path,
                    csv_path);
  if (any_search)
    md += fmt::format(
        "**How each row was chosen.** A model with a grid is a search: each of its configurations "
        "(models/presets/sweeps/<grid>-grid.toml) was trained with seed {} and the test split withheld (no test "
        "metric was computed for it); the configuration with the lowest validation MSE was chosen and trained with "
        "every seed, and only then was the test split evaluated, for the chosen runs alone, with the weights of "
        "the lowest validation MSE. Every search has the same epoch limit, stopping rule and data handling (the "
        "table's [base] keys below). ",
        table.seeds.front());
  if (any_preset)
    md += "A model with a preset is that one configuration, fixed before this table (its note says where it came "
          "from), trained with every seed; the test metrics are those of the weights with the lowest validation "
          "MSE. ";
  if (!table.note.empty()) md += table.note + " ";
  md += "Mean ± sample standard deviation over the seeds whose run finished; a diverged run counts in the "
        "\"diverged\" column and not in the means. CPU-hours: the training time of every run the row cost (search "
        "and seeds; epochs × seconds per epoch, one core per run).\n\n";
  md += fmt::format("| model | configuration | test RMSE |{} val MSE | test MAE | test R² | parameters | epochs | s / epoch "
                    "| configurations searched | CPU-hours | diverged |\n",
                    any_paper ? " paper RMSE |" : "");
  md += fmt::format("| --- | --- | --- |{} --- | --- | --- | --- | --- | --- | --- | --- | --- |\n", any_paper ? " --- |" : "");
  for (const ModelResult& r : results) {
    const Summary s = summarise(r, r.row);
    const std::string chosen = r.model->grid ? (r.chosen < 0 ? "none finished"
                                                              : point_label(*r.model, r.runs[r.chosen * r.seeds]))
                                             : "preset " + r.model->cfg.preset;
    md += fmt::format("| {} | {} | {} |{} {} | {} | {} | {} | {} | {} | {} | {:.2f} | {}{} |\n", r.model->name, chosen,
                      cell(s.rmse, "{:.3f}"),
                      any_paper ? " " + (r.model->paper_rmse ? fmt::format("{:.4f}", *r.model->paper_rmse) : "") + " |" : "",
                      cell(s.val, "{:.4f}"), cell(s.mae, "{:.3f}"), cell(s.r2, "{:.3f}"),
                      s.params.count ? fmt::format("{:.0f}", s.params.mean) : "n/a", cell(s.epochs, "{:.1f}"),
                      cell(s.seconds, "{:.3g}"), r.model->grid ? std::to_string(r.searched) : "1 (fixed)",
                      train_hours(r), fmt::format("{} of {}", s.diverged, r.row.size()),
                      s.failures ? fmt::format(" ({} failed)", s.failures) : "");
  }
  md += "\n";
  for (const ModelResult& r : results)
    if (!r.model->note.empty()) md += fmt::format("- **{}**: {}\n", r.model->name, r.model->note);

  if (any_search) {
    md += "\n## The searches: every configuration tried, seed " + table.seeds.front() + ", by validation MSE\n\n";
    for (const ModelResult& r : results) {
      if (!r.model->grid) continue;
      std::vector<std::size_t> points;
      for (std::size_t i = 0; i < r.runs.size(); i += r.seeds)
        if (r.ran(i)) points.push_back(i);
      std::stable_sort(points.begin(), points.end(),
                       [&](std::size_t a, std::size_t b) { return val_loss(r.runs[a]) < val_loss(r.runs[b]); });
      md += fmt::format("### {} (grid {})\n\n| configuration | val MSE | parameters | epochs | best epoch | status |\n"
                        "| --- | --- | --- | --- | --- | --- |\n",
                        r.model->name, r.model->grid_name);
      for (const std::size_t i : points) {
        const SweepRun& run = r.runs[i];
        md += fmt::format("| {}{} | {} | {} | {} | {} | {} |\n", point_label(*r.model, run),
                          static_cast<int>(i / r.seeds) == r.chosen ? " (chosen)" : "",
                          number(run.summary, val_key(run), "{:.4f}"), number(run.summary, "params"),
                          number(run.summary, "epochs"), number(run.summary, "best_epoch"), run.status);
      }
      md += "\n";
    }
  }

  const bool any_sizes = std::any_of(results.begin(), results.end(), [](const ModelResult& r) { return !r.sizes.empty(); });
  if (any_sizes) {
    md += fmt::format(
        "## Parameters against accuracy\n\nPer size of each search (its size keys), the configuration with the lowest "
        "validation MSE among that size's, trained with seeds {}; then the test split of those runs. Test RMSE mean "
        "± sample standard deviation. A model without sizes shows its table row.\n\n![test RMSE against "
        "parameters]({}params.png)\n\n| model | size | configuration | parameters | test RMSE | val MSE | seeds |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n",
        fmt::join(std::vector<std::string>(table.seeds.begin(), table.seeds.begin() + table.size_seeds), ", "),
        png_prefix);
    for (const ModelResult& r : results)
      for (const ModelResult::SizePoint& p : r.sizes) {
        const Summary s = summarise(r, p.runs);
        md += fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", r.model->name, p.label,
                          point_label(*r.model, r.runs[p.runs.front()]),
                          s.params.count ? fmt::format("{:.0f}", s.params.mean) : "n/a", cell(s.rmse, "{:.3f}"),
                          cell(s.val, "{:.4f}"), s.rmse.count);
      }
    md += "\n";
  }

  md += "## Validation MSE per epoch, one curve per seed\n\n";
  for (const ModelResult& r : results)
    md += fmt::format("### {}\n\n![{} validation MSE]({}{}{}.png)\n\n", r.model->name, r.model->name, png_prefix,
                      r.model->slug, png_suffix);
  md += "## Configurations (chosen)\n\n";
  for (const ModelResult& r : results) {
    if (r.row.empty()) continue;
    Config cfg = with_split_used(r.runs[r.row.front()].cfg);  // as each run's config.toml has it
    cfg.out.clear();
    md += fmt::format("### {}\n\n```toml\n{}```\n\n", r.model->name, to_toml(cfg));
  }
  return md;
}

struct TableOptions {
  std::string table_file, preset_table, out, device, doc;
  int jobs = 0;
  std::string population = "auto";
};

// The test metrics of a run trained with the test split withheld, from its best.bin, into its summary.
void evaluate_test(SweepRun& run) {
  if (!finished(run) || run.summary.contains("test_rmse") || run.summary.contains("test_accuracy")) return;
  try {
    const nlohmann::ordered_json m = evaluate_best(load_best_model(run.folder.string()), Split::kTest, run.cfg.device, "");
    if (m.contains("rmse")) {
      run.summary["test_rmse"] = m["rmse"];
      run.summary["test_mae"] = m["mae"];
      run.summary["test_r2"] = m["r2"];
      run.summary["test_mse"] = m["mse"];
    } else {
      run.summary["test_accuracy"] = m["accuracy"];
      run.summary["test_f1"] = m["f1"];
    }
    run.summary["test"] = "evaluated after the choice";
  } catch (const std::exception& e) {
    run.status = std::string("failed: test evaluation: ") + e.what();
  }
}

int run_table(const TableOptions& options) {
  if (options.table_file.empty() == options.preset_table.empty())
    throw ConfigError("table: give either a table file or --preset-table NAME");
  const fs::path path = options.table_file.empty() ? preset_dir() / "tables" / (options.preset_table + ".toml")
                                                   : fs::path(options.table_file);
  const Table table = read_table(path);
  const std::string device = resolve_sweep_device(options.device.empty() ? "auto" : options.device, "table");
  const PopulationMode population = population_mode_from_string(options.population);
  const int jobs = sweep_jobs(device, options.jobs, population);
  const fs::path out = options.out.empty() ? fs::path("tables") / path.stem() : fs::path(options.out);
  const std::size_t S = table.seeds.size();

  std::vector<ModelResult> results(table.models.size());
  std::vector<SweepRun*> fixed, search;
  for (std::size_t m = 0; m < table.models.size(); ++m) {
    const TableModel& model = table.models[m];
    ModelResult& r = results[m];
    r.model = &model;
    r.seeds = S;
    Grid grid;
    if (model.grid) grid = *model.grid;
    grid.name = model.slug;
    grid.base = model.cfg;
    grid.base.device = device;
    grid.seeds = table.seeds;
    r.runs = expand(grid, out / model.slug);
    for (std::size_t i = 0; i < r.runs.size(); ++i) {
      SweepRun& run = r.runs[i];
      run.label = model.name + (model.grid ? ", " + point_label(model, run) : "") + ", seed " + run.seed;
      if (skipped(run)) continue;
      if (!model.grid) fixed.push_back(&run), r.row.push_back(i);
      else if (i % S == 0) search.push_back(&run), ++r.searched;
    }
  }
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec || !fs::is_directory(out))
    throw ConfigError(fmt::format("--out {}: cannot create the folder{}", out.string(), ec ? ": " + ec.message() : ""));
  fmt::print(stderr, "dynpmnn: table: {} models × {} seeds in {}, {} at a time on {}\n", table.models.size(), S,
             out.string(), jobs, device);
  // The models share one data set: the first model's (its data, target, features and split keys).
  const SplitData data = load_run_data(table.models.front().cfg);
  const SplitData withheld = without_test(data);
  if (!fixed.empty()) run_points(fixed, data, jobs, device == "cuda", population);
  // A run another process holds (host/io/run_claim.h) has no result yet: no choice may be made, nor
  // a table written, without it.
  auto refuse_held = [](const std::vector<SweepRun*>& runs) {
    const auto first = std::find_if(runs.begin(), runs.end(), [](const SweepRun* r) { return held(*r); });
    if (first == runs.end()) return;
    const auto n = std::count_if(first, runs.end(), [](const SweepRun* r) { return held(*r); });
    throw ConfigError(fmt::format("table: {} runs are being trained by another process ({}: {}); rerun this command "
                                  "when it ends", n, (*first)->folder.string(), (*first)->status));
  };
  refuse_held(fixed);
  if (!search.empty()) {
    fmt::print(stderr, "dynpmnn: table: searching {} configurations, seed {}, test split withheld\n", search.size(),
               table.seeds.front());
    run_points(search, withheld, jobs, device == "cuda", population);
    refuse_held(search);
  }

  // The choices, on validation alone; then the chosen points' other seeds.
  std::vector<SweepRun*> seeded;
  for (ModelResult& r : results) {
    if (!r.model->grid) continue;
    const std::size_t points = r.runs.size() / S;
    auto best_of = [&](auto in_group) {
      int best = -1;
      for (std::size_t p = 0; p < points; ++p)
        if (in_group(p) && r.ran(p * S) && std::isfinite(val_loss(r.runs[p * S])) &&
            (best < 0 || val_loss(r.runs[p * S]) < val_loss(r.runs[best * S])))
          best = static_cast<int>(p);
      return best;
    };
    r.chosen = best_of([](std::size_t) { return true; });
    auto want = [&](int p, std::size_t count, std::vector<std::size_t>& into) {
      for (std::size_t k = 0; k < count; ++k) {
        const std::size_t i = p * S + k;
        into.push_back(i);
        if (k > 0 && std::find(seeded.begin(), seeded.end(), &r.runs[i]) == seeded.end()) seeded.push_back(&r.runs[i]);
      }
    };
    if (r.chosen >= 0) want(r.chosen, S, r.row);
    std::vector<std::string> done_labels;
    for (std::size_t p = 0; p < points && !r.model->size_axes.empty(); ++p) {
      const std::string size = point_label(*r.model, r.runs[p * S], r.model->size_axes);
      if (std::find(done_labels.begin(), done_labels.end(), size) != done_labels.end()) continue;
      done_labels.push_back(size);
      const int best = best_of([&](std::size_t q) { return point_label(*r.model, r.runs[q * S], r.model->size_axes) == size; });
      ModelResult::SizePoint point{size, {}};
      if (best >= 0) want(best, static_cast<std::size_t>(table.size_seeds), point.runs);
      r.sizes.push_back(std::move(point));
    }
  }
  if (!seeded.empty()) {
    fmt::print(stderr, "dynpmnn: table: {} more seeds of the configurations chosen on validation\n", seeded.size());
    run_points(seeded, withheld, jobs, device == "cuda", population);
    refuse_held(seeded);
  }
  for (ModelResult& r : results) {
    if (!r.model->grid) continue;
    for (const std::size_t i : r.row) evaluate_test(r.runs[i]);
    for (const ModelResult::SizePoint& p : r.sizes)
      for (const std::size_t i : p.runs) evaluate_test(r.runs[i]);
  }

  const std::string command =
      "dynpmnn table " + (options.table_file.empty() ? "--preset-table " + options.preset_table : options.table_file);
  const nlohmann::ordered_json made = provenance(command, device);
  std::string csv =
      "model,configuration,config_hash,seed,searched,in_table,size_point,status,val_mse,test_rmse,test_mae,test_r2,"
      "params,epochs,best_epoch,epoch_seconds,run_dir\n";
  std::vector<XySeries> size_series;
  for (ModelResult& r : results) {
    auto member = [](const std::vector<std::size_t>& v, std::size_t i) { return std::find(v.begin(), v.end(), i) != v.end(); };
    std::vector<CurveSeries> curves;
    for (std::size_t i = 0; i < r.runs.size(); ++i) {
      if (!r.ran(i)) continue;
      const SweepRun& run = r.runs[i];
      bool in_size = false;
      for (const ModelResult::SizePoint& p : r.sizes) in_size = in_size || member(p.runs, i);
      const bool in_table = member(r.row, i);
      // The run folder relative to --out, so the committed CSV does not name this machine's paths.
      csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", csv_field(r.model->name),
                         csv_field(point_label(*r.model, run)), config_hash(run.cfg), run.seed,
                         r.model->grid && i % S == 0 ? "true" : "false", in_table ? "true" : "false",
                         in_size ? "true" : "false", csv_field(run.status), number(run.summary, val_key(run), "{:.17g}"),
                         number(run.summary, "test_rmse", "{:.17g}"), number(run.summary, "test_mae", "{:.17g}"),
                         number(run.summary, "test_r2", "{:.17g}"), number(run.summary, "params"),
                         number(run.summary, "epochs"), number(run.summary, "best_epoch"),
                         number(run.summary, "epoch_seconds", "{:.6g}"),
                         csv_field(fs::relative(run.folder, out).string()));
      if (in_table) curves.push_back({"seed " + run.seed, val_curve(run.folder)});
    }
    write_curves_png(out / r.model->slug / "val_mse.png", curves, r.model->name + ": validation MSE", "val MSE");
    XySeries series{r.model->name, {}};
    auto add_point = [&](const std::vector<std::size_t>& runs) {
      const Summary s = summarise(r, runs);
      if (s.rmse.count > 0) series.points.push_back({s.params.mean, s.rmse.mean, s.rmse.std});
    };
    if (r.sizes.empty()) add_point(r.row);
    for (const ModelResult::SizePoint& p : r.sizes) add_point(p.runs);
    std::sort(series.points.begin(), series.points.end(), [](const XyPoint& a, const XyPoint& b) { return a.x < b.x; });
    size_series.push_back(std::move(series));
  }
  const bool any_sizes = std::any_of(results.begin(), results.end(), [](const ModelResult& r) { return !r.sizes.empty(); });
  if (any_sizes)
    write_xy_png(out / "params.png", size_series, table.title.size() < 60 ? table.title : "Test RMSE against parameters",
                 "trainable parameters", "test RMSE", true);
  write_file_atomically(out / "results.csv", csv);
  write_file_atomically(out / "provenance.json", made.dump(1) + "\n");
  // results.md in OUT finds each model's curves in its folder; the doc copy keeps them beside it.
  write_file_atomically(out / "results.md", results_markdown(table, results, made, "", "/val_mse", "results.csv"));
  if (!options.doc.empty()) {
    const fs::path doc(options.doc);
    const fs::path images = doc.parent_path() / doc.stem();
    fs::create_directories(images, ec);
    if (ec) throw ConfigError(fmt::format("--doc {}: cannot create {}: {}", doc.string(), images.string(), ec.message()));
    for (const ModelResult& r : results)
      fs::copy_file(out / r.model->slug / "val_mse.png", images / (r.model->slug + ".png"),
                    fs::copy_options::overwrite_existing);
    if (any_sizes) fs::copy_file(out / "params.png", images / "params.png", fs::copy_options::overwrite_existing);
    fs::copy_file(out / "results.csv", images / "results.csv", fs::copy_options::overwrite_existing);
    fs::copy_file(out / "provenance.json", images / "provenance.json", fs::copy_options::overwrite_existing);
    const std::string prefix = doc.stem().string() + "/";
    write_file_atomically(doc, results_markdown(table, results, made, prefix, "", prefix + "results.csv"));
  }
  fmt::print(stderr, "dynpmnn: table: wrote {}{}\n", (out / "results.md").string(),
             options.doc.empty() ? "" : " and " + options.doc);

  nlohmann::ordered_json summary;
  summary["results"] = (out / "results.md").string();
  bool any_failed = false;
  for (const ModelResult& r : results) {
    for (std::size_t i = 0; i < r.runs.size(); ++i) any_failed = any_failed || (r.ran(i) && failed(r.runs[i]));
    const Summary s = summarise(r, r.row);
    nlohmann::ordered_json row = {{"name", r.model->name},
                                  {"test_rmse_mean", s.rmse.count ? nlohmann::ordered_json(s.rmse.mean) : nullptr},
                                  {"test_rmse_std", s.rmse.count ? nlohmann::ordered_json(s.rmse.std) : nullptr},
                                  {"finished", s.rmse.count},
                                  {"runs", r.row.size()}};
    if (r.model->grid)
      row["chosen"] = r.chosen < 0 ? nlohmann::ordered_json(nullptr)
                                   : nlohmann::ordered_json(point_label(*r.model, r.runs[r.chosen * S]));
    summary["models"].push_back(row);
  }
  std::cout << summary.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << std::endl;
  return any_failed ? kExitUnexpected : kExitOk;
}

}  // namespace

Command add_table_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "table", "Train every model of a comparison table (TABLE.toml) over several seeds and write mean ± std of "
               "test RMSE, MAE, R², parameters and time per epoch, with validation curves");
  auto options = std::make_shared<TableOptions>();
  cmd->add_option("table", options->table_file,
                  "TOML file: title, seeds = [...], optional size_seeds and [base] keys, and [[model]] entries with name, "
                  "preset or grid (a search chosen on validation), optional sizes, "
                  "optional paper_rmse, note and [model.set] keys")
      ->type_name("TABLE.toml");
  cmd->add_option("--preset-table", options->preset_table,
                  "Use models/presets/tables/NAME.toml instead of a table file (paper-california: the paper's "
                  "comparison)")
      ->type_name("NAME");
  cmd->add_option("--out", options->out,
                  "Folder of the run folders and results (default tables/<table name>); rerunning with the same one "
                  "skips finished runs and resumes interrupted ones")
      ->type_name("DIR");
  cmd->add_option("--doc", options->doc,
                  "Also write the Markdown here (e.g. docs/results.md) and the curves into its stem folder")
      ->type_name("FILE.md");
  cmd->add_option("--jobs,-j", options->jobs,
                  "Runs at once (default: the hardware threads on the CPU; on cuda 1, or with populations 8 "
                  "populations at once)")
      ->check(CLI::PositiveNumber)
      ->type_name("N");
  cmd->add_option("--device", options->device, "cpu, cuda or auto (default auto)")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}))
      ->type_name("cpu|cuda|auto");
  cmd->add_option("--population", options->population,
                  "auto: train compatible runs together as populations (docs/populations.md), each run with the "
                  "results it has alone; off: each run on its own")
      ->check(CLI::IsMember({"auto", "off"}))
      ->type_name("auto|off");
  return {cmd, [options] { return run_table(*options); }};
}

}  // namespace dynpmnn
