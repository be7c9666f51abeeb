// dynpmnn: the command-line front end. Each subcommand is one add_<name>_command function that
// registers its options on the app and returns the function that runs it once the command line
// is parsed; main parses, runs the chosen one and maps errors to exit codes. New subcommands
// (sweep, inspect) go beside add_train_command, add_eval_command, add_predict_command and into
// main's list.
//
// stdout carries only the final JSON object (one line), so scripts can read the last line; every
// message and the progress go to stderr.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "data/california.h"
#include "host/runtime/backend.h"
#include "host/io/atomic_file.h"
#include "host/io/checkpoint.h"
#include "host/io/csv.h"
#include "host/training/class_metrics.h"
#include "host/cli/best_model.h"
#include "host/cli/command.h"
#include "host/cli/data_parallel.h"
#include "host/cli/mpi_world.h"
#include "host/io/train_run.h"
#include "host/config/config.h"
#include "host/config/config_io.h"
#include "host/report/progress.h"
#include "host/io/run_data.h"
#include "host/io/run_folder.h"
#include "host/training/trainer.h"
#include "kernels/loss_math.h"
#include "models/dynpmnn.h"

namespace dynpmnn {
namespace {

// Must match project(VERSION) in CMakeLists.txt; tests/test_cli.cpp checks that it does.
constexpr const char* kVersion = "0.1.0";

// The keys with a flag of their own (--epochs N is --set epochs=N), for what is changed most
// often, with the flag's value name.
constexpr std::pair<const char*, const char*> kFlagKeys[] = {
    {"epochs", "N"}, {"seed", "S"}, {"device", "cpu|cuda|auto"}, {"out", "DIR"}, {"data", "PATH"},
    {"target", "COLUMN"}, {"task", "regression|classification"}};

std::string json_line(const nlohmann::ordered_json& json) {
  return json.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

// Keys that may go with --resume: the rest would change the run being continued. The stopping
// keys may change, so that a run that stopped early can go on (as a larger max_epochs continues a
// Lightning run that reached its limit).
constexpr const char* kResumeKeys[] = {"epochs", "device", "data", "patience", "min_delta", "checkpoint_every"};
constexpr const char* kResumeKeysText =
    "only --epochs (to extend the run), --device, --data, patience, min_delta and checkpoint_every";

struct TrainOptions {
  std::string preset;
  std::string config_file;
  std::string resume;  // run folder to continue, or empty
  bool quiet = false;
  bool data_parallel = false;  // each MPI rank trains its shard of every minibatch
  // --set and the per-key flags, as "key=value" in command-line order (later wins).
  std::vector<std::string> overrides;
};

// The configuration stored in the checkpoint, with the overrides --resume allows.
Config resume_config(const TrainOptions& options, const Checkpoint& ck, const std::string& checkpoint_path) {
  if (!options.preset.empty() || !options.config_file.empty())
    throw ConfigError(fmt::format("--resume continues with the configuration stored in {}; --preset and --config "
                                  "cannot change it", checkpoint_path));
  Config cfg = ck.config;
  for (const std::string& assignment : options.overrides) {
    std::string key = assignment.substr(0, assignment.find('='));
    key.erase(0, key.find_first_not_of(" \t"));
    key.erase(key.find_last_not_of(" \t") + 1);
    if (std::find(std::begin(kResumeKeys), std::end(kResumeKeys), key) == std::end(kResumeKeys))
      throw ConfigError(fmt::format("--resume continues with the configuration stored in {}; {} may go with it, "
                                    "not '{}'", checkpoint_path, kResumeKeysText, assignment));
    apply_override(cfg, assignment);
  }
  cfg.out = options.resume;
  if (cfg.epochs < ck.state.epoch)
    throw ConfigError(fmt::format("epochs = {} is fewer than the {} epochs {} has completed", cfg.epochs,
                                  ck.state.epoch, checkpoint_path));
  return cfg;
}

// A finished run (final.json with `status`) continues only where more epochs can change it: one
// that ran to its epoch limit with a larger --epochs, one that stopped early with other stopping
// keys under which it would not stop again at once. `state` is the checkpoint's, recounted for
// cfg.min_delta. Throws ConfigError saying which.
void require_continuable(const std::string& run_dir, const std::string& status, const Config& stored,
                         const Config& cfg, const TrainState& state) {
  const std::string finished = fmt::format("--resume {}: the run has finished (final.json exists)", run_dir);
  if (status == "diverged")
    throw ConfigError(fmt::format("{}: it diverged in epoch {}, and its checkpoint, the epoch before, would diverge "
                                  "the same way; train a new run with another configuration",
                                  finished, state.epoch + 1));
  if (status != "early_stopped") {
    if (cfg.epochs <= state.epoch)
      throw ConfigError(fmt::format("{}: it ran all its {} epochs; --epochs N with N above {} continues it",
                                    finished, state.epoch, state.epoch));
    return;
  }
  const std::string why = fmt::format(
      "{}: it stopped early after epoch {}, its validation loss not having improved by more than min_delta = {} "
      "for patience = {} epochs (best at epoch {})", finished, state.epoch, stored.min_delta, stored.patience,
      state.best_epoch);
  if (cfg.patience == stored.patience && cfg.min_delta == stored.min_delta)
    throw ConfigError(fmt::format("{}; it continues only with other stopping keys: --set patience=N (above {}; 0 "
                                  "never stops early) or --set min_delta=D, with --epochs N above {} where needed",
                                  why, stored.patience, state.epoch));
  if (cfg.patience > 0 && state.waited >= cfg.patience)
    throw ConfigError(fmt::format("{}; with patience = {} and min_delta = {} it would stop again at once ({} epochs "
                                  "without such an improvement)", why, cfg.patience, cfg.min_delta, state.waited));
  if (cfg.epochs <= state.epoch)
    throw ConfigError(fmt::format("{}; epochs = {} leaves no epoch to run: --epochs N with N above {}", why,
                                  cfg.epochs, state.epoch));
}

// The status of a finished run's final.json; empty where the run has not finished.
std::string finished_status(const std::filesystem::path& run_dir) {
  const std::filesystem::path file = run_dir / "final.json";
  if (!std::filesystem::exists(file)) return "";
  std::ifstream in(file);
  try {
    return nlohmann::json::parse(in).at("status").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(fmt::format("{}: not a final.json of dynpmnn ({})", file.string(), e.what()));
  }
}

// train --data-parallel: the ranks of this MPI world each train their shard of every minibatch
// (without a launcher nothing changes). cfg.data_shards becomes the rank count; a run that was
// started with another (a resumed one) is refused, since its rows would be cut otherwise. Each GPU
// rank takes its local GPU. Returns the exchange (null without a launcher).
std::shared_ptr<ShardExchange> data_parallel_setup(Config& cfg, bool resuming) {
  const MpiWorld& world = mpi_world();
  if (!world.active) return nullptr;
  if (cfg.data_shards != world.size && (resuming || cfg.data_shards != 1))
    throw ConfigError(fmt::format(
        "data_shards = {} but train --data-parallel runs over {} MPI ranks, one shard each{}", cfg.data_shards,
        world.size, resuming ? fmt::format(" (the run was trained with {} shards: resume it over {} ranks, or as one "
                                           "process on the CPU, which computes every shard itself)",
                                           cfg.data_shards, cfg.data_shards)
                             : " (leave data_shards at 1 and --data-parallel sets it)"));
  cfg.data_shards = world.size;
  std::string why;
  const bool gpu = cfg.device == "cuda" || (cfg.device == "auto" && cuda_available(&why));
  if (gpu) {
    if (cfg.device == "cuda" && !cuda_available(&why)) throw ConfigError("device = 'cuda' but " + why);
    cfg.device = "cuda";
    select_cuda_device(world.local_rank % cuda_device_count());
  } else {
    cfg.device = "cpu";
  }
  return make_shard_exchange(world, gpu);
}

int run_train(const TrainOptions& options) {
  std::optional<Checkpoint> resumed;
  const std::string checkpoint_path = (std::filesystem::path(options.resume) / "checkpoint.bin").string();
  Config cfg;
  std::string extending;  // a finished run's status when it is continued
  if (options.resume.empty()) {
    cfg = resolve_config(options.preset, options.config_file, options.overrides);
  } else {
    if (!std::filesystem::is_directory(options.resume))
      throw ConfigError(fmt::format("--resume {}: no such run folder", options.resume));
    resumed = load_checkpoint(checkpoint_path);
    cfg = resume_config(options, *resumed, checkpoint_path);
    // The early-stopping count is min_delta's: with another one it is what that would have counted.
    if (cfg.min_delta != resumed->config.min_delta) recount_patience(resumed->state, cfg.min_delta);
    extending = finished_status(options.resume);
    if (!extending.empty())
      require_continuable(options.resume, extending, resumed->config, cfg, resumed->state);
  }
  std::shared_ptr<ShardExchange> exchange;
  bool writer = true;
  if (options.data_parallel) {
    exchange = data_parallel_setup(cfg, !options.resume.empty());
    writer = !exchange || exchange->rank() == 0;
  }
  cfg.validate();
  const SplitData data = load_run_data(cfg);
  if (!extending.empty() && writer) {
    // Unfinished again: if this is interrupted, the folder resumes as any interrupted run does.
    std::filesystem::remove(std::filesystem::path(options.resume) / "final.json");
    if (!options.quiet)
      fmt::print(stderr, "dynpmnn: extending the finished run {} (status {}) from epoch {} to at most {}\n",
                 options.resume, extending, resumed->state.epoch, cfg.epochs);
  }
  const TrainRunResult result = train_run(cfg, data, std::move(resumed),
                                         options.quiet ? RunOutput::kQuiet : RunOutput::kProgress, exchange);
  if (writer) std::cout << json_line(result.summary) << std::endl;
  return result.diverged ? kExitDiverged : kExitOk;
}

Command add_train_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "train", "Train a DynPMNN on California Housing, or on a CSV file (--data FILE.csv --target COLUMN "
               "[--task classification]), and write a run folder");
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
  cmd->add_option("--resume", options->resume,
                  "Continue the run in DIR from DIR/checkpoint.bin with the configuration stored there: an interrupted "
                  "one, one that ran to its epoch limit (with --epochs above it) or one that stopped early (with other "
                  "patience or min_delta); only --epochs, --device, --data, patience and min_delta may go with it")
      ->type_name("DIR");
  cmd->add_flag("--quiet,-q", options->quiet, "No progress on stderr");
  cmd->add_flag("--data-parallel", options->data_parallel,
                "Under mpirun/srun: every rank trains its shard of each minibatch (data_shards = the ranks), "
                "gradients summed over MPI (CPU) or NCCL (GPU); rank 0 writes the run folder (docs/cluster.md)");
  cmd->footer(
      "Configuration keys and their defaults (precedence: --preset < --config < --set and the flags\n"
      "above, in command-line order). The defaults are the default model's (models/presets/default.toml,\n"
      "chosen on validation: docs/defaults.md), where a run starts that names neither --preset nor\n"
      "--config; a --config file without --preset applies over the paper's setting (--preset\n"
      "paper-california), which every config.toml written before a key existed assumes:\n\n" +
      describe_config_keys(default_config()));

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

struct EvalOptions {
  std::string run_dir, device, data, split = "test";
};

int run_eval(const EvalOptions& options) {
  const Split split = options.split == "train" ? Split::kTrain : options.split == "val" ? Split::kVal : Split::kTest;
  nlohmann::ordered_json json;
  json["split"] = options.split;
  json.update(evaluate_best(load_best_model(options.run_dir), split, options.device, options.data));
  std::cout << json_line(json) << std::endl;
  return kExitOk;
}

Command add_eval_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "eval", "Metrics (rmse, mae, r2, mse; for classification accuracy, f1, loss) of a run's best model "
              "(RUN_DIR/best.bin) as one JSON line on stdout");
  auto options = std::make_shared<EvalOptions>();
  cmd->add_option("run_dir", options->run_dir, "The run folder")->required()->type_name("RUN_DIR");
  cmd->add_option("--split", options->split, "Which split of the run's split to evaluate")
      ->check(CLI::IsMember({"test", "val", "train"}))
      ->type_name("test|val|train");
  cmd->add_option("--device", options->device, "cpu, cuda or auto (default: the run's)")->type_name("cpu|cuda|auto");
  cmd->add_option("--data", options->data,
                  "cal_housing.data or the run's CSV file (default: the run's, then the usual look-up)")
      ->type_name("PATH");
  return {cmd, [options] { return run_eval(*options); }};
}

