// dynpmnn: the command-line front end. Each subcommand is one add_<name>_command function that
// registers its options on the app and returns the function that runs it once the command line
// is parsed; main parses, runs the chosen one and maps errors to exit codes. New subcommands
// (eval, predict, sweep, inspect) go beside add_train_command and into main's list.
//
// stdout carries only the final JSON object (one line), so scripts can read the last line; every
// message and the progress go to stderr.
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "data/california.h"
#include "host/backend.h"
#include "host/config.h"
#include "host/config_io.h"
#include "host/progress.h"
#include "host/run_folder.h"
#include "host/trainer.h"
#include "models/dynpmnn.h"

namespace dynpmnn {
namespace {

// Must match project(VERSION) in CMakeLists.txt; tests/test_cli.cpp checks that it does.
constexpr const char* kVersion = "0.1.0";

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

// The keys with a flag of their own (--epochs N is --set epochs=N), for what is changed most
// often, with the flag's value name.
constexpr std::pair<const char*, const char*> kFlagKeys[] = {
    {"epochs", "N"}, {"seed", "S"}, {"device", "cpu|cuda|auto"}, {"out", "DIR"}, {"data", "PATH"}};

std::unique_ptr<Backend> make_backend(const std::string& device, const ModelSpec& spec, const TrainHyper& hyper) {
  if (device == "cpu") return make_cpu_backend(spec, hyper);
  std::string why;
  const bool cuda = cuda_available(&why);
  if (device == "cuda") {
    if (!cuda) throw ConfigError("device = 'cuda' but " + why);
    return make_cuda_backend(spec, hyper);
  }
  fmt::print(stderr, "dynpmnn: device auto: using {}{}\n", cuda ? "cuda" : "cpu", why.empty() ? "" : ": " + why);
  return cuda ? make_cuda_backend(spec, hyper) : make_cpu_backend(spec, hyper);
}

struct TrainOptions {
  std::string preset;
  std::string config_file;
  bool quiet = false;
  // --set and the per-key flags, as "key=value" in command-line order (later wins).
  std::vector<std::string> overrides;
};

int run_train(const TrainOptions& options) {
  Config cfg = resolve_config(options.preset, options.config_file, options.overrides);
  cfg.validate();
  const SplitData data = load_california(cfg.data);
  const ModelSpec spec = cfg.model_spec(data.train.features, data.train.targets);
  const ParamTable table(spec);
  std::vector<double> params(table.total());
  init_params(spec, table, cfg.seed, params);

  TrainHyper hyper;
  hyper.batch_size = cfg.batch_size;
  hyper.adam.lr = cfg.lr;
  hyper.adam.weight_decay = cfg.weight_decay;
  hyper.seed = cfg.seed;
  const std::unique_ptr<Backend> backend = make_backend(cfg.device, spec, hyper);
  backend->set_data(data);

  RunFolder folder(cfg, table);
  ProgressPrinter progress(stderr, progress_style_for(stderr));
  std::vector<TrainObserver*> observers{&folder};
  if (!options.quiet) observers.push_back(&progress);
  ObserverList observer(std::move(observers));
  const TrainReport report = train_model(cfg, spec, *backend, data, params, &observer);
  progress.finish();

  const bool diverged = report.divergence.diverged;
  const std::string divergence_message = diverged ? explain_divergence(report.divergence, spec) : std::string();
  if (diverged) fmt::print(stderr, "dynpmnn: {}\n", divergence_message);
  const auto summary = final_summary(report, folder.path(), divergence_message);
  folder.finish(summary, report, params,
                fmt::format("{} seed {} ({})", cfg.preset.empty() ? "run" : cfg.preset, cfg.seed, report.backend));
  if (!options.quiet) fmt::print(stderr, "dynpmnn: run folder {}\n", folder.path().string());
  std::cout << summary.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << std::endl;
  return diverged ? kExitDiverged : kExitOk;
}

Command add_train_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("train", "Train a DynPMNN on California Housing and write a run folder");
  auto options = std::make_shared<TrainOptions>();
  cmd->add_option("--preset", options->preset,
                  fmt::format("Start from models/presets/NAME.toml ({})", fmt::join(preset_names(), ", ")))
      ->type_name("NAME");
  cmd->add_option("--config", options->config_file, "TOML file of keys (listed below), applied over the preset")
      ->type_name("FILE");
  // Values are taken in command-line order below, so these options keep every occurrence.
  std::map<const CLI::Option*, std::string> key_of;  // "" for --set
  key_of[cmd->add_option("--set")
             ->description("Set any key listed below; repeatable; applied after --config, in order")
             ->type_name("KEY=VALUE")
             ->expected(1)
             ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)] = "";
  for (const auto& [name, value_name] : kFlagKeys) {
    const ConfigKey& key = *find_config_key(name);
    key_of[cmd->add_option(fmt::format("--{}", name))
               ->description(fmt::format("{} (--set {}=VALUE)", key.help, name))
               ->type_name(value_name)
               ->expected(1)
               ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)] = name;
  }
  cmd->add_flag("--quiet,-q", options->quiet, "No progress on stderr");
  cmd->footer(
      "Configuration keys and their defaults (precedence: --preset < --config < --set and the flags\n"
      "above, in command-line order):\n\n" +
      describe_config_keys());

  return {cmd, [cmd, options, key_of] {
    std::map<const CLI::Option*, std::size_t> taken;
    for (const CLI::Option* opt : cmd->parse_order()) {
      const auto it = key_of.find(opt);
      if (it == key_of.end()) continue;
      const std::string& value = opt->results().at(taken[opt]++);
      options->overrides.push_back(it->second.empty() ? value : it->second + "=" + value);
    }
    return run_train(*options);
  }};
}

int run_cli(int argc, char** argv) {
  CLI::App app{"dynpmnn: Dynamical Physics-Modeled Neural Networks (FitzHugh-Nagumo neurons) on California Housing",
               "dynpmnn"};
  app.set_version_flag("--version", fmt::format("dynpmnn {}", kVersion));
  app.require_subcommand(1);
  const std::vector<Command> commands = {add_train_command(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and --version are "errors" with exit code 0; the rest are bad command lines.
    return app.exit(e) == 0 ? kExitOk : kExitBadInput;
  }
  for (const Command& command : commands)
    if (command.app->parsed()) return command.run();
  return kExitUnexpected;  // require_subcommand(1) makes this unreachable
}

}  // namespace
}  // namespace dynpmnn

int main(int argc, char** argv) {
  try {
    return dynpmnn::run_cli(argc, argv);
  } catch (const dynpmnn::ConfigError& e) {
    fmt::print(stderr, "dynpmnn: error: {}\n", e.what());
    return dynpmnn::kExitBadInput;
  } catch (const dynpmnn::DataError& e) {
    fmt::print(stderr, "dynpmnn: error: {}\n", e.what());
    return dynpmnn::kExitBadInput;
  } catch (const std::exception& e) {
    fmt::print(stderr, "dynpmnn: error: {}\n", e.what());
    return dynpmnn::kExitUnexpected;
  }
}
