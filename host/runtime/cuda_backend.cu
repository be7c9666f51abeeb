// The CUDA backend: a model (models/gpu_model.h) trained in float32 on one GPU, mirroring
// cpu_backend.cpp step for step (same epoch order, same minibatches, same Adam, same divergence
// rules), so the two backends differ only by float rounding. It owns the device memory of the
// parameters, the optimizer and the data, the training step and its graph capture; what a layer
// computes is its unit's business (models/layers/).
//
// A training epoch makes no host↔device copy and no synchronisation until its end: the epoch order
// is sorted on the device, each minibatch is gathered by a kernel that reads the step index from
// device memory, the loss is summed into a device double, divergence is recorded on the device
// (the FHN forward flags the layer, checks on the prediction and the gradients flag the readout or
// -2, and every later Adam update is skipped), and one small struct is read back at the end.
// Because nothing in a step depends on the host, a full-size step is captured once as a CUDA graph
// and replayed; the last, smaller minibatch runs on the stream directly.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/cuda_check.h"
#include "common/cuda_stream.h"
#include "common/device_buffer.h"
#include "host/runtime/backend.h"
#include "kernels/loss_gpu.h"
#include "kernels/ops_gpu.h"
#include "kernels/train_state_gpu.h"
#include "models/gpu_model.h"

namespace dynpmnn {

namespace {

// Rows per forward pass in predict().
constexpr int kPredictChunk = 65536;

// A split's rows on the device.
struct DeviceSplit {
  int rows = 0;
  DeviceBuffer<float> x;  // (rows, inputs)
  DeviceBuffer<float> y;  // (rows, target_columns): targets, or one class index per row
};

// A minibatch's buffers beside the training model's own.
struct StepBuffers {
  DeviceBuffer<float> pred;   // (B, outputs)
  DeviceBuffer<float> dpred;  // (B, outputs)
  DeviceBuffer<float> xb;     // (B, inputs) the gathered minibatch
  DeviceBuffer<float> yb;     // (B, target_columns)
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(const ModelSpec& spec, const TrainHyper& hyper)
      : spec_(spec), table_(spec_), hyper_(hyper) {
    if (hyper_.batch_size <= 0) throw std::invalid_argument("batch_size must be > 0");
    // Data parallelism on GPUs is one shard per process, its gradient summed over the ranks by the
    // exchange (NCCL); the shard-order sum of one process is the CPU reference's.
    if (hyper_.data_shards != 1 && !(hyper_.exchange && hyper_.exchange->size() == hyper_.data_shards))
      throw std::invalid_argument("data_shards = " + std::to_string(hyper_.data_shards) +
                                  ": the CUDA backend computes one shard per process (train --data-parallel over as "
                                  "many ranks); data_shards > 1 in one process is the CPU backend's");
    cudaDeviceProp prop{};
    int device = 0;
    DYNPMNN_CUDA_CHECK(cudaGetDevice(&device));
    DYNPMNN_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    device_name_ = prop.name;
    cublas_ = std::make_unique<CublasContext>(stream_.get(), GemmMath::kFp32);

    const std::size_t total = table_.total();
    // params, grads, Adam m, Adam v: one allocation, each laid out exactly as ParamTable.
    state_arrays_ = CarvedBuffer<float>({total, total, total, total});
    DYNPMNN_CUDA_CHECK(cudaMemsetAsync(state_arrays_.buffer().data(), 0, state_arrays_.buffer().bytes(), stream()));
    std::vector<std::uint8_t> mask(total, 0);
    for (const auto& t : table_.tensors())
      if (t.trainable) std::fill(mask.begin() + t.offset, mask.begin() + t.offset + t.size, std::uint8_t{1});
    trainable_ = DeviceBuffer<std::uint8_t>(total);
    upload(trainable_.data(), mask.data(), total);
    state_ = DeviceBuffer<TrainState>(1);
    host_state_ = PinnedBuffer<TrainState>(1);
    reset_state();
    DYNPMNN_CUDA_CHECK(cudaStreamSynchronize(stream()));
  }

  ~CudaBackend() override { (void)cudaStreamSynchronize(stream()); }

