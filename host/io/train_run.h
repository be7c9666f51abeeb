// A run of `dynpmnn train`, shared with `dynpmnn sweep` and the embedding API (host/embed/embed.h):
// a validated configuration and its data in, a run folder out (fresh, or continued from its
// checkpoint), the summary that final.json holds back.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/california.h"
#include "host/runtime/backend.h"
#include "host/io/checkpoint.h"
#include "host/config/config.h"
#include "models/dynpmnn.h"

namespace dynpmnn {

// device: cpu, cuda or auto (auto says on stderr what it chose, unless `quiet`; another value is a
// ConfigError naming it); wrapped in with_target_scaling, so that the backend trains on
// SplitData::target_scaler's scaled targets and predicts in their units.
std::unique_ptr<Backend> make_backend(const std::string& device, const ModelSpec& spec, const TrainHyper& hyper,
                                      bool quiet = false);

// The target scaling cfg asks for (target_scaling), fitted on data's train split: the identity for
// "none" and for classification, which ignores the key.
TargetScaler target_scaler_for(const Config& cfg, const SplitData& data);

// The checkpoint's model must see its inputs as in training: the same features, standardised by
// the same scaler (for --resume, the data file is the same only if the fitted scaler is too).
void require_same_features(const Checkpoint& ck, const std::string& checkpoint_path,
                           const std::vector<std::string>& names);
void require_same_scaler(const Checkpoint& ck, const std::string& checkpoint_path, const SplitData& data);

enum class RunOutput {
  kProgress,  // progress, warnings, the divergence explanation and the run folder on stderr
  kQuiet,     // train --quiet: no progress and no run folder line, warnings and divergence still
  kSilent,    // one of many (sweep): nothing on stderr, the caller reports the outcome
};

struct TrainRunResult {
  nlohmann::ordered_json summary;  // final.json
  bool diverged = false;
};

// cfg must be validated; cfg.out names the folder (empty: a new default one). With `resumed`, the
// run continues from that checkpoint (read from cfg.out/checkpoint.bin) in cfg.out. The target
// scaler of `data` is replaced by target_scaler_for(cfg, data). With an `exchange` (train
// --data-parallel, cfg.data_shards its size) this process trains its shard of every minibatch;
// only rank 0 writes the run folder, the others train silently and write nothing.
TrainRunResult train_run(const Config& cfg, const SplitData& data, std::optional<Checkpoint> resumed,
                         RunOutput output, std::shared_ptr<ShardExchange> exchange = nullptr);

// train_run for a population (host/runtime/population.h): the models of cfgs trained together,
// each as train_run would train it alone (its own run folder, checkpoint to resume from, and
// summary), `threads` models at once. More than one model: output kSilent and no exchange, and
// every configuration's target scaling the first's (they share the data); std::invalid_argument
// otherwise.
std::vector<TrainRunResult> train_runs(std::span<const Config> cfgs, const SplitData& data,
                                       std::vector<std::optional<Checkpoint>> resumed, RunOutput output,
                                       int threads = 1, std::shared_ptr<ShardExchange> exchange = nullptr);

}  // namespace dynpmnn
