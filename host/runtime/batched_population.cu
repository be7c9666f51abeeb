// The batched population on the GPU (population.h, make_batched_cuda_population): P models of one
// architecture that the fused kernels do not take (several layers, wider, other neuron models)
// trained in the same launches, layer by layer. Every layer's kernels run once for all the models
// of an epoch (models/gpu_model.h with a population: GEMMs strided-batched over the models, the
// neuron op over (model, sample, neuron) with each model's dt, steps and clamp), then one loss,
// one gradient check, one Adam launch for all of them, each with its own hyperparameters, step
// count and divergence flag (a TrainState a model). A training step is the lone CUDA backend's
// (cuda_backend.cu) with a model axis, captured once as a CUDA graph and replayed.
//
// Models that take no epoch cost nothing: the parameters and Adam moments live in (P, total)
// arrays in slot order, and before an epoch whose models are not the leading slots the slots are
// permuted (one gather per array) so that the epoch's models are slots 0..A-1; the kernels run over
// those A. Predictions are made for the models whose cached ones are stale, their parameters
// gathered into a working array. What it shares with the fused population (members as lone Backends, the data and target
// scaling, cached predictions) is device_population.h.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/cuda_check.h"
#include "common/cuda_stream.h"
#include "common/device_buffer.h"
#include "host/runtime/population.h"
#include "host/runtime/device_population.h"
#include "kernels/ops_gpu.h"
#include "kernels/train_state_gpu.h"
#include "models/gpu_model.h"

namespace dynpmnn {

namespace {

// Rows of every model together per forward pass of a prediction.
constexpr std::size_t kPredictRows = std::size_t{1} << 20;

class BatchedCudaPopulation final : public DevicePopulation {
 public:
  BatchedCudaPopulation(std::span<const ModelSpec> specs, std::span<const TrainHyper> hypers, const SplitData& data)
      : DevicePopulation("batched population", static_cast<int>(specs.size()), ParamTable(specs[0]).total(), data),
        specs_(specs.begin(), specs.end()), table_(specs_[0]), batch_(hypers[0].batch_size) {
    cublas_ = std::make_unique<CublasContext>(stream(), GemmMath::kFp32);
    for (const TrainHyper& h : hypers) {
      adam_.push_back(h.adam);
      seeds_.push_back(h.seed);
    }
    slot_model_.resize(P_);
    std::iota(slot_model_.begin(), slot_model_.end(), 0);
    model_slot_ = slot_model_;
    scratch_ = DeviceBuffer<float>(static_cast<std::size_t>(P_) * total_);
    std::vector<std::uint8_t> mask(total_, 0);
    for (const auto& t : table_.tensors())
      if (t.trainable) std::fill(mask.begin() + t.offset, mask.begin() + t.offset + t.size, std::uint8_t{1});
    trainable_ = upload(mask);
    state_ = DeviceBuffer<TrainState>(P_);
    state_host_ = PinnedBuffer<TrainState>(P_);
    adam_device_ = DeviceBuffer<AdamHyper>(P_);
    seeds_device_ = DeviceBuffer<std::uint64_t>(P_);
    epochs_device_ = DeviceBuffer<int>(P_);
    slots_device_ = DeviceBuffer<std::uint32_t>(P_);
    upload_slot_tables();
    orders_ = std::make_unique<ModelOrdersGpu>(P_, static_cast<std::uint32_t>(train_rows_));
    const std::size_t B = static_cast<std::size_t>(std::min(batch_, std::max(train_rows_, 1)));
    xb_ = DeviceBuffer<float>(P_ * B * inputs_);
    yb_ = DeviceBuffer<float>(P_ * B * outputs_);
    pred_ = DeviceBuffer<float>(P_ * B * outputs_);
    dpred_ = DeviceBuffer<float>(P_ * B * outputs_);
    DYNPMNN_CUDA_CHECK(cudaStreamSynchronize(stream()));
  }

  ~BatchedCudaPopulation() override { (void)cudaStreamSynchronize(stream()); }

