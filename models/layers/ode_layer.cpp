#include "models/layers/ode_layer.h"

#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "models/ode_block.h"

namespace dynpmnn {

OdeLayout ode_layout(const ModelSpec& spec, const ParamTable& table, int layer) {
  const LayerSpec& L = spec.layers.at(layer);
  if (L.kind != kOdeLayer) throw std::logic_error("ode_layout: layer " + std::to_string(layer) + " is not an ode layer");
  OdeLayout o;
  o.H = L.units;
  o.V = L.ode_vf_width;
  o.vf_layers = L.ode_vf_layers;
  o.solver = L.ode_solver;
  o.steps = L.ode_steps;
  o.rtol = L.ode_rtol;
  o.atol = L.ode_atol;
  o.max_steps = L.ode_max_steps;
  bool any = false;
  for (const auto& t : table.tensors()) {
    if (t.layer != layer) continue;
    std::vector<std::size_t>* list = nullptr;
    switch (t.kind) {
      case ParamKind::kOdeWeight: list = &o.W; break;
      case ParamKind::kOdeBias: list = &o.bias; break;
      case ParamKind::kOdeLnGamma: list = &o.gamma; break;
      case ParamKind::kOdeLnBeta: list = &o.beta; break;
      default: continue;
    }
    list->push_back(t.offset);
    if (!any) o.first = t.offset;
    any = true;
    o.end = t.offset + t.size;
  }
  if (static_cast<int>(o.W.size()) != o.vf_layers || o.bias.size() != o.W.size() ||
      static_cast<int>(o.gamma.size()) != o.vf_layers - 1 || o.beta.size() != o.gamma.size())
    throw std::logic_error("ode_layout: layer " + std::to_string(layer) + " has an incomplete vector field");
  return o;
}

namespace {

template <typename T>
class OdeCpu final : public CpuLayer<T> {
 public:
  explicit OdeCpu(const LayerContext& at)
      : H_(at.layer_spec().units), in_w_(at.in_width()), W_(at.offset(ParamKind::kWeight)),
        bias_(at.offset(ParamKind::kBias)), block_(ode_layout(at.spec, at.table, at.layer), at.layer) {}

  void resize(int B) override {
    B_ = B;
    h0_.resize(static_cast<std::size_t>(B) * H_);
    d_h0_.resize(h0_.size());
  }

  bool forward(const T* params, const T* x, int B, T* y) override {
    dense_forward_cpu(x, params + W_, params + bias_, B, in_w_, H_, h0_.data());
    return block_.forward(params, h0_.data(), B, y);
  }

  void backward(const T* params, const T* x, const T* dy, T* dx, T* grad) override {
    block_.backward(params, dy, d_h0_.data(), grad);
    dense_backward_cpu(x, params + W_, d_h0_.data(), B_, in_w_, H_, dx, grad + W_, grad + bias_);
  }

  const OdeBlockCpu<T>& block() const { return block_; }

 private:
  int H_, in_w_, B_ = 0;
  std::size_t W_, bias_;
  OdeBlockCpu<T> block_;
  std::vector<T> h0_;    // (B, H) the Linear's output, the state at t = 0
  std::vector<T> d_h0_;  // (B, H)
};

}  // namespace

void OdeUnit::validate(const LayerSpec& L, const std::string& where) const {
  auto require = [&](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(where + what);
  };
  require(L.ode_vf_width > 0 && L.ode_vf_width <= (1 << 20),
          "ode_vf_width must be in [1, 2^20], got " + std::to_string(L.ode_vf_width));
  require(L.ode_vf_layers >= 2 && L.ode_vf_layers <= 64,
          "ode_vf_layers must be in [2, 64] (at least the Linear from [h, t] and the one back to h), got " +
              std::to_string(L.ode_vf_layers));
  require(L.ode_steps >= 1 && L.ode_steps <= 100000, "ode_steps must be in [1, 100000], got " + std::to_string(L.ode_steps));
  require(L.ode_rtol >= 0 && std::isfinite(L.ode_rtol), "ode_rtol must be a finite number >= 0");
  require(L.ode_atol >= 0 && std::isfinite(L.ode_atol), "ode_atol must be a finite number >= 0");
  require(L.ode_rtol > 0 || L.ode_atol > 0, "ode_rtol and ode_atol cannot both be 0");
  require(L.ode_max_steps >= 1 && L.ode_max_steps <= 1000000,
          "ode_max_steps must be in [1, 1000000], got " + std::to_string(L.ode_max_steps));
}

void OdeUnit::add_params(const LayerSpec& L, int index, int in_width, ParamTable& table) const {
  const std::string p = "layer" + std::to_string(index) + ".";
  table.add(p + "linear.weight", ParamKind::kWeight, index, {L.units, in_width}, true, ParamInit::uniform_fan_in(in_width));
  table.add(p + "linear.bias", ParamKind::kBias, index, {L.units}, true, ParamInit::uniform_fan_in(in_width));
  for (int j = 0; j < L.ode_vf_layers; ++j) {
    const int in = j == 0 ? L.units + 1 : L.ode_vf_width;  // [h, t]
    const int out = j + 1 == L.ode_vf_layers ? L.units : L.ode_vf_width;
    const std::string f = p + "ode.f" + std::to_string(j) + ".";
    table.add(f + "weight", ParamKind::kOdeWeight, index, {out, in}, true, ParamInit::uniform_fan_in(in));
    table.add(f + "bias", ParamKind::kOdeBias, index, {out}, true, ParamInit::uniform_fan_in(in));
    if (j + 1 < L.ode_vf_layers) {
      const std::string n = p + "ode.norm" + std::to_string(j) + ".";
      table.add(n + "weight", ParamKind::kOdeLnGamma, index, {out}, true, ParamInit::constant(1.0));
      table.add(n + "bias", ParamKind::kOdeLnBeta, index, {out}, true, ParamInit::constant(0.0));
    }
  }
}

// Every stored vector-field evaluation (dopri5: the worst case of ode_max_steps accepted steps).
double OdeUnit::training_doubles_per_sample(const LayerSpec& L, int) const {
  const double n = L.units;
  const double evals = L.ode_solver == OdeSolver::kRk4 ? 4.0 * L.ode_steps : 6.0 * L.ode_max_steps + 1.0;
  return evals * (n + 2.0 + 3.0 * L.ode_vf_width * (L.ode_vf_layers - 1)) + 14.0 * n;
}

template <typename T>
const OdeBlockCpu<T>& ode_layer_block(const CpuLayer<T>& layer) {
  const auto* ode = dynamic_cast<const OdeCpu<T>*>(&layer);
  if (ode == nullptr) throw std::logic_error("ode_layer_block: not an ode layer");
  return ode->block();
}
template const OdeBlockCpu<double>& ode_layer_block(const CpuLayer<double>&);
template const OdeBlockCpu<float>& ode_layer_block(const CpuLayer<float>&);

std::unique_ptr<CpuLayer<double>> OdeUnit::make_cpu(const LayerContext& at, double) const {
  return std::make_unique<OdeCpu<double>>(at);
}
std::unique_ptr<CpuLayer<float>> OdeUnit::make_cpu(const LayerContext& at, float) const {
  return std::make_unique<OdeCpu<float>>(at);
}

}  // namespace dynpmnn
