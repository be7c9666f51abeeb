// dynpmnn sweep GRID.toml: the cross product of a grid of configuration keys, one run folder per
// point (OUT/<index>-<key=value ...>) trained through the same train_run as `dynpmnn train`, several
// at once (--jobs threads, each run with its own backend: on cuda its own stream, cuBLAS handle and
// device memory, the runs sharing the one GPU), and OUT/results.csv and OUT/results.md sorted by
// validation MSE.
//
// The grid file:
//   preset = "paper-california"          # optional: the configuration to start from
//   [base]                               # optional: any key of the key table, over the preset
//   epochs = 20
//   [grid]                               # each value an array; the runs are the cross product
//   dt = [0.1, 1, 20]
//   lr = [5e-4, 1e-3]
//   seeds = [0, 1]                       # optional, top level: one run per seed of each point
// A point that Config::validate refuses (t_end not a multiple of dt, ...) is skipped, with the
// reason in the results, rather than failing the sweep.
//
// Rerunning the same command continues the sweep: a folder with final.json is not trained again
// (its final.json gives the row), one with only checkpoint.bin is resumed from that checkpoint when
// the checkpoint's configuration is the point's, and restarted otherwise.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "host/config/toml.h"

#include "data/california.h"
#include "host/runtime/backend.h"
#include "host/io/atomic_file.h"
#include "host/io/checkpoint.h"
#include "host/io/csv.h"
#include "host/cli/command.h"
#include "host/cli/mpi_world.h"
#include "host/io/train_run.h"
#include "host/config/config.h"
#include "host/config/config_io.h"
#include "host/io/run_claim.h"
#include "host/io/run_data.h"
#include "host/io/run_folder.h"
#include "host/cli/sweep.h"

namespace dynpmnn {
namespace {

namespace fs = std::filesystem;


// Keys a grid may not vary: the sweep owns the run folders and shares one data file among the runs;
// seeds have a list of their own.
constexpr std::pair<const char*, const char*> kNotInGrid[] = {
    {"out", "the sweep names each run's folder under --out"},
    {"data", "the runs share one loaded data file; set it in [base]"},
    {"device", "the sweep runs on one device; use --device or [base]"},
    {"seed", "list the seeds as seeds = [...] at the top level"},
};

std::string toml_type(const toml::node& node) {
  std::ostringstream text;
  text << node.type();
  return text.str();
}

// A TOML value as --set spells it; ConfigError where its TOML type cannot be the key's.
std::string value_text(const toml::node& node, const ConfigKey& key, const std::string& where) {
  const bool string_key = std::holds_alternative<std::string Config::*>(key.field);
  if (const auto* s = node.as_string()) {
    if (!string_key)
      throw ConfigError(fmt::format("{}: {} expects {}, got the TOML string \"{}\"", where, key.name, type_name(key),
                                    s->get()));
    return s->get();
  }
  if (string_key)
    throw ConfigError(fmt::format("{}: {} expects a string, got a TOML {}", where, key.name,
                                  toml_type(node)));
  if (const auto* i = node.as_integer()) return std::to_string(i->get());
  if (const auto* f = node.as_floating_point()) return fmt::format("{}", f->get());
  if (const auto* b = node.as_boolean()) return b->get() ? "true" : "false";
  if (const auto* a = node.as_array()) {  // a list key's value, as --set spells it: 1,2,3
    std::string text;
    for (const toml::node& element : *a) {
      const auto* i = element.as_integer();
      if (i == nullptr)
        throw ConfigError(fmt::format("{}: {} expects {}, got a TOML array holding a {}", where, key.name,
                                      type_name(key), toml_type(element)));
      text += (text.empty() ? "" : ",") + std::to_string(i->get());
    }
    return text;
  }
  throw ConfigError(fmt::format("{}: {} expects {}, got a TOML {}", where, key.name, type_name(key),
                                toml_type(node)));
}

// apply_override with the file and line in front of its message.
void apply_at(Config& cfg, const std::string& name, const std::string& text, const std::string& where) {
  try {
    apply_override(cfg, name + "=" + text);
  } catch (const ConfigError& e) {
    throw ConfigError(fmt::format("{}: {}", where, e.what()));
  }
}

const ConfigKey& known_key(const std::string& name, const std::string& where) {
  const ConfigKey* key = find_config_key(name);
  if (key == nullptr) {
    Config scratch;  // apply_override's message suggests the closest keys
    apply_at(scratch, name, "", where);
  }
  return *key;
}

}  // namespace

Grid read_grid(const fs::path& path) {
  const std::string file = path.string();
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw ConfigError(fmt::format("grid file {}: no such file", file));
  std::ifstream in(path, std::ios::binary);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  toml::table table;
  try {
    table = toml::parse(text, std::string_view(file));
  } catch (const toml::parse_error& e) {
    throw ConfigError(fmt::format("{}:{}:{}: TOML syntax error: {}", file, e.source().begin.line,
                                  e.source().begin.column, e.description()));
  }
  auto where = [&](const toml::key& k) { return fmt::format("{}:{}", file, k.source().begin.line); };

  Grid grid;
  grid.name = path.stem().string();
  if (const toml::node* p = table.get("preset")) {
    if (!p->is_string()) throw ConfigError(fmt::format("{}:{}: preset expects a string", file, p->source().begin.line));
    grid.base = preset(p->as_string()->get());
  }
  for (const auto& [k, node] : table) {
    const std::string name(k.str());
    if (name == "preset") continue;
    if (name == "base" || name == "grid") {
      if (!node.is_table()) throw ConfigError(fmt::format("{}: [{}] must be a table", where(k), name));
      continue;
    }
    if (name == "seeds") {
      const toml::array* seeds = node.as_array();
      if (seeds == nullptr || seeds->empty())
        throw ConfigError(fmt::format("{}: seeds expects a non-empty array of integers", where(k)));
      for (const toml::node& s : *seeds) {
        if (!s.is_integer() || s.as_integer()->get() < 0)
          throw ConfigError(fmt::format("{}: seeds expects a non-empty array of integers >= 0", where(k)));
        grid.seeds.push_back(std::to_string(s.as_integer()->get()));
      }
      continue;
    }
    throw ConfigError(fmt::format("{}: unknown top-level key '{}' (a grid file has preset, [base], [grid] and seeds)",
                                  where(k), name));
  }
  if (const toml::table* base = table["base"].as_table())
    for (const auto& [k, node] : *base) {
      const std::string name(k.str());
      const ConfigKey& key = known_key(name, where(k));
      if (name == "out") throw ConfigError(fmt::format("{}: out in [base]: {}", where(k), kNotInGrid[0].second));
      apply_at(grid.base, name, value_text(node, key, where(k)), where(k));
    }
  const toml::table* axes = table["grid"].as_table();
  if (axes == nullptr || axes->empty()) throw ConfigError(fmt::format("{}: no [grid] table of keys to vary", file));
  std::vector<std::pair<int, GridAxis>> ordered;
  for (const auto& [k, node] : *axes) {
    GridAxis axis{std::string(k.str()), {}};
    const ConfigKey& key = known_key(axis.key, where(k));
    for (const auto& [name, why] : kNotInGrid)
      if (axis.key == name) throw ConfigError(fmt::format("{}: {} cannot vary in [grid]: {}", where(k), name, why));
    const toml::array* values = node.as_array();
    if (values == nullptr || values->empty())
      throw ConfigError(fmt::format("{}: {} in [grid] expects a non-empty array of values", where(k), axis.key));
    for (const toml::node& v : *values) {
      axis.values.push_back(value_text(v, key, where(k)));
      Config scratch = grid.base;  // the value must parse even where the point is then skipped
      apply_at(scratch, axis.key, axis.values.back(), where(k));
    }
    ordered.emplace_back(static_cast<int>(k.source().begin.line), std::move(axis));
  }
  std::stable_sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [line, axis] : ordered) grid.axes.push_back(std::move(axis));
  return grid;
}


