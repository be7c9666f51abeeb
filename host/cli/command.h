// What every dynpmnn subcommand shares: exit codes and the Command record that main.cpp's list
// holds. A subcommand lives in its own host/cli/<name>_command.cpp (or in main.cpp for the first
// ones) as `Command add_<name>_command(CLI::App&)`, declared here and listed in run_cli.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace dynpmnn {

enum ExitCode : int {
  kExitOk = 0,           // trained (finished or stopped early)
  kExitUnexpected = 1,   // a bug or an environment failure (disk full, ...)
  kExitBadInput = 2,     // bad command line, configuration or data file
  kExitDiverged = 3,     // training diverged; the best weights so far are saved
};

// A subcommand: its CLI11 app and what runs it once the command line is parsed.
struct Command {
  CLI::App* app;
  std::function<int()> run;
};

// dynpmnn inspect RUN_DIR: PNGs of the best model's FHN layers (host/cli/inspect_command.cpp).
Command add_inspect_command(CLI::App& app);
// dynpmnn report SWEEP_DIR... --doc FILE.md: top runs and a dt x t_end heatmap of finished sweeps
// (host/cli/report_command.cpp).
Command add_report_command(CLI::App& app);
// dynpmnn sweep GRID.toml: one run folder per point of a grid of keys, and a results table
// (host/cli/sweep_command.cpp).
Command add_sweep_command(CLI::App& app);
// dynpmnn table TABLE.toml: several models over several seeds, mean ± std per model
// (host/cli/table_command.cpp).
Command add_table_command(CLI::App& app);

}  // namespace dynpmnn
