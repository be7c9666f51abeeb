#include "models/layers/fhn_layer.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

#include "kernels/fhn_param_map.h"
#include "models/layers/linear_block.h"

namespace dynpmnn {

bool is_fhn_layer(const LayerSpec& layer) { return layer.kind == kFhnLayer; }

bool has_fhn_layers(const ModelSpec& spec) {
  for (const auto& L : spec.layers)
    if (is_fhn_layer(L)) return true;
  return false;
}

int fhn_linear_width(const LayerSpec& L) {
  return L.coupling == Coupling::kInitialCondition ? kFhnStates * L.units : L.units;
}

NeuronShape fhn_shape(const LayerSpec& L, int batch) {
  if (!is_fhn_layer(L)) throw std::logic_error("fhn_shape: a " + L.kind + " layer is not an FHN layer");
  NeuronShape s;
  s.batch = batch;
  s.neurons = L.units;
  s.steps = L.steps();
  s.dt = L.dt;
  s.clip = L.clip;
  s.coupling = L.coupling;
  s.integrator = L.integrator;
  return s;
}

namespace {

template <typename T>
class FhnCpu final : public CpuLayer<T> {
 public:
  explicit FhnCpu(const LayerContext& at)
      : S_(at.layer_spec()), D_(fhn_linear_width(S_)), front_(at, D_), maps_(S_.param_maps()),
        raw_{at.offset(ParamKind::kFhnA), at.offset(ParamKind::kFhnB), at.offset(ParamKind::kFhnG),
             at.offset(ParamKind::kFhnI)},
        trained_{at.param(ParamKind::kFhnA).trainable, at.param(ParamKind::kFhnB).trainable,
                 at.param(ParamKind::kFhnG).trainable, at.param(ParamKind::kFhnI).trainable} {}

  void resize(int B) override {
    B_ = B;
    front_.resize(B);
    act_.resize(static_cast<std::size_t>(B) * D_);
    const std::size_t ck = fhn_shape(S_, B).checkpoint_elems();
    ckpt_v_.resize(ck);
    ckpt_w_.resize(ck);
    phys_.resize(maps_.any() ? 4 * static_cast<std::size_t>(S_.units) : 0);
  }

  bool forward(const T* params, const T* x, int, T* y) override {
    front_.forward(params, x, act_.data());
    const FhnParamPtrs<T> p = fhn_param_map_forward_cpu(maps_, raw(params), S_.units, phys_.data());
    return fhn_forward_cpu(fhn_shape(S_, B_), act_.data(), p, y, ckpt_v_.data(), ckpt_w_.data());
  }

  void backward(const T* params, const T* x, const T* dy, T* dx, T* grad) override {
    // Recomputed rather than kept from forward: backward takes params, and the map is 4N cheap ops.
    const FhnParamPtrs<T> r = raw(params);
    const FhnParamPtrs<T> p = fhn_param_map_forward_cpu(maps_, r, S_.units, phys_.data());
    auto trained = [&](int i, std::size_t off) { return trained_[i] ? grad + off : nullptr; };
    const FhnGradPtrs<T> g{trained(0, raw_[0]), trained(1, raw_[1]), trained(2, raw_[2]), trained(3, raw_[3])};
    fhn_backward_cpu(fhn_shape(S_, B_), act_.data(), p, ckpt_v_.data(), ckpt_w_.data(), dy, front_.d_act(), g);
    fhn_param_map_backward_cpu(maps_, r, S_.units, g);
    front_.backward(params, x, front_.d_act(), dx, grad);
  }

  const std::vector<T>& input() const { return act_; }

 private:
  FhnParamPtrs<T> raw(const T* params) const {
    return {params + raw_[0], params + raw_[1], params + raw_[2], params + raw_[3]};
  }

  LayerSpec S_;
  int D_, B_ = 0;
  LinearBlockCpu<T> front_;
  FhnParamMaps maps_;
  std::size_t raw_[4];   // table offsets of a, b, g, I
  bool trained_[4];
  std::vector<T> act_;     // (B, D) the neurons' input
  std::vector<T> ckpt_v_;  // (checkpoints, B, N)
  std::vector<T> ckpt_w_;  // (checkpoints, B, N)
  std::vector<T> phys_;    // (4, N) the mapped FHN parameters, where a map applies
};

}  // namespace

void FhnUnit::validate(const LayerSpec& L, const std::string& where) const {
  try {
    (void)time_steps(L.dt, L.t_end);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(where + e.what());
  }
  if (std::isnan(L.clip)) throw std::invalid_argument(where + "clip is NaN");
  for (double v : {L.a, L.b, L.g, L.I})
    if (!std::isfinite(v)) throw std::invalid_argument(where + "FHN parameters must be finite");
  const FhnParamMaps maps = L.param_maps();
  const std::pair<const char*, std::pair<FhnParamMap, double>> mapped[] = {
      {"a", {maps.a, L.a}}, {"b", {maps.b, L.b}}, {"g", {maps.g, L.g}}};
  for (const auto& [name, mv] : mapped)
    if (!fhn_param_map_in_range(mv.first, mv.second))
      throw std::invalid_argument(where + name + " = " + std::to_string(mv.second) + " is outside the range of its " +
                                  to_string(mv.first) + " map (a in (0, 1), b and g > 0)");
}

int FhnUnit::output_width(const LayerSpec& L) const { return kFhnStates * L.units; }

void FhnUnit::add_params(const LayerSpec& L, int index, int in_width, ParamTable& table) const {
  add_linear_block_params(L, index, in_width, fhn_linear_width(L), table);
  const std::string p = "layer" + std::to_string(index) + ".fhn.";
  const FhnParamMaps maps = L.param_maps();
  auto add = [&](const char* name, ParamKind kind, bool trained, FhnParamMap map, double value) {
    table.add(p + name, kind, index, {L.units}, trained, ParamInit::constant(fhn_param_map_inverse(map, value)), map);
  };
  add("a", ParamKind::kFhnA, L.train_a, maps.a, L.a);
  add("b", ParamKind::kFhnB, L.train_b, maps.b, L.b);
  add("g", ParamKind::kFhnG, L.train_g, maps.g, L.g);
  add("I", ParamKind::kFhnI, L.train_I, maps.I, L.I);
}

// The estimate Config::validate has always made: five arrays of the Linear width, four of N, the
// two checkpoint arrays and one.
double FhnUnit::training_doubles_per_sample(const LayerSpec& L, int) const {
  const double n = L.units;
  return 5.0 * fhn_linear_width(L) + 4.0 * n + double(kFhnStates) * n * fhn_num_checkpoints(L.steps()) + 1.0;
}

template <typename T>
const std::vector<T>& fhn_layer_input(const CpuLayer<T>& layer) {
  const auto* fhn = dynamic_cast<const FhnCpu<T>*>(&layer);
  if (fhn == nullptr) throw std::logic_error("fhn_layer_input: not an FHN layer");
  return fhn->input();
}
template const std::vector<double>& fhn_layer_input(const CpuLayer<double>&);
template const std::vector<float>& fhn_layer_input(const CpuLayer<float>&);

std::unique_ptr<CpuLayer<double>> FhnUnit::make_cpu(const LayerContext& at, double) const {
  return std::make_unique<FhnCpu<double>>(at);
}
std::unique_ptr<CpuLayer<float>> FhnUnit::make_cpu(const LayerContext& at, float) const {
  return std::make_unique<FhnCpu<float>>(at);
}

}  // namespace dynpmnn
