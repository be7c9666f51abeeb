#include "host/runtime/backend.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

#include "kernels/loss_math.h"
#include "kernels/shuffle_math.h"

namespace dynpmnn {

std::uint64_t shuffle_key(std::uint64_t seed, int epoch, std::uint32_t row) {
  return shuffle_key_of(seed, epoch, row);
}

std::vector<std::uint32_t> epoch_permutation(std::uint64_t seed, int epoch, std::uint32_t rows) {
  std::vector<std::uint64_t> keys(rows);
  for (std::uint32_t r = 0; r < rows; ++r) keys[r] = shuffle_key_of(seed, epoch, r);
  std::vector<std::uint32_t> order(rows);
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](std::uint32_t i, std::uint32_t j) {
    return keys[i] != keys[j] ? keys[i] < keys[j] : i < j;
  });
  return order;
}

void ShardExchange::allreduce_sum_device(float*, std::size_t, void*) {
  throw std::logic_error("this shard exchange has no device allreduce (a GPU data-parallel run needs NCCL)");
}
void ShardExchange::allreduce_sum_device(double*, std::size_t, void*) {
  throw std::logic_error("this shard exchange has no device allreduce (a GPU data-parallel run needs NCCL)");
}
void ShardExchange::allreduce_max_device(int*, std::size_t, void*) {
  throw std::logic_error("this shard exchange has no device allreduce (a GPU data-parallel run needs NCCL)");
}

int target_columns(Loss loss, const ModelSpec& spec) { return loss == Loss::kSoftmaxCrossEntropy ? 1 : spec.outputs; }

void check_backend_data(const ModelSpec& spec, Loss loss, const SplitData& data) {
  if (!data.target_scaler.identity())
    throw std::invalid_argument("set_data: the targets carry a scaler; wrap the backend in with_target_scaling");
  const int targets = target_columns(loss, spec);
  for (const Dataset* d : {&data.train, &data.val, &data.test}) {
    if (d->features != spec.inputs || d->targets != targets)
      throw std::invalid_argument("dataset has " + std::to_string(d->features) + " features and " +
                                  std::to_string(d->targets) + " targets; the model expects " +
                                  std::to_string(spec.inputs) + " and " + std::to_string(targets));
    if (d->x.size() != static_cast<std::size_t>(d->rows) * d->features ||
        d->y.size() != static_cast<std::size_t>(d->rows) * d->targets)
      throw std::invalid_argument("dataset arrays do not match its row count");
    if (loss == Loss::kSoftmaxCrossEntropy)
      for (const double label : d->y)
        if (class_of_label(label, spec.outputs) < 0)
          throw std::invalid_argument("class index " + std::to_string(label) + " is not an integer in [0, " +
                                      std::to_string(spec.outputs) + ")");
  }
}

namespace {

class TargetScalingBackend final : public Backend {
 public:
  explicit TargetScalingBackend(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}

  std::string name() const override { return inner_->name(); }

  void set_data(const SplitData& data) override {
    scaler_ = data.target_scaler;
    if (scaler_.identity()) return inner_->set_data(data);
    if (!(scaler_.std > 0) || !std::isfinite(scaler_.std) || !std::isfinite(scaler_.mean))
      throw std::invalid_argument("with_target_scaling: target mean " + std::to_string(scaler_.mean) + " and std " +
                                  std::to_string(scaler_.std) + ", expected finite values and std > 0");
    SplitData scaled = data;
    scaled.target_scaler = TargetScaler{};
    for (Dataset* d : {&scaled.train, &scaled.val, &scaled.test})
      for (double& y : d->y) y = (y - scaler_.mean) / scaler_.std;
    inner_->set_data(scaled);
  }

  void set_params(std::span<const double> params) override { inner_->set_params(params); }
  void get_params(std::span<double> out) const override { inner_->get_params(out); }
  OptimizerState get_optimizer_state() const override { return inner_->get_optimizer_state(); }
  void set_optimizer_state(const OptimizerState& state) override { inner_->set_optimizer_state(state); }

  EpochStats train_epoch(int epoch) override {
    EpochStats stats = inner_->train_epoch(epoch);
    // The mean minibatch MSE of the scaled targets is std² times smaller than in the target's units.
    if (!scaler_.identity()) stats.train_loss *= scaler_.std * scaler_.std;
    return stats;
  }

  std::vector<double> predict(Split split) override {
    std::vector<double> out = inner_->predict(split);
    if (!scaler_.identity())
      for (double& p : out) p = p * scaler_.std + scaler_.mean;
    return out;
  }

 private:
  std::unique_ptr<Backend> inner_;
  TargetScaler scaler_;
};

}  // namespace

std::unique_ptr<Backend> with_target_scaling(std::unique_ptr<Backend> inner) {
  return std::make_unique<TargetScalingBackend>(std::move(inner));
}

#if !defined(DYNPMNN_HAVE_CUDA)
bool cuda_available(std::string* why) {
  if (why) *why = "this build has no CUDA backend (configured without nvcc or with -DDYNPMNN_CUDA=OFF)";
  return false;
}

int cuda_device_count() { return 0; }

void select_cuda_device(int ordinal) {
  throw std::runtime_error("select_cuda_device(" + std::to_string(ordinal) + "): this build has no CUDA backend");
}

std::unique_ptr<Backend> make_cuda_backend(const ModelSpec&, const TrainHyper&) {
  std::string why;
  cuda_available(&why);
  throw std::runtime_error("--device cuda: " + why);
}
#endif

void check_param_count(const char* call, std::size_t got, std::size_t expected) {
  if (got != expected)
    throw std::invalid_argument(std::string(call) + ": " + std::to_string(got) + " values for " +
                                std::to_string(expected) + " parameters");
}

void check_optimizer_state(const OptimizerState& state, std::size_t expected) {
  if (state.m.size() != expected || state.v.size() != expected || state.step < 0)
    throw std::invalid_argument("set_optimizer_state: " + std::to_string(state.m.size()) + " and " +
                                std::to_string(state.v.size()) + " moments at step " + std::to_string(state.step) +
                                ", expected " + std::to_string(expected) + " each at a step >= 0");
}

}  // namespace dynpmnn