  std::vector<EpochStats> train_epochs(std::span<const int> epochs) override {
    if (epochs.size() != static_cast<std::size_t>(P_))
      throw std::invalid_argument("batched population: train_epochs got " + std::to_string(epochs.size()) +
                                  " epoch numbers for " + std::to_string(P_) + " models");
    std::vector<int> active;
    for (int k = 0; k < P_; ++k)
      if (epochs[k] > 0) active.push_back(k);
    std::vector<EpochStats> stats(P_);
    if (active.empty() || train_rows_ == 0) return stats;
    const auto t0 = std::chrono::steady_clock::now();
    lead_with(active);
    const int A = static_cast<int>(active.size());

    // Each model's TrainState: the epoch's fields cleared, its own Adam step and corrections.
    std::vector<int> slot_epochs(A);
    for (int a = 0; a < A; ++a) {
      const int k = slot_model_[a];
      TrainState& st = state_host_.data()[a];
      st = TrainState{};
      st.flag = kNoNonFinite;
      st.diverged_step = -1;
      const double t = static_cast<double>(adam_t_[k]);
      st.adam = AdamDeviceStep{adam_t_[k], static_cast<float>(1.0 - std::pow(adam_[k].beta1, t)),
                               static_cast<float>(std::sqrt(1.0 - std::pow(adam_[k].beta2, t)))};
      slot_epochs[a] = epochs[k];
    }
    DYNPMNN_CUDA_CHECK(cudaMemcpyAsync(state_.data(), state_host_.data(), sizeof(TrainState) * A,
                                       cudaMemcpyHostToDevice, stream()));
    upload_sync(epochs_device_.data(), slot_epochs.data(), slot_epochs.size(), stream());
    orders_->compute(seeds_device_.data(), sizeof(std::uint64_t), epochs_device_.data(), sizeof(int), nullptr, A,
                     stream());

    prepare_training(A);
    const int full = train_rows_ / batch_, rest = train_rows_ % batch_;
    for (int s = 0; s < full; ++s) {
      if (graph_.ready()) {
        graph_.launch(stream());
      } else {
        run_step(A, batch_);
        // As the lone backend: captured after one step ran, so cuBLAS has chosen its algorithms.
        if (graph_.wanted() && s + 1 < full && train_model_->capturable())
          graph_.capture(stream(), [&] { run_step(A, batch_); });
      }
    }
    if (rest > 0) run_step(A, rest);
    DYNPMNN_CUDA_CHECK(cudaMemcpyAsync(state_host_.data(), state_.data(), sizeof(TrainState) * A,
                                       cudaMemcpyDeviceToHost, stream()));
    DYNPMNN_CUDA_CHECK(cudaStreamSynchronize(stream()));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (int a = 0; a < A; ++a) {
      const int k = slot_model_[a];
      const TrainState& st = state_host_.data()[a];
      adam_t_[k] = st.adam.t;
      changed(k);
      stats[k] = epoch_stats(epochs[k], st.steps_done, st.loss_sum, st.flag, st.diverged_step, seconds);
    }
    return stats;
  }

 private:
  std::size_t slot_of(int k) const override { return static_cast<std::size_t>(model_slot_[k]) * total_; }

  // The predictions of every model whose cached ones are stale (after an epoch: its models; after
  // set_params: that one), in one pass: their parameters gathered into a working array and a model
  // built for them, kept while the same models are asked again.
  void refresh_predictions(Split split, int rows) override {
    const int s = static_cast<int>(split);
    std::vector<int> stale;
    for (int k = 0; k < P_; ++k)
      if (!pred_valid_[s][k]) stale.push_back(k);
    if (stale.empty()) return;
    const int n = static_cast<int>(stale.size());
    const int chunk = static_cast<int>(std::clamp<std::size_t>(kPredictRows / n, 1, static_cast<std::size_t>(rows)));
    if (!predict_model_ || predict_for_ != stale || predict_model_->capacity() < chunk) {
      predict_specs_.clear();
      for (int k : stale) predict_specs_.push_back(specs_[k]);
      predict_model_ = std::make_unique<GpuModel>(predict_specs_.front(), table_, *cublas_, chunk, Pass::kInference,
                                                  std::span<const ModelSpec>(predict_specs_), sizeof(TrainState));
      predict_for_ = stale;
      predict_x_ = DeviceBuffer<float>(static_cast<std::size_t>(n) * chunk * inputs_);
      predict_out_ = DeviceBuffer<float>(static_cast<std::size_t>(n) * chunk * outputs_);
      predict_params_ = DeviceBuffer<float>(static_cast<std::size_t>(n) * total_);
    }
    std::vector<std::uint32_t> from(n);
    for (int i = 0; i < n; ++i) from[i] = static_cast<std::uint32_t>(model_slot_[stale[i]]);
    upload_sync(slots_device_.data(), from.data(), from.size(), stream());
    gather_rows_gpu(params_.data(), static_cast<int>(total_), slots_device_.data(), n, nullptr, 0, n,
                    predict_params_.data(), stream());
    const DeviceBuffer<float>& x = split_x(split);
    const std::size_t per = static_cast<std::size_t>(rows) * outputs_;
    std::vector<float> host(static_cast<std::size_t>(n) * chunk * outputs_);
    for (int start = 0; start < rows; start += chunk) {
      const int c = std::min(chunk, rows - start);
      repeat_gpu(x.data() + static_cast<std::size_t>(start) * inputs_, static_cast<std::size_t>(c) * inputs_, n,
                 predict_x_.data(), stream());
      predict_model_->forward(predict_params_.data(), predict_x_.data(), c, predict_out_.data(), nullptr);
      const std::size_t got = static_cast<std::size_t>(n) * c * outputs_;
      DYNPMNN_CUDA_CHECK(cudaMemcpyAsync(host.data(), predict_out_.data(), got * sizeof(float),
                                         cudaMemcpyDeviceToHost, stream()));
      DYNPMNN_CUDA_CHECK(cudaStreamSynchronize(stream()));
      for (int i = 0; i < n; ++i)
        std::copy_n(host.data() + static_cast<std::size_t>(i) * c * outputs_, static_cast<std::size_t>(c) * outputs_,
                    pred_host_[s].data() + static_cast<std::size_t>(stale[i]) * per +
                        static_cast<std::size_t>(start) * outputs_);
    }
    for (int k : stale) pred_valid_[s][k] = true;
  }

