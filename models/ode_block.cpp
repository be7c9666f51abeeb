#include "models/ode_block.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "kernels/ode.h"
#include "kernels/ops.h"

namespace dynpmnn {

namespace {

template <typename T>
bool all_finite(const T* x, std::size_t n) {
  return std::all_of(x, x + n, [](T v) { return std::isfinite(static_cast<double>(v)); });
}

// Terms h·w_j·x_j for the nonzero weights w_j, j < count.
template <typename T>
OdeTerms<T> weighted(const std::vector<std::vector<T>>& x, const double* w, int count, double h) {
  OdeTerms<T> terms;
  for (int j = 0; j < count; ++j)
    if (w[j] != 0.0) {
      terms.x[terms.count] = x[j].data();
      terms.w[terms.count++] = static_cast<T>(h * w[j]);
    }
  return terms;
}

template <typename T>
OdeTerms<T> single(const T* x, double w) {
  OdeTerms<T> terms;
  terms.x[0] = x;
  terms.w[0] = static_cast<T>(w);
  terms.count = 1;
  return terms;
}

}  // namespace

template <typename T>
bool RkIntegratorCpu<T>::forward(OdeVectorField<T>& f, const OdeSolveSettings& settings, const T* y0, std::size_t n,
                                 T* y1) {
  settings_ = settings;
  n_ = n;
  k_.resize(kOdeMaxTerms);
  for (auto& k : k_) k.resize(n);
  y_.resize(n);
  stage_.resize(n);
  next_.resize(n);
  ybar_.resize(n);
  step_h_.clear();
  evaluations_ = 0;
  rejected_ = 0;
  return settings.solver == OdeSolver::kRk4 ? forward_fixed(f, y0, y1) : forward_adaptive(f, y0, y1);
}

template <typename T>
bool RkIntegratorCpu<T>::forward_fixed(OdeVectorField<T>& f, const T* y0, T* y1) {
  const RkTableau& tab = kRk4Tableau;
  const std::size_t n = n_;
  const double h = 1.0 / settings_.steps;
  std::copy(y0, y0 + n, y_.begin());
  for (int step = 0; step < settings_.steps; ++step) {
    const double t = step * h;
    for (int i = 0; i < tab.stages; ++i) {
      ode_combine_cpu(y_.data(), weighted(k_, tab.a[i], i, h), n, stage_.data());
      eval(f, stage_.data(), t + tab.c[i] * h, static_cast<std::size_t>(step) * tab.stages + i, k_[i].data());
    }
    ode_combine_cpu(y_.data(), weighted(k_, tab.b, tab.stages, h), n, y_.data());
    step_h_.push_back(h);
  }
  std::copy(y_.begin(), y_.end(), y1);
  return all_finite(y1, n);
}

template <typename T>
bool RkIntegratorCpu<T>::forward_adaptive(OdeVectorField<T>& f, const T* y0, T* y1) {
  const RkTableau& tab = kDopri5Tableau;
  const OdeSolveSettings& o = settings_;
  const std::size_t n = n_;
  const double count = static_cast<double>(n);
  std::copy(y0, y0 + n, y_.begin());
  eval(f, y_.data(), 0.0, 0, k_[0].data());

  double h = 0;
  if (replay_.empty()) {
    const double d0 = std::sqrt(ode_scaled_sq_sum_cpu<T>(y_.data(), nullptr, y_.data(), n, o.rtol, o.atol) / count);
    const double d1 = std::sqrt(ode_scaled_sq_sum_cpu<T>(k_[0].data(), nullptr, y_.data(), n, o.rtol, o.atol) / count);
    const double trial = ode_initial_step_trial(d0, d1);
    ode_combine_cpu(y_.data(), single(k_[0].data(), trial), n, stage_.data());
    eval(f, stage_.data(), trial, kScratchRecord, k_[1].data());
    const double d2 =
        std::sqrt(ode_scaled_sq_sum_cpu<T>(k_[1].data(), k_[0].data(), y_.data(), n, o.rtol, o.atol) / count) / trial;
    h = ode_initial_step(trial, d1, d2, tab.order);
  }

  double t = 0;
  long attempts = 0;
  std::size_t accepted = 0;
  while (replay_.empty() ? t < 1.0 : accepted < replay_.size()) {
    double hs;
    bool last;
    if (!replay_.empty()) {
      hs = replay_[accepted];
      last = accepted + 1 == replay_.size();
    } else {
      if (++attempts > o.max_steps)
        throw OdeStepLimitError("ODE layer " + std::to_string(o.layer) + ": dopri5 attempted ode_max_steps = " +
                                std::to_string(o.max_steps) + " steps and reached only t = " + std::to_string(t) +
                                " of 1 (step size " + std::to_string(h) +
                                "); raise ode_max_steps, loosen ode_rtol / ode_atol, or use ode_solver = \"rk4\"");
      last = !(h < 1.0 - t);  // a NaN h ends at the error check below
      hs = last ? 1.0 - t : h;
      if (hs <= 0 || t + hs == t)
        throw OdeStepLimitError("ODE layer " + std::to_string(o.layer) + ": dopri5's step size " +
                                std::to_string(hs) + " no longer advances t = " + std::to_string(t) +
                                "; loosen ode_rtol / ode_atol or use ode_solver = \"rk4\"");
    }
    const std::size_t base = accepted * tab.stages;
    // Stages 1..5, then stage 6 at the step's end, whose input is the new solution (kept in next_).
    for (int i = 1; i <= tab.stages; ++i) {
      T* in = i == tab.stages ? next_.data() : stage_.data();
      ode_combine_cpu(y_.data(), weighted(k_, tab.a[i], i, hs), n, in);
      eval(f, in, t + tab.c[i] * hs, base + i, k_[i].data());
    }
    double ratio = 0;
    if (replay_.empty()) {
      const OdeTerms<T> err = weighted(k_, tab.e, tab.stages + 1, hs);
      ratio = std::sqrt(ode_error_sq_sum_cpu(err, y_.data(), next_.data(), n, o.rtol, o.atol) / count);
      if (!std::isfinite(ratio)) {
        std::copy(next_.begin(), next_.end(), y1);
        if (all_finite(y1, n)) std::fill(y1, y1 + n, std::numeric_limits<T>::quiet_NaN());  // Inf in a k only
        return false;
      }
    }
    if (!replay_.empty() || ratio <= 1.0) {
      std::swap(y_, next_);
      std::swap(k_[0], k_[tab.stages]);  // first same as last
      step_h_.push_back(hs);
      t = last ? 1.0 : t + hs;
      ++accepted;
    } else {
      ++rejected_;
    }
    if (replay_.empty()) h = ode_next_step(hs, ratio, tab.order);
  }
  std::copy(y_.begin(), y_.end(), y1);
  return all_finite(y1, n);
}

// Reverse mode through one explicit RK step y1 = y + h Σ b_i k_i, k_i = f(Y_i), Y_i = y + h Σ_j a_ij k_j:
// k̄_i starts at h b_i ȳ1; going down the stages, Ȳ_i = (∂f/∂y)ᵀ k̄_i adds to ȳ and to k̄_j by h a_ij.
template <typename T>
void RkIntegratorCpu<T>::backward(OdeVectorField<T>& f, const T* dy1, T* dy0) {
  const RkTableau& tab = tableau_of(settings_.solver);
  const std::size_t n = n_;
  std::vector<T>& dy = y_;     // adjoint of the state after the step being reversed
  std::vector<T>& acc = next_;  // adjoint of the state before it
  std::copy(dy1, dy1 + n, dy.begin());
  for (int step = static_cast<int>(step_h_.size()) - 1; step >= 0; --step) {
    const double h = step_h_[step];
    for (int i = 0; i < tab.stages; ++i) ode_combine_cpu<T>(nullptr, single(dy.data(), h * tab.b[i]), n, k_[i].data());
    std::copy(dy.begin(), dy.end(), acc.begin());
    for (int i = tab.stages - 1; i >= 0; --i) {
      std::fill(ybar_.begin(), ybar_.end(), T(0));
      f.eval_backward(static_cast<std::size_t>(step) * tab.stages + i, k_[i].data(), ybar_.data());
      ode_combine_cpu(acc.data(), single(ybar_.data(), 1.0), n, acc.data());
      for (int j = 0; j < i; ++j)
        if (tab.a[i][j] != 0.0) ode_combine_cpu(k_[j].data(), single(ybar_.data(), h * tab.a[i][j]), n, k_[j].data());
    }
    std::swap(dy, acc);
  }
  std::copy(dy.begin(), dy.end(), dy0);
}

template <typename T>
OdeBlockCpu<T>::OdeBlockCpu(OdeLayout layout, int layer_index) : layout_(std::move(layout)) {
  settings_.solver = layout_.solver;
  settings_.steps = layout_.steps;
  settings_.rtol = layout_.rtol;
  settings_.atol = layout_.atol;
  settings_.max_steps = layout_.max_steps;
  settings_.layer = layer_index;
}

template <typename T>
typename OdeBlockCpu<T>::Eval& OdeBlockCpu<T>::at(std::size_t record) {
  if (record == kScratchRecord) return scratch_;
  while (records_.size() <= record) records_.emplace_back();
  return records_[record];
}

template <typename T>
void OdeBlockCpu<T>::eval(const T* y, double t, std::size_t record, T* k) {
  const OdeLayout& o = layout_;
  const T* params = params_;
  Eval& e = at(record);
  const int B = batch_;
  const std::size_t BV = static_cast<std::size_t>(B) * o.V;
  const int hidden = o.vf_layers - 1;
  e.z.resize(static_cast<std::size_t>(B) * (o.H + 1));
  e.xhat.resize(hidden);
  e.normed.resize(hidden);
  e.act.resize(hidden);
  e.rstd.resize(hidden);
  ode_concat_time_cpu(y, static_cast<T>(t), B, o.H, e.z.data());
  const T* in = e.z.data();
  for (int j = 0; j < hidden; ++j) {
    e.xhat[j].resize(BV);
    e.normed[j].resize(BV);
    e.act[j].resize(BV);
    e.rstd[j].resize(B);
    dense_forward_cpu(in, params + o.W[j], params + o.bias[j], B, o.in_width(j), o.V, lin_.data());
    layernorm_forward_cpu(lin_.data(), params + o.gamma[j], params + o.beta[j], B, o.V, e.normed[j].data(),
                          e.xhat[j].data(), e.rstd[j].data());
    activation_forward_cpu(Activation::kTanh, e.normed[j].data(), BV, e.act[j].data());
    in = e.act[j].data();
  }
  dense_forward_cpu(in, params + o.W[hidden], params + o.bias[hidden], B, o.in_width(hidden), o.H, k);
}

template <typename T>
void OdeBlockCpu<T>::eval_backward(std::size_t record, const T* dk, T* dy) {
  const OdeLayout& o = layout_;
  const T* params = params_;
  const Eval& e = at(record);
  const int B = batch_;
  const int hidden = o.vf_layers - 1;
  T* s = grad_scratch_.data() - o.first;  // indexed by parameter offset; every slot is overwritten below
  const T* d = dk;
  for (int j = hidden; j >= 0; --j) {
    const T* in = j == 0 ? e.z.data() : e.act[j - 1].data();
    dense_backward_cpu(in, params + o.W[j], d, B, o.in_width(j), o.out_width(j), d_a_.data(), s + o.W[j],
                       s + o.bias[j]);
    if (j == 0) break;
    const std::size_t BV = static_cast<std::size_t>(B) * o.V;
    activation_backward_cpu(Activation::kTanh, e.normed[j - 1].data(), d_a_.data(), BV, d_a_.data());
    layernorm_backward_cpu(d_a_.data(), e.xhat[j - 1].data(), e.rstd[j - 1].data(), params + o.gamma[j - 1], B, o.V,
                           d_b_.data(), s + o.gamma[j - 1], s + o.beta[j - 1]);
    d = d_b_.data();  // the next dense_backward reads d_b_ and writes d_a_
  }
  ode_add_state_grad_cpu(d_a_.data(), B, o.H, dy);
  ode_combine_cpu(grad_ + o.first, single(grad_scratch_.data(), 1.0), grad_scratch_.size(), grad_ + o.first);
}

template <typename T>
bool OdeBlockCpu<T>::forward(const T* params, const T* h0, int B, T* h1) {
  const OdeLayout& o = layout_;
  batch_ = B;
  params_ = params;
  lin_.resize(static_cast<std::size_t>(B) * o.V);
  const std::size_t widest = static_cast<std::size_t>(B) * std::max(o.V, o.H + 1);
  d_a_.resize(widest);
  d_b_.resize(widest);
  grad_scratch_.resize(o.end - o.first);
  return solver_.forward(*this, settings_, h0, static_cast<std::size_t>(B) * o.H, h1);
}

template <typename T>
void OdeBlockCpu<T>::backward(const T* params, const T* dh1, T* dh0, T* grad) {
  params_ = params;
  grad_ = grad;
  solver_.backward(*this, dh1, dh0);
}

template class RkIntegratorCpu<float>;
template class RkIntegratorCpu<double>;
template class OdeBlockCpu<float>;
template class OdeBlockCpu<double>;

}  // namespace dynpmnn