struct PredictOptions {
  std::string run_dir, input, output, device;
};

int run_predict(const PredictOptions& options) {
  const BestModel best = load_best_model(options.run_dir);
  const Config& cfg = best.ck.config;
  const int features = static_cast<int>(best.ck.feature_names.size());
  SplitData data;
  data.feature_names = best.ck.feature_names;
  data.scaler = best.ck.scaler;
  data.target_scaler = best.ck.target_scaler;  // predictions in the target's own units
  data.source = options.input;
  for (Dataset* d : {&data.train, &data.val, &data.test}) d->features = features;
  if (uses_csv(cfg)) {
    const Table table = csv_feature_table(read_csv(options.input), options.input, best.ck.feature_names);
    data.test.rows = table.rows;
    data.test.x = table.values;
  } else {
    const Table raw = read_california_inputs(options.input);
    data.test.rows = raw.rows;
    data.test.x = california_features(raw, options.input);
  }
  data.scaler.apply(data.test.x, features);
  data.test.y.assign(static_cast<std::size_t>(data.test.rows), 0.0);
  const std::unique_ptr<Backend> backend =
      make_backend(options.device.empty() ? cfg.device : options.device, best.spec, train_hyper(cfg));
  backend->set_data(data);
  backend->set_params(best.ck.state.best_params);
  const std::vector<double> predictions = backend->predict(Split::kTest);
  std::string csv;
  const std::vector<std::string>& labels = best.ck.class_labels;
  if (!labels.empty()) {
    // The predicted label, then each class's probability: a column p_<label> per class.
    const int K = static_cast<int>(labels.size());
    csv = csv_field(cfg.target);
    for (const std::string& label : labels) csv += "," + csv_field("p_" + label);
    csv += "\n";
    const std::vector<int> predicted = predicted_classes(predictions, K);
    std::vector<double> probs(static_cast<std::size_t>(K));
    for (std::size_t i = 0; i < predicted.size(); ++i) {
      softmax_row(predictions.data() + i * static_cast<std::size_t>(K), K, probs.data());
      csv += csv_field(labels[static_cast<std::size_t>(predicted[i])]);
      for (const double p : probs) csv += fmt::format(",{}", p);
      csv += "\n";
    }
  } else {
    csv = (uses_csv(cfg) ? csv_field(cfg.target) : std::string("MedHouseVal")) + "\n";
    for (const double p : predictions) csv += fmt::format("{}\n", p);
  }
  write_file_atomically(options.output, csv);
  nlohmann::ordered_json json;
  json["rows"] = data.test.rows;
  json["output"] = options.output;
  json["checkpoint"] = best.path;
  json["backend"] = backend->name();
  std::cout << json_line(json) << std::endl;
  return kExitOk;
}

