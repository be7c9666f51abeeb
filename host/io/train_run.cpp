// The train flow that `dynpmnn train`, `dynpmnn sweep` and the embedding API share (host/io/train_run.h).
#include "host/io/train_run.h"

#include <cstdio>
#include <filesystem>
#include <utility>

#include <fmt/format.h>

#include "host/config/config_io.h"
#include "host/report/progress.h"
#include "host/io/run_data.h"
#include "host/io/run_folder.h"
#include "host/training/trainer.h"

namespace dynpmnn {

std::unique_ptr<Backend> make_backend(const std::string& device, const ModelSpec& spec, const TrainHyper& hyper,
                                      bool quiet) {
  if (device != "cpu" && device != "cuda" && device != "auto")
    throw ConfigError(fmt::format("device = '{}' (expected cpu, cuda or auto)", device));
  if (device == "cpu") return with_target_scaling(make_cpu_backend(spec, hyper));
  std::string why;
  const bool cuda = cuda_available(&why);
  if (device == "cuda") {
    if (!cuda) throw ConfigError("device = 'cuda' but " + why);
    return with_target_scaling(make_cuda_backend(spec, hyper));
  }
  if (!quiet)
    fmt::print(stderr, "dynpmnn: device auto: using {}{}\n", cuda ? "cuda" : "cpu", why.empty() ? "" : ": " + why);
  return with_target_scaling(cuda ? make_cuda_backend(spec, hyper) : make_cpu_backend(spec, hyper));
}

TargetScaler target_scaler_for(const Config& cfg, const SplitData& data) {
  if (cfg.target_scaling != "standard" || !data.class_labels.empty()) return TargetScaler{};
  return fit_target_scaler(data.train, uses_csv(cfg) ? cfg.target : "MedHouseVal", data.source);
}

void require_same_features(const Checkpoint& ck, const std::string& checkpoint_path,
                           const std::vector<std::string>& names) {
  if (ck.feature_names != names)
    throw DataError(fmt::format("{} was trained on the features {}, this dynpmnn derives {}", checkpoint_path,
                                fmt::join(ck.feature_names, ", "), fmt::join(names, ", ")));
}

void require_same_scaler(const Checkpoint& ck, const std::string& checkpoint_path, const SplitData& data) {
  for (std::size_t j = 0; j < ck.feature_names.size(); ++j)
    if (data.scaler.mean[j] != ck.scaler.mean[j] || data.scaler.std[j] != ck.scaler.std[j])
      throw DataError(fmt::format(
          "{} is not the data {} was trained on: its train split gives feature {} mean {} and std {}, the "
          "checkpoint's scaler has {} and {}", data.source, checkpoint_path, ck.feature_names[j], data.scaler.mean[j],
          data.scaler.std[j], ck.scaler.mean[j], ck.scaler.std[j]));
}

TrainRunResult train_run(const Config& given, const SplitData& loaded, std::optional<Checkpoint> resumed,
                         RunOutput output, std::shared_ptr<ShardExchange> exchange) {
  // config.toml and the checkpoint say which split the data was cut by.
  const Config cfg = with_split_used(given);
  const bool writer = !exchange || exchange->rank() == 0;  // data-parallel: rank 0 alone writes
  if (!writer) output = RunOutput::kSilent;
  const bool quiet = output != RunOutput::kProgress;
  const bool silent = output == RunOutput::kSilent;
  // Fitted here, per configuration, so that the runs of a sweep sharing one loaded file each get
  // their own target_scaling.
  SplitData data = loaded;
  data.target_scaler = target_scaler_for(cfg, data);
  if (resumed) {
    const std::string checkpoint_path = (std::filesystem::path(cfg.out) / "checkpoint.bin").string();
    require_same_features(*resumed, checkpoint_path, data.feature_names);
    require_same_scaler(*resumed, checkpoint_path, data);
    if (resumed->target_scaler != data.target_scaler)
      throw DataError(fmt::format("{} is not the data {} was trained on: its train split gives the target mean {} and "
                                  "std {}, the checkpoint's target scaler has {} and {}", data.source, checkpoint_path,
                                  data.target_scaler.mean, data.target_scaler.std, resumed->target_scaler.mean,
                                  resumed->target_scaler.std));
    if (resumed->class_labels != data.class_labels)
      throw DataError(fmt::format("{} holds the classes {}, {} was trained on {}", data.source,
                                  fmt::join(data.class_labels, ", "), checkpoint_path,
                                  fmt::join(resumed->class_labels, ", ")));
  }
  const ModelSpec spec = cfg.model_spec(data.train.features, model_outputs(data));
  const ParamTable table(spec);

  TrainHyper hyper = train_hyper(cfg);
  hyper.exchange = std::move(exchange);
  const std::unique_ptr<Backend> backend = make_backend(cfg.device, spec, hyper);
  backend->set_data(data);
  TrainState state;
  std::unique_ptr<RunFolder> folder;
  if (resumed) {
    backend->set_params(resumed->params);
    backend->set_optimizer_state(resumed->optimizer);
    state = std::move(resumed->state);
    if (writer) folder = std::make_unique<RunFolder>(cfg, table, data, &state);
    if (!quiet)
      fmt::print(stderr, "dynpmnn: resuming {} after epoch {} of {}\n", folder->path().string(), state.epoch,
                 cfg.epochs);
  } else {
    std::vector<double> params(table.total());
    init_params(spec, table, cfg.seed, params);
    backend->set_params(params);
    state = initial_train_state(params);
    if (writer) {
      folder = std::make_unique<RunFolder>(cfg, table, data);
      folder->on_epoch_end(state, *backend);  // epoch 0: resumable (and evaluable) from the start
    }
  }

  if (!silent) {
    for (const std::string& w : data.warnings) fmt::print(stderr, "dynpmnn: warning: {}\n", w);
    std::vector<double> current(table.total());
    backend->get_params(current);
    for (const std::string& w : stability_warnings(spec, current, data.train)) fmt::print(stderr, "dynpmnn: warning: {}\n", w);
  }

  ProgressPrinter progress(stderr, progress_style_for(stderr));
  std::vector<TrainObserver*> observers;
  if (folder) observers.push_back(folder.get());
  if (!quiet) observers.push_back(&progress);
  ObserverList observer(std::move(observers));
  const TrainReport report = continue_training(cfg, spec, *backend, data, state, &observer);
  progress.finish();

  const bool diverged = report.divergence.diverged;
  const std::string divergence_message = diverged ? explain_divergence(report.divergence, spec) : std::string();
  if (diverged && !silent) fmt::print(stderr, "dynpmnn: {}\n", divergence_message);
  TrainRunResult result{final_summary(report, folder ? folder->path() : std::filesystem::path(cfg.out),
                                      divergence_message), diverged};
  if (!folder) return result;
  folder->finish(result.summary, report, state.best_params,
                 fmt::format("{} seed {} ({})", cfg.preset.empty() ? "run" : cfg.preset, cfg.seed, report.backend));
  if (!quiet) fmt::print(stderr, "dynpmnn: run folder {}\n", folder->path().string());
  return result;
}

}  // namespace dynpmnn
