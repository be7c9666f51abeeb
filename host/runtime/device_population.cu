#include "host/runtime/device_population.h"

#include <cmath>
#include <stdexcept>

#include "common/cuda_check.h"

namespace dynpmnn {

namespace {

std::vector<float> to_float(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

}  // namespace

// Model k of the population, as a lone backend.
class DevicePopulation::Member final : public Backend {
 public:
  Member(DevicePopulation& pop, int k) : pop_(pop), k_(k) {}
  std::string name() const override { return pop_.name(); }
  void set_data(const SplitData& data) override { pop_.check_data(data); }
  void set_params(std::span<const double> params) override { pop_.set_params(k_, params); }
  void get_params(std::span<double> out) const override { pop_.get_params(k_, out); }
  OptimizerState get_optimizer_state() const override { return pop_.get_optimizer_state(k_); }
  void set_optimizer_state(const OptimizerState& state) override { pop_.set_optimizer_state(k_, state); }
  EpochStats train_epoch(int epoch) override { return pop_.train_one(k_, epoch); }
  std::vector<double> predict(Split split) override { return pop_.predict(k_, split); }

 private:
  DevicePopulation& pop_;
  int k_;
};

DevicePopulation::DevicePopulation(std::string kind, int models, std::size_t total, const SplitData& data)
    : P_(models), total_(total), inputs_(data.train.features), outputs_(data.train.targets),
      train_rows_(data.train.rows), val_rows_(data.val.rows), test_rows_(data.test.rows),
      scaler_(data.target_scaler), adam_t_(static_cast<std::size_t>(models), 0), kind_(std::move(kind)) {
  cudaDeviceProp prop{};
  int device = 0;
  DYNPMNN_CUDA_CHECK(cudaGetDevice(&device));
  DYNPMNN_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  device_name_ = prop.name;
  const std::size_t n = static_cast<std::size_t>(P_) * total_;
  // On this (non-blocking) stream: a memset on the legacy default stream would not be ordered
  // before the uploads that follow on it.
  for (DeviceBuffer<float>* b : {&params_, &m_, &v_}) {
    *b = DeviceBuffer<float>(n);
    DYNPMNN_CUDA_CHECK(cudaMemsetAsync(b->data(), 0, b->bytes(), stream()));
  }
  std::vector<double> y = data.train.y;
  if (!scaler_.identity())
    for (double& t : y) t = (t - scaler_.mean) / scaler_.std;
  train_x_ = upload(to_float(data.train.x));
  train_y_ = upload(to_float(y));
  val_x_ = upload(to_float(data.val.x));
  test_x_ = upload(to_float(data.test.x));
  for (int k = 0; k < P_; ++k) members_.push_back(std::make_unique<Member>(*this, k));
  DYNPMNN_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

DevicePopulation::~DevicePopulation() { (void)cudaStreamSynchronize(stream()); }

void DevicePopulation::changed(int k) {
  params_host_.clear();
  for (auto& valid : pred_valid_)
    if (!valid.empty()) valid[static_cast<std::size_t>(k)] = false;
}

EpochStats DevicePopulation::epoch_stats(int epoch, long steps_done, double loss_sum, int flag, long diverged_step,
                                         double seconds) const {
  EpochStats s;
  s.steps = steps_done;
  s.seconds = seconds;  // the population's epoch: every model's took this wall time
  const double loss_scale = scaler_.identity() ? 1.0 : scaler_.std * scaler_.std;
  const double mean = steps_done ? loss_sum / static_cast<double>(steps_done) * loss_scale : 0.0;
  if (flag != -1) {
    s.train_loss = steps_done ? mean : NAN;
    s.divergence = Divergence{true, epoch, diverged_step, flag};
  } else {
    s.train_loss = mean;
  }
  return s;
}

void DevicePopulation::check_data(const SplitData& data) const {
  if (data.train.rows != train_rows_ || data.val.rows != val_rows_ || data.test.rows != test_rows_ ||
      data.train.features != inputs_ || data.train.targets != outputs_ || !(data.target_scaler == scaler_))
    throw std::invalid_argument(kind_ + ": set_data with other data than the population was made with");
}

void DevicePopulation::set_params(int k, std::span<const double> p) {
  check_param_count("set_params", p.size(), total_);
  const std::vector<float> host(p.begin(), p.end());
  upload_sync(params_.data() + slot_of(k), host.data(), total_, stream());
  DYNPMNN_CUDA_CHECK(cudaMemsetAsync(m_.data() + slot_of(k), 0, total_ * sizeof(float), stream()));
  DYNPMNN_CUDA_CHECK(cudaMemsetAsync(v_.data() + slot_of(k), 0, total_ * sizeof(float), stream()));
  DYNPMNN_CUDA_CHECK(cudaStreamSynchronize(stream()));
  adam_t_[k] = 0;
  changed(k);
}

void DevicePopulation::get_params(int k, std::span<double> out) {
  check_param_count("get_params", out.size(), total_);
  if (params_host_.empty()) params_host_ = download_sync(params_.data(), params_.size(), stream());
  for (std::size_t i = 0; i < total_; ++i) out[i] = static_cast<double>(params_host_[slot_of(k) + i]);
}

OptimizerState DevicePopulation::get_optimizer_state(int k) const {
  const std::vector<float> m = download_sync(m_.data() + slot_of(k), total_, stream());
  const std::vector<float> v = download_sync(v_.data() + slot_of(k), total_, stream());
  OptimizerState st;
  st.step = static_cast<long>(adam_t_[k]);
  st.m.assign(m.begin(), m.end());
  st.v.assign(v.begin(), v.end());
  return st;
}

void DevicePopulation::set_optimizer_state(int k, const OptimizerState& st) {
  check_optimizer_state(st, total_);
  const std::vector<float> m(st.m.begin(), st.m.end()), v(st.v.begin(), st.v.end());
  upload_sync(m_.data() + slot_of(k), m.data(), total_, stream());
  upload_sync(v_.data() + slot_of(k), v.data(), total_, stream());
  adam_t_[k] = st.step;
}

EpochStats DevicePopulation::train_one(int k, int epoch) {
  std::vector<int> epochs(static_cast<std::size_t>(P_), 0);
  epochs[k] = epoch;
  return train_epochs(epochs)[k];
}

// Predictions are computed for many models in one pass and kept until a model's parameters
// change, so that the trainer's P calls after an epoch cost one pass.
std::vector<double> DevicePopulation::predict(int k, Split split) {
  const int s = static_cast<int>(split);
  const int rows = split_rows(split);
  const std::size_t per = static_cast<std::size_t>(rows) * outputs_;
  std::vector<double> out(per);
  if (rows == 0) return out;
  if (pred_host_[s].empty()) {
    pred_host_[s].assign(static_cast<std::size_t>(P_) * per, 0.0f);
    pred_valid_[s].assign(static_cast<std::size_t>(P_), false);
  }
  if (!pred_valid_[s][k]) refresh_predictions(split, rows);
  if (!pred_valid_[s][k]) throw std::logic_error(kind_ + ": predictions of model " + std::to_string(k) + " not made");
  const float* mine = pred_host_[s].data() + static_cast<std::size_t>(k) * per;
  for (std::size_t i = 0; i < per; ++i) {
    const double p = static_cast<double>(mine[i]);
    out[i] = scaler_.identity() ? p : p * scaler_.std + scaler_.mean;
  }
  return out;
}

}  // namespace dynpmnn
