// The setup of a test that trains one model on the CPU backend: the parameter table, the initial
// parameters and a backend holding the data and those parameters. One place for those steps, so
// that a test says only what it trains and what it checks.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "data/california.h"
#include "host/runtime/backend.h"
#include "host/training/trainer.h"
#include "models/dynpmnn.h"

namespace dynpmnn::testing {

// Constructed in place (neither copied nor moved), so the backend never outlives what it was built
// from.
class CpuTraining {
 public:
  // init_params(spec, table, seed) into params; a CPU backend of (spec, hyper) that holds `data`
  // (none where data is null) and starts from params.
  CpuTraining(const ModelSpec& model, const TrainHyper& hyper, const SplitData* data, std::uint64_t seed)
      : spec(model), table(spec), params(table.total()), backend(make_cpu_backend(spec, hyper)) {
    init_params(spec, table, seed, params);
    if (data) backend->set_data(*data);
    backend->set_params(params);
  }
  // The config's hyperparameters (train_hyper) and seed.
  CpuTraining(const Config& cfg, const ModelSpec& model, const SplitData& data)
      : CpuTraining(model, train_hyper(cfg), &data, cfg.seed) {}
  CpuTraining(const CpuTraining&) = delete;
  CpuTraining& operator=(const CpuTraining&) = delete;

  // train_model from params; leaves the best parameters in params, as the trainer does.
  TrainReport train(const Config& cfg, const SplitData& data, TrainObserver* observer = nullptr) {
    return train_model(cfg, spec, *backend, data, params, observer);
  }

  const ModelSpec spec;
  const ParamTable table;
  std::vector<double> params;  // (P) the initial parameters; after train(), the best ones
  const std::unique_ptr<Backend> backend;
};

}  // namespace dynpmnn::testing