  // The per-slot tables the kernels read: Adam hyperparameters and seeds in slot order.
  void upload_slot_tables() {
    std::vector<AdamHyper> adam(P_);
    std::vector<std::uint64_t> seeds(P_);
    for (int a = 0; a < P_; ++a) {
      adam[a] = adam_[slot_model_[a]];
      seeds[a] = seeds_[slot_model_[a]];
    }
    upload_sync(adam_device_.data(), adam.data(), adam.size(), stream());
    upload_sync(seeds_device_.data(), seeds.data(), seeds.size(), stream());
  }

  // Permutes the slots so that `models` (ascending) are slots 0..A-1, unless they already are.
  void lead_with(const std::vector<int>& models) {
    const int A = static_cast<int>(models.size());
    bool leading = true;
    for (int k : models) leading = leading && model_slot_[k] < A;
    if (leading) return;
    std::vector<int> order = models;  // new slot → model
    for (int a = 0; a < P_; ++a)
      if (std::find(models.begin(), models.end(), slot_model_[a]) == models.end()) order.push_back(slot_model_[a]);
    std::vector<std::uint32_t> from(P_);  // new slot → old slot
    for (int a = 0; a < P_; ++a) from[a] = static_cast<std::uint32_t>(model_slot_[order[a]]);
    upload_sync(slots_device_.data(), from.data(), from.size(), stream());
    for (DeviceBuffer<float>* b : {&params_, &m_, &v_}) {
      gather_rows_gpu(b->data(), static_cast<int>(total_), slots_device_.data(), P_, nullptr, 0, P_, scratch_.data(),
                      stream());
      std::swap(*b, scratch_);
    }
    slot_model_ = order;
    for (int a = 0; a < P_; ++a) model_slot_[slot_model_[a]] = a;
    upload_slot_tables();
    slots_moved();
    train_model_.reset();  // built for the old slots
    graph_.reset();
    DYNPMNN_CUDA_CHECK(cudaStreamSynchronize(stream()));
  }

  // The specs of slots 0..n-1: each model's own dt, steps and clamp for its layers.
  std::vector<ModelSpec> slot_specs(int n) const {
    std::vector<ModelSpec> out;
    for (int a = 0; a < n; ++a) out.push_back(specs_[slot_model_[a]]);
    return out;
  }

  void prepare_training(int A) {
    if (train_model_ && train_models_ == A) return;
    graph_.reset();
    train_specs_ = slot_specs(A);
    const int capacity = std::min(batch_, std::max(train_rows_, 1));
    train_model_ = std::make_unique<GpuModel>(train_specs_.front(), table_, *cublas_, capacity, Pass::kTraining,
                                              std::span<const ModelSpec>(train_specs_), sizeof(TrainState));
    train_models_ = A;
    // The gradients (A, total): frozen entries stay 0, the rest are overwritten each step.
    grads_ = DeviceBuffer<float>(static_cast<std::size_t>(A) * total_);
    DYNPMNN_CUDA_CHECK(cudaMemsetAsync(grads_.data(), 0, grads_.bytes(), stream()));
  }

