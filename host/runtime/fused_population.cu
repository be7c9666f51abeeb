// The fused population on the GPU (population.h, make_fused_cuda_population): P tiny models of one
// layout in kernels/fused_epoch_gpu.h's kernels. An epoch of every model is three launches whatever
// P (the keys of the models' orders, their segmented sort, the epoch kernel with one block a
// model) and one read-back of P small status structs; a validation pass of every model is one
// launch. The parameters and Adam moments of the P models are (P, total) device arrays; a member
// (member(k)) is a Backend over its slot, so the trainer, run folders and checkpoints see each model
// as a lone backend. Targets are scaled as with_target_scaling does.
#include <cuda_runtime.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/cuda_check.h"
#include "common/cuda_stream.h"
#include "common/device_buffer.h"
#include "host/runtime/population.h"
#include "kernels/fused_epoch_gpu.h"
#include "models/fused_model.h"

namespace dynpmnn {

namespace {

class FusedCudaPopulation;

// Model k of the population, as a lone backend.
class FusedMember final : public Backend {
 public:
  FusedMember(FusedCudaPopulation& pop, int k) : pop_(pop), k_(k) {}
  std::string name() const override;
  void set_data(const SplitData& data) override;
  void set_params(std::span<const double> params) override;
  void get_params(std::span<double> out) const override;
  OptimizerState get_optimizer_state() const override;
  void set_optimizer_state(const OptimizerState& state) override;
  EpochStats train_epoch(int epoch) override;
  std::vector<double> predict(Split split) override;