  std::string name() const override { return "cuda (" + device_name_ + ")"; }

  void set_data(const SplitData& data) override {
    check_backend_data(spec_, hyper_.loss, data);
    graph_.reset();  // it points at the buffers replaced here
    train_ = to_device(data.train);
    val_ = to_device(data.val);
    test_ = to_device(data.test);
    order_ = std::make_unique<EpochOrderGpu>(static_cast<std::uint32_t>(train_.rows));
    const int capacity = std::min(hyper_.batch_size, std::max(train_.rows, 1));
    train_model_ = std::make_unique<GpuModel>(spec_, table_, *cublas_, capacity, Pass::kTraining);
    const std::size_t T = spec_.outputs, B = capacity;
    step_ = StepBuffers{DeviceBuffer<float>(B * T), DeviceBuffer<float>(B * T), DeviceBuffer<float>(B * spec_.inputs),
                        DeviceBuffer<float>(B * target_columns(hyper_.loss, spec_))};
    predict_model_.reset();
    have_data_ = true;
    DYNPMNN_CUDA_CHECK(cudaStreamSynchronize(stream()));
  }

  void set_params(std::span<const double> params_in) override {
    const std::size_t total = table_.total();
    check_param_count("set_params", params_in.size(), total);
    std::vector<float> host(total);
    for (std::size_t i = 0; i < total; ++i) host[i] = static_cast<float>(params_in[i]);
    upload(params(), host.data(), total);
    for (std::size_t view = 1; view < 4; ++view)  // grads (frozen entries stay 0), m, v
      DYNPMNN_CUDA_CHECK(cudaMemsetAsync(state_arrays_.view(view), 0, total * sizeof(float), stream()));
    reset_state();
    DYNPMNN_CUDA_CHECK(cudaStreamSynchronize(stream()));
    have_params_ = true;
  }

  void get_params(std::span<double> out) const override {
    const std::size_t total = table_.total();
    check_param_count("get_params", out.size(), total);
    const std::vector<float> host = download(state_arrays_.view(0), total);
    for (std::size_t i = 0; i < total; ++i) out[i] = static_cast<double>(host[i]);
  }

  OptimizerState get_optimizer_state() const override {
    const std::size_t total = table_.total();
    const std::vector<float> m = download(state_arrays_.view(2), total), v = download(state_arrays_.view(3), total);
    const AdamDeviceStep step = download(&state_.data()->adam, 1)[0];
    OptimizerState st;
    st.step = static_cast<long>(step.t);
    st.m.assign(m.begin(), m.end());
    st.v.assign(v.begin(), v.end());
    return st;
  }

  void set_optimizer_state(const OptimizerState& st) override {
    const std::size_t total = table_.total();
    check_optimizer_state(st, total);
    const std::vector<float> m(st.m.begin(), st.m.end()), v(st.v.begin(), st.v.end());
    upload(adam_m(), m.data(), total);
    upload(adam_v(), v.data(), total);
    // The corrections are recomputed for t + 1 before the next update; these match t for inspection.
    const double t = static_cast<double>(st.step);
    const AdamDeviceStep step{st.step, static_cast<float>(1.0 - std::pow(hyper_.adam.beta1, t)),
                              static_cast<float>(std::sqrt(1.0 - std::pow(hyper_.adam.beta2, t)))};
    upload(&state_.data()->adam, &step, 1);
  }

