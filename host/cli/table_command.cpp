// dynpmnn table TABLE.toml: the paper's comparison regenerated in one command. Every model of the
// table is trained over the same seeds (through the sweep's run machinery, so several at once,
// interruptible and resumable), and the results are summarised per model as mean ± standard
// deviation over the seeds: test RMSE, MAE, R², parameters, epochs and seconds per epoch, beside
// the paper's figure. Writes OUT/results.md, OUT/results.csv (one row per run) and, per model,
// OUT/<model>/val_mse.png (validation MSE per epoch, one curve per seed); with --doc FILE also
// FILE (the Markdown) and the PNGs beside it in FILE's stem folder.
//
// The table file:
//   title = "California Housing: the paper's comparison"
//   seeds = [0, 1, 2, 3, 4]
//   [base]                        # optional: keys applied to every model after its preset
//   epochs = 100
//   [[model]]
//   name = "DynPMNN (paper preset)"
//   preset = "paper-california"   # the model's configuration
//   paper_rmse = 0.6638           # optional: the paper's test RMSE, shown beside ours
//   note = "..."                  # optional: one line under the table
//   [model.set]                   # optional: keys over the preset and [base]
//   clip = 20.0
#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "host/config/toml.h"

#include "data/california.h"
#include "host/cli/command.h"
#include "host/cli/sweep.h"
#include "host/config/config.h"
#include "host/config/config_io.h"
#include "host/report/plot.h"
#include "host/io/atomic_file.h"
#include "host/io/csv.h"
#include "host/io/run_data.h"
#include "host/io/run_folder.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kTablePresetDir = DYNPMNN_SOURCE_DIR "/models/presets/tables";

struct TableModel {
  std::string name;
  std::string slug;  // its folder under --out
  std::optional<double> paper_rmse;
  std::string note;
  Config cfg;
};

