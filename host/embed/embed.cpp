#include "host/embed/embed.h"

#include <filesystem>
#include <optional>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "data/california.h"
#include "host/config/config.h"
#include "host/config/config_io.h"
#include "host/io/checkpoint.h"
#include "host/io/run_data.h"
#include "host/io/train_run.h"
#include "host/runtime/backend.h"
#include "host/training/trainer.h"

namespace dynpmnn {

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
  impl->backend = make_backend(device, impl->spec, train_hyper(impl->ck.config), /*quiet=*/true);
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
  cfg.validate();
  return train_run(cfg, load_run_data(cfg), std::nullopt, RunOutput::kSilent).summary.dump();
}

}  // namespace dynpmnn