  EpochStats train_epoch(int epoch) override {
    require_ready("train_epoch");
    EpochStats stats;
    if (train_.rows == 0) return stats;
    const int B = hyper_.batch_size;
    const int full = train_.rows / B;
    const int rest = train_.rows % B;
    order_->compute(hyper_.seed, epoch, stream());
    train_state_epoch_begin_gpu(state_.data(), stream());
    for (int s = 0; s < full; ++s) {
      if (graph_.ready()) {
        graph_.launch(stream());
      } else {
        run_step(B);
        // Captured after one step has run on the stream, so every kernel (ours and cuBLAS's) is
        // loaded and cuBLAS has chosen its algorithms before the capture. A dopri5 ODE block decides
        // its steps on the host, so such a model always runs on the stream.
        // A data-parallel step calls the exchange between kernels, so it runs on the stream.
        if (graph_.wanted() && s + 1 < full && train_model_->capturable() && !hyper_.exchange)
          graph_.capture(stream(), [&] { run_step(B); });
      }
    }
    if (rest > 0) run_step(rest);
    DYNPMNN_CUDA_CHECK(
        cudaMemcpyAsync(host_state_.data(), state_.data(), sizeof(TrainState), cudaMemcpyDeviceToHost, stream()));
    DYNPMNN_CUDA_CHECK(cudaStreamSynchronize(stream()));
    const TrainState& st = *host_state_.data();
    stats.steps = st.steps_done;
    if (st.flag != kNoNonFinite) {
      stats.train_loss = st.steps_done ? st.loss_sum / st.steps_done : NAN;
      stats.divergence = Divergence{true, epoch, static_cast<long>(st.diverged_step), st.flag};
    } else {
      stats.train_loss = st.steps_done ? st.loss_sum / st.steps_done : 0.0;
    }
    return stats;
  }

  std::vector<double> predict(Split split) override {
    require_ready("predict");
    const DeviceSplit& d = split == Split::kTrain ? train_ : split == Split::kVal ? val_ : test_;
    const int T = spec_.outputs;
    std::vector<double> out(static_cast<std::size_t>(d.rows) * T);
    if (d.rows == 0) return out;
    const int need = std::min(kPredictChunk, std::max({train_.rows, val_.rows, test_.rows}));
    if (!predict_model_ || predict_model_->capacity() < need) {
      predict_model_ = std::make_unique<GpuModel>(spec_, table_, *cublas_, need, Pass::kInference);
      predict_pred_ = DeviceBuffer<float>(static_cast<std::size_t>(need) * T);
    }
    std::vector<float> host(out.size());
    for (int start = 0; start < d.rows; start += need) {
      const int n = std::min(need, d.rows - start);
      predict_model_->forward(params(), d.x.data() + static_cast<std::size_t>(start) * spec_.inputs, n,
                              predict_pred_.data(), nullptr);
      DYNPMNN_CUDA_CHECK(cudaMemcpyAsync(host.data() + static_cast<std::size_t>(start) * T, predict_pred_.data(),
                                         static_cast<std::size_t>(n) * T * sizeof(float), cudaMemcpyDeviceToHost,
                                         stream()));
    }
    DYNPMNN_CUDA_CHECK(cudaStreamSynchronize(stream()));
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(host[i]);
    return out;
  }

 private:
  cudaStream_t stream() const { return stream_.get(); }
  float* params() { return state_arrays_.view(0); }
  float* grads() { return state_arrays_.view(1); }
  float* adam_m() { return state_arrays_.view(2); }
  float* adam_v() { return state_arrays_.view(3); }

  void require_ready(const char* what) const {
    if (!have_data_) throw std::logic_error(std::string("CudaBackend::") + what + ": set_data was not called");
    if (!have_params_) throw std::logic_error(std::string("CudaBackend::") + what + ": set_params was not called");
  }

  // Synchronous (common/device_buffer.h): set-up and read-back only, never inside a training step.
  template <typename T>
  std::vector<T> download(const T* src, std::size_t count) const { return download_sync(src, count, stream()); }
  template <typename T>
  void upload(T* dst, const T* src, std::size_t count) { upload_sync(dst, src, count, stream()); }

  static DeviceSplit to_device(const Dataset& d) {
    DeviceSplit s{d.rows, DeviceBuffer<float>(d.x.size()), DeviceBuffer<float>(d.y.size())};
    s.x.upload(std::vector<float>(d.x.begin(), d.x.end()));
    s.y.upload(std::vector<float>(d.y.begin(), d.y.end()));
    return s;
  }

  void reset_state() {
    TrainState init{};
    init.flag = kNoNonFinite;
    init.diverged_step = -1;
    init.adam = AdamDeviceStep{0, 1.0f, 1.0f};
    upload(state_.data(), &init, 1);
  }

