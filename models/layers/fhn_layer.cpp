#include "models/layers/fhn_layer.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "kernels/cpu_isa.h"
#include "kernels/fhn_cpu_simd.h"
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
  const NeuronModelOps& ops = find_neuron_model(L.neuron_model);
  return L.coupling == Coupling::kInitialCondition ? ops.coupled * L.units : L.units;
}

NeuronShape fhn_shape(const LayerSpec& L, int batch) {
  if (!is_fhn_layer(L)) throw std::logic_error("fhn_shape: a " + L.kind + " layer is not a neuron layer");
  NeuronShape s = find_neuron_model(L.neuron_model).shape();
  s.batch = batch;
  s.neurons = L.units;
  s.steps = L.steps();
  s.dt = L.dt;
  s.clip = L.clip;
  s.coupling = L.coupling;
  s.integrator = L.integrator;
  s.voltage_readout = L.voltage_readout;
  return s;
}

const ParamTensor& neuron_param_tensor(const ParamTable& table, int layer, int k) {
  static constexpr ParamKind kFhn[4] = {ParamKind::kFhnA, ParamKind::kFhnB, ParamKind::kFhnG, ParamKind::kFhnI};
  const ParamTensor* fhn = table.find(layer, ParamKind::kFhnA);
  if (fhn != nullptr) return table.at(layer, kFhn[k]);
  int seen = 0;
  for (const ParamTensor& t : table.tensors())
    if (t.layer == layer && t.kind == ParamKind::kNeuronParam && seen++ == k) return t;
  throw std::logic_error("neuron_param_tensor: layer " + std::to_string(layer) + " has no neuron parameter " +
                         std::to_string(k));
}

namespace {

// The most memory a layer's kept trajectory (fhn_cpu_simd.h) may take: what stays in the cache.
// Beyond it the backward runs each group of jobs' forward again, which measured faster than keeping
// more (wide-california at N = 256, 20 steps, batch 32: 2.6 MB a minibatch written and read back
// took longer than the five-instruction steps it saves; at N = 64, 0.66 MB, too). The paper's
// one-neuron layers keep theirs.
constexpr std::size_t kTrajectoryBudgetBytes = std::size_t(256) << 10;

template <typename T>
class FhnCpu final : public CpuLayer<T> {
 public:
  explicit FhnCpu(const LayerContext& at)
      : S_(at.layer_spec()), ops_(find_neuron_model(S_.neuron_model)), D_(fhn_linear_width(S_)), front_(at, D_),
        maps_(S_.neuron_maps()) {
    // FitzHugh–Nagumo in double under euler or imex runs the vector op (the same bits as the
    // scalar one); float, the other models and schemes the scalar op.
    if constexpr (std::is_same_v<T, double>) {
      vector_ = ops_.name == "fhn" && fhn_simd_takes(fhn_shape(S_, 0));
      if (vector_) isa_ = cpu_isa_active();
    }
    for (int k = 0; k < ops_.params; ++k) {
      const ParamTensor& t = neuron_param_tensor(at.table, at.layer, k);
      raw_[k] = t.offset;
      trained_[k] = t.trainable;
    }
  }

  void resize(int B) override {
    B_ = B;
    front_.resize(B);
    act_.resize(static_cast<std::size_t>(B) * D_);
    const NeuronShape shape = fhn_shape(S_, B);
    if (vector_) {
      // The whole trajectory where it fits the cache, and no checkpoints; else the forward keeps
      // nothing and the backward runs the forward again, a few jobs at a time.
      const std::size_t traj = fhn_simd_trajectory_doubles(shape, isa_);
      keep_trajectory_ = traj * sizeof(double) <= kTrajectoryBudgetBytes;
      trajectory_.resize(keep_trajectory_ ? traj : 0);
      ckpt_.clear();
    } else {
      ckpt_.assign(ops_.states, std::vector<T>(shape.checkpoint_elems()));
    }
    phys_.resize(maps_.any() ? static_cast<std::size_t>(ops_.params) * S_.units : 0);
  }

  bool forward(const T* params, const T* x, int, T* y) override {
    front_.forward(params, x, act_.data());
    const NeuronParamPtrs<T> p = neuron_param_map_forward_cpu(maps_, raw(params), S_.units, phys_.data());
    if constexpr (std::is_same_v<T, double>) {
      if (vector_)
        return fhn_forward_simd(isa_, fhn_shape(S_, B_), act_.data(), p, y,
                                keep_trajectory_ ? trajectory_.data() : nullptr);
    }
    NeuronCheckpoints<T> ck;
    for (int i = 0; i < ops_.states; ++i) ck.plane[i] = ckpt_[i].data();
    if constexpr (std::is_same_v<T, double>)
      return ops_.forward_d(fhn_shape(S_, B_), act_.data(), p, y, ck);
    else
      return ops_.forward_f(fhn_shape(S_, B_), act_.data(), p, y, ck);
  }

