// Checkpoints: everything needed to continue a run exactly (dynpmnn train --resume) or to use its
// model (eval, predict), in one versioned binary file. The run folder writes checkpoint.bin after
// every epoch and best.bin at every new best validation MSE, both atomically (run_folder.h).
//
// Layout, versions 1 to 3, every number little-endian; str = u64 byte count + bytes (UTF-8):
//   offset 0   magic "DYNPMNNC" (8 bytes)
//          8   u32 format version (kCheckpointVersion)
//         12   u64 length of the whole file in bytes, checksum included (tells truncation apart)
//         20   str  config: to_toml of the resolved Config
//              u32  F features, then F × (str name, f64 scaler mean, f64 scaler std)
//              (versions 2 and 3) u32 K classes, then K × str label, class k's label: a classification
//                   run's (task = classification), whose model has K outputs; K = 0 in version 3
//                   for regression; regression checkpoints of version 1 go without this field
//              (version 3 only) f64 target mean, f64 target std: the regression target's
//                   standardisation (target_scaling = "standard"). Written only by such runs, so
//                   that a run with target_scaling = "none" writes the very bytes it wrote before
//                   the key existed; versions 1 and 2 load with target_scaling = "none".
//              u32  T tensors, then T × (str name, u8 trainable, u32 rank, rank × u32 dims), the
//                   ParamTable of the config in table order; P = Σ Π dims
//              f64[P] current parameters (the backend's, what the next epoch starts from)
//              f64[P] best parameters (of best_epoch; the initial ones while best_epoch is 0)
//              i64  Adam step count, then f64[P] Adam m, f64[P] Adam v
//              i32  epochs completed, i32 best epoch, i32 epochs waited (patience),
//              f64  best validation MSE, f64 patience reference (+inf before the first epoch)
//              u32  H history records, then H × (i32 epoch, f64 train_loss, f64 val_mse,
//                   f64 seconds, u8 improved)
//  length - 8  u64  FNV-1a 64 of every byte before it
// The shuffling RNG needs no state of its own: the epoch order is epoch_permutation(config.seed,
// epoch), a pure function, so the stored seed (in the config) and epoch count are all of it.
//
// Reading never trusts the file: magic, version, length and checksum are checked first, every
// count is bounded by the bytes left before anything is allocated, the whole file is parsed into a
// Checkpoint that is returned only once the tensors match the ParamTable of the stored config.
// Every problem is a CheckpointError naming the file, the byte offset where it applies and what is
// wrong.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "data/california.h"
#include "host/runtime/backend.h"
#include "host/config/config.h"
#include "host/training/trainer.h"
#include "models/dynpmnn.h"

namespace dynpmnn {

struct CheckpointError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline constexpr char kCheckpointMagic[8] = {'D', 'Y', 'N', 'P', 'M', 'N', 'N', 'C'};
inline constexpr std::uint32_t kCheckpointVersion = 1;        // regression
inline constexpr std::uint32_t kCheckpointVersionClasses = 2; // with class labels (classification)
inline constexpr std::uint32_t kCheckpointVersionTarget = 3;  // with the target scaler (target_scaling = standard)

struct CheckpointTensor {
  std::string name;
  std::vector<int> shape;
  bool trainable = true;
};

struct Checkpoint {
  Config config;
  Scaler scaler;                           // (features) mean and std
  std::vector<std::string> feature_names;  // (features)
  std::vector<std::string> class_labels;   // (K) classification; empty for regression
  TargetScaler target_scaler;              // the identity unless a regression run's target_scaling = standard
  std::vector<CheckpointTensor> tensors;   // ParamTable order
  std::vector<double> params;              // (P) the backend's current parameters
  OptimizerState optimizer;                // m, v: (P) each
  TrainState state;                        // best_params: (P)
};

// The tensor list of a table, as a checkpoint stores it.
std::vector<CheckpointTensor> checkpoint_tensors(const ParamTable& table);

// A checkpoint of a run after `state.epoch` epochs, the parameters and Adam state read from the
// backend.
Checkpoint make_checkpoint(const Config& cfg, const ParamTable& table, const Scaler& scaler,
                           const std::vector<std::string>& feature_names, const TrainState& state,
                           const Backend& backend);

std::string serialize_checkpoint(const Checkpoint& checkpoint);
// `name` stands for the file in messages.
Checkpoint parse_checkpoint(std::string_view bytes, const std::string& name);

// Atomically: a temporary file in the same folder, fsync, rename, fsync of the folder.
void save_checkpoint(const std::filesystem::path& path, const Checkpoint& checkpoint);
Checkpoint load_checkpoint(const std::filesystem::path& path);

}  // namespace dynpmnn
