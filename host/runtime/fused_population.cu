// The fused population on the GPU (population.h, make_fused_cuda_population): P tiny models of one
// layout in kernels/fused_epoch_gpu.h's kernels. An epoch of every model is three launches whatever
// P (the keys of the models' orders, their segmented sort, the epoch kernel with one block a
// model) and one read-back of P small status structs; a validation pass of every model is one
// launch. What it shares with the batched population (parameters and moments as (P, total) device
// arrays, members as lone Backends, the data and target scaling) is device_population.h.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/cuda_check.h"
#include "common/device_buffer.h"
#include "host/runtime/device_population.h"
#include "host/runtime/population.h"
#include "kernels/fused_epoch_gpu.h"
#include "kernels/ops_gpu.h"

namespace dynpmnn {

namespace {

class FusedCudaPopulation final : public DevicePopulation {
 public:
  FusedCudaPopulation(const FusedLayout& layout, std::vector<FusedParamInfo> info, std::vector<FusedHyper> hyper,
                      Integrator integrator, const SplitData& data, bool per_step)
      : DevicePopulation(per_step ? "fused population (a launch per minibatch)" : "fused population",
                         static_cast<int>(hyper.size()), static_cast<std::size_t>(layout.total), data),
        L_(layout), integrator_(integrator), per_step_(per_step) {
    // Models with a clamp and models without run in separate launches, each with the stepper it
    // runs alone: a clamp at +inf would be the identity but another float computation.
    std::vector<int> lists[2];
    for (int k = 0; k < P_; ++k) {
      clamped_.push_back(hyper[k].clip > 0);
      lists[clamped_.back() ? 0 : 1].push_back(k);
    }
    for (int c = 0; c < 2; ++c) {
      list_size_[c] = static_cast<int>(lists[c].size());
      if (!lists[c].empty()) list_[c] = upload(lists[c]);
    }
    hyper_ = upload(hyper);
    info_ = upload(info);
    status_host_.assign(P_, FusedStatus{});
    status_ = DeviceBuffer<FusedStatus>(P_);
    active_ = DeviceBuffer<int>(P_);
    ck_elems_ = fused_checkpoint_floats(L_);
    ck_ = DeviceBuffer<float>(ck_elems_ * P_);
    orders_ = std::make_unique<ModelOrdersGpu>(P_, static_cast<std::uint32_t>(train_rows_));
    DYNPMNN_CUDA_CHECK(cudaStreamSynchronize(stream()));
  }

  std::vector<EpochStats> train_epochs(std::span<const int> epochs) override {
    if (epochs.size() != static_cast<std::size_t>(P_))
      throw std::invalid_argument("fused population: train_epochs got " + std::to_string(epochs.size()) +
                                  " epoch numbers for " + std::to_string(P_) + " models");
    // The epoch's models, those with a clamp first: two launches, one per stepper.
    std::vector<int> active;
    for (int k = 0; k < P_; ++k) {
      status_host_[k].epoch = std::max(epochs[k], 0);
      status_host_[k].adam_step = adam_t_[k];
    }
    for (int k = 0; k < P_; ++k)
      if (epochs[k] > 0 && clamped_[k]) active.push_back(k);
    const int clamped = static_cast<int>(active.size());
    for (int k = 0; k < P_; ++k)
      if (epochs[k] > 0 && !clamped_[k]) active.push_back(k);
    std::vector<EpochStats> stats(P_);
    if (active.empty()) return stats;
    const auto t0 = std::chrono::steady_clock::now();
    upload_sync(status_.data(), status_host_.data(), status_host_.size(), stream());
    upload_sync(active_.data(), active.data(), active.size(), stream());
    const FusedDeviceModels models = device_models();
    const int count = static_cast<int>(active.size());
    // Model k's seed and epoch inside its FusedHyper and FusedStatus.
    const auto* seeds = reinterpret_cast<const std::uint64_t*>(reinterpret_cast<const char*>(hyper_.data()) +
                                                               offsetof(FusedHyper, seed));
    const auto* epoch_of = reinterpret_cast<const int*>(reinterpret_cast<const char*>(status_.data()) +
                                                        offsetof(FusedStatus, epoch));
    orders_->compute(seeds, sizeof(FusedHyper), epoch_of, sizeof(FusedStatus), active_.data(), count, stream());
    // The whole epoch in one launch, or (DYNPMNN_FUSED=step) a launch per minibatch: the same
    // arithmetic in the same order, the forms the device check times against each other.
    const int steps = fused_epoch_steps(L_);
    const int per_launch = per_step_ ? 1 : std::max(steps, 1);
    const int group[2] = {clamped, count - clamped};
    for (int s = 0; s < std::max(steps, 1); s += per_launch)
      for (int c = 0, first = 0; c < 2; first += group[c], ++c)
        if (group[c] > 0)
          fused_epoch_gpu(L_, integrator_, c == 0, models, active_.data() + first, group[c], train_x_.data(),
                          train_y_.data(), orders_->orders() + static_cast<std::size_t>(first) * train_rows_,
                          ck_.data(), ck_elems_, s, s + per_launch, stream());
    status_host_ = download_sync(status_.data(), status_host_.size(), stream());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (int k : active) {
      const FusedStatus& st = status_host_[k];
      adam_t_[k] = st.adam_step;
      changed(k);
      stats[k] = epoch_stats(epochs[k], st.steps_done, st.loss_sum, st.flag, st.diverged_step, seconds);
    }
    return stats;
  }