struct Table {
  std::string title;
  std::vector<std::string> seeds;
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
void apply_keys(Config& cfg, const toml::table& keys, const std::string& file) {
  for (const auto& [k, node] : keys) {
    const std::string where = fmt::format("{}:{}", file, k.source().begin.line);
    const std::string name(k.str());
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
    if (name != "title" && name != "seeds" && name != "base" && name != "model")
      throw ConfigError(fmt::format("{}:{}: unknown top-level key '{}' (a table file has title, seeds, [base] and "
                                    "[[model]] entries)",
                                    file, k.source().begin.line, name));
  }
  Table table;
  table.title = text_at(root, "title", file, false);
  if (table.title.empty()) table.title = path.stem().string();
  const toml::array* seeds = root["seeds"].as_array();
  if (seeds == nullptr || seeds->empty())
    throw ConfigError(fmt::format("{}: seeds expects a non-empty array of integers >= 0", file));
  for (const toml::node& s : *seeds) {
    if (!s.is_integer() || s.as_integer()->get() < 0)
      throw ConfigError(fmt::format("{}:{}: seeds expects integers >= 0", file, s.source().begin.line));
    table.seeds.push_back(std::to_string(s.as_integer()->get()));
  }
  const toml::array* models = root["model"].as_array();
  if (models == nullptr || models->empty()) throw ConfigError(fmt::format("{}: no [[model]] entries", file));
  for (const toml::node& node : *models) {
    const toml::table* m = node.as_table();
    const std::string where = fmt::format("{}:{}", file, node.source().begin.line);
    if (m == nullptr) throw ConfigError(fmt::format("{}: each model must be a [[model]] table", where));
    for (const auto& [k, v] : *m) {
      const std::string name(k.str());
      if (name != "name" && name != "preset" && name != "paper_rmse" && name != "note" && name != "set")
        throw ConfigError(fmt::format("{}:{}: unknown model key '{}' (name, preset, paper_rmse, note, [model.set])",
                                      file, k.source().begin.line, name));
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
    model.cfg = preset(text_at(*m, "preset", where, true));
    if (const toml::table* base = root["base"].as_table()) apply_keys(model.cfg, *base, file);
    if (const toml::node* set = m->get("set")) {
      if (!set->is_table()) throw ConfigError(fmt::format("{}: [model.set] must be a table", where));
      apply_keys(model.cfg, *set->as_table(), file);
    }
    model.cfg.validate();
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

std::string utc_date() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[16];
  std::strftime(text, sizeof text, "%Y-%m-%d", &utc);
  return text;
}

struct ModelResult {
  const TableModel* model;
  std::vector<const SweepRun*> runs;
};

// The PNG of model m is at png_prefix + slug + png_suffix + ".png", relative to the Markdown file.
std::string results_markdown(const Table& table, const std::vector<ModelResult>& results, const std::string& device,
                             const std::string& command, const std::string& png_prefix, const std::string& png_suffix) {
  std::string md = fmt::format("# {}\n\n", table.title);
  md += fmt::format(
      "Generated by `{}` on {}, {} ({} seeds: {}). Each model is trained by the same trainer on the paper's split "
      "with its preset's early stopping; the test metrics are those of the weights with the lowest validation "
      "MSE. Mean ± sample standard deviation over the seeds whose run finished; a diverged run counts in the "
      "\"diverged\" column and not in the means.\n\n",
      command, device, utc_date(), table.seeds.size(), fmt::join(table.seeds, ", "));
  md += "| model | test RMSE | paper RMSE | test MAE | test R² | parameters | epochs | s / epoch | diverged |\n";
  md += "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
  for (const ModelResult& r : results) {
    std::vector<double> rmse, mae, r2, params, epochs, seconds;
    int diverged = 0, failures = 0;
    for (const SweepRun* run : r.runs) {
      if (failed(*run) || skipped(*run)) {
        ++failures;
        continue;
      }
      if (run->status == "diverged") {
        ++diverged;
        continue;
      }
      rmse.push_back(metric(*run, "test_rmse"));
      mae.push_back(metric(*run, "test_mae"));
      r2.push_back(metric(*run, "test_r2"));
      params.push_back(metric(*run, "params"));
      epochs.push_back(metric(*run, "epochs"));
      seconds.push_back(metric(*run, "epoch_seconds"));
    }
    const MeanStd p = mean_std(params);
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {}{} |\n", r.model->name, cell(mean_std(rmse), "{:.3f}"),
                      r.model->paper_rmse ? fmt::format("{:.4f}", *r.model->paper_rmse) : "",
                      cell(mean_std(mae), "{:.3f}"), cell(mean_std(r2), "{:.3f}"),
                      p.count ? fmt::format("{:.0f}", p.mean) : "n/a", cell(mean_std(epochs), "{:.1f}"),
                      cell(mean_std(seconds), "{:.3g}"), fmt::format("{} of {}", diverged, r.runs.size()),
                      failures ? fmt::format(" ({} failed)", failures) : "");
  }
  md += "\n";
  for (const ModelResult& r : results)
    if (!r.model->note.empty()) md += fmt::format("- **{}**: {}\n", r.model->name, r.model->note);
  md += "\n## Validation MSE per epoch, one curve per seed\n\n";
  for (const ModelResult& r : results)
    md += fmt::format("### {}\n\n![{} validation MSE]({}{}{}.png)\n\n", r.model->name, r.model->name, png_prefix,
                      r.model->slug, png_suffix);
  md += "## Configurations\n\n";
  for (const ModelResult& r : results) {
    Config cfg = with_split_used(r.model->cfg);  // as each run's config.toml has it
    cfg.out.clear();
    md += fmt::format("### {}\n\n```toml\n{}```\n\n", r.model->name, to_toml(cfg));
  }
  return md;
}

struct TableOptions {
  std::string table_file, preset_table, out, device, doc;
  int jobs = 0;
};

int run_table(const TableOptions& options) {
  if (options.table_file.empty() == options.preset_table.empty())
    throw ConfigError("table: give either a table file or --preset-table NAME");
  const fs::path path = options.table_file.empty() ? fs::path(kTablePresetDir) / (options.preset_table + ".toml")
                                                   : fs::path(options.table_file);
  const Table table = read_table(path);
  const std::string device = resolve_sweep_device(options.device.empty() ? "auto" : options.device, "table");
  const int jobs = sweep_jobs(device, options.jobs);
  const fs::path out = options.out.empty() ? fs::path("tables") / path.stem() : fs::path(options.out);

  // Every model's seeds are points of a one-point grid; all of them go to the runners together.
  std::vector<std::vector<SweepRun>> per_model;
  std::vector<SweepRun*> todo;
  for (const TableModel& model : table.models) {
    Grid grid;
    grid.name = model.slug;
    grid.base = model.cfg;
    grid.base.device = device;
    grid.seeds = table.seeds;
    per_model.push_back(expand(grid, out / model.slug));
    for (SweepRun& r : per_model.back()) r.label = model.name + ", seed " + r.seed;  // for the progress lines
  }
  for (auto& runs : per_model)
    for (SweepRun& r : runs)
      if (!skipped(r)) todo.push_back(&r);
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec || !fs::is_directory(out))
    throw ConfigError(fmt::format("--out {}: cannot create the folder{}", out.string(), ec ? ": " + ec.message() : ""));
  fmt::print(stderr, "dynpmnn: table: {} models × {} seeds in {}, {} at a time on {}\n", table.models.size(),
             table.seeds.size(), out.string(), std::min<std::size_t>(jobs, std::max<std::size_t>(todo.size(), 1)),
             device);
  // The models share one data set: the first model's (its data, target, features and split keys).
  if (!todo.empty()) run_points(todo, load_run_data(table.models.front().cfg), jobs, device == "cuda");

  std::vector<ModelResult> results;
  std::string csv = "model,seed,status,test_rmse,test_mae,test_r2,val_mse,params,epochs,epoch_seconds,run_dir\n";
  for (std::size_t m = 0; m < table.models.size(); ++m) {
    ModelResult r{&table.models[m], {}};
    std::vector<CurveSeries> curves;
    for (const SweepRun& run : per_model[m]) {
      r.runs.push_back(&run);
      csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{}\n", csv_field(table.models[m].name), run.seed, run.status,
                         number(run.summary, "test_rmse", "{:.17g}"), number(run.summary, "test_mae", "{:.17g}"),
                         number(run.summary, "test_r2", "{:.17g}"), number(run.summary, "val_mse", "{:.17g}"),
                         number(run.summary, "params"), number(run.summary, "epochs"),
                         number(run.summary, "epoch_seconds", "{:.6g}"), csv_field(run.folder.string()));
      curves.push_back({"seed " + run.seed, val_curve(run.folder)});
    }
    write_curves_png(out / table.models[m].slug / "val_mse.png", curves, table.models[m].name + ": validation MSE",
                     "val MSE");
    results.push_back(std::move(r));
  }
  const std::string command =
      "dynpmnn table " + (options.table_file.empty() ? "--preset-table " + options.preset_table : options.table_file);
  write_file_atomically(out / "results.csv", csv);
  // results.md in OUT finds each model's curves in its folder; the doc copy keeps them beside it.
  write_file_atomically(out / "results.md", results_markdown(table, results, device, command, "", "/val_mse"));
  if (!options.doc.empty()) {
    const fs::path doc(options.doc);
    const fs::path images = doc.parent_path() / doc.stem();
    fs::create_directories(images, ec);
    if (ec) throw ConfigError(fmt::format("--doc {}: cannot create {}: {}", doc.string(), images.string(), ec.message()));
    for (const ModelResult& r : results)
      fs::copy_file(out / r.model->slug / "val_mse.png", images / (r.model->slug + ".png"),
                    fs::copy_options::overwrite_existing);
    write_file_atomically(doc, results_markdown(table, results, device, command, doc.stem().string() + "/", ""));
  }
  fmt::print(stderr, "dynpmnn: table: wrote {}{}\n", (out / "results.md").string(),
             options.doc.empty() ? "" : " and " + options.doc);

