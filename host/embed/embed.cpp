#include "host/embed/embed.h"

#include <filesystem>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "data/california.h"
#include "host/config/config.h"
#include "host/config/config_io.h"
#include "host/io/checkpoint.h"
#include "host/io/run_data.h"
#include "host/io/run_folder.h"
#include "host/runtime/backend.h"
#include "host/training/trainer.h"

namespace dynpmnn {

namespace {

std::unique_ptr<Backend> backend_on(const std::string& device, const ModelSpec& spec, const TrainHyper& hyper) {
  if (device != "cpu" && device != "cuda" && device != "auto")
    throw ConfigError(fmt::format("device = '{}' (expected cpu, cuda or auto)", device));
  std::string why;
  const bool cuda = device != "cpu" && cuda_available(&why);
  if (device == "cuda" && !cuda) throw ConfigError("device = 'cuda' but " + why);
  return with_target_scaling(cuda ? make_cuda_backend(spec, hyper) : make_cpu_backend(spec, hyper));
}

}  // namespace

struct Predictor::Impl {
  Checkpoint ck;
  ModelSpec spec;
  std::unique_ptr<Backend> backend;
};

Predictor::Predictor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Predictor::Predictor(Predictor&&) noexcept = default;
Predictor& Predictor::operator=(Predictor&&) noexcept = default;
Predictor::~Predictor() = default;

Predictor Predictor::load(const std::string& run_dir, const std::string& device) {
  if (!std::filesystem::is_directory(run_dir)) throw ConfigError(fmt::format("{}: no such run folder", run_dir));
  auto impl = std::make_unique<Impl>();
  impl->ck = load_checkpoint(std::filesystem::path(run_dir) / "best.bin");
  const int outputs = impl->ck.class_labels.empty() ? 1 : static_cast<int>(impl->ck.class_labels.size());
  impl->spec = impl->ck.config.model_spec(static_cast<int>(impl->ck.feature_names.size()), outputs);
  impl->backend = backend_on(device, impl->spec, train_hyper(impl->ck.config));
  return Predictor(std::move(impl));
}

const std::vector<std::string>& Predictor::feature_names() const { return impl_->ck.feature_names; }
const std::vector<std::string>& Predictor::class_labels() const { return impl_->ck.class_labels; }
int Predictor::outputs() const { return impl_->spec.outputs; }

std::vector<double> Predictor::predict(const std::vector<double>& features, int rows) {
  const int F = static_cast<int>(impl_->ck.feature_names.size());
  if (rows < 0 || features.size() != static_cast<std::size_t>(rows) * F)
    throw std::invalid_argument(fmt::format("Predictor::predict: {} values for {} rows of {} features", features.size(),
                                            rows, F));
  // As `dynpmnn predict`: the rows as the test split, standardised with the run's scaler, the
  // outputs mapped back to the target's units by the backend's target scaling.
  SplitData data;
  data.feature_names = impl_->ck.feature_names;
  data.scaler = impl_->ck.scaler;
  data.target_scaler = impl_->ck.target_scaler;
  data.source = "Predictor::predict";
  for (Dataset* d : {&data.train, &data.val, &data.test}) d->features = F;
  data.test.rows = rows;
  data.test.x = features;
  data.scaler.apply(data.test.x, F);
  data.test.y.assign(static_cast<std::size_t>(rows), 0.0);
  impl_->backend->set_data(data);
  impl_->backend->set_params(impl_->ck.state.best_params);
  return impl_->backend->predict(Split::kTest);
}

std::vector<double> Predictor::california_features(const std::vector<double>& raw, int rows, int cols) {
  Table table;
  table.rows = rows;
  table.cols = cols;
  table.values = raw;
  return dynpmnn::california_features(table, "Predictor::california_features");
}

std::string train(const std::string& preset, const std::vector<std::string>& overrides, const std::string& out) {
  Config cfg = resolve_config(preset, "", overrides);
  cfg.out = out;
  cfg = with_split_used(cfg);
  cfg.validate();
  SplitData data = load_run_data(cfg);
  data.target_scaler = cfg.target_scaling == "standard" && data.class_labels.empty()
                           ? fit_target_scaler(data.train, uses_csv(cfg) ? cfg.target : "MedHouseVal", data.source)
                           : TargetScaler{};
  const ModelSpec spec = cfg.model_spec(data.train.features, model_outputs(data));
  const ParamTable table(spec);
  const std::unique_ptr<Backend> backend = backend_on(cfg.device, spec, train_hyper(cfg));
  backend->set_data(data);
  std::vector<double> params(table.total());
  init_params(spec, table, cfg.seed, params);
  backend->set_params(params);
  TrainState state = initial_train_state(params);
  RunFolder folder(cfg, table, data);
  folder.on_epoch_end(state, *backend);
  const TrainReport report = continue_training(cfg, spec, *backend, data, state, &folder);
  const std::string divergence =
      report.divergence.diverged ? explain_divergence(report.divergence, spec) : std::string();
  const nlohmann::ordered_json summary = final_summary(report, folder.path(), divergence);
  folder.finish(summary, report, state.best_params,
                fmt::format("{} seed {} ({})", cfg.preset.empty() ? "run" : cfg.preset, cfg.seed, report.backend));
  return summary.dump();
}

}  // namespace dynpmnn
