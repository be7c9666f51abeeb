#include "models/cpu_model.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/cfc.h"
#include "kernels/fhn_param_map.h"
#include "kernels/ops.h"

namespace dynpmnn {

template <typename T>
CpuModel<T>::CpuModel(const ModelSpec& spec, const ParamTable& table)
    : spec_(spec), table_(table), layers_(spec.layers.size()), odes_(spec.layers.size()) {
  for (int l = 0; l < static_cast<int>(spec.layers.size()); ++l)
    if (spec.layers[l].kind == LayerKind::kOde)
      odes_[l] = std::make_unique<OdeBlockCpu<T>>(ode_layout(spec, table, l), l);
}

template <typename T>
void CpuModel<T>::resize(int B) {
  if (B == batch_) return;
  batch_ = B;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const std::size_t D = spec_.linear_width(static_cast<int>(l));
    const std::size_t out_w = spec_.layer_output_width(static_cast<int>(l));
    const bool fhn = spec_.layers[l].kind == LayerKind::kFhn;
    auto& L = layers_[l];
    if (spec_.layers[l].kind == LayerKind::kOde) {
      const std::size_t N = spec_.layers[l].neurons;
      L.lin.resize(B * N);
      L.out.resize(B * N);
      L.d_out.resize(B * N);
      L.d_act.resize(B * N);
      continue;
    }
    L.lin.resize(B * D);
    L.xhat.resize(B * D);
    L.rstd.resize(B);
    L.normed.resize(B * D);
    L.act.resize(fhn ? B * D : 0);
    const std::size_t ck = fhn ? spec_.fhn_shape(static_cast<int>(l), B).checkpoint_elems() : 0;
    L.ckpt_v.resize(ck);
    L.ckpt_w.resize(ck);
    L.out.resize(B * out_w);
    L.d_out.resize(B * out_w);
    L.d_act.resize(B * D);
    L.fhn_phys.resize(fhn && spec_.layers[l].param_maps().any() ? 4 * spec_.layers[l].neurons : 0);
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
    const int in_w = spec_.layer_input_width(l);
    if (S.kind == LayerKind::kOde) {
      dense_forward_cpu(in, params + table_.at(l, ParamKind::kWeight).offset,
                        params + table_.at(l, ParamKind::kBias).offset, B, in_w, S.neurons, L.lin.data());
      const bool finite = odes_[l]->forward(params, L.lin.data(), B, L.out.data());
      if (!finite && first_bad == kAllFinite) first_bad = l;
      in = L.out.data();
      continue;
    }
    const int D = spec_.linear_width(l);
    dense_forward_cpu(in, params + table_.at(l, ParamKind::kWeight).offset,
                      params + table_.at(l, ParamKind::kBias).offset, B, in_w, D, L.lin.data());
    if (S.kind == LayerKind::kCfc) {
      cfc_forward_cpu(L.lin.data(), B, S.neurons, static_cast<T>(S.cfc_time), L.out.data());
    } else {
      const T* pre_act = L.lin.data();
      if (S.layernorm) {
        layernorm_forward_cpu(L.lin.data(), params + table_.at(l, ParamKind::kLnGamma).offset,
                              params + table_.at(l, ParamKind::kLnBeta).offset, B, D, L.normed.data(),
                              L.xhat.data(), L.rstd.data());
        pre_act = L.normed.data();
      }
      // A dense layer's activation is its output; an FHN layer's is the neurons' input.
      T* act = S.kind == LayerKind::kDense ? L.out.data() : L.act.data();
      activation_forward_cpu(S.activation, pre_act, static_cast<std::size_t>(B) * D, act);
    }
    bool finite = true;
    if (S.kind == LayerKind::kFhn) {
      const FhnParamPtrs<T> raw{params + table_.at(l, ParamKind::kFhnA).offset,
                                params + table_.at(l, ParamKind::kFhnB).offset,
                                params + table_.at(l, ParamKind::kFhnG).offset,
                                params + table_.at(l, ParamKind::kFhnI).offset};
      const FhnParamPtrs<T> p = fhn_param_map_forward_cpu(S.param_maps(), raw, S.neurons, L.fhn_phys.data());
      finite = fhn_forward_cpu(spec_.fhn_shape(l, B), L.act.data(), p, L.out.data(), L.ckpt_v.data(),
                               L.ckpt_w.data());
    } else {
      finite = std::all_of(L.out.begin(), L.out.end(), [](T v) { return is_finite_value(v); });
    }
    if (!finite && first_bad == kAllFinite) first_bad = l;
    in = L.out.data();
  }
  const int last = spec_.layer_output_width(static_cast<int>(layers_.size()) - 1);
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

  // Readout: its input is the last layer's output ((v_T, w_T) for an FHN layer).
  const int last = spec_.layer_output_width(nl - 1);
  dense_backward_cpu(layers_[nl - 1].out.data(), p(-1, ParamKind::kWeight), dpred, B, last, spec_.outputs,
                     layers_[nl - 1].d_out.data(), g(-1, ParamKind::kWeight), g(-1, ParamKind::kBias));

  for (int l = nl - 1; l >= 0; --l) {
    const auto& S = spec_.layers[l];
    auto& L = layers_[l];
    const int in_w = spec_.layer_input_width(l);
    if (S.kind == LayerKind::kOde) {
      odes_[l]->backward(params, L.d_out.data(), L.d_act.data(), grad);
      dense_backward_cpu(l == 0 ? x : layers_[l - 1].out.data(), p(l, ParamKind::kWeight), L.d_act.data(), B, in_w,
                         S.neurons, l == 0 ? nullptr : layers_[l - 1].d_out.data(), g(l, ParamKind::kWeight),
                         g(l, ParamKind::kBias));
      continue;
    }
    const int D = spec_.linear_width(l);
    switch (S.kind) {
      case LayerKind::kFhn: {
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
        break;
      }
      case LayerKind::kDense: break;  // the activation's backward below reads d_out
      case LayerKind::kCfc:
        cfc_backward_cpu(L.lin.data(), L.d_out.data(), B, S.neurons, static_cast<T>(S.cfc_time), L.d_act.data());
        break;
      default: throw std::logic_error("CpuModel: layer kind " + std::string(to_string(S.kind)) + " has no backward");
    }
    if (S.kind != LayerKind::kCfc) {
      // Activation, into d_act (in place for an FHN layer).
      const T* pre_act = S.layernorm ? L.normed.data() : L.lin.data();
      const T* d_post = S.kind == LayerKind::kDense ? L.d_out.data() : L.d_act.data();
      activation_backward_cpu(S.activation, pre_act, d_post, static_cast<std::size_t>(B) * D, L.d_act.data());
      if (S.layernorm) {
        std::vector<T>& d_lin = d_in_scratch_;
        d_lin.resize(static_cast<std::size_t>(B) * D);
        layernorm_backward_cpu(L.d_act.data(), L.xhat.data(), L.rstd.data(), p(l, ParamKind::kLnGamma), B, D,
                               d_lin.data(), g(l, ParamKind::kLnGamma), g(l, ParamKind::kLnBeta));
        std::copy(d_lin.begin(), d_lin.end(), L.d_act.begin());
      }
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
