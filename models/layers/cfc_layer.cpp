#include "models/layers/cfc_layer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "kernels/cfc.h"
#include "kernels/ops.h"

namespace dynpmnn {

LayerSpec cfc_layer(int units, double t) {
  LayerSpec L;
  L.kind = kCfcLayer;
  L.units = units;
  L.layernorm = false;
  L.cfc_time = t;
  return L;
}

namespace {

template <typename T>
class CfcCpu final : public CpuLayer<T> {
 public:
  explicit CfcCpu(const LayerContext& at)
      : N_(at.layer_spec().units), in_w_(at.in_width()), t_(static_cast<T>(at.layer_spec().cfc_time)),
        W_(at.offset(ParamKind::kWeight)), bias_(at.offset(ParamKind::kBias)) {}

  void resize(int B) override {
    B_ = B;
    lin_.resize(static_cast<std::size_t>(B) * 4 * N_);
    d_lin_.resize(lin_.size());
  }

  bool forward(const T* params, const T* x, int B, T* y) override {
    dense_forward_cpu(x, params + W_, params + bias_, B, in_w_, 4 * N_, lin_.data());
    cfc_forward_cpu(lin_.data(), B, N_, t_, y);
    return std::all_of(y, y + static_cast<std::size_t>(B) * N_, [](T v) { return is_finite_value(v); });
  }

  void backward(const T* params, const T* x, const T* dy, T* dx, T* grad) override {
    cfc_backward_cpu(lin_.data(), dy, B_, N_, t_, d_lin_.data());
    dense_backward_cpu(x, params + W_, d_lin_.data(), B_, in_w_, 4 * N_, dx, grad + W_, grad + bias_);
  }

 private:
  int N_, in_w_, B_ = 0;
  T t_;
  std::size_t W_, bias_;
  std::vector<T> lin_;    // (B, 4N) [ff1 | ff2 | t_a | t_b]
  std::vector<T> d_lin_;  // (B, 4N)
};

}  // namespace

void CfcUnit::validate(const LayerSpec& L, const std::string& where) const {
  if (!std::isfinite(L.cfc_time)) throw std::invalid_argument(where + "the CfC time t must be finite");
  if (L.layernorm) throw std::invalid_argument(where + "a CfC layer has no LayerNorm");
}

// Rows [ff1; ff2; time_a; time_b], N each: ncps's four Linear layers stacked into one.
void CfcUnit::add_params(const LayerSpec& L, int index, int in_width, ParamTable& table) const {
  const std::string p = "layer" + std::to_string(index) + ".cfc.";
  table.add(p + "weight", ParamKind::kWeight, index, {4 * L.units, in_width}, true, ParamInit::uniform_fan_in(in_width));
  table.add(p + "bias", ParamKind::kBias, index, {4 * L.units}, true, ParamInit::uniform_fan_in(in_width));
}

double CfcUnit::training_doubles_per_sample(const LayerSpec& L, int) const {
  return 5.0 * (4.0 * L.units) + 4.0 * L.units + 1.0;
}

std::unique_ptr<CpuLayer<double>> CfcUnit::make_cpu(const LayerContext& at, double) const {
  return std::make_unique<CfcCpu<double>>(at);
}
std::unique_ptr<CpuLayer<float>> CfcUnit::make_cpu(const LayerContext& at, float) const {
  return std::make_unique<CfcCpu<float>>(at);
}

}  // namespace dynpmnn
