// The CUDA backend: the DynPMNN trained in float32 on one GPU, mirroring models/cpu_model.cpp and
// host/runtime/cpu_backend.cpp step for step (same epoch order, same minibatches, same Adam, same
// divergence rules), so the two backends differ only by float rounding.
//
// The baselines (docs/baselines.md) run through the same code: each layer switches on its kind
// (dense, CfC or FHN); a non-FHN layer flags divergence by a check of its output.
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
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "host/runtime/backend.h"
#include "common/cuda_check.h"
#include "common/device_buffer.h"
#include "kernels/cfc_gpu.h"
#include "kernels/fhn_gpu.h"
#include "kernels/loss_gpu.h"
#include "kernels/fhn_param_map_gpu.h"
#include "kernels/ops_gpu.h"
#include "models/ode_block_gpu.h"

namespace dynpmnn {

namespace {

// Divergence cause for the loss or the gradients (Divergence::layer), as the CPU backend reports.
constexpr int kLossOrGradient = -2;
// Rows per forward pass in predict().
constexpr int kPredictChunk = 65536;

// Everything a training step reads or writes besides tensors; lives on the device.
struct TrainState {
  int flag;            // kNoNonFinite, or where the first non-finite value of the epoch appeared
  int diverged_step;   // -1, or the minibatch index at which flag was first seen set
  int step;            // minibatch index of the step being run (the gather reads it)
  int steps_done;      // steps whose Adam update was applied
  double batch_loss;   // this step's loss (MSE or cross-entropy)
  double loss_sum;     // Σ batch_loss over the applied steps, in step order
  AdamDeviceStep adam; // Adam's step count and bias corrections (persist across epochs)
};

static_assert(std::is_trivially_copyable_v<TrainState>, "TrainState is copied to the host as bytes");

__global__ void epoch_begin_kernel(TrainState* s) {
  s->flag = kNoNonFinite;
  s->diverged_step = -1;
  s->step = 0;
  s->steps_done = 0;
  s->batch_loss = 0.0;
  s->loss_sum = 0.0;
}

// After the backward, before Adam: as cpu_backend.cpp, a non-finite loss diverges (-2); a step
// that diverged is not counted and records its index once; later steps change nothing.
__global__ void step_end_kernel(TrainState* s) {
  if (s->flag == kNoNonFinite && !isfinite(s->batch_loss)) s->flag = kLossOrGradient;
  if (s->flag != kNoNonFinite) {
    if (s->diverged_step < 0) s->diverged_step = s->step;
  } else {
    s->loss_sum += s->batch_loss;
    s->steps_done += 1;
  }
  s->step += 1;
}

class Stream {
 public:
  Stream() { DYNPMNN_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  ~Stream() {
    if (s_) {
      (void)cudaStreamSynchronize(s_);
      (void)cudaStreamDestroy(s_);
    }
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return s_; }

 private:
  cudaStream_t s_ = nullptr;
};

class GraphExec {
 public:
  GraphExec() = default;
  ~GraphExec() { reset(); }
  GraphExec(const GraphExec&) = delete;
  GraphExec& operator=(const GraphExec&) = delete;
  void reset() {
    if (exec_) (void)cudaGraphExecDestroy(exec_);
    exec_ = nullptr;
  }
  cudaGraphExec_t get() const { return exec_; }
  void set(cudaGraphExec_t e) {
    reset();
    exec_ = e;
  }

