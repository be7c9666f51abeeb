// What the GPU populations share (fused_population.cu, batched_population.cu; CUDA sources only):
// the P models' parameters and Adam moments as (P, total) device arrays, each model's Adam step
// count, the data on the device with the target scaled as with_target_scaling does, a stream, the
// host copy of the parameters and the cached predictions, and the members: model k as a lone
// Backend whose every call is the population's for k, so the trainer, run folders, checkpoints and
// resume see each model as they see a lone backend. A population says where model k's slot is
// (slot_of) and how it trains an epoch and predicts.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/cuda_stream.h"
#include "common/device_buffer.h"
#include "host/runtime/population.h"

namespace dynpmnn {

class DevicePopulation : public PopulationBackend {
 public:
  int size() const override { return P_; }
  std::string name() const override { return "cuda (" + device_name_ + "), " + kind_; }
  Backend& member(int k) override { return *members_.at(static_cast<std::size_t>(k)); }

 protected:
  // kind: what name() says after the card ("fused population").
  DevicePopulation(std::string kind, int models, std::size_t total, const SplitData& data);
  ~DevicePopulation() override;

  cudaStream_t stream() const { return stream_.get(); }
  // Where model k's parameters and moments start in the (P, total) arrays.
  virtual std::size_t slot_of(int k) const { return static_cast<std::size_t>(k) * total_; }
  // Fills pred_host_[split] (P, rows, outputs) by model for at least every model whose
  // predictions are stale, and marks them valid.
  virtual void refresh_predictions(Split split, int rows) = 0;

  // Model k's parameters changed: the host copy and its predictions are stale.
  void changed(int k);
  // The slots moved (slot_of changed): the host copy, kept in slot order, is stale.
  void slots_moved() { params_host_.clear(); }
  // An epoch's report from what the device counted, its loss in the target's units.
  EpochStats epoch_stats(int epoch, long steps_done, double loss_sum, int flag, long diverged_step,
                         double seconds) const;
  template <typename T>
  DeviceBuffer<T> upload(const std::vector<T>& host) {
    DeviceBuffer<T> d(host.size());
    upload_sync(d.data(), host.data(), host.size(), stream());
    return d;
  }
  const DeviceBuffer<float>& split_x(Split split) const {
    return split == Split::kTrain ? train_x_ : split == Split::kVal ? val_x_ : test_x_;
  }
  int split_rows(Split split) const {
    return split == Split::kTrain ? train_rows_ : split == Split::kVal ? val_rows_ : test_rows_;
  }

  int P_;
  std::size_t total_;
  int inputs_, outputs_;
  int train_rows_, val_rows_, test_rows_;
  TargetScaler scaler_;
  std::vector<long long> adam_t_;  // (P) by model: Adam steps taken
  Stream stream_;  // first among the device objects: destroyed last
  DeviceBuffer<float> params_, m_, v_;  // (P, total), zero to start
  DeviceBuffer<float> train_x_, train_y_, val_x_, test_x_;  // (rows, F) and (rows, O), targets scaled
  std::vector<float> pred_host_[3];  // (P, rows, outputs) by model
  std::vector<bool> pred_valid_[3];  // (P) by model

 private:
  class Member;
  friend class Member;

  // The members' calls.
  void check_data(const SplitData& data) const;
  void set_params(int k, std::span<const double> params);
  void get_params(int k, std::span<double> out);
  OptimizerState get_optimizer_state(int k) const;
  void set_optimizer_state(int k, const OptimizerState& state);
  EpochStats train_one(int k, int epoch);
  std::vector<double> predict(int k, Split split);

  std::string kind_;
  std::string device_name_;
  std::vector<float> params_host_;  // (P, total) while no parameter changed since it was read
  std::vector<std::unique_ptr<Backend>> members_;
};

}  // namespace dynpmnn