 private:
  FusedCudaPopulation& pop_;
  int k_;
};

std::vector<float> to_float(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

class FusedCudaPopulation final : public PopulationBackend {
 public:
  FusedCudaPopulation(const FusedLayout& layout, std::vector<FusedParamInfo> info, std::vector<FusedHyper> hyper,
                      Integrator integrator, const SplitData& data)
      : L_(layout), P_(static_cast<int>(hyper.size())), total_(static_cast<std::size_t>(layout.total)),
        integrator_(integrator), scaler_(data.target_scaler), train_rows_(data.train.rows),
        val_rows_(data.val.rows), test_rows_(data.test.rows) {
    cudaDeviceProp prop{};
    int device = 0;
    DYNPMNN_CUDA_CHECK(cudaGetDevice(&device));
    DYNPMNN_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    device_name_ = prop.name;
    const char* form = std::getenv("DYNPMNN_FUSED");
    per_step_ = form != nullptr && std::string(form) == "step";
    for (const FusedHyper& h : hyper) clamp_ = clamp_ || h.clip > 0;
    // In a clamping launch a model without the clamp clamps at +inf: the identity.
    std::vector<FusedHyper> launch = hyper;
    for (FusedHyper& h : launch)
      if (clamp_ && !(h.clip > 0)) h.clip = std::numeric_limits<double>::infinity();
    hyper_ = upload(launch);
    info_ = upload(info);
    status_host_.assign(P_, FusedStatus{});
    status_ = DeviceBuffer<FusedStatus>(P_);
    active_ = DeviceBuffer<int>(P_);
    const std::size_t n = static_cast<std::size_t>(P_) * total_;
    params_ = DeviceBuffer<float>(n);
    m_ = DeviceBuffer<float>(n);
    v_ = DeviceBuffer<float>(n);
    // On this (non-blocking) stream: a memset on the legacy default stream would not be ordered
    // before the uploads that follow on it.
    for (DeviceBuffer<float>* b : {&params_, &m_, &v_})
      DYNPMNN_CUDA_CHECK(cudaMemsetAsync(b->data(), 0, b->bytes(), stream()));
    ck_elems_ = fused_checkpoint_floats(L_);
    ck_ = DeviceBuffer<float>(ck_elems_ * P_);
    train_x_ = upload(to_float(data.train.x));
    train_y_ = upload(to_float(scaled(data.train.y)));
    val_x_ = upload(to_float(data.val.x));
    test_x_ = upload(to_float(data.test.x));
    orders_ = std::make_unique<FusedOrdersGpu>(P_, static_cast<std::uint32_t>(train_rows_));
    for (int k = 0; k < P_; ++k) members_.push_back(std::make_unique<FusedMember>(*this, k));
    DYNPMNN_CUDA_CHECK(cudaStreamSynchronize(stream()));
  }

  int size() const override { return P_; }
  std::string name() const override {
    return "cuda (" + device_name_ + "), fused population" + (per_step_ ? " (a launch per minibatch)" : "");
  }
  Backend& member(int k) override { return *members_.at(static_cast<std::size_t>(k)); }

  std::vector<EpochStats> train_epochs(std::span<const int> epochs) override {
    if (epochs.size() != static_cast<std::size_t>(P_))
      throw std::invalid_argument("fused population: train_epochs got " + std::to_string(epochs.size()) +
                                  " epoch numbers for " + std::to_string(P_) + " models");
    std::vector<int> active;
    for (int k = 0; k < P_; ++k) {
      status_host_[k].epoch = epochs[k] > 0 ? epochs[k] : 0;
      if (epochs[k] > 0) active.push_back(k);
    }
    std::vector<EpochStats> stats(P_);
    if (active.empty()) return stats;
    const auto t0 = std::chrono::steady_clock::now();
    upload_sync(status_.data(), status_host_.data(), status_host_.size(), stream());
    upload_sync(active_.data(), active.data(), active.size(), stream());
    const FusedDeviceModels models = device_models();
    const int count = static_cast<int>(active.size());
    orders_->compute(models, active_.data(), count, stream());
    // The whole epoch in one launch, or (DYNPMNN_FUSED=step) a launch per minibatch: the same
    // arithmetic in the same order, the forms the device check times against each other.
    const int steps = fused_epoch_steps(L_);
    const int per_launch = per_step_ ? 1 : std::max(steps, 1);
    for (int s = 0; s < std::max(steps, 1); s += per_launch)
      fused_epoch_gpu(L_, integrator_, clamp_, models, active_.data(), count, train_x_.data(), train_y_.data(),
                      orders_->orders(), ck_.data(), ck_elems_, s, s + per_launch, stream());
    status_host_ = download_sync(status_.data(), status_host_.size(), stream());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    changed();
    const double loss_scale = scaler_.identity() ? 1.0 : scaler_.std * scaler_.std;
    for (int k : active) {
      const FusedStatus& st = status_host_[k];
      EpochStats& s = stats[k];
      s.steps = st.steps_done;
      s.seconds = seconds;  // the population's epoch: every model's took this wall time
      if (st.flag != -1) {
        s.divergence = Divergence{true, epochs[k], static_cast<long>(st.diverged_step), st.flag};
        s.train_loss = st.steps_done ? st.loss_sum / st.steps_done * loss_scale : NAN;
      } else {
        s.train_loss = st.steps_done ? st.loss_sum / st.steps_done * loss_scale : 0.0;
      }
    }
    return stats;
  }

  // The members' calls.
  void check_data(const SplitData& data) const {
    if (data.train.rows != train_rows_ || data.val.rows != val_rows_ || data.test.rows != test_rows_ ||
        data.train.features != L_.F || !(data.target_scaler == scaler_))
      throw std::invalid_argument("fused population: set_data with other data than the population was made with");
  }

  void set_params(int k, std::span<const double> p) {
    check_param_count("set_params", p.size(), total_);
    const std::vector<float> host(p.begin(), p.end());
    upload_sync(params_.data() + slot(k), host.data(), total_, stream());
    DYNPMNN_CUDA_CHECK(cudaMemsetAsync(m_.data() + slot(k), 0, total_ * sizeof(float), stream()));
    DYNPMNN_CUDA_CHECK(cudaMemsetAsync(v_.data() + slot(k), 0, total_ * sizeof(float), stream()));
    DYNPMNN_CUDA_CHECK(cudaStreamSynchronize(stream()));
    status_host_[k].adam_step = 0;
    changed();
  }

  void get_params(int k, std::span<double> out) {
    check_param_count("get_params", out.size(), total_);
    if (params_host_.empty()) params_host_ = download_sync(params_.data(), params_.size(), stream());
    for (std::size_t i = 0; i < total_; ++i) out[i] = static_cast<double>(params_host_[slot(k) + i]);
  }

  OptimizerState get_optimizer_state(int k) const {
    const std::vector<float> m = download_sync(m_.data() + slot(k), total_, stream());
    const std::vector<float> v = download_sync(v_.data() + slot(k), total_, stream());
    OptimizerState st;
    st.step = static_cast<long>(status_host_[k].adam_step);
    st.m.assign(m.begin(), m.end());
    st.v.assign(v.begin(), v.end());
    return st;
  }

  void set_optimizer_state(int k, const OptimizerState& st) {
    check_optimizer_state(st, total_);
    const std::vector<float> m(st.m.begin(), st.m.end()), v(st.v.begin(), st.v.end());
    upload_sync(m_.data() + slot(k), m.data(), total_, stream());
    upload_sync(v_.data() + slot(k), v.data(), total_, stream());
    status_host_[k].adam_step = st.step;
  }

  EpochStats train_one(int k, int epoch) {
    std::vector<int> epochs(P_, 0);
    epochs[k] = epoch;
    return train_epochs(epochs)[k];
  }

  // Every model's predictions of the split in one launch, kept until a model's parameters change,
  // so that the trainer's P calls after an epoch cost one pass.
  std::vector<double> predict(int k, Split split) {
    const int s = static_cast<int>(split);
    const int rows = split == Split::kTrain ? train_rows_ : split == Split::kVal ? val_rows_ : test_rows_;
    if (!pred_valid_[s]) {
      const DeviceBuffer<float>& x = split == Split::kTrain ? train_x_ : split == Split::kVal ? val_x_ : test_x_;
      const std::size_t n = static_cast<std::size_t>(P_) * rows * L_.O;
      if (pred_.size() < n) pred_ = DeviceBuffer<float>(n);
      fused_predict_gpu(L_, integrator_, clamp_, device_models(), P_, x.data(), rows, pred_.data(), stream());
      pred_host_[s] = download_sync(pred_.data(), n, stream());
      pred_valid_[s] = true;
    }
    const std::size_t per = static_cast<std::size_t>(rows) * L_.O;
    std::vector<double> out(per);
    for (std::size_t i = 0; i < per; ++i) {
      const double p = static_cast<double>(pred_host_[s][k * per + i]);
      out[i] = scaler_.identity() ? p : p * scaler_.std + scaler_.mean;
    }
    return out;
  }

 private:
  cudaStream_t stream() const { return stream_.get(); }
  std::size_t slot(int k) const { return static_cast<std::size_t>(k) * total_; }

  template <typename T>
  DeviceBuffer<T> upload(const std::vector<T>& host) {
    DeviceBuffer<T> d(host.size());
    upload_sync(d.data(), host.data(), host.size(), stream());
    return d;
  }

  std::vector<double> scaled(std::vector<double> y) const {
    if (!scaler_.identity())
      for (double& t : y) t = (t - scaler_.mean) / scaler_.std;
    return y;
  }

  FusedDeviceModels device_models() {
    return FusedDeviceModels{hyper_.data(), status_.data(), info_.data(), params_.data(), m_.data(), v_.data()};
  }

  // A model's parameters changed: the host copy and the predictions are stale.
  void changed() {
    params_host_.clear();
    for (bool& valid : pred_valid_) valid = false;
  }

  FusedLayout L_;
  int P_;
  std::size_t total_;
  Integrator integrator_;
  TargetScaler scaler_;
  int train_rows_, val_rows_, test_rows_;
  bool clamp_ = false;
  bool per_step_ = false;  // DYNPMNN_FUSED=step: a launch per minibatch instead of one an epoch
  std::string device_name_;
  Stream stream_;  // first among the device objects: destroyed last
  DeviceBuffer<FusedHyper> hyper_;        // (P)
  DeviceBuffer<FusedParamInfo> info_;     // (total)
  std::vector<FusedStatus> status_host_;  // (P) each model's Adam step count lives here between epochs
  DeviceBuffer<FusedStatus> status_;      // (P)
  DeviceBuffer<int> active_;              // (P) the models of this epoch
  DeviceBuffer<float> params_, m_, v_;    // (P, total)
  std::size_t ck_elems_ = 0;
  DeviceBuffer<float> ck_;                // (P, ck_elems)
  DeviceBuffer<float> train_x_, train_y_, val_x_, test_x_;  // (rows, F) and (rows, O), targets scaled
  std::unique_ptr<FusedOrdersGpu> orders_;
  DeviceBuffer<float> pred_;              // (P, rows, O) of the last split predicted
  std::vector<float> params_host_;        // (P, total) while no parameter changed since it was read
  std::vector<float> pred_host_[3];
  bool pred_valid_[3] = {false, false, false};
  std::vector<std::unique_ptr<FusedMember>> members_;
};

std::string FusedMember::name() const { return pop_.name(); }
void FusedMember::set_data(const SplitData& data) { pop_.check_data(data); }
void FusedMember::set_params(std::span<const double> params) { pop_.set_params(k_, params); }
void FusedMember::get_params(std::span<double> out) const { pop_.get_params(k_, out); }
OptimizerState FusedMember::get_optimizer_state() const { return pop_.get_optimizer_state(k_); }
void FusedMember::set_optimizer_state(const OptimizerState& state) { pop_.set_optimizer_state(k_, state); }
EpochStats FusedMember::train_epoch(int epoch) { return pop_.train_one(k_, epoch); }
std::vector<double> FusedMember::predict(Split split) { return pop_.predict(k_, split); }

}  // namespace

std::unique_ptr<PopulationBackend> make_fused_cuda_population(std::span<const ModelSpec> specs,
                                                              std::span<const TrainHyper> hypers,
                                                              const SplitData& data, std::string* why) {
  FusedLayout layout;
  std::vector<FusedParamInfo> info;
  std::vector<FusedHyper> hyper;
  if (!fused_population_layout(specs, hypers, data, layout, info, hyper, why)) return nullptr;
  if (!cuda_available(why)) return nullptr;
  return std::make_unique<FusedCudaPopulation>(layout, std::move(info), std::move(hyper),
                                               specs[0].layers[0].integrator, data);
}

}  // namespace dynpmnn
