// The train subcommand's run, shared with sweep: a validated configuration and its data in, a run
// folder out (fresh, or continued from its checkpoint), the summary that final.json holds back.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/california.h"
#include "host/runtime/backend.h"
#include "host/io/checkpoint.h"
#include "host/config/config.h"
#include "models/dynpmnn.h"

namespace dynpmnn {

// device: cpu, cuda or auto (auto says on stderr what it chose).
std::unique_ptr<Backend> make_backend(const std::string& device, const ModelSpec& spec, const TrainHyper& hyper);

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
// run continues from that checkpoint (read from cfg.out/checkpoint.bin) in cfg.out.
TrainRunResult train_run(const Config& cfg, const SplitData& data, std::optional<Checkpoint> resumed,
                         RunOutput output);

}  // namespace dynpmnn