  // One minibatch of `count` rows of each of the A leading models, the step index read from each
  // model's TrainState: cuda_backend.cu's run_step with a model axis. Only device work with fixed
  // arguments, so it can be captured.
  void run_step(int A, int count) {
    TrainState* st = state_.data();
    const std::size_t stride = sizeof(TrainState);
    gather_rows_models_gpu(A, train_x_.data(), inputs_, orders_->orders(), orders_->rows(), &st->step, stride,
                           batch_, count, xb_.data(), stream());
    gather_rows_models_gpu(A, train_y_.data(), outputs_, orders_->orders(), orders_->rows(), &st->step, stride,
                           batch_, count, yb_.data(), stream());
    train_model_->forward(params_.data(), xb_.data(), count, pred_.data(), &st->flag);
    mse_loss_models_gpu(A, pred_.data(), yb_.data(), static_cast<std::size_t>(count) * outputs_, dpred_.data(),
                        &st->batch_loss, stride, stream());
    train_model_->backward(params_.data(), xb_.data(), dpred_.data(), grads_.data());
    nonfinite_check_models_gpu(A, grads_.data(), total_, &st->flag, stride, kLossOrGradient, stream());
    train_state_step_end_gpu(st, stream(), A);
    adam_begin_step_models_gpu(A, &st->adam, &st->flag, stride, adam_device_.data(), stream());
    adam_update_models_gpu(A, params_.data(), grads_.data(), m_.data(), v_.data(), trainable_.data(), total_,
                           adam_device_.data(), &st->adam, &st->flag, stride, stream());
  }

  std::vector<ModelSpec> specs_;  // (P) by model
  ParamTable table_;              // every model's (the same layout)
  int batch_;
  std::vector<AdamHyper> adam_;         // (P) by model
  std::vector<std::uint64_t> seeds_;    // (P) by model
  std::vector<int> slot_model_;         // (P) slot → model
  std::vector<int> model_slot_;         // (P) model → slot
  std::unique_ptr<CublasContext> cublas_;
  DeviceBuffer<float> scratch_;         // (P, total) the permutation's
  DeviceBuffer<std::uint8_t> trainable_;
  DeviceBuffer<TrainState> state_;      // (P) in slot order
  PinnedBuffer<TrainState> state_host_;
  DeviceBuffer<AdamHyper> adam_device_;       // (P) in slot order
  DeviceBuffer<std::uint64_t> seeds_device_;  // (P) in slot order
  DeviceBuffer<int> epochs_device_;           // (P) in slot order
  DeviceBuffer<std::uint32_t> slots_device_;  // (P) the slots a gather reads
  std::unique_ptr<ModelOrdersGpu> orders_;
  DeviceBuffer<float> xb_, yb_, pred_, dpred_;  // (P, B, width) each
  DeviceBuffer<float> grads_;                   // (A, total)
  std::vector<ModelSpec> train_specs_, predict_specs_;  // the specs the models were built for
  std::unique_ptr<GpuModel> train_model_;
  int train_models_ = 0;
  std::unique_ptr<GpuModel> predict_model_;
  std::vector<int> predict_for_;                 // the models predict_model_ was built for
  DeviceBuffer<float> predict_params_;           // (their count, total) their parameters, gathered
  DeviceBuffer<float> predict_x_, predict_out_;  // (their count, chunk, width)
  StepGraph graph_;  // last: destroyed first, before the buffers it uses
};

}  // namespace

std::unique_ptr<PopulationBackend> make_batched_cuda_population(std::span<const ModelSpec> specs,
                                                                std::span<const TrainHyper> hypers,
                                                                const SplitData& data, std::string* why) {
  if (!batched_population_layout(specs, hypers, why)) return nullptr;
  if (!cuda_available(why)) return nullptr;
  // check_backend_data's checks but the scaler's (the population scales the targets itself).
  SplitData unscaled = data;
  unscaled.target_scaler = TargetScaler{};
  check_backend_data(specs[0], Loss::kMse, unscaled);
  if (hypers[0].batch_size <= 0) throw std::invalid_argument("batch_size must be > 0");
  return std::make_unique<BatchedCudaPopulation>(specs, hypers, data);
}

}  // namespace dynpmnn