 private:
  cudaGraphExec_t exec_ = nullptr;
};

// DYNPMNN_CUDA_GRAPHS: "0" runs every step on the stream; "1" requires the graph (a capture failure
// throws); unset or anything else uses the graph and falls back to the stream with a warning.
enum class GraphMode : int { kOff = 0, kRequired = 1, kAuto = 2 };

GraphMode graph_mode_from_env() {
  const char* v = std::getenv("DYNPMNN_CUDA_GRAPHS");
  if (v == nullptr) return GraphMode::kAuto;
  const std::string s(v);
  if (s == "0") return GraphMode::kOff;
  if (s == "1") return GraphMode::kRequired;
  return GraphMode::kAuto;
}

// A split's rows on the device.
struct DeviceSplit {
  int rows = 0;
  DeviceBuffer<float> x;  // (rows, inputs)
  DeviceBuffer<float> y;  // (rows, target_columns): targets, or one class index per row
};

// One layer's activations for batches of up to `capacity` rows, as CpuModel::LayerBuffers.
// D = linear width: 2N or N (FHN), N (dense), 4N (CfC); O = output width: 2N (FHN), N (others).
struct LayerBuffers {
  DeviceBuffer<float> lin;     // (B, D) Linear output
  DeviceBuffer<float> xhat;    // (B, D) LayerNorm's normalised input (training, LayerNorm)
  DeviceBuffer<float> rstd;    // (B) (training, LayerNorm)
  DeviceBuffer<float> normed;  // (B, D) LayerNorm output (LayerNorm)
  DeviceBuffer<float> act;     // (B, D) FHN input (FHN)
  DeviceBuffer<float> ckpt_v;  // (checkpoints, B, N) (training, FHN)
  DeviceBuffer<float> ckpt_w;  // (checkpoints, B, N) (training, FHN)
  DeviceBuffer<float> out;     // (B, O)
  DeviceBuffer<float> d_out;   // (B, O) (training)
  DeviceBuffer<float> d_act;   // (B, D) (training) gradient at the activation's output, then the Linear's
  DeviceBuffer<float> d_lin;   // (B, D) (training, LayerNorm)
};

struct Activations {
  int capacity = 0;
  bool training = false;
  std::vector<LayerBuffers> layers;
  DeviceBuffer<float> pred;   // (B, outputs)
  DeviceBuffer<float> dpred;  // (B, outputs) (training)
  DeviceBuffer<float> xb;     // (B, inputs) gathered minibatch (training)
  DeviceBuffer<float> yb;     // (B, target_columns) (training)
  // kOde layers' blocks (null for other kinds); such a layer uses lin (h0), out (h1), d_out and
  // d_act (h0's adjoint), all (B, N).
  std::vector<std::unique_ptr<OdeBlockGpu>> odes;
};

// Device pointers of one layer's parameters (or gradients) inside the flat array.
struct LayerParams {
  float* W = nullptr;      // (D, in)
  float* bias = nullptr;   // (D)
  float* gamma = nullptr;  // (D) or null without LayerNorm
  float* beta = nullptr;   // (D) or null
  float* a = nullptr;      // (N) each; in gradients, null for a frozen parameter
  float* b = nullptr;
  float* g = nullptr;
  float* I = nullptr;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(const ModelSpec& spec, const TrainHyper& hyper)
      : spec_(spec), table_(spec_), hyper_(hyper), graph_mode_(graph_mode_from_env()) {
    if (hyper_.batch_size <= 0) throw std::invalid_argument("batch_size must be > 0");
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
    std::size_t phys_floats = 0;
    for (int l = 0; l < layers(); ++l) {
      layer_params_.push_back(layer_pointers(params(), l, false));
      layer_grads_.push_back(layer_pointers(grads(), l, true));
      if (spec_.layers[l].param_maps().any()) phys_floats += 4 * static_cast<std::size_t>(spec_.layers[l].neurons);
    }
    // The mapped FHN parameters of every layer that has a map (fhn_param_map_gpu.h).
    fhn_phys_ = DeviceBuffer<float>(phys_floats);
    for (int l = 0, at = 0; l < layers(); ++l) {
      const bool mapped = spec_.layers[l].param_maps().any();
      layer_phys_.push_back(mapped ? fhn_phys_.data() + at : nullptr);
      if (mapped) at += 4 * spec_.layers[l].neurons;
    }
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
    allocate(train_acts_, capacity, true);
    std::size_t ws = 0;
    for (int l = 0; l < layers(); ++l)
      if (spec_.layers[l].kind == LayerKind::kFhn)
        ws = std::max(ws, fhn_backward_workspace_floats(spec_.fhn_shape(l, capacity)));
    fhn_workspace_ = DeviceBuffer<float>(ws);
    predict_acts_ = Activations{};
    have_data_ = true;
    DYNPMNN_CUDA_CHECK(cudaStreamSynchronize(stream()));
  }

