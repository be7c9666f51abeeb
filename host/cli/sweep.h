// What `dynpmnn sweep` (host/cli/sweep_command.cpp) and `dynpmnn table` (table_command.cpp) share:
// a grid's points as run folders, trained through train_run (or resumed, or read back) several at
// once, and the formatting of their results.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/california.h"
#include "host/config/config.h"
#include "host/training/population_plan.h"

namespace dynpmnn {

struct GridAxis {
  std::string key;
  std::vector<std::string> values;  // as --set spells them
};

struct Grid {
  std::string name;  // the file's stem: the default --out is sweeps/<name>
  Config base;
  std::vector<GridAxis> axes;      // in the file's order
  std::vector<std::string> seeds;  // empty: the base configuration's seed only
};

// One point of the grid and, once it has run, its row of the results.
struct SweepRun {
  int index = 0;  // 1-based
  std::vector<std::string> values;  // one per axis
  std::string seed;
  std::string label;  // "dt=0.1 t_end=2 seed=0"
  std::filesystem::path folder;
  Config cfg;
  std::string status;  // ok, early_stopped, diverged, "skipped: <why>", "failed: <why>", "held by <who>"
  nlohmann::ordered_json summary;  // final.json; empty unless it ran
};

// models/presets/sweeps/NAME-grid.toml, what --preset-grid NAME reads.
std::filesystem::path preset_grid_path(const std::string& name);

// A grid file: optional preset, [base] keys, [grid] axes and seeds. Throws ConfigError naming the
// file, line and key of what it cannot take.
Grid read_grid(const std::filesystem::path& path);

// The data with the test split emptied: a search trains and ranks on it, so that no test metric is
// computed for a configuration that is not then chosen (the trainer skips the test evaluation of
// an empty split and final.json says "test": "withheld").
SplitData without_test(SplitData data);

bool skipped(const SweepRun& r);
// Another process held the run's claim (host/io/run_claim.h): not trained here, not finished.
bool held(const SweepRun& r);
bool failed(const SweepRun& r);

// Letters, digits and . _ - = only, so a value (a path, a negative number) makes a plain folder name.
std::string folder_safe(std::string text);

// The grid's points (cross product of the axes, then the seeds), each with its folder under `out`
// and its validated configuration; a point Config::validate refuses is marked skipped.
std::vector<SweepRun> expand(const Grid& grid, const std::filesystem::path& out);

// How a sweep or table trains its points (--population): in populations of compatible points
// (host/runtime/population.h, docs/populations.md), or each alone.
enum class PopulationMode { kAuto, kOff };
PopulationMode population_mode_from_string(const std::string& text);  // ConfigError naming it

// Trains every run of `todo`, one progress line on stderr as each ends: a folder with final.json
// is read back, one with a checkpoint of the same configuration is resumed. With populations
// (kAuto) the runs to train are grouped by plan_populations and each population trains as one
// (train_runs), `jobs` threads among the populations and their models; off, `jobs` runs at a time
// (on cuda each with its own backend, stream and memory).
void run_points(const std::vector<SweepRun*>& todo, const SplitData& data, int jobs, bool on_cuda,
                PopulationMode mode = PopulationMode::kAuto);
// The same for runs handed out one at a time by `next` (null: no more; called from several
// threads): a sweep over MPI ranks. `total` is the number of runs of the whole sweep, for the
// progress lines, which start with `who` ("rank 1: "); cuda_device >= 0 is the device every
// worker thread selects.
void run_from(const std::function<SweepRun*()>& next, std::size_t total, const SplitData& data, int jobs,
              bool on_cuda, int cuda_device = -1, const std::string& who = "");

// "auto" becomes "cuda" or "cpu" (said on stderr); "cuda" without a device is a ConfigError.
std::string resolve_sweep_device(const std::string& device, const char* command);
// Populations a cuda sweep or table trains at once by default (--population auto).
inline constexpr int kCudaPopulationJobs = 8;

// Runs at once: `asked`, else the hardware threads on the CPU, and on cuda 1 (kCudaPopulationJobs
// populations with mode kAuto).
int sweep_jobs(const std::string& device, int asked, PopulationMode mode);

// A metric of final.json as text ("" when absent, "nan" when not finite).
std::string number(const nlohmann::ordered_json& summary, const char* key, const char* format = "{:.6g}");

}  // namespace dynpmnn