Command add_predict_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "predict", "Predict with a run's best model (RUN_DIR/best.bin): MedHouseVal ($100k) for raw California rows, "
                 "or the target (the class label and its probabilities) for rows of a CSV run's columns");
  auto options = std::make_shared<PredictOptions>();
  cmd->add_option("run_dir", options->run_dir, "The run folder")->required()->type_name("RUN_DIR");
  cmd->add_option("--input", options->input,
                  "California runs: CSV of raw rows in cal_housing.data's column order: longitude, latitude, "
                  "housingMedianAge, totalRooms, totalBedrooms, population, households, medianIncome, optionally "
                  "medianHouseValue (ignored); the first line may be a header of exactly those names. CSV runs: a CSV "
                  "with a header holding the run's feature columns (others, the target too, are ignored)")
      ->required()
      ->type_name("CSV");
  cmd->add_option("--output", options->output,
                  "CSV to write: a MedHouseVal (CSV runs: the target's) header, then one prediction per row; for "
                  "classification the predicted label, then one column p_<label> per class")
      ->required()
      ->type_name("CSV");
  cmd->add_option("--device", options->device, "cpu, cuda or auto (default: the run's)")->type_name("cpu|cuda|auto");
  return {cmd, [options] { return run_predict(*options); }};
}

int run_cli(int argc, char** argv) {
  CLI::App app{"dynpmnn: Dynamical Physics-Modeled Neural Networks (FitzHugh-Nagumo neurons) on California Housing",
               "dynpmnn"};
  app.set_version_flag("--version", fmt::format("dynpmnn {}", kVersion));
  app.require_subcommand(1);
  const std::vector<Command> commands = {add_train_command(app), add_eval_command(app), add_predict_command(app),
                                         add_inspect_command(app), add_sweep_command(app),
                                         add_table_command(app), add_report_command(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and --version are "errors" with exit code 0; the rest are bad command lines.
    return app.exit(e) == 0 ? kExitOk : kExitBadInput;
  }
  for (const Command& command : commands) {
    if (!command.app->parsed()) continue;
    // Under an MPI launcher with several ranks, only the sweep shares its work out; any other
    // command would run once per rank, each writing the same folders.
    int ranks = 1;
    const bool over_ranks = command.app->get_name() == "sweep" ||
                            (command.app->get_name() == "train" && command.app->count("--data-parallel") > 0);
    if (!over_ranks && launched_by_mpi(&ranks) && ranks != 1)
      throw ConfigError(fmt::format("{} was started as {} MPI ranks; only `dynpmnn sweep` and `dynpmnn train "
                                    "--data-parallel` run over ranks (start {} as one process)",
                                    command.app->get_name(), ranks < 0 ? "several" : std::to_string(ranks),
                                    command.app->get_name()));
    return command.run();
  }
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
  } catch (const dynpmnn::CheckpointError& e) {
    fmt::print(stderr, "dynpmnn: error: {}\n", e.what());
    return dynpmnn::kExitBadInput;
  } catch (const std::exception& e) {
    fmt::print(stderr, "dynpmnn: error: {}\n", e.what());
    return dynpmnn::kExitUnexpected;
  }
}