  // One minibatch of `count` rows, its index read from the device (TrainState::step). Enqueues
  // only device work with fixed arguments, so it can be captured. Data-parallel, this process's
  // shard of the rows (backend.h, shard_begin) and the exchange's sums over the ranks.
  void run_step(int count) {
    StepBuffers& A = step_;
    TrainState* st = state_.data();
    const std::size_t total = table_.total();
    ShardExchange* exchange = hyper_.exchange.get();
    const int K = hyper_.data_shards, r = exchange ? exchange->rank() : 0;
    const int lo = shard_begin(count, K, r), rows = shard_begin(count, K, r + 1) - lo;
    if (rows > 0) {
      gather_rows_gpu(train_.x.data(), spec_.inputs, order_->order(), order_->rows(), &st->step, hyper_.batch_size,
                      rows, A.xb.data(), stream(), lo);
      gather_rows_gpu(train_.y.data(), target_columns(hyper_.loss, spec_), order_->order(), order_->rows(),
                      &st->step, hyper_.batch_size, rows, A.yb.data(), stream(), lo);
      train_model_->forward(params(), A.xb.data(), rows, A.pred.data(), &st->flag);
      if (hyper_.loss == Loss::kSoftmaxCrossEntropy)
        softmax_cross_entropy_gpu(A.pred.data(), A.yb.data(), rows, spec_.outputs, A.dpred.data(), &st->batch_loss,
                                  stream(), count);
      else
        mse_loss_gpu(A.pred.data(), A.yb.data(), static_cast<std::size_t>(rows) * spec_.outputs, A.dpred.data(),
                     &st->batch_loss, stream(), static_cast<std::size_t>(count) * spec_.outputs);
      train_model_->backward(params(), A.xb.data(), A.dpred.data(), grads());
    } else {  // an empty shard (fewer rows than ranks) adds nothing
      DYNPMNN_CUDA_CHECK(cudaMemsetAsync(grads(), 0, total * sizeof(float), stream()));
      DYNPMNN_CUDA_CHECK(cudaMemsetAsync(&st->batch_loss, 0, sizeof(double), stream()));
    }
    if (exchange) {
      // The forward's flag (a layer index, or -1) as the largest any rank set; then the loss and
      // the gradient summed. The checks after see the same values on every rank.
      exchange->allreduce_max_device(&st->flag, 1, stream());
      exchange->allreduce_sum_device(&st->batch_loss, 1, stream());
      exchange->allreduce_sum_device(grads(), total, stream());
    }
    nonfinite_check_gpu(grads(), total, &st->flag, kLossOrGradient, stream());
    train_state_step_end_gpu(st, stream());
    adam_begin_step_gpu(&st->adam, &st->flag, hyper_.adam.beta1, hyper_.adam.beta2, stream());
    adam_update_gpu(params(), grads(), adam_m(), adam_v(), trainable_.data(), total, hyper_.adam, &st->adam, &st->flag,
                    stream());
  }

  ModelSpec spec_;
  ParamTable table_;
  TrainHyper hyper_;
  std::string device_name_;
  // Declared first among the device objects so that it is destroyed last.
  Stream stream_;
  std::unique_ptr<CublasContext> cublas_;
  CarvedBuffer<float> state_arrays_;         // views: params, grads, Adam m, Adam v, (table.total()) each
  DeviceBuffer<std::uint8_t> trainable_;     // (table.total()) 1 where Adam updates
  DeviceBuffer<TrainState> state_;           // (1)
  PinnedBuffer<TrainState> host_state_;      // (1) the epoch's one read-back
  DeviceSplit train_, val_, test_;
  std::unique_ptr<EpochOrderGpu> order_;
  std::unique_ptr<GpuModel> train_model_;    // capacity: the batch size
  StepBuffers step_;
  std::unique_ptr<GpuModel> predict_model_;  // inference, made on first use
  DeviceBuffer<float> predict_pred_;         // (predict capacity, outputs)
  bool have_data_ = false;
  bool have_params_ = false;
  StepGraph graph_;  // last: destroyed first, before the buffers it uses
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const ModelSpec& spec, const TrainHyper& hyper) {
  std::string why;
  if (!cuda_available(&why)) throw std::runtime_error("--device cuda: " + why);
  return std::make_unique<CudaBackend>(spec, hyper);
}

}  // namespace dynpmnn
