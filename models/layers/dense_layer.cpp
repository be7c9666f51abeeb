#include "models/layers/dense_layer.h"

#include <algorithm>

#include "models/layers/linear_block.h"

namespace dynpmnn {

LayerSpec dense_layer(int width, Activation act, bool layernorm) {
  LayerSpec L;
  L.kind = kDenseLayer;
  L.units = width;
  L.activation = act;
  L.layernorm = layernorm;
  return L;
}

namespace {

template <typename T>
class DenseCpu final : public CpuLayer<T> {
 public:
  explicit DenseCpu(const LayerContext& at) : width_(at.layer_spec().units), front_(at, width_) {}
  void resize(int B) override { front_.resize(B); }
  // The activation is the layer's output.
  bool forward(const T* params, const T* x, int B, T* y) override {
    front_.forward(params, x, y);
    return std::all_of(y, y + static_cast<std::size_t>(B) * width_, [](T v) { return is_finite_value(v); });
  }
  void backward(const T* params, const T* x, const T* dy, T* dx, T* grad) override {
    front_.backward(params, x, dy, dx, grad);
  }

 private:
  int width_;
  LinearBlockCpu<T> front_;
};

}  // namespace

void DenseUnit::add_params(const LayerSpec& L, int index, int in_width, ParamTable& table) const {
  add_linear_block_params(L, index, in_width, L.units, table);
}

double DenseUnit::training_doubles_per_sample(const LayerSpec& L, int) const {
  return 5.0 * L.units + 4.0 * L.units + 1.0;
}

std::unique_ptr<CpuLayer<double>> DenseUnit::make_cpu(const LayerContext& at, double) const {
  return std::make_unique<DenseCpu<double>>(at);
}
std::unique_ptr<CpuLayer<float>> DenseUnit::make_cpu(const LayerContext& at, float) const {
  return std::make_unique<DenseCpu<float>>(at);
}

}  // namespace dynpmnn