  void set_params(std::span<const double> params_in) override {
    const std::size_t total = table_.total();
    if (params_in.size() != total)
      throw std::invalid_argument("set_params: " + std::to_string(params_in.size()) + " values for " +
                                  std::to_string(total) + " parameters");
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
    if (out.size() != total)
      throw std::invalid_argument("get_params: room for " + std::to_string(out.size()) + " values, " +
                                  std::to_string(total) + " parameters");
    std::vector<float> host(total);
    if (total)
      DYNPMNN_CUDA_CHECK(cudaMemcpyAsync(host.data(), state_arrays_.view(0), total * sizeof(float),
                                         cudaMemcpyDeviceToHost, stream()));
    DYNPMNN_CUDA_CHECK(cudaStreamSynchronize(stream()));
    for (std::size_t i = 0; i < total; ++i) out[i] = static_cast<double>(host[i]);
  }

  OptimizerState get_optimizer_state() const override {
    const std::size_t total = table_.total();
    std::vector<float> m(total), v(total);
    AdamDeviceStep step{};
    if (total) {
      DYNPMNN_CUDA_CHECK(cudaMemcpyAsync(m.data(), state_arrays_.view(2), total * sizeof(float), cudaMemcpyDeviceToHost,
                                         stream()));
      DYNPMNN_CUDA_CHECK(cudaMemcpyAsync(v.data(), state_arrays_.view(3), total * sizeof(float), cudaMemcpyDeviceToHost,
                                         stream()));
    }
    DYNPMNN_CUDA_CHECK(cudaMemcpyAsync(&step, &state_.data()->adam, sizeof(step), cudaMemcpyDeviceToHost, stream()));
    DYNPMNN_CUDA_CHECK(cudaStreamSynchronize(stream()));
    OptimizerState st;
    st.step = static_cast<long>(step.t);
    st.m.assign(m.begin(), m.end());
    st.v.assign(v.begin(), v.end());
    return st;
  }

