#include "models/gpu_model.h"

#include <algorithm>

namespace dynpmnn {

GpuModel::GpuModel(const ModelSpec& spec, const ParamTable& table, const CublasContext& cublas, int capacity,
                   Pass pass)
    : spec_(spec), table_(table), cublas_(cublas), capacity_(capacity) {
  const GpuLayerResources res{cublas, capacity, pass};
  for (int l = 0; l < static_cast<int>(spec_.layers.size()); ++l) {
    layers_.push_back(layer_unit(spec_.layers[l].kind).make_gpu(LayerContext{spec_, table_, l}, res));
    const std::size_t n = static_cast<std::size_t>(capacity) * spec_.layer_output_width(l);
    out_.emplace_back(n);
    d_out_.emplace_back(pass == Pass::kTraining ? n : 0);
  }
}

bool GpuModel::capturable() const {
  return std::all_of(layers_.begin(), layers_.end(), [](const auto& layer) { return layer->capturable(); });
}

void GpuModel::forward(const float* params, const float* x, int B, float* pred, int* flag) {
  batch_ = B;
  const float* in = x;
  const int nl = static_cast<int>(layers_.size());
  for (int l = 0; l < nl; ++l) {
    layers_[l]->forward(params, in, B, out_[l].data(), flag);
    in = out_[l].data();
  }
  const ParamTensor& W = table_.at(-1, ParamKind::kWeight);
  dense_forward_gpu(cublas_, in, params + W.offset, params + table_.at(-1, ParamKind::kBias).offset, B, W.shape[1],
                    spec_.outputs, pred);
  if (flag) nonfinite_check_gpu(pred, static_cast<std::size_t>(B) * spec_.outputs, flag, nl, cublas_.stream());
}

void GpuModel::backward(const float* params, const float* x, const float* dpred, float* grad) {
  const int nl = static_cast<int>(layers_.size());
  const ParamTensor& W = table_.at(-1, ParamKind::kWeight);
  dense_backward_gpu(cublas_, out_[nl - 1].data(), params + W.offset, dpred, batch_, W.shape[1], spec_.outputs,
                     d_out_[nl - 1].data(), grad + W.offset, grad + table_.at(-1, ParamKind::kBias).offset);
  for (int l = nl - 1; l >= 0; --l)
    layers_[l]->backward(params, l == 0 ? x : out_[l - 1].data(), d_out_[l].data(),
                         l == 0 ? nullptr : d_out_[l - 1].data(), grad);
}

}  // namespace dynpmnn