fs::path preset_grid_path(const std::string& name) { return preset_dir() / "sweeps" / (name + "-grid.toml"); }

SplitData without_test(SplitData data) {
  data.test.rows = 0;
  data.test.x.clear();
  data.test.y.clear();
  return data;
}

bool held(const SweepRun& r) { return r.status.rfind("held by", 0) == 0; }

bool skipped(const SweepRun& r) { return r.status.rfind("skipped", 0) == 0; }
bool failed(const SweepRun& r) { return r.status.rfind("failed", 0) == 0; }

// Letters, digits and . _ - = only, so a value (a path, a negative number) makes a plain folder name.
std::string folder_safe(std::string text) {
  for (char& c : text)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-' && c != '=') c = '_';
  return text;
}

std::vector<SweepRun> expand(const Grid& grid, const fs::path& out) {
  std::vector<std::string> seeds = grid.seeds;
  if (seeds.empty()) seeds.push_back(std::to_string(grid.base.seed));
  std::size_t total = seeds.size();
  for (const GridAxis& axis : grid.axes) total *= axis.values.size();
  const int width = static_cast<int>(std::to_string(total).size());

  std::vector<SweepRun> runs;
  std::vector<std::size_t> at(grid.axes.size(), 0);  // an odometer over the axes, the last fastest
  for (std::size_t n = 0; n < total; ++n) {
    SweepRun run;
    run.index = static_cast<int>(n) + 1;
    run.seed = seeds[n % seeds.size()];
    run.cfg = grid.base;
    std::string name;
    for (std::size_t a = 0; a < grid.axes.size(); ++a) {
      run.values.push_back(grid.axes[a].values[at[a]]);
      apply_override(run.cfg, grid.axes[a].key + "=" + run.values.back());
      const std::string pair = grid.axes[a].key + "=" + run.values.back();
      run.label += (run.label.empty() ? "" : " ") + pair;
      name += "_" + pair;
    }
    apply_override(run.cfg, "seed=" + run.seed);
    run.label += " seed=" + run.seed;
    name += "_seed=" + run.seed;
    run.folder = out / folder_safe(fmt::format("{:0{}}-{}", run.index, width, name.substr(1)));
    run.cfg.out = run.folder.string();
    try {
      run.cfg.validate();
    } catch (const ConfigError& e) {
      run.status = std::string("skipped: ") + e.what();
    }
    runs.push_back(std::move(run));
    if ((n + 1) % seeds.size() == 0)
      for (std::size_t a = grid.axes.size(); a-- > 0;) {
        if (++at[a] < grid.axes[a].values.size()) break;
        at[a] = 0;
      }
  }
  return runs;
}