  nlohmann::ordered_json summary;
  summary["results"] = (out / "results.md").string();
  bool any_failed = false;
  for (const ModelResult& r : results) {
    std::vector<double> rmse;
    for (const SweepRun* run : r.runs) {
      any_failed = any_failed || failed(*run);
      if (!failed(*run) && !skipped(*run) && run->status != "diverged") rmse.push_back(metric(*run, "test_rmse"));
    }
    const MeanStd m = mean_std(rmse);
    summary["models"].push_back({{"name", r.model->name},
                                 {"test_rmse_mean", m.count ? nlohmann::ordered_json(m.mean) : nullptr},
                                 {"test_rmse_std", m.count ? nlohmann::ordered_json(m.std) : nullptr},
                                 {"finished", m.count},
                                 {"runs", r.runs.size()}});
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
                  "TOML file: title, seeds = [...], optional [base] keys, and [[model]] entries with name, preset, "
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
  cmd->add_option("--jobs,-j", options->jobs, "Runs at once (default: the hardware threads on the CPU, 1 on cuda)")
      ->check(CLI::PositiveNumber)
      ->type_name("N");
  cmd->add_option("--device", options->device, "cpu, cuda or auto (default auto)")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}))
      ->type_name("cpu|cuda|auto");
  return {cmd, [options] { return run_table(*options); }};
}

}  // namespace dynpmnn