 private:
  // Every model's predictions of the split: a launch for the models with a clamp, one for the others.
  void refresh_predictions(Split split, int rows) override {
    const int s = static_cast<int>(split);
    const std::size_t n = static_cast<std::size_t>(P_) * rows * L_.O;
    if (pred_.size() < n) pred_ = DeviceBuffer<float>(n);
    for (int c = 0; c < 2; ++c)
      if (list_size_[c] > 0)
        fused_predict_gpu(L_, integrator_, c == 0, device_models(), list_[c].data(), list_size_[c],
                          split_x(split).data(), rows, pred_.data(), stream());
    pred_host_[s] = download_sync(pred_.data(), n, stream());
    pred_valid_[s].assign(P_, true);
  }

  FusedDeviceModels device_models() {
    return FusedDeviceModels{hyper_.data(), status_.data(), info_.data(), params_.data(), m_.data(), v_.data()};
  }

  FusedLayout L_;
  Integrator integrator_;
  bool per_step_;              // DYNPMNN_FUSED=step: a launch per minibatch instead of one an epoch
  std::vector<bool> clamped_;  // (P) whether model k clamps
  DeviceBuffer<int> list_[2];  // the models with a clamp, and those without
  int list_size_[2] = {0, 0};
  DeviceBuffer<FusedHyper> hyper_;        // (P)
  DeviceBuffer<FusedParamInfo> info_;     // (total)
  std::vector<FusedStatus> status_host_;  // (P)
  DeviceBuffer<FusedStatus> status_;      // (P)
  DeviceBuffer<int> active_;              // (P) the models of this epoch
  std::size_t ck_elems_ = 0;
  DeviceBuffer<float> ck_;                // (P, ck_elems)
  std::unique_ptr<ModelOrdersGpu> orders_;
  DeviceBuffer<float> pred_;              // (P, rows, O) of the last split predicted
};

}  // namespace

std::unique_ptr<PopulationBackend> make_fused_cuda_population(std::span<const ModelSpec> specs,
                                                              std::span<const TrainHyper> hypers,
                                                              const SplitData& data, std::string* why) {
  FusedLayout layout;
  std::vector<FusedParamInfo> info;
  std::vector<FusedHyper> hyper;
  if (!fused_population_layout(specs, hypers, data, layout, info, hyper, why)) return nullptr;
  if (!cuda_available(why)) return nullptr;
  const char* form = std::getenv("DYNPMNN_FUSED");
  return std::make_unique<FusedCudaPopulation>(layout, std::move(info), std::move(hyper),
                                               specs[0].layers[0].integrator, data,
                                               form != nullptr && std::string(form) == "step");
}

}  // namespace dynpmnn