namespace {

// The configuration a checkpoint continues, compared with the point's: the folder and the device
// do not change the run, nor how the split is named (a checkpoint from before split = "paper"
// existed holds the CSV default for California).
bool same_run(Config a, Config b) {
  a = with_split_used(std::move(a));
  b = with_split_used(std::move(b));
  a.out = b.out;
  a.device = b.device;
  a.checkpoint_every = b.checkpoint_every;  // when files are written, not what is computed
  return to_toml(a) == to_toml(b);
}

// A run about to train: its claim held, and the checkpoint it continues, if any.
struct Prepared {
  SweepRun* run = nullptr;
  std::optional<RunClaim> claim;
  std::optional<Checkpoint> resumed;
};

// A run's first half: read back when finished (already_finished), passed by when another process
// holds its claim, else claimed, with the checkpoint of the same configuration to resume from. Only
// a run to train comes back; every other outcome ends in run.status, and none throws.
std::optional<Prepared> prepare(SweepRun& run, bool& already_finished) {
  const fs::path final_file = run.folder / "final.json";
  const fs::path log = run.folder.parent_path() / "claims.log";
  const std::string name = run.folder.filename().string();
  auto read_back = [&] {
    std::ifstream in(final_file);
    run.summary = nlohmann::ordered_json::parse(in);
    run.status = run.summary.at("status").get<std::string>();
    already_finished = true;
  };
  try {
    if (fs::exists(final_file)) {
      read_back();
      return std::nullopt;
    }
    std::string holder;
    std::optional<RunClaim> claim = RunClaim::take(run.folder, &holder);
    if (!claim) {
      run.status = "held by " + holder;
      return std::nullopt;
    }
    if (fs::exists(final_file)) {  // finished by its holder between the two looks
      read_back();
      return std::nullopt;
    }
    log_claim_event(log, "claimed", name);
    Prepared p{&run, std::move(claim), std::nullopt};
    if (fs::exists(run.folder / "checkpoint.bin")) {
      try {
        Checkpoint ck = load_checkpoint(run.folder / "checkpoint.bin");
        if (same_run(ck.config, run.cfg) && ck.state.epoch <= run.cfg.epochs) p.resumed = std::move(ck);
      } catch (const CheckpointError&) {
        // A checkpoint cut short by the interruption: the run starts again.
      }
    }
    return p;
  } catch (const std::exception& e) {
    run.status = std::string("failed: ") + e.what();
    log_claim_event(log, "failed", name);
    return std::nullopt;
  }
}

// A run's second half: its outcome recorded (and logged), its claim released by the caller.
void record(SweepRun& run, const TrainRunResult* result, const std::string& error) {
  const fs::path log = run.folder.parent_path() / "claims.log";
  const std::string name = run.folder.filename().string();
  if (result == nullptr) {
    run.status = "failed: " + error;
    log_claim_event(log, "failed", name);
    return;
  }
  run.summary = result->summary;
  run.status = run.summary.at("status").get<std::string>();
  log_claim_event(log, "finished " + run.status, name);
}

// Trains (or resumes, or reads back) one run alone; every outcome ends in run.status, none throws.
void execute(SweepRun& run, const SplitData& data, bool& already_finished) {
  std::optional<Prepared> p = prepare(run, already_finished);
  if (!p) return;
  try {
    const TrainRunResult result = train_run(run.cfg, data, std::move(p->resumed), RunOutput::kSilent);
    record(run, &result, "");
  } catch (const std::exception& e) {
    record(run, nullptr, e.what());
  }
}

}  // namespace

std::string number(const nlohmann::ordered_json& summary, const char* key, const char* format) {
  if (!summary.contains(key)) return "";  // a skipped or failed run
  const auto& v = summary[key];
  if (v.is_number_integer() || v.is_number_unsigned()) return fmt::format("{}", v.get<long long>());
  // A diverged run's NaN: null once final.json has been read back.
  if (v.is_null() || !std::isfinite(v.get<double>())) return "nan";
  return fmt::format(fmt::runtime(format), v.get<double>());
}

