// The train flow that `dynpmnn train`, `dynpmnn sweep` and the embedding API share (host/io/train_run.h).
#include "host/io/train_run.h"

#include <cstdio>
#include <algorithm>
#include <filesystem>
#include <utility>

#include <fmt/format.h>

#include "host/config/config_io.h"
#include "host/report/progress.h"
#include "host/io/run_data.h"
#include "host/io/run_folder.h"
#include "host/runtime/population.h"
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

namespace {

// Whether a run on `device` trains on the GPU: cuda, or auto where a CUDA device is present.
bool fused_device(const std::string& device) {
  return device == "cuda" || (device == "auto" && cuda_available(nullptr));
}

}  // namespace

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

namespace {

// One model of train_runs: its configuration, model, backend, state and folder.
struct RunMember {
  Config cfg;
  ModelSpec spec;
  std::unique_ptr<Backend> owned;  // its own backend, or none where a GPU population (fused or batched) holds the model
  Backend* backend = nullptr;
  TrainState state;
  std::unique_ptr<RunFolder> folder;
};

// The checks of a resumed run's data against its checkpoint: the same features, scalers and classes.
void require_same_data(const Checkpoint& ck, const Config& cfg, const SplitData& data) {
  const std::string checkpoint_path = (std::filesystem::path(cfg.out) / "checkpoint.bin").string();
  require_same_features(ck, checkpoint_path, data.feature_names);
  require_same_scaler(ck, checkpoint_path, data);
  if (ck.target_scaler != data.target_scaler)
    throw DataError(fmt::format("{} is not the data {} was trained on: its train split gives the target mean {} and "
                                "std {}, the checkpoint's target scaler has {} and {}", data.source, checkpoint_path,
                                data.target_scaler.mean, data.target_scaler.std, ck.target_scaler.mean,
                                ck.target_scaler.std));
  if (ck.class_labels != data.class_labels)
    throw DataError(fmt::format("{} holds the classes {}, {} was trained on {}", data.source,
                                fmt::join(data.class_labels, ", "), checkpoint_path, fmt::join(ck.class_labels, ", ")));
}

}  // namespace

TrainRunResult train_run(const Config& given, const SplitData& loaded, std::optional<Checkpoint> resumed,
                         RunOutput output, std::shared_ptr<ShardExchange> exchange) {
  std::vector<std::optional<Checkpoint>> one;
  one.push_back(std::move(resumed));
  return train_runs({&given, 1}, loaded, std::move(one), output, 1, std::move(exchange)).front();
}

