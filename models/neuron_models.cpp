#include "models/neuron_models.h"

#include <map>
#include <mutex>
#include <stdexcept>

#include "models/dynpmnn.h"

namespace dynpmnn {

// neuron_model_ops.cpp: the built-in models' entries (kernels/neurons/builtin.h).
std::vector<NeuronModelOps> builtin_neuron_models();
#if DYNPMNN_HAVE_CUDA
// neuron_models_gpu.cu: the built-in models' GPU ops.
void attach_builtin_neuron_gpu_ops(NeuronModelOps& ops);
#endif

namespace {

struct Registry {
  std::mutex mutex;
  std::map<std::string, NeuronModelOps> models;
};

void add_locked(Registry& r, const NeuronModelOps& ops) {
  if (ops.name.empty()) throw std::invalid_argument("register_neuron_model: a model needs a name");
  if (r.models.count(ops.name))
    throw std::invalid_argument("register_neuron_model: a neuron model named '" + ops.name + "' is registered already");
  r.models.emplace(ops.name, ops);
}

Registry& registry() {
  static Registry r;
  static std::once_flag builtins;
  std::call_once(builtins, [] {
    std::lock_guard<std::mutex> lock(r.mutex);
    for (NeuronModelOps ops : builtin_neuron_models()) {
#if DYNPMNN_HAVE_CUDA
      attach_builtin_neuron_gpu_ops(ops);
#endif
      add_locked(r, ops);
    }
  });
  return r;
}

}  // namespace

int NeuronModelOps::param_index(const std::string& param) const {
  for (int k = 0; k < params; ++k)
    if (param == param_info[k].name) return k;
  return -1;
}

NeuronShape NeuronModelOps::shape() const {
  NeuronShape s;
  s.states = states;
  s.coupled = coupled;
  return s;
}

void register_neuron_model(const NeuronModelOps& ops) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  add_locked(r, ops);
}

const NeuronModelOps& find_neuron_model(const std::string& name) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  const auto it = r.models.find(name);
  if (it != r.models.end()) return it->second;
  std::string known;
  for (const auto& [n, ops] : r.models) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("neuron_model = '" + name + "' is not a registered neuron model (" + known + ")");
}

std::vector<std::string> neuron_model_names() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  std::vector<std::string> names;
  for (const auto& [n, ops] : r.models) names.push_back(n);
  return names;
}

// ---- LayerSpec's view of its neuron model (models/dynpmnn.h) ----------------------------------

FhnParamMaps LayerSpec::param_maps() const {
  if (neuron_model != "fhn") return {};
  const NeuronParamMaps m = neuron_maps();
  return {m.m[0], m.m[1], m.m[2], m.m[3]};
}

namespace {

// Whether a layer trains parameter k of its model: FitzHugh–Nagumo's train_a ... train_I flags, or
// the parameter's name in train_params.
bool trains(const LayerSpec& L, const NeuronModelOps& ops, int k) {
  if (ops.name == "fhn") {
    const bool flags[4] = {L.train_a, L.train_b, L.train_g, L.train_I};
    if (flags[k]) return true;
  }
  for (const std::string& name : L.train_params)
    if (name == ops.param_info[k].name) return true;
  return false;
}

void check_names(const LayerSpec& L, const NeuronModelOps& ops) {
  auto known = [&] {
    std::string list;
    for (const auto& p : ops.param_info) list += (list.empty() ? "" : ", ") + std::string(p.name);
    return list;
  };
  for (const auto& [name, value] : L.neuron_params)
    if (ops.param_index(name) < 0)
      throw std::invalid_argument("neuron_params: '" + name + "' is not a parameter of neuron model " + ops.name + " (" +
                                  known() + ")");
  for (const std::string& name : L.train_params)
    if (ops.param_index(name) < 0)
      throw std::invalid_argument("train_params: '" + name + "' is not a parameter of neuron model " + ops.name + " (" +
                                  known() + ")");
}

}  // namespace

std::vector<double> LayerSpec::neuron_values() const {
  const NeuronModelOps& ops = find_neuron_model(neuron_model);
  check_names(*this, ops);
  std::vector<double> v(ops.params);
  for (int k = 0; k < ops.params; ++k) v[k] = ops.param_info[k].value;
  if (ops.name == "fhn") v = {a, b, g, I};
  for (const auto& [name, value] : neuron_params) v[ops.param_index(name)] = value;
  return v;
}

std::vector<bool> LayerSpec::neuron_trained() const {
  const NeuronModelOps& ops = find_neuron_model(neuron_model);
  check_names(*this, ops);
  std::vector<bool> t(ops.params);
  for (int k = 0; k < ops.params; ++k) t[k] = trains(*this, ops, k);
  return t;
}

NeuronParamMaps LayerSpec::neuron_maps() const {
  const NeuronModelOps& ops = find_neuron_model(neuron_model);
  const std::vector<bool> trained = neuron_trained();
  NeuronParamMaps maps;
  maps.count = ops.params;
  for (int k = 0; k < ops.params; ++k)
    maps.m[k] = trained[k] && param_space == FhnParamSpace::kPhysical ? ops.param_info[k].map : FhnParamMap::kIdentity;
  return maps;
}

}  // namespace dynpmnn