namespace {

// The columns of the results and the key they are ranked by: the validation MSE and test RMSE,
// MAE and R² for regression; the validation cross-entropy and test accuracy and macro F1 for
// classification (what final.json holds for each task).
struct ResultMetrics {
  const char* val_key;
  const char* test_key;  // the one test metric of the progress lines
  std::vector<const char*> columns;
};

ResultMetrics metrics_for(const Config& cfg) {
  if (cfg.task == "classification")
    return {"val_loss", "test_accuracy", {"val_loss", "test_accuracy", "test_f1", "params", "epochs", "epoch_seconds"}};
  return {"val_mse", "test_rmse", {"val_mse", "test_rmse", "test_mae", "test_r2", "params", "epochs", "epoch_seconds"}};
}

// Finished runs by validation loss, then the diverged (by validation loss too: their best weights
// were saved), the failed, and the skipped last, each in grid order on ties.
void sort_results(std::vector<SweepRun>& runs, const char* val_key) {
  // Finished, then diverged, then not run here (held by another process, another shard), failed, skipped.
  auto rank = [](const SweepRun& r) {
    if (skipped(r)) return 4;
    if (failed(r)) return 3;
    if (r.status == "diverged") return 1;
    return r.status == "ok" || r.status == "early_stopped" ? 0 : 2;
  };
  auto val = [&](const SweepRun& r) {
    const double v = r.summary.contains(val_key) && r.summary[val_key].is_number() ? r.summary[val_key].get<double>()
                                                                                  : std::numeric_limits<double>::quiet_NaN();
    return std::isfinite(v) ? v : std::numeric_limits<double>::infinity();
  };
  std::stable_sort(runs.begin(), runs.end(), [&](const SweepRun& a, const SweepRun& b) {
    if (rank(a) != rank(b)) return rank(a) < rank(b);
    if (val(a) != val(b)) return val(a) < val(b);
    return a.index < b.index;
  });
}

std::vector<std::string> header(const Grid& grid) {
  std::vector<std::string> h{"run"};
  for (const GridAxis& axis : grid.axes) h.push_back(axis.key);
  h.insert(h.end(), {"seed", "status"});
  const ResultMetrics m = metrics_for(grid.base);
  h.insert(h.end(), m.columns.begin(), m.columns.end());
  return h;
}

std::vector<std::string> row(const Grid& grid, const SweepRun& r, const char* format) {
  std::vector<std::string> cells{r.folder.filename().string()};
  cells.insert(cells.end(), r.values.begin(), r.values.end());
  cells.insert(cells.end(), {r.seed, r.status});
  for (const char* key : metrics_for(grid.base).columns) cells.push_back(number(r.summary, key, format));
  return cells;
}

std::string results_csv(const Grid& grid, const std::vector<SweepRun>& runs) {
  std::string text;
  auto line = [&](const std::vector<std::string>& cells) {
    for (std::size_t i = 0; i < cells.size(); ++i) text += (i ? "," : "") + csv_field(cells[i]);
    text += "\n";
  };
  line(header(grid));
  for (const SweepRun& r : runs) line(row(grid, r, "{:.17g}"));
  return text;
}

std::string results_md(const Grid& grid, const std::vector<SweepRun>& runs) {
  std::string text = fmt::format("# Sweep {}: {} runs, sorted by {}\n\n", grid.name, runs.size(),
                                 metrics_for(grid.base).val_key == std::string("val_mse") ? "validation MSE"
                                                                                          : "validation loss");
  auto line = [&](const std::vector<std::string>& cells) {
    text += "|";
    for (std::string cell : cells) {
      std::string escaped;
      for (char c : cell) escaped += c == '|' ? std::string("\\|") : std::string(1, c);
      text += " " + escaped + " |";
    }
    text += "\n";
  };
  const std::vector<std::string> h = header(grid);
  line(h);
  line(std::vector<std::string>(h.size(), "---"));
  for (const SweepRun& r : runs) line(row(grid, r, "{:.4g}"));
  return text;
}

// A run's expected cost, to hand the longest out first over ranks: epochs × the neuron steps of a
// DynPMNN (layers × neurons × t_end / dt, the factor that spans 1000× in the paper's grid); the
// baselines count as one unit per epoch. Only the order matters.
double expected_cost(const Config& cfg) {
  double per_epoch = 1;
  if (cfg.model == "dynpmnn" && cfg.dt > 0) per_epoch += double(cfg.layers) * cfg.neurons * (cfg.t_end / cfg.dt);
  return cfg.epochs * per_epoch;
}

struct SweepOptions {
  std::string grid_file, preset_grid, out, device;
  int jobs = 0;  // 0: the hardware threads
  bool withhold_test = false;
  std::string shard;  // "i/n": the runs whose index is i modulo n (1-based), for job arrays
  bool list = false;  // print the points and what would become of each, train nothing
  std::string population = "auto";  // auto | off (run_points)
};

struct Shard {
  int i = 1, n = 1;
};

// "i/n" with 1 <= i <= n; ConfigError naming the value otherwise.
Shard parse_shard(const std::string& text) {
  Shard s;
  char slash = 0, rest = 0;
  std::istringstream in(text);
  if (!(in >> s.i >> slash >> s.n) || slash != '/' || (in >> rest) || s.n < 1 || s.i < 1 || s.i > s.n)
    throw ConfigError(fmt::format("--shard '{}': expected i/n with 1 <= i <= n (e.g. 2/4)", text));
  return s;
}

bool finished_run(const SweepRun& r) { return r.status == "ok" || r.status == "early_stopped" || r.status == "diverged"; }

int run_sweep(SweepOptions options) {
  if (options.grid_file.empty() == options.preset_grid.empty())
    throw ConfigError("sweep: give either a grid file or --preset-grid NAME");
  const fs::path grid_path = options.grid_file.empty()
                                 ? preset_grid_path(options.preset_grid)
                                 : fs::path(options.grid_file);
  if (!options.preset_grid.empty() && !fs::is_regular_file(grid_path))
    throw ConfigError(fmt::format("--preset-grid {}: there is no {}", options.preset_grid, grid_path.string()));
  const MpiWorld& world = mpi_world();
  Grid grid = read_grid(grid_path);
  if (!options.device.empty()) grid.base.device = options.device;
  grid.base.device = resolve_sweep_device(grid.base.device, "sweep");
  // Over ranks on the CPU, the machine's threads are shared by its ranks unless --jobs says otherwise.
  const int jobs = world.size > 1 && options.jobs == 0 && grid.base.device == "cpu"
                       ? std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / world.local_size)
                       : sweep_jobs(grid.base.device, options.jobs, population_mode_from_string(options.population));
  const fs::path out = options.out.empty() ? fs::path("sweeps") / grid.name : fs::path(options.out);
  std::vector<SweepRun> runs = expand(grid, out);