std::vector<TrainRunResult> train_runs(std::span<const Config> given, const SplitData& loaded,
                                       std::vector<std::optional<Checkpoint>> resumed, RunOutput output, int threads,
                                       std::shared_ptr<ShardExchange> exchange) {
  const std::size_t P = given.size();
  if (P == 0 || resumed.size() != P)
    throw std::invalid_argument(fmt::format("train_runs: {} configurations, {} checkpoints", P, resumed.size()));
  if (P > 1 && (output != RunOutput::kSilent || exchange))
    throw std::invalid_argument("train_runs: a population trains silently and without a shard exchange");
  const bool writer = !exchange || exchange->rank() == 0;  // data-parallel: rank 0 alone writes
  if (!writer) output = RunOutput::kSilent;
  const bool quiet = output != RunOutput::kProgress;
  const bool silent = output == RunOutput::kSilent;
  // Fitted here, per configuration, so that the runs of a sweep sharing one loaded file each get
  // their own target_scaling; a population's models must agree on it (they share the data).
  SplitData data = loaded;
  data.target_scaler = target_scaler_for(with_split_used(given[0]), data);

  std::vector<RunMember> members(P);
  std::vector<ModelSpec> member_specs;
  std::vector<TrainHyper> hypers;
  for (std::size_t m = 0; m < P; ++m) {
    RunMember& r = members[m];
    // config.toml and the checkpoint say which split the data was cut by.
    r.cfg = with_split_used(given[m]);
    if (target_scaler_for(r.cfg, loaded) != data.target_scaler)
      throw std::invalid_argument(fmt::format("train_runs: {} scales the target otherwise than {}", r.cfg.out,
                                              given[0].out));
    if (resumed[m]) require_same_data(*resumed[m], r.cfg, data);
    r.spec = r.cfg.model_spec(data.train.features, model_outputs(data));
    member_specs.push_back(r.spec);
    hypers.push_back(train_hyper(r.cfg));
    hypers.back().exchange = exchange;
  }
  // On the GPU, tiny models of one layout train in the fused kernels (one block a model, an epoch
  // of the population one launch); other populations of layers with population halves train
  // batched (each layer's kernels once for all the models); the others each have their own backend.
  std::unique_ptr<PopulationBackend> on_device;
  if (std::all_of(members.begin(), members.end(), [](const RunMember& r) { return fused_device(r.cfg.device); })) {
    on_device = make_fused_cuda_population(member_specs, hypers, data, nullptr);
    if (!on_device && P > 1) on_device = make_batched_cuda_population(member_specs, hypers, data, nullptr);
  }
  if (on_device && output == RunOutput::kProgress)
    fmt::print(stderr, "dynpmnn: device {}: {}\n", members[0].cfg.device, on_device->name());
  for (std::size_t m = 0; m < P; ++m) {
    RunMember& r = members[m];
    const ParamTable table(r.spec);
    if (on_device) {
      r.backend = &on_device->member(static_cast<int>(m));
    } else {
      r.owned = make_backend(r.cfg.device, r.spec, hypers[m], /*quiet=*/m > 0);
      r.backend = r.owned.get();
    }
    r.backend->set_data(data);
    if (resumed[m]) {
      r.backend->set_params(resumed[m]->params);
      r.backend->set_optimizer_state(resumed[m]->optimizer);
      r.state = std::move(resumed[m]->state);
      if (writer) r.folder = std::make_unique<RunFolder>(r.cfg, table, data, &r.state);
      if (!quiet)
        fmt::print(stderr, "dynpmnn: resuming {} after epoch {} of {}\n", r.folder->path().string(), r.state.epoch,
                   r.cfg.epochs);
    } else {
      std::vector<double> params(table.total());
      init_params(r.spec, table, r.cfg.seed, params);
      r.backend->set_params(params);
      r.state = initial_train_state(params);
      if (writer) {
        r.folder = std::make_unique<RunFolder>(r.cfg, table, data);
        r.folder->on_epoch_end(r.state, *r.backend);  // epoch 0: resumable (and evaluable) from the start
      }
    }
    if (!silent) {
      for (const std::string& w : data.warnings) fmt::print(stderr, "dynpmnn: warning: {}\n", w);
      std::vector<double> current(table.total());
      r.backend->get_params(current);
      for (const std::string& w : stability_warnings(r.spec, current, data.train))
        fmt::print(stderr, "dynpmnn: warning: {}\n", w);
    }
  }

  ProgressPrinter progress(stderr, progress_style_for(stderr));
  std::vector<Config> cfgs;
  std::vector<ModelSpec> specs;
  std::vector<TrainState> states;
  std::vector<std::unique_ptr<ObserverList>> lists;
  std::vector<TrainObserver*> observers;
  std::vector<std::unique_ptr<Backend>> backends;
  for (RunMember& r : members) {
    std::vector<TrainObserver*> list;
    if (r.folder) list.push_back(r.folder.get());
    if (!quiet) list.push_back(&progress);
    lists.push_back(std::make_unique<ObserverList>(std::move(list)));
    observers.push_back(lists.back().get());
    cfgs.push_back(r.cfg);
    specs.push_back(r.spec);
    states.push_back(std::move(r.state));
    if (r.owned) backends.push_back(std::move(r.owned));
  }
  const std::unique_ptr<PopulationBackend> pop =
      on_device ? std::move(on_device) : make_member_population(std::move(backends), threads);
  const std::vector<TrainReport> reports = continue_training_population(cfgs, specs, *pop, data, states, observers);
  progress.finish();

  std::vector<TrainRunResult> results;
  for (std::size_t m = 0; m < P; ++m) {
    const RunMember& r = members[m];
    const TrainReport& report = reports[m];
    const bool diverged = report.divergence.diverged;
    const std::string divergence_message = diverged ? explain_divergence(report.divergence, r.spec) : std::string();
    if (diverged && !silent) fmt::print(stderr, "dynpmnn: {}\n", divergence_message);
    results.push_back(TrainRunResult{
        final_summary(report, r.folder ? r.folder->path() : std::filesystem::path(r.cfg.out), divergence_message),
        diverged});
    if (!r.folder) continue;
    r.folder->finish(results.back().summary, report, states[m].best_params,
                     fmt::format("{} seed {} ({})", r.cfg.preset.empty() ? "run" : r.cfg.preset, r.cfg.seed,
                                 report.backend));
    if (!quiet) fmt::print(stderr, "dynpmnn: run folder {}\n", r.folder->path().string());
  }
  return results;
}

}  // namespace dynpmnn