  void set_optimizer_state(const OptimizerState& st) override {
    const std::size_t total = table_.total();
    if (st.m.size() != total || st.v.size() != total)
      throw std::invalid_argument("set_optimizer_state: moments of " + std::to_string(st.m.size()) + " and " +
                                  std::to_string(st.v.size()) + " values for " + std::to_string(total) + " parameters");
    if (st.step < 0) throw std::invalid_argument("set_optimizer_state: negative step count");
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
    epoch_begin_kernel<<<1, 1, 0, stream()>>>(state_.data());
    DYNPMNN_CUDA_CHECK_LAUNCH("epoch_begin_kernel");
    for (int s = 0; s < full; ++s) {
      if (graph_.get() != nullptr) {
        DYNPMNN_CUDA_CHECK(cudaGraphLaunch(graph_.get(), stream()));
      } else {
        run_step(B);
        // Captured after one step has run on the stream, so every kernel (ours and cuBLAS's) is
        // loaded and cuBLAS has chosen its algorithms before the capture. A dopri5 ODE block decides
        // its steps on the host, so such a model always runs on the stream.
        if (graph_mode_ != GraphMode::kOff && s + 1 < full && capturable()) try_capture(B);
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
    if (predict_acts_.capacity < need) allocate(predict_acts_, need, false);
    std::vector<float> host(out.size());
    for (int start = 0; start < d.rows; start += predict_acts_.capacity) {
      const int n = std::min(predict_acts_.capacity, d.rows - start);
      forward(predict_acts_, d.x.data() + static_cast<std::size_t>(start) * spec_.inputs, n, nullptr);
      DYNPMNN_CUDA_CHECK(cudaMemcpyAsync(host.data() + static_cast<std::size_t>(start) * T, predict_acts_.pred.data(),
                                         static_cast<std::size_t>(n) * T * sizeof(float), cudaMemcpyDeviceToHost,
                                         stream()));
    }
    DYNPMNN_CUDA_CHECK(cudaStreamSynchronize(stream()));
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(host[i]);
    return out;
  }

 private:
  cudaStream_t stream() const { return stream_.get(); }
  int layers() const { return static_cast<int>(spec_.layers.size()); }
  float* params() { return state_arrays_.view(0); }
  float* grads() { return state_arrays_.view(1); }
  float* adam_m() { return state_arrays_.view(2); }
  float* adam_v() { return state_arrays_.view(3); }
  float* param(int layer, ParamKind kind) { return params() + table_.at(layer, kind).offset; }
  float* grad(int layer, ParamKind kind) { return grads() + table_.at(layer, kind).offset; }

  bool capturable() const {
    for (const auto& ode : train_acts_.odes)
      if (ode && !ode->capturable()) return false;
    return true;
  }

  void require_ready(const char* what) const {
    if (!have_data_) throw std::logic_error(std::string("CudaBackend::") + what + ": set_data was not called");
    if (!have_params_) throw std::logic_error(std::string("CudaBackend::") + what + ": set_params was not called");
  }

  template <typename T>
  void upload(T* dst, const T* src, std::size_t count) {
    if (count == 0) return;
    DYNPMNN_CUDA_CHECK(cudaMemcpyAsync(dst, src, count * sizeof(T), cudaMemcpyHostToDevice, stream()));
    DYNPMNN_CUDA_CHECK(cudaStreamSynchronize(stream()));  // src may be a temporary
  }

  DeviceSplit to_device(const Dataset& d) {
    DeviceSplit s;
    s.rows = d.rows;
    std::vector<float> x(d.x.begin(), d.x.end()), y(d.y.begin(), d.y.end());
    s.x = DeviceBuffer<float>(x.size());
    s.y = DeviceBuffer<float>(y.size());
    upload(s.x.data(), x.data(), x.size());
    upload(s.y.data(), y.data(), y.size());
    return s;
  }

  void reset_state() {
    TrainState init{};
    init.flag = kNoNonFinite;
    init.diverged_step = -1;
    init.adam = AdamDeviceStep{0, 1.0f, 1.0f};
    upload(state_.data(), &init, 1);
  }

  LayerParams layer_pointers(float* base, int l, bool gradients) {
    auto at = [&](ParamKind k) -> float* {
      const ParamTensor* t = table_.find(l, k);
      if (t == nullptr) return nullptr;
      if (gradients && !t->trainable) return nullptr;  // frozen: the FHN backward skips it
      return base + t->offset;
    };
    return LayerParams{at(ParamKind::kWeight), at(ParamKind::kBias), at(ParamKind::kLnGamma), at(ParamKind::kLnBeta),
                       at(ParamKind::kFhnA),   at(ParamKind::kFhnB), at(ParamKind::kFhnG),    at(ParamKind::kFhnI)};
  }

  void allocate(Activations& A, int capacity, bool training) {
    A = Activations{};
    A.capacity = capacity;
    A.training = training;
    const std::size_t B = static_cast<std::size_t>(capacity);
    A.odes.resize(layers());
    for (int l = 0; l < layers(); ++l) {
      const auto& S = spec_.layers[l];
      const std::size_t D = spec_.linear_width(l);
      const std::size_t O = spec_.layer_output_width(l);
      const bool fhn = S.kind == LayerKind::kFhn;
      LayerBuffers L;
      if (S.kind == LayerKind::kOde) {
        L.lin = DeviceBuffer<float>(B * O);
        L.out = DeviceBuffer<float>(B * O);
        if (training) {
          L.d_out = DeviceBuffer<float>(B * O);
          L.d_act = DeviceBuffer<float>(B * O);
        }
        A.odes[l] = std::make_unique<OdeBlockGpu>(ode_layout(spec_, table_, l), l, *cublas_, capacity, training);
        A.layers.push_back(std::move(L));
        continue;
      }
      L.lin = DeviceBuffer<float>(B * D);
      if (S.layernorm) L.normed = DeviceBuffer<float>(B * D);
      if (fhn) L.act = DeviceBuffer<float>(B * D);
      L.out = DeviceBuffer<float>(B * O);
      if (training) {
        if (S.layernorm) {
          L.xhat = DeviceBuffer<float>(B * D);
          L.rstd = DeviceBuffer<float>(B);
          L.d_lin = DeviceBuffer<float>(B * D);
        }
        if (fhn) {
          const std::size_t ck = spec_.fhn_shape(l, capacity).checkpoint_elems();
          L.ckpt_v = DeviceBuffer<float>(ck);
          L.ckpt_w = DeviceBuffer<float>(ck);
        }
        L.d_out = DeviceBuffer<float>(B * O);
        L.d_act = DeviceBuffer<float>(B * D);
      }
      A.layers.push_back(std::move(L));
    }
    const std::size_t T = spec_.outputs;
    A.pred = DeviceBuffer<float>(B * T);
    if (training) {
      A.dpred = DeviceBuffer<float>(B * T);
      A.xb = DeviceBuffer<float>(B * spec_.inputs);
      A.yb = DeviceBuffer<float>(B * T);
    }
  }

  // As CpuModel::forward. x: (B, inputs) on the device. flag: the epoch's divergence flag while
  // training, null for inference.
  void forward(Activations& A, const float* x, int B, int* flag) {
    const float* in = x;
    for (int l = 0; l < layers(); ++l) {
      const auto& S = spec_.layers[l];
      auto& L = A.layers[l];
      const LayerParams& P = layer_params_[l];
      if (S.kind == LayerKind::kOde) {
        dense_forward_gpu(*cublas_, in, P.W, P.bias, B, spec_.layer_input_width(l), S.neurons, L.lin.data());
        A.odes[l]->forward(params(), L.lin.data(), B, L.out.data(), flag);
        in = L.out.data();
        continue;
      }
      const int D = spec_.linear_width(l);
      dense_forward_gpu(*cublas_, in, P.W, P.bias, B, spec_.layer_input_width(l), D, L.lin.data());
      in = L.out.data();
      if (S.kind == LayerKind::kCfc) {
        cfc_forward_gpu(L.lin.data(), B, S.neurons, static_cast<float>(S.cfc_time), L.out.data(), stream());
        if (flag) nonfinite_check_gpu(L.out.data(), static_cast<std::size_t>(B) * S.neurons, flag, l, stream());
        continue;
      }
      const float* pre_act = L.lin.data();
      if (S.layernorm) {
        layernorm_forward_gpu(L.lin.data(), P.gamma, P.beta, B, D, L.normed.data(), A.training ? L.xhat.data() : nullptr,
                              A.training ? L.rstd.data() : nullptr, stream());
        pre_act = L.normed.data();
      }
      if (S.kind == LayerKind::kDense) {  // the activation is the layer's output
        activation_forward_gpu(S.activation, pre_act, static_cast<std::size_t>(B) * D, L.out.data(), stream());
        if (flag) nonfinite_check_gpu(L.out.data(), static_cast<std::size_t>(B) * D, flag, l, stream());
        continue;
      }
      activation_forward_gpu(S.activation, pre_act, static_cast<std::size_t>(B) * D, L.act.data(), stream());
      const FhnParamPtrs<float> physical =
          fhn_param_map_forward_gpu(S.param_maps(), FhnParamPtrs<float>{P.a, P.b, P.g, P.I}, S.neurons, layer_phys_[l],
                                    stream());
      fhn_forward_gpu(spec_.fhn_shape(l, B), L.act.data(), physical, L.out.data(),
                      A.training ? L.ckpt_v.data() : nullptr, A.training ? L.ckpt_w.data() : nullptr, flag, l,
                      stream());
    }
    const int last = spec_.layer_output_width(layers() - 1);
    dense_forward_gpu(*cublas_, in, param(-1, ParamKind::kWeight), param(-1, ParamKind::kBias), B, last,
                      spec_.outputs, A.pred.data());
    if (flag) nonfinite_check_gpu(A.pred.data(), static_cast<std::size_t>(B) * spec_.outputs, flag, layers(), stream());
  }

  // As CpuModel::backward, after forward on the same batch; gradients overwrite grads().
  void backward(Activations& A, int B) {
    const int nl = layers();
    const int last = spec_.layer_output_width(nl - 1);
    dense_backward_gpu(*cublas_, A.layers[nl - 1].out.data(), param(-1, ParamKind::kWeight), A.dpred.data(), B, last,
                       spec_.outputs, A.layers[nl - 1].d_out.data(), grad(-1, ParamKind::kWeight),
                       grad(-1, ParamKind::kBias));
    for (int l = nl - 1; l >= 0; --l) {
      const auto& S = spec_.layers[l];
      auto& L = A.layers[l];
      const LayerParams& P = layer_params_[l];
      const LayerParams& G = layer_grads_[l];
      if (S.kind == LayerKind::kOde) {
        A.odes[l]->backward(params(), L.d_out.data(), L.d_act.data(), grads());
        const float* in = l == 0 ? A.xb.data() : A.layers[l - 1].out.data();
        float* d_in = l == 0 ? nullptr : A.layers[l - 1].d_out.data();
        dense_backward_gpu(*cublas_, in, P.W, L.d_act.data(), B, spec_.layer_input_width(l), S.neurons, d_in, G.W,
                           G.bias);
        continue;
      }
      const int D = spec_.linear_width(l);
      const float* d_lin = L.d_act.data();
      switch (S.kind) {
        case LayerKind::kFhn: {
          // The forward of this step wrote the mapped values; Adam has not run since.
          const FhnParamPtrs<float> raw{P.a, P.b, P.g, P.I};
          const FhnParamPtrs<float> physical = fhn_physical_ptrs(S.param_maps(), raw, S.neurons, layer_phys_[l]);
          const FhnGradPtrs<float> fhn_grads{G.a, G.b, G.g, G.I};
          fhn_backward_gpu(spec_.fhn_shape(l, B), L.act.data(), physical, L.ckpt_v.data(), L.ckpt_w.data(),
                           L.d_out.data(), L.d_act.data(), fhn_grads, fhn_workspace_.data(), stream());
          fhn_param_map_backward_gpu(S.param_maps(), raw, S.neurons, fhn_grads, stream());
          const float* pre_act = S.layernorm ? L.normed.data() : L.lin.data();
          activation_backward_gpu(S.activation, pre_act, L.d_act.data(), static_cast<std::size_t>(B) * D,
                                  L.d_act.data(), stream());
          break;
        }
        case LayerKind::kDense: {
          const float* pre_act = S.layernorm ? L.normed.data() : L.lin.data();
          activation_backward_gpu(S.activation, pre_act, L.d_out.data(), static_cast<std::size_t>(B) * D,
                                  L.d_act.data(), stream());
          break;
        }
        case LayerKind::kCfc:
          cfc_backward_gpu(L.lin.data(), L.d_out.data(), B, S.neurons, static_cast<float>(S.cfc_time), L.d_act.data(),
                           stream());
          break;
        default:
          throw std::logic_error("CudaBackend: layer kind " + std::string(to_string(S.kind)) + " has no backward");
      }
      if (S.layernorm) {
        layernorm_backward_gpu(L.d_act.data(), L.xhat.data(), L.rstd.data(), P.gamma, B, D, L.d_lin.data(), G.gamma,
                               G.beta, stream());
        d_lin = L.d_lin.data();
      }
      const float* in = l == 0 ? A.xb.data() : A.layers[l - 1].out.data();
      float* d_in = l == 0 ? nullptr : A.layers[l - 1].d_out.data();
      dense_backward_gpu(*cublas_, in, P.W, d_lin, B, spec_.layer_input_width(l), D, d_in, G.W, G.bias);
    }
  }

  // One minibatch of `count` rows, its index read from the device (TrainState::step). Enqueues
  // only device work with fixed arguments, so it can be captured.
  void run_step(int count) {
    Activations& A = train_acts_;
    TrainState* st = state_.data();
    const std::size_t total = table_.total();
    gather_rows_gpu(train_.x.data(), spec_.inputs, order_->order(), order_->rows(), &st->step, hyper_.batch_size,
                    count, A.xb.data(), stream());
    gather_rows_gpu(train_.y.data(), target_columns(hyper_.loss, spec_), order_->order(), order_->rows(), &st->step,
                    hyper_.batch_size, count, A.yb.data(), stream());
    forward(A, A.xb.data(), count, &st->flag);
    if (hyper_.loss == Loss::kSoftmaxCrossEntropy)
      softmax_cross_entropy_gpu(A.pred.data(), A.yb.data(), count, spec_.outputs, A.dpred.data(), &st->batch_loss,
                                stream());
    else
      mse_loss_gpu(A.pred.data(), A.yb.data(), static_cast<std::size_t>(count) * spec_.outputs, A.dpred.data(),
                   &st->batch_loss, stream());
    backward(A, count);
    nonfinite_check_gpu(grads(), total, &st->flag, kLossOrGradient, stream());
    step_end_kernel<<<1, 1, 0, stream()>>>(st);
    DYNPMNN_CUDA_CHECK_LAUNCH("step_end_kernel");
    adam_begin_step_gpu(&st->adam, &st->flag, hyper_.adam.beta1, hyper_.adam.beta2, stream());
    adam_update_gpu(params(), grads(), adam_m(), adam_v(), trainable_.data(), total, hyper_.adam, &st->adam, &st->flag,
                    stream());
  }

  void try_capture(int count) {
    cudaGraph_t graph = nullptr;
    try {
      DYNPMNN_CUDA_CHECK(cudaStreamBeginCapture(stream(), cudaStreamCaptureModeThreadLocal));
      try {
        run_step(count);
      } catch (...) {
        cudaGraph_t partial = nullptr;
        (void)cudaStreamEndCapture(stream(), &partial);
        if (partial) (void)cudaGraphDestroy(partial);
        (void)cudaGetLastError();
        throw;
      }
      DYNPMNN_CUDA_CHECK(cudaStreamEndCapture(stream(), &graph));
      cudaGraphExec_t exec = nullptr;
      const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
      (void)cudaGraphDestroy(graph);
      graph = nullptr;
      DYNPMNN_CUDA_CHECK(err);
      graph_.set(exec);
    } catch (const std::exception& e) {
      if (graph) (void)cudaGraphDestroy(graph);
      if (graph_mode_ == GraphMode::kRequired) throw;
      std::fprintf(stderr, "dynpmnn: CUDA graph capture failed (%s); training steps run on the stream\n", e.what());
      graph_mode_ = GraphMode::kOff;
    }
  }

  ModelSpec spec_;
  ParamTable table_;
  TrainHyper hyper_;
  GraphMode graph_mode_;
  std::string device_name_;
  // Declared first among the device objects so that it is destroyed last.
  Stream stream_;
  std::unique_ptr<CublasContext> cublas_;
  CarvedBuffer<float> state_arrays_;         // views: params, grads, Adam m, Adam v, (table.total()) each
  DeviceBuffer<std::uint8_t> trainable_;     // (table.total()) 1 where Adam updates
  DeviceBuffer<TrainState> state_;           // (1)
  PinnedBuffer<TrainState> host_state_;      // (1) the epoch's one read-back
  std::vector<LayerParams> layer_params_, layer_grads_;
  DeviceBuffer<float> fhn_phys_;             // (Σ over mapped layers of 4·N) mapped FHN parameters
  std::vector<float*> layer_phys_;           // per layer: its (4, N) slot of fhn_phys_, or null
  DeviceSplit train_, val_, test_;
  std::unique_ptr<EpochOrderGpu> order_;
  Activations train_acts_;
  Activations predict_acts_;
  DeviceBuffer<float> fhn_workspace_;
  bool have_data_ = false;
  bool have_params_ = false;
  GraphExec graph_;  // last: destroyed first, before the buffers it uses
};

}  // namespace

bool cuda_available(std::string* why) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    if (why) *why = std::string("no usable CUDA device: ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
    return false;
  }
  if (count == 0) {
    if (why) *why = "no CUDA device found";
    return false;
  }
  if (why) *why = std::to_string(count) + " CUDA device(s)";
  return true;
}

std::unique_ptr<Backend> make_cuda_backend(const ModelSpec& spec, const TrainHyper& hyper) {
  std::string why;
  if (!cuda_available(&why)) throw std::runtime_error("--device cuda: " + why);
  return std::make_unique<CudaBackend>(spec, hyper);
}

}  // namespace dynpmnn