  // A shard trains its share of the runs; the others' rows are read back where they have finished.
  const Shard shard = options.shard.empty() ? Shard{} : parse_shard(options.shard);
  std::vector<SweepRun*> todo;
  for (SweepRun& r : runs) {
    if (skipped(r)) {
      if (!options.list)
        fmt::print(stderr, "dynpmnn: sweep: {} skipped: {}\n", r.label, r.status.substr(std::string("skipped: ").size()));
    } else if ((r.index - 1) % shard.n != shard.i - 1) {
      r.status = fmt::format("in another shard (not {}/{})", shard.i, shard.n);
      const fs::path final_file = r.folder / "final.json";
      std::error_code ec;
      if (fs::exists(final_file, ec)) {
        std::ifstream in(final_file);
        r.summary = nlohmann::ordered_json::parse(in, nullptr, false);
        if (r.summary.is_object() && r.summary.contains("status")) r.status = r.summary["status"].get<std::string>();
      }
    } else {
      todo.push_back(&r);
    }
  }
  if (options.list) {
    // One line per point, tab-separated: index, label, and skipped (with the reason), in another
    // shard, finished (final.json in its folder) or to train. Nothing is written.
    // With populations, a point to train also says which population it would train in (the
    // grouping rule of plan_populations, before any split for memory) and its step class.
    if (world.rank != 0) return kExitOk;
    std::error_code exists_ec;
    std::vector<std::string> population_of(runs.size());
    std::size_t populations = 0;
    if (population_mode_from_string(options.population) == PopulationMode::kAuto) {
      std::vector<Config> cfgs;
      std::vector<std::size_t> at;
      for (std::size_t i = 0; i < runs.size(); ++i)
        if (runs[i].status.empty() && !fs::exists(runs[i].folder / "final.json", exists_ec)) {
          cfgs.push_back(runs[i].cfg);
          at.push_back(i);
        }
      const auto plan = plan_populations(cfgs, kMaxPopulation);
      populations = plan.size();
      for (std::size_t p = 0; p < plan.size(); ++p)
        for (std::size_t k : plan[p])
          population_of[at[k]] = fmt::format("\tpopulation {} of {} (step class {})", p + 1, plan[p].size(),
                                             step_class(cfgs[k]));
    }
    for (std::size_t i = 0; i < runs.size(); ++i) {
      const SweepRun& r = runs[i];
      std::cout << fmt::format("{}\t{}\t{}{}\n", r.index, r.label,
                               !r.status.empty() ? r.status
                               : fs::exists(r.folder / "final.json", exists_ec) ? "finished" : "to train",
                               population_of[i]);
    }
    fmt::print(stderr, "dynpmnn: sweep: {} points, {} skipped, {} to train or finished here{}\n", runs.size(),
               std::count_if(runs.begin(), runs.end(), skipped), todo.size(),
               populations ? fmt::format("; the points to train form {} populations (one architecture, batch size "
                                         "and step class each)", populations)
                           : std::string());
    return kExitOk;
  }
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec || !fs::is_directory(out))
    throw ConfigError(fmt::format("--out {}: cannot create the folder{}", out.string(), ec ? ": " + ec.message() : ""));
  if (world.rank == 0)
    fmt::print(stderr, "dynpmnn: sweep: {} runs ({} skipped) in {}, {} at a time on {}{}\n", runs.size(),
               runs.size() - todo.size(), out.string(),
               std::min<std::size_t>(jobs, std::max<std::size_t>(todo.size(), 1)), grid.base.device,
               world.size > 1 ? fmt::format(" in each of {} MPI ranks", world.size) : "");

  std::optional<SplitData> data;
  if (!todo.empty()) data = load_run_data(grid.base);
  if (data && options.withhold_test) data = without_test(std::move(*data));

  const bool on_cuda = grid.base.device == "cuda";
  if (world.size == 1) {
    if (data) run_points(todo, *data, jobs, on_cuda, population_mode_from_string(options.population));
  } else {
    // Over ranks: rank 0 hands the runs out, longest expected cost first, so that no long run starts
    // last; every rank trains with its own threads (or its local GPU) and writes its run folders.
    std::stable_sort(todo.begin(), todo.end(), [](const SweepRun* a, const SweepRun* b) {
      return expected_cost(a->cfg) > expected_cost(b->cfg);
    });
    const int device = on_cuda ? world.local_rank % std::max(1, cuda_device_count()) : -1;
    const std::string who = fmt::format("rank {}: ", world.rank);
    if (world.rank != 0) {
      if (data)
        run_from([&]() -> SweepRun* {
          const long i = RunDispatcher::next_remote();
          return i < 0 ? nullptr : todo[static_cast<std::size_t>(i)];
        }, todo.size(), *data, jobs, on_cuda, device, who);
      RunDispatcher::done_remote();
      barrier_politely(world);  // asleep while rank 0 trains its last runs
      return kExitOk;           // rank 0 writes the results
    }
    RunDispatcher dispatcher(todo.size());
    std::thread server([&] { dispatcher.serve(world); });
    if (data)
      run_from([&]() -> SweepRun* {
        const long i = dispatcher.next_local();
        return i < 0 ? nullptr : todo[static_cast<std::size_t>(i)];
      }, todo.size(), *data, jobs, on_cuda, device, who);
    server.join();
    barrier_politely(world);
    // The runs the other ranks trained, from their folders.
    for (SweepRun* r : todo) {
      if (!r->status.empty()) continue;
      const fs::path final_file = r->folder / "final.json";
      std::ifstream in(final_file);
      r->summary = nlohmann::ordered_json::parse(in, nullptr, false);
      if (r->summary.is_object() && r->summary.contains("status"))
        r->status = r->summary["status"].get<std::string>();
      else
        r->status = "failed: no final.json after every rank ended (rerun the sweep to finish it)";
    }
  }

  const ResultMetrics metrics = metrics_for(grid.base);
  sort_results(runs, metrics.val_key);
  const fs::path csv = out / "results.csv", md = out / "results.md";
  write_file_atomically(csv, results_csv(grid, runs));
  write_file_atomically(md, results_md(grid, runs));

  const auto count = [&](auto pred) { return std::count_if(runs.begin(), runs.end(), pred); };
  const auto n_skipped = count(skipped);
  const auto n_failed = count(failed);
  const auto n_diverged = count([](const SweepRun& r) { return r.status == "diverged"; });
  const auto n_held = count(held);
  const auto n_finished = count(finished_run);
  nlohmann::ordered_json summary;
  summary["runs"] = runs.size();
  summary["finished"] = n_finished;
  summary["skipped"] = n_skipped;
  summary["diverged"] = n_diverged;
  summary["failed"] = n_failed;
  summary["held"] = n_held;  // trained by another process now
  summary["not_run"] = static_cast<long long>(runs.size()) - n_finished - n_skipped - n_failed - n_held;
  const SweepRun& best = runs.front();  // a grid has at least one point
  auto metric_or_null = [&](const char* key) {
    return best.summary.contains(key) ? best.summary[key] : nlohmann::ordered_json(nullptr);
  };
  if (finished_run(best) && best.status != "diverged")
    summary["best"] = {{"run", best.folder.filename().string()},
                       {metrics.val_key, metric_or_null(metrics.val_key)},
                       {metrics.test_key, metric_or_null(metrics.test_key)}};
  else
    summary["best"] = nullptr;
  summary["results"] = {{"csv", csv.string()}, {"md", md.string()}};
  if (n_held > 0)
    fmt::print(stderr, "dynpmnn: sweep: {} runs are being trained by another process (their folder's claim.lock "
                       "says which); rerun this command when it ends to collect them\n", n_held);
  fmt::print(stderr, "dynpmnn: sweep: {} finished ({} diverged), {} skipped, {} failed; best {}; {}\n",
             n_finished, n_diverged, n_skipped, n_failed,
             summary["best"].is_null() ? std::string("none")
                                       : fmt::format("{} ({} {:.4g})", best.label, metrics.val_key,
                                                     best.summary.value(metrics.val_key, 0.0)),
             md.string());
  std::cout << summary.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << std::endl;
  return n_failed > 0 ? kExitUnexpected : kExitOk;
}

}  // namespace

