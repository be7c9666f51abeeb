#include "models/cpu_model.h"

#include <algorithm>

#include "kernels/ops.h"

namespace dynpmnn {

template <typename T>
CpuModel<T>::CpuModel(const ModelSpec& spec, const ParamTable& table)
    : spec_(spec), table_(table), out_(spec.layers.size()), d_out_(spec.layers.size()) {
  for (int l = 0; l < static_cast<int>(spec_.layers.size()); ++l)
    layers_.push_back(layer_unit(spec_.layers[l].kind).make_cpu(LayerContext{spec_, table_, l}, T{}));
}

template <typename T>
void CpuModel<T>::resize(int B) {
  if (B == batch_) return;
  batch_ = B;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const std::size_t n = static_cast<std::size_t>(B) * spec_.layer_output_width(static_cast<int>(l));
    layers_[l]->resize(B);
    out_[l].resize(n);
    d_out_[l].resize(n);
  }
}

template <typename T>
int CpuModel<T>::forward(const T* params, const T* x, int B, T* pred) {
  resize(B);
  int first_bad = kAllFinite;
  const T* in = x;
  const int nl = static_cast<int>(layers_.size());
  for (int l = 0; l < nl; ++l) {
    const bool finite = layers_[l]->forward(params, in, B, out_[l].data());
    if (!finite && first_bad == kAllFinite) first_bad = l;
    in = out_[l].data();
  }
  const ParamTensor& W = table_.at(-1, ParamKind::kWeight);
  dense_forward_cpu(in, params + W.offset, params + table_.at(-1, ParamKind::kBias).offset, B, W.shape[1],
                    spec_.outputs, pred);
  if (first_bad == kAllFinite) {
    for (int i = 0; i < B * spec_.outputs; ++i)
      if (!is_finite_value(pred[i])) {
        first_bad = nl;
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
  // Readout: its input is the last layer's output ((v_T, w_T) for an FHN layer).
  const ParamTensor& W = table_.at(-1, ParamKind::kWeight);
  dense_backward_cpu(out_[nl - 1].data(), params + W.offset, dpred, B, W.shape[1], spec_.outputs,
                     d_out_[nl - 1].data(), grad + W.offset, grad + table_.at(-1, ParamKind::kBias).offset);
  for (int l = nl - 1; l >= 0; --l)
    layers_[l]->backward(params, l == 0 ? x : out_[l - 1].data(), d_out_[l].data(),
                         l == 0 ? nullptr : d_out_[l - 1].data(), grad);
}

template class CpuModel<float>;
template class CpuModel<double>;

}  // namespace dynpmnn
