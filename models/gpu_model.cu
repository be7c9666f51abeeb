#include "models/gpu_model.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace dynpmnn {

GpuModel::GpuModel(const ModelSpec& spec, const ParamTable& table, const CublasContext& cublas, int capacity,
                   Pass pass, std::span<const ModelSpec> population, std::size_t flag_stride_bytes)
    // A population's first model is the one whose dt and steps a lone-path layer reads (P = 1).
    : spec_(population.empty() ? spec : population.front()), table_(table), cublas_(cublas), capacity_(capacity),
      models_(population.empty() ? 1 : static_cast<int>(population.size())), flag_stride_(flag_stride_bytes) {
  const GpuLayerResources res{cublas, capacity, pass, models_, table_.total(), flag_stride_bytes, population};
  for (int l = 0; l < static_cast<int>(spec_.layers.size()); ++l) {
    const LayerUnit& unit = layer_unit(spec_.layers[l].kind);
    if (models_ > 1 && !unit.gpu_population())
      throw std::logic_error("GpuModel: a " + spec_.layers[l].kind + " layer has no population half on the GPU");
    layers_.push_back(unit.make_gpu(LayerContext{spec_, table_, l}, res));
    const std::size_t n = static_cast<std::size_t>(models_) * capacity * spec_.layer_output_width(l);
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
  const int width = W.shape[1];
  dense_forward_models_gpu(cublas_, models_, in, static_cast<std::size_t>(B) * width, params + W.offset,
                           params + table_.at(-1, ParamKind::kBias).offset, table_.total(), B, width, spec_.outputs,
                           pred);
  if (flag)
    nonfinite_check_models_gpu(models_, pred, static_cast<std::size_t>(B) * spec_.outputs, flag, flag_stride_, nl,
                               cublas_.stream());
}

void GpuModel::backward(const float* params, const float* x, const float* dpred, float* grad) {
  const int nl = static_cast<int>(layers_.size());
  const ParamTensor& W = table_.at(-1, ParamKind::kWeight);
  const int width = W.shape[1];
  dense_backward_models_gpu(cublas_, models_, out_[nl - 1].data(), static_cast<std::size_t>(batch_) * width,
                            params + W.offset, table_.total(), dpred, batch_, width, spec_.outputs,
                            d_out_[nl - 1].data(), grad + W.offset, grad + table_.at(-1, ParamKind::kBias).offset);
  for (int l = nl - 1; l >= 0; --l)
    layers_[l]->backward(params, l == 0 ? x : out_[l - 1].data(), d_out_[l].data(),
                         l == 0 ? nullptr : d_out_[l - 1].data(), grad);
}

}  // namespace dynpmnn