std::string resolve_sweep_device(const std::string& device, const char* command) {
  std::string why;
  if (device == "auto") {
    const std::string chosen = cuda_available(&why) ? "cuda" : "cpu";
    fmt::print(stderr, "dynpmnn: {}: device auto: using {}{}\n", command, chosen, why.empty() ? "" : ": " + why);
    return chosen;
  }
  if (device == "cuda" && !cuda_available(&why)) throw ConfigError("device = 'cuda' but " + why);
  return device;
}

int sweep_jobs(const std::string& device, int asked, PopulationMode mode) {
  // On cuda one run at a time unless asked: each concurrent run holds its own device memory. With
  // populations, kCudaPopulationJobs populations at once, each on its own stream: a fused
  // population of tiny models is one block a model, too few to fill the GPU alone.
  if (asked > 0) return asked;
  if (device == "cuda") return mode == PopulationMode::kAuto ? kCudaPopulationJobs : 1;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

PopulationMode population_mode_from_string(const std::string& text) {
  if (text == "auto") return PopulationMode::kAuto;
  if (text == "off") return PopulationMode::kOff;
  throw ConfigError(fmt::format("--population '{}' (expected auto or off)", text));
}

namespace {

// One progress line for a run that ended (or was read back, or failed).
void print_outcome(const std::string& who, std::size_t done, std::size_t total, const SweepRun& r, bool already,
                   double seconds, const std::string& note) {
  const ResultMetrics m = metrics_for(r.cfg);
  // A run of a search trained without the test split: say so rather than print an empty metric.
  const bool withheld = r.summary.is_object() && r.summary.value("test", "") == "withheld";
  const std::string test = withheld ? std::string("withheld") : number(r.summary, m.test_key, "{:.4g}");
  if (already)
    fmt::print(stderr, "{}[{}/{}] {}: already finished ({}), {} {} {} {}\n", who, done, total, r.label, r.status,
               m.val_key, number(r.summary, m.val_key, "{:.4g}"), m.test_key, test);
  else if (failed(r) || held(r))
    fmt::print(stderr, "{}[{}/{}] {}: {}\n", who, done, total, r.label, r.status);
  else
    fmt::print(stderr, "{}[{}/{}] {}: {} {} {} {} {} {:.1f} s{}\n", who, done, total, r.label, r.status, m.val_key,
               number(r.summary, m.val_key, "{:.4g}"), m.test_key, test, seconds, note);
}

// run_points with populations: the runs planned into populations (plan_populations), costliest
// first, and the populations trained by `jobs` threads, each population with jobs / (populations at
// once) threads of its own for its models. A population's runs are prepared (read back, passed by,
// or claimed) when it starts, so that claims are held only while their runs train (another sweep
// on the folder takes the other populations) and a grid of thousands never holds thousands of lock
// files open.
void run_populations(const std::vector<SweepRun*>& todo, const SplitData& data, int jobs) {
  if (todo.empty()) return;
  std::mutex print;
  std::size_t done = 0;
  const std::size_t total = todo.size();
  std::vector<Config> cfgs;
  for (const SweepRun* r : todo) cfgs.push_back(r->cfg);
  std::vector<std::vector<std::size_t>> plan = plan_populations(cfgs, population_capacity(cfgs.front(), data));
  // The costliest populations first (the longest-processing-time rule), so that none starts last
  // and leaves the other threads idle.
  const auto cost = [&](const std::vector<std::size_t>& members) {
    double sum = 0;
    for (std::size_t i : members) sum += expected_cost(cfgs[i]);
    return sum;
  };
  std::stable_sort(plan.begin(), plan.end(), [&](const auto& a, const auto& b) { return cost(a) > cost(b); });
  const int workers = std::max(1, std::min<int>(jobs, static_cast<int>(plan.size())));
  const int threads = std::max(1, jobs / workers);

  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t g; (g = next++) < plan.size();) {
      std::vector<Prepared> ready;
      for (std::size_t i : plan[g]) {
        bool already = false;
        std::optional<Prepared> p = prepare(*todo[i], already);
        if (p) {
          ready.push_back(std::move(*p));
          continue;
        }
        const std::lock_guard lock(print);
        print_outcome("", ++done, total, *todo[i], already, 0, "");
      }
      if (ready.empty()) continue;
      std::vector<Config> group;
      std::vector<std::optional<Checkpoint>> resumed;
      for (Prepared& p : ready) {
        group.push_back(p.run->cfg);
        resumed.push_back(std::move(p.resumed));
      }
      const auto start = std::chrono::steady_clock::now();
      std::vector<TrainRunResult> results;
      std::string error;
      try {
        results = train_runs(group, data, std::move(resumed), RunOutput::kSilent, threads);
      } catch (const std::exception& e) {
        error = e.what();
        if (ready.size() > 1) error += fmt::format(" (in a population of {})", ready.size());
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const std::string note = ready.size() > 1 ? fmt::format(" (population of {})", ready.size()) : "";
      for (std::size_t k = 0; k < ready.size(); ++k) {
        record(*ready[k].run, results.empty() ? nullptr : &results[k], error);
        ready[k].claim.reset();
        const std::lock_guard lock(print);
        print_outcome("", ++done, total, *ready[k].run, false, seconds, note);
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < workers; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
}

}  // namespace

void run_points(const std::vector<SweepRun*>& todo, const SplitData& data, int jobs, bool on_cuda,
                PopulationMode mode) {
  if (mode == PopulationMode::kAuto) return run_populations(todo, data, jobs);
  std::atomic<std::size_t> next{0};
  run_from([&]() -> SweepRun* {
    const std::size_t i = next++;
    return i < todo.size() ? todo[i] : nullptr;
  }, todo.size(), data, jobs, on_cuda);
}

void run_from(const std::function<SweepRun*()>& next, std::size_t total, const SplitData& data, int jobs,
              bool on_cuda, int cuda_device, const std::string& who) {
  std::mutex print;
  std::size_t done = 0;
  auto worker = [&] {
    if (on_cuda && cuda_device >= 0) select_cuda_device(cuda_device);  // per thread
    for (SweepRun* run; (run = next()) != nullptr;) {
      SweepRun& r = *run;
      const auto start = std::chrono::steady_clock::now();
      bool already = false;
      execute(r, data, already);
      if (on_cuda && jobs > 1 && failed(r) && r.status.find("out of memory") != std::string::npos)
        r.status += fmt::format(" (--jobs {}: that many runs share the GPU; lower --jobs)", jobs);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const std::lock_guard lock(print);
      print_outcome(who, ++done, total, r, already, seconds, "");
    }
  };
  std::vector<std::thread> threads;
  // With a dispatcher the total is not this process's share: every thread asks until it gets none.
  for (int t = 1; t < std::min<int>(jobs, static_cast<int>(std::max<std::size_t>(total, 1))); ++t)
    threads.emplace_back(worker);
  worker();
  for (std::thread& t : threads) t.join();

}

Command add_sweep_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "sweep", "Train every point of a grid of configuration keys (GRID.toml), one run folder each, and rank them");
  auto options = std::make_shared<SweepOptions>();
  cmd->add_option("grid", options->grid_file,
                  "TOML file: optional preset = \"NAME\", a [base] table of keys, a [grid] table of arrays of values "
                  "(the runs are their cross product) and optional seeds = [...]")
      ->type_name("GRID.toml");
  cmd->add_option("--preset-grid", options->preset_grid,
                  "Use models/presets/sweeps/NAME-grid.toml instead of a grid file (paper-full: the paper's 2304-point grid; paper-full-imex: the same with the semi-implicit step)")
      ->type_name("NAME");
  cmd->add_option("--out", options->out,
                  "Folder of the run folders and results (default sweeps/<grid name>); rerunning with the same one "
                  "skips finished runs and resumes interrupted ones")
      ->type_name("DIR");
  cmd->add_option("--jobs,-j", options->jobs,
                  "Runs at once (default: the hardware threads on cpu; on cuda 1, or with populations 8 populations "
                  "at once; on cuda each run or population has its own stream and device memory on the one GPU)")
      ->check(CLI::PositiveNumber)
      ->type_name("N");
  cmd->add_option("--device", options->device, "cpu, cuda or auto (default: the grid's, else auto)")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}))
      ->type_name("cpu|cuda|auto");
  cmd->add_option("--shard", options->shard,
                  "Train only the runs whose index is i modulo n (for a job array of n tasks); the others' rows are "
                  "read back where finished, and a rerun without --shard collects every shard's")
      ->type_name("i/n");
  cmd->add_flag("--list", options->list,
                "Print every point (index, keys, and skipped with the reason, in another shard, finished or to "
                "train) on stdout and train nothing");
  cmd->add_option("--population", options->population,
                  "auto: train compatible points together as populations (docs/populations.md), each point with the "
                  "results it has alone; off: each point on its own (--jobs at a time). Over MPI ranks each rank "
                  "trains its points one at a time")
      ->check(CLI::IsMember({"auto", "off"}))
      ->type_name("auto|off");
  cmd->add_flag("--withhold-test", options->withhold_test,
                "Train without the test split and report no test metric, as a model search should (choose on "
                "validation, then `dynpmnn eval RUN` the chosen run)");
  return {cmd, [options] { return run_sweep(*options); }};
}

}  // namespace dynpmnn
