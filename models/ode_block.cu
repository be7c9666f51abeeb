// OdeBlockGpu: models/ode_block.cpp's solvers and backward, step for step, on the device.
#include "models/ode_block_gpu.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/cuda_check.h"
#include "kernels/fhn_gpu.h"  // kNoNonFinite
#include "kernels/ode_gpu.h"

namespace dynpmnn {

namespace {

OdeTerms<float> weighted(const std::vector<DeviceBuffer<float>>& x, const double* w, int count, double h) {
  OdeTerms<float> terms;
  for (int j = 0; j < count; ++j)
    if (w[j] != 0.0) {
      terms.x[terms.count] = x[j].data();
      terms.w[terms.count++] = static_cast<float>(h * w[j]);
    }
  return terms;
}

OdeTerms<float> single(const float* x, double w) {
  OdeTerms<float> terms;
  terms.x[0] = x;
  terms.w[0] = static_cast<float>(w);
  terms.count = 1;
  return terms;
}

}  // namespace

OdeBlockGpu::OdeBlockGpu(OdeLayout layout, int layer_index, const CublasContext& ctx, int capacity, OdeRecords records)
    : layout_(std::move(layout)), layer_(layer_index), ctx_(ctx), capacity_(capacity), record_mode_(records) {
  if (capacity_ <= 0) throw std::invalid_argument("OdeBlockGpu: capacity must be > 0");
  const std::size_t n = static_cast<std::size_t>(capacity_) * layout_.H;
  for (int i = 0; i < kOdeMaxTerms; ++i) k_.emplace_back(n);
  y_ = DeviceBuffer<float>(n);
  stage_ = DeviceBuffer<float>(n);
  next_ = DeviceBuffer<float>(n);
  ybar_ = DeviceBuffer<float>(n);
  lin_ = DeviceBuffer<float>(static_cast<std::size_t>(capacity_) * layout_.V);
  const std::size_t widest = static_cast<std::size_t>(capacity_) * std::max(layout_.V, layout_.H + 1);
  d_a_ = DeviceBuffer<float>(widest);
  d_b_ = DeviceBuffer<float>(widest);
  grad_scratch_ = DeviceBuffer<float>(std::max<std::size_t>(layout_.end - layout_.first, 1));
  sum_ = DeviceBuffer<double>(1);
  host_sum_ = PinnedBuffer<double>(1);
  scratch_ = make_eval();
  // rk4's records up front, so that nothing is allocated while a training step is being captured.
  if (record_mode_ == OdeRecords::kKeep && layout_.solver == OdeSolver::kRk4)
    for (int i = 0; i < kRk4Tableau.stages * layout_.steps; ++i) records_.push_back(make_eval());
}

std::unique_ptr<OdeBlockGpu::Eval> OdeBlockGpu::make_eval() const {
  auto e = std::make_unique<Eval>();
  const std::size_t B = capacity_;
  const std::size_t BV = B * layout_.V;
  e->z = DeviceBuffer<float>(B * (layout_.H + 1));
  for (int j = 0; j + 1 < layout_.vf_layers; ++j) {
    e->xhat.emplace_back(BV);
    e->normed.emplace_back(BV);
    e->act.emplace_back(BV);
    e->rstd.emplace_back(B);
  }
  return e;
}

OdeBlockGpu::Eval& OdeBlockGpu::at(std::size_t record) {
  if (record_mode_ != OdeRecords::kKeep || record == kScratchRecord) return *scratch_;
  while (records_.size() <= record) records_.push_back(make_eval());
  return *records_[record];
}

void OdeBlockGpu::eval(const float* params, const float* y, double t, std::size_t record, float* k) {
  const OdeLayout& o = layout_;
  Eval& e = at(record);
  const int B = batch_;
  const int hidden = o.vf_layers - 1;
  ode_concat_time_gpu(y, static_cast<float>(t), B, o.H, e.z.data(), stream());
  const float* in = e.z.data();
  for (int j = 0; j < hidden; ++j) {
    dense_forward_gpu(ctx_, in, params + o.W[j], params + o.bias[j], B, o.in_width(j), o.V, lin_.data());
    layernorm_forward_gpu(lin_.data(), params + o.gamma[j], params + o.beta[j], B, o.V, e.normed[j].data(),
                          e.xhat[j].data(), e.rstd[j].data(), stream());
    activation_forward_gpu(Activation::kTanh, e.normed[j].data(), static_cast<std::size_t>(B) * o.V, e.act[j].data(),
                           stream());
    in = e.act[j].data();
  }
  dense_forward_gpu(ctx_, in, params + o.W[hidden], params + o.bias[hidden], B, o.in_width(hidden), o.H, k);
}

void OdeBlockGpu::eval_backward(const float* params, const Eval& e, const float* dk, float* dy, float* grad) {
  const OdeLayout& o = layout_;
  const int B = batch_;
  const int hidden = o.vf_layers - 1;
  float* s = grad_scratch_.data() - o.first;  // indexed by parameter offset; every slot is overwritten below
  const float* d = dk;
  for (int j = hidden; j >= 0; --j) {
    const float* in = j == 0 ? e.z.data() : e.act[j - 1].data();
    dense_backward_gpu(ctx_, in, params + o.W[j], d, B, o.in_width(j), o.out_width(j), d_a_.data(), s + o.W[j],
                       s + o.bias[j]);
    if (j == 0) break;
    const std::size_t BV = static_cast<std::size_t>(B) * o.V;
    activation_backward_gpu(Activation::kTanh, e.normed[j - 1].data(), d_a_.data(), BV, d_a_.data(), stream());
    layernorm_backward_gpu(d_a_.data(), e.xhat[j - 1].data(), e.rstd[j - 1].data(), params + o.gamma[j - 1], B, o.V,
                           d_b_.data(), s + o.gamma[j - 1], s + o.beta[j - 1], stream());
    d = d_b_.data();  // the next dense_backward reads d_b_ and writes d_a_
  }
  ode_add_state_grad_gpu(d_a_.data(), B, o.H, dy, stream());
  ode_combine_gpu(grad + o.first, single(grad_scratch_.data(), 1.0), o.end - o.first, grad + o.first, stream());
}

double OdeBlockGpu::read_sum() {
  DYNPMNN_CUDA_CHECK(cudaMemcpyAsync(host_sum_.data(), sum_.data(), sizeof(double), cudaMemcpyDeviceToHost, stream()));
  DYNPMNN_CUDA_CHECK(cudaStreamSynchronize(stream()));
  return *host_sum_.data();
}

void OdeBlockGpu::forward(const float* params, const float* h0, int B, float* h1, int* flag) {
  if (B < 0 || B > capacity_)
    throw std::invalid_argument("OdeBlockGpu::forward: batch " + std::to_string(B) + " outside [0, " +
                                std::to_string(capacity_) + "]");
  batch_ = B;
  step_h_.clear();
  rejected_ = 0;
  if (B == 0) return;
  if (layout_.solver == OdeSolver::kRk4) {
    forward_fixed(params, h0, h1);
  } else if (!forward_adaptive(params, h0, h1)) {
    // The error norm was not finite: h1 holds the failed step's end state, made NaN if that was finite.
    const std::size_t n = static_cast<std::size_t>(B) * layout_.H;
    DYNPMNN_CUDA_CHECK(cudaMemsetAsync(h1, 0xFF, n * sizeof(float), stream()));
  }
  if (flag) nonfinite_check_gpu(h1, static_cast<std::size_t>(B) * layout_.H, flag, layer_, stream());
}

void OdeBlockGpu::forward_fixed(const float* params, const float* h0, float* h1) {
  const RkTableau& tab = kRk4Tableau;
  const std::size_t n = static_cast<std::size_t>(batch_) * layout_.H;
  const double h = 1.0 / layout_.steps;
  DYNPMNN_CUDA_CHECK(cudaMemcpyAsync(y_.data(), h0, n * sizeof(float), cudaMemcpyDeviceToDevice, stream()));
  for (int step = 0; step < layout_.steps; ++step) {
    const double t = step * h;
    for (int i = 0; i < tab.stages; ++i) {
      ode_combine_gpu(y_.data(), weighted(k_, tab.a[i], i, h), n, stage_.data(), stream());
      eval(params, stage_.data(), t + tab.c[i] * h, static_cast<std::size_t>(step) * tab.stages + i, k_[i].data());
    }
    // The last step writes h1 directly.
    ode_combine_gpu(y_.data(), weighted(k_, tab.b, tab.stages, h), n, step + 1 == layout_.steps ? h1 : y_.data(),
                    stream());
    step_h_.push_back(h);
  }
}

bool OdeBlockGpu::forward_adaptive(const float* params, const float* h0, float* h1) {
  const RkTableau& tab = kDopri5Tableau;
  const OdeLayout& o = layout_;
  const std::size_t n = static_cast<std::size_t>(batch_) * o.H;
  const double count = static_cast<double>(n);
  DYNPMNN_CUDA_CHECK(cudaMemcpyAsync(y_.data(), h0, n * sizeof(float), cudaMemcpyDeviceToDevice, stream()));
  eval(params, y_.data(), 0.0, 0, k_[0].data());

  ode_scaled_sq_sum_gpu(y_.data(), nullptr, y_.data(), n, o.rtol, o.atol, sum_.data(), stream());
  const double d0 = std::sqrt(read_sum() / count);
  ode_scaled_sq_sum_gpu(k_[0].data(), nullptr, y_.data(), n, o.rtol, o.atol, sum_.data(), stream());
  const double d1 = std::sqrt(read_sum() / count);
  const double trial = ode_initial_step_trial(d0, d1);
  ode_combine_gpu(y_.data(), single(k_[0].data(), trial), n, stage_.data(), stream());
  eval(params, stage_.data(), trial, kScratchRecord, k_[1].data());
  ode_scaled_sq_sum_gpu(k_[1].data(), k_[0].data(), y_.data(), n, o.rtol, o.atol, sum_.data(), stream());
  const double d2 = std::sqrt(read_sum() / count) / trial;
  double h = ode_initial_step(trial, d1, d2, tab.order);

  double t = 0;
  long attempts = 0;
  std::size_t accepted = 0;
  while (t < 1.0) {
    if (++attempts > o.max_steps)
      throw OdeStepLimitError("ODE layer " + std::to_string(layer_) + ": dopri5 attempted ode_max_steps = " +
                              std::to_string(o.max_steps) + " steps and reached only t = " + std::to_string(t) +
                              " of 1 (step size " + std::to_string(h) +
                              "); raise ode_max_steps, loosen ode_rtol / ode_atol, or use ode_solver = \"rk4\"");
    const bool last = !(h < 1.0 - t);
    const double hs = last ? 1.0 - t : h;
    if (hs <= 0 || t + hs == t)
      throw OdeStepLimitError("ODE layer " + std::to_string(layer_) + ": dopri5's step size " + std::to_string(hs) +
                              " no longer advances t = " + std::to_string(t) +
                              "; loosen ode_rtol / ode_atol or use ode_solver = \"rk4\"");
    const std::size_t base = accepted * tab.stages;
    for (int i = 1; i <= tab.stages; ++i) {
      float* in = i == tab.stages ? next_.data() : stage_.data();
      ode_combine_gpu(y_.data(), weighted(k_, tab.a[i], i, hs), n, in, stream());
      eval(params, in, t + tab.c[i] * hs, base + i, k_[i].data());
    }
    ode_error_sq_sum_gpu(weighted(k_, tab.e, tab.stages + 1, hs), y_.data(), next_.data(), n, o.rtol, o.atol,
                         sum_.data(), stream());
    const double ratio = std::sqrt(read_sum() / count);
    if (!std::isfinite(ratio)) return false;
    if (ratio <= 1.0) {
      std::swap(y_, next_);
      std::swap(k_[0], k_[tab.stages]);  // first same as last
      step_h_.push_back(hs);
      t = last ? 1.0 : t + hs;
      ++accepted;
    } else {
      ++rejected_;
    }
    h = ode_next_step(hs, ratio, tab.order);
  }
  DYNPMNN_CUDA_CHECK(cudaMemcpyAsync(h1, y_.data(), n * sizeof(float), cudaMemcpyDeviceToDevice, stream()));
  return true;
}

void OdeBlockGpu::backward(const float* params, const float* dh1, float* dh0, float* grad) {
  if (record_mode_ != OdeRecords::kKeep) throw std::logic_error("OdeBlockGpu::backward: this block keeps no records (inference)");
  const RkTableau& tab = tableau_of(layout_.solver);
  const OdeLayout& o = layout_;
  const std::size_t n = static_cast<std::size_t>(batch_) * o.H;
  DYNPMNN_CUDA_CHECK(cudaMemsetAsync(grad + o.first, 0, (o.end - o.first) * sizeof(float), stream()));
  if (n == 0) return;
  float* dy = y_.data();
  float* acc = next_.data();
  DYNPMNN_CUDA_CHECK(cudaMemcpyAsync(dy, dh1, n * sizeof(float), cudaMemcpyDeviceToDevice, stream()));
  for (int step = static_cast<int>(step_h_.size()) - 1; step >= 0; --step) {
    const double h = step_h_[step];
    for (int i = 0; i < tab.stages; ++i) ode_combine_gpu(nullptr, single(dy, h * tab.b[i]), n, k_[i].data(), stream());
    DYNPMNN_CUDA_CHECK(cudaMemcpyAsync(acc, dy, n * sizeof(float), cudaMemcpyDeviceToDevice, stream()));
    for (int i = tab.stages - 1; i >= 0; --i) {
      DYNPMNN_CUDA_CHECK(cudaMemsetAsync(ybar_.data(), 0, n * sizeof(float), stream()));
      eval_backward(params, at(static_cast<std::size_t>(step) * tab.stages + i), k_[i].data(), ybar_.data(), grad);
      ode_combine_gpu(acc, single(ybar_.data(), 1.0), n, acc, stream());
      for (int j = 0; j < i; ++j)
        if (tab.a[i][j] != 0.0)
          ode_combine_gpu(k_[j].data(), single(ybar_.data(), h * tab.a[i][j]), n, k_[j].data(), stream());
    }
    std::swap(dy, acc);
  }
  DYNPMNN_CUDA_CHECK(cudaMemcpyAsync(dh0, dy, n * sizeof(float), cudaMemcpyDeviceToDevice, stream()));
}

}  // namespace dynpmnn
