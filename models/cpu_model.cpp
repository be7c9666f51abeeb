#include "models/cpu_model.h"

#include <algorithm>

#include "kernels/fhn_param_map.h"
#include "kernels/ops.h"

namespace dynpmnn {

template <typename T>
CpuModel<T>::CpuModel(const ModelSpec& spec, const ParamTable& table)
    : spec_(spec), table_(table), layers_(spec.layers.size()) {}

template <typename T>
void CpuModel<T>::resize(int B) {
  if (B == batch_) return;
  batch_ = B;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const std::size_t D = spec_.linear_width(static_cast<int>(l));
    const std::size_t N = spec_.layers[l].neurons;
    auto& L = layers_[l];
    L.lin.resize(B * D);
    L.xhat.resize(B * D);
    L.rstd.resize(B);
    L.normed.resize(B * D);
    L.act.resize(B * D);
    const std::size_t ck = spec_.fhn_shape(static_cast<int>(l), B).checkpoint_elems();
    L.ckpt_v.resize(ck);
    L.ckpt_w.resize(ck);
    L.out.resize(B * 2 * N);
    L.d_out.resize(B * 2 * N);
    L.d_act.resize(B * D);
    L.fhn_phys.resize(spec_.layers[l].param_maps().any() ? 4 * N : 0);
  }
}

template <typename T>
int CpuModel<T>::forward(const T* params, const T* x, int B, T* pred) {
  resize(B);
  int first_bad = kAllFinite;
  const T* in = x;
  for (int l = 0; l < static_cast<int>(layers_.size()); ++l) {
    const auto& S = spec_.layers[l];
    auto& L = layers_[l];
    const int D = spec_.linear_width(l);
    const int in_w = spec_.layer_input_width(l);
    dense_forward_cpu(in, params + table_.at(l, ParamKind::kWeight).offset,
                      params + table_.at(l, ParamKind::kBias).offset, B, in_w, D, L.lin.data());
    const T* pre_act = L.lin.data();
    if (S.layernorm) {
      layernorm_forward_cpu(L.lin.data(), params + table_.at(l, ParamKind::kLnGamma).offset,
                            params + table_.at(l, ParamKind::kLnBeta).offset, B, D, L.normed.data(),
                            L.xhat.data(), L.rstd.data());
      pre_act = L.normed.data();
    }
    activation_forward_cpu(S.activation, pre_act, static_cast<std::size_t>(B) * D, L.act.data());
    const FhnParamPtrs<T> raw{params + table_.at(l, ParamKind::kFhnA).offset,
                              params + table_.at(l, ParamKind::kFhnB).offset,
                              params + table_.at(l, ParamKind::kFhnG).offset,
                              params + table_.at(l, ParamKind::kFhnI).offset};
    const FhnParamPtrs<T> p = fhn_param_map_forward_cpu(S.param_maps(), raw, S.neurons, L.fhn_phys.data());
    const bool finite = fhn_forward_cpu(spec_.fhn_shape(l, B), L.act.data(), p, L.out.data(), L.ckpt_v.data(),
                                        L.ckpt_w.data());
    if (!finite && first_bad == kAllFinite) first_bad = l;
    in = L.out.data();
  }
  const int last = 2 * spec_.layers.back().neurons;
  dense_forward_cpu(in, params + table_.at(-1, ParamKind::kWeight).offset,
                    params + table_.at(-1, ParamKind::kBias).offset, B, last, spec_.outputs, pred);
  if (first_bad == kAllFinite) {
    for (int i = 0; i < B * spec_.outputs; ++i)
      if (!is_finite_value(pred[i])) {
        first_bad = static_cast<int>(layers_.size());
        break;
      }
  }
  return first_bad;
}

template <typename T>
void CpuModel<T>::backward(const T* params, const T* x, const T* dpred, T* grad) {
  const int B = batch_;
  const int nl = static_cast<int>(layers_.size());
  std::fill(grad, grad + table_.total(), T(0));
  auto g = [&](int l, ParamKind k) { return grad + table_.at(l, k).offset; };
  auto p = [&](int l, ParamKind k) { return params + table_.at(l, k).offset; };

  // Readout: its input is the last layer's (v_T, w_T).
  const int last = 2 * spec_.layers.back().neurons;
  dense_backward_cpu(layers_[nl - 1].out.data(), p(-1, ParamKind::kWeight), dpred, B, last, spec_.outputs,
                     layers_[nl - 1].d_out.data(), g(-1, ParamKind::kWeight), g(-1, ParamKind::kBias));

  for (int l = nl - 1; l >= 0; --l) {
    const auto& S = spec_.layers[l];
    auto& L = layers_[l];
    const int D = spec_.linear_width(l);
    const int in_w = spec_.layer_input_width(l);
    const FhnParamPtrs<T> raw{p(l, ParamKind::kFhnA), p(l, ParamKind::kFhnB), p(l, ParamKind::kFhnG),
                              p(l, ParamKind::kFhnI)};
    // Recomputed rather than kept from forward: backward takes params, and the map is 4N cheap ops.
    const FhnParamPtrs<T> fp = fhn_param_map_forward_cpu(S.param_maps(), raw, S.neurons, L.fhn_phys.data());
    auto trained = [&](ParamKind k) { return table_.at(l, k).trainable ? g(l, k) : nullptr; };
    const FhnGradPtrs<T> fg{trained(ParamKind::kFhnA), trained(ParamKind::kFhnB), trained(ParamKind::kFhnG),
                            trained(ParamKind::kFhnI)};
    fhn_backward_cpu(spec_.fhn_shape(l, B), L.act.data(), fp, L.ckpt_v.data(), L.ckpt_w.data(), L.d_out.data(),
                     L.d_act.data(), fg);
    fhn_param_map_backward_cpu(S.param_maps(), raw, S.neurons, fg);
    // Activation, in place on d_act.
    const T* pre_act = S.layernorm ? L.normed.data() : L.lin.data();
    activation_backward_cpu(S.activation, pre_act, L.d_act.data(), static_cast<std::size_t>(B) * D,
                            L.d_act.data());
    if (S.layernorm) {
      std::vector<T>& d_lin = d_in_scratch_;
      d_lin.resize(static_cast<std::size_t>(B) * D);
      layernorm_backward_cpu(L.d_act.data(), L.xhat.data(), L.rstd.data(), p(l, ParamKind::kLnGamma), B, D,
                             d_lin.data(), g(l, ParamKind::kLnGamma), g(l, ParamKind::kLnBeta));
      std::copy(d_lin.begin(), d_lin.end(), L.d_act.begin());
    }
    const T* in = l == 0 ? x : layers_[l - 1].out.data();
    T* d_in = l == 0 ? nullptr : layers_[l - 1].d_out.data();
    dense_backward_cpu(in, p(l, ParamKind::kWeight), L.d_act.data(), B, in_w, D, d_in, g(l, ParamKind::kWeight),
                       g(l, ParamKind::kBias));
  }
}

template class CpuModel<float>;
template class CpuModel<double>;

}  // namespace dynpmnn