  void backward(const T* params, const T* x, const T* dy, T* dx, T* grad) override {
    // Recomputed rather than kept from forward: backward takes params, and the map is cheap.
    const NeuronParamPtrs<T> r = raw(params);
    const NeuronParamPtrs<T> p = neuron_param_map_forward_cpu(maps_, r, S_.units, phys_.data());
    NeuronGradPtrs<T> g;
    for (int k = 0; k < ops_.params; ++k) g.p[k] = trained_[k] ? grad + raw_[k] : nullptr;
    const NeuronShape shape = fhn_shape(S_, B_);
    if constexpr (std::is_same_v<T, double>) {
      if (vector_ && keep_trajectory_) {
        fhn_backward_simd(isa_, shape, act_.data(), p, trajectory_.data(), dy, front_.d_act(), g);
      } else if (vector_) {
        fhn_backward_simd(isa_, shape, act_.data(), p, nullptr, dy, front_.d_act(), g);
      } else {
        NeuronCheckpoints<const T> ck;
        for (int i = 0; i < ops_.states; ++i) ck.plane[i] = ckpt_[i].data();
        ops_.backward_d(shape, act_.data(), p, ck, dy, front_.d_act(), g);
      }
      neuron_param_map_backward_cpu(maps_, r, S_.units, g);
      front_.backward(params, x, front_.d_act(), dx, grad);
      return;
    }
    NeuronCheckpoints<const T> ck;
    for (int i = 0; i < ops_.states; ++i) ck.plane[i] = ckpt_[i].data();
    if constexpr (std::is_same_v<T, double>)
      ops_.backward_d(shape, act_.data(), p, ck, dy, front_.d_act(), g);
    else
      ops_.backward_f(shape, act_.data(), p, ck, dy, front_.d_act(), g);
    neuron_param_map_backward_cpu(maps_, r, S_.units, g);
    front_.backward(params, x, front_.d_act(), dx, grad);
  }

  const std::vector<T>& input() const { return act_; }

 private:
  NeuronParamPtrs<T> raw(const T* params) const {
    NeuronParamPtrs<T> r;
    for (int k = 0; k < ops_.params; ++k) r.p[k] = params + raw_[k];
    return r;
  }

  LayerSpec S_;
  const NeuronModelOps& ops_;
  int D_, B_ = 0;
  LinearBlockCpu<T> front_;
  NeuronParamMaps maps_;
  std::size_t raw_[kMaxNeuronParams] = {};  // table offsets of the model's parameters
  bool trained_[kMaxNeuronParams] = {};
  std::vector<T> act_;                  // (B, D) the neurons' input
  std::vector<std::vector<T>> ckpt_;    // per state: (checkpoints, B, N); the scalar op's
  bool vector_ = false;                 // the vector op (fhn_cpu_simd.h) runs this layer
  CpuIsa isa_ = CpuIsa::kBaseline;      // with this instruction set
  bool keep_trajectory_ = false;        // the batch's trajectory fits kTrajectoryBudgetBytes
  std::vector<T> trajectory_;           // fhn_simd_trajectory_doubles: every step's state
  std::vector<T> phys_;                 // (params, N) the mapped parameters, where a map applies
};

}  // namespace

void FhnUnit::validate(const LayerSpec& L, const std::string& where) const {
  try {
    (void)time_steps(L.dt, L.t_end);
    const NeuronModelOps& ops = find_neuron_model(L.neuron_model);
    if (L.integrator == Integrator::kImex && !ops.semi_implicit)
      throw std::invalid_argument("integrator = 'imex': neuron model " + ops.name +
                                  " has no semi-implicit step (use euler, heun or rk4)");
    if (std::isnan(L.clip)) throw std::invalid_argument("clip is NaN");
    const std::vector<double> values = L.neuron_values();
    const NeuronParamMaps maps = L.neuron_maps();
    for (int k = 0; k < ops.params; ++k) {
      const std::string name = ops.param_info[k].name;
      if (!std::isfinite(values[k]))
        throw std::invalid_argument("neuron parameter " + name + " of " + ops.name + " must be finite");
      if (!fhn_param_map_in_range(maps.m[k], values[k]))
        throw std::invalid_argument(name + " = " + std::to_string(values[k]) + " is outside the range of its " +
                                    to_string(maps.m[k]) + " map (sigmoid: in (0, 1), softplus: > 0)");
    }
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(where + e.what());
  }
}

int FhnUnit::output_width(const LayerSpec& L) const {
  return L.voltage_readout ? L.units : find_neuron_model(L.neuron_model).states * L.units;
}

void FhnUnit::add_params(const LayerSpec& L, int index, int in_width, ParamTable& table) const {
  add_linear_block_params(L, index, in_width, fhn_linear_width(L), table);
  const NeuronModelOps& ops = find_neuron_model(L.neuron_model);
  const std::vector<double> values = L.neuron_values();
  const std::vector<bool> trained = L.neuron_trained();
  const NeuronParamMaps maps = L.neuron_maps();
  // FitzHugh–Nagumo keeps its tensors' names and kinds ("layer0.fhn.a", kFhnA), which checkpoints
  // and run folders of every earlier version hold.
  const bool fhn = ops.name == "fhn";
  static constexpr ParamKind kFhn[4] = {ParamKind::kFhnA, ParamKind::kFhnB, ParamKind::kFhnG, ParamKind::kFhnI};
  const std::string prefix = "layer" + std::to_string(index) + "." + ops.name + ".";
  for (int k = 0; k < ops.params; ++k)
    table.add(prefix + ops.param_info[k].name, fhn ? kFhn[k] : ParamKind::kNeuronParam, index, {L.units}, trained[k],
              ParamInit::constant(fhn_param_map_inverse(maps.m[k], values[k])), maps.m[k]);
}

// Five arrays of the Linear width, one per parameter of N, the checkpoint arrays of every state
// and one.
double FhnUnit::training_doubles_per_sample(const LayerSpec& L, int) const {
  const NeuronModelOps& ops = find_neuron_model(L.neuron_model);
  const double n = L.units;
  return 5.0 * fhn_linear_width(L) + double(ops.params) * n +
         double(ops.states) * n * fhn_num_checkpoints(L.steps()) + 1.0;
}

template <typename T>
const std::vector<T>& fhn_layer_input(const CpuLayer<T>& layer) {
  const auto* fhn = dynamic_cast<const FhnCpu<T>*>(&layer);
  if (fhn == nullptr) throw std::logic_error("fhn_layer_input: not a neuron layer");
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
