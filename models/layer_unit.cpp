#include "models/layer_unit.h"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>

namespace dynpmnn {

// models/layers/builtin.cpp: calls add once per built-in unit.
void register_builtin_layer_units(void (*add)(const LayerUnit&));

namespace {

std::map<std::string, const LayerUnit*, std::less<>>& units() {
  static std::map<std::string, const LayerUnit*, std::less<>> registry;
  return registry;
}

void add(const LayerUnit& unit) {
  if (!units().emplace(std::string(unit.kind()), &unit).second)
    throw std::logic_error("layer registry: a unit of kind '" + std::string(unit.kind()) + "' is already registered");
}

// The built-in units come first, before any look-up or other registration, whatever the order of
// static initialisation between files.
std::map<std::string, const LayerUnit*, std::less<>>& registry() {
  static const bool builtins = (register_builtin_layer_units(add), true);
  (void)builtins;
  return units();
}

}  // namespace

void register_layer_unit(const LayerUnit& unit) {
  (void)registry();
  add(unit);
}

const LayerUnit& layer_unit(std::string_view kind) {
  const auto& r = registry();
  const auto it = r.find(kind);
  if (it != r.end()) return *it->second;
  std::string known;
  for (const auto& [name, unit] : r) known += (known.empty() ? "" : ", ") + name;
  throw std::invalid_argument("unknown layer kind '" + std::string(kind) + "' (registered: " + known + ")");
}

std::vector<std::string> layer_kinds() {
  std::vector<std::string> out;
  for (const auto& [name, unit] : registry()) out.push_back(name);
  return out;
}

// What the model spec and the parameter table ask of each layer, answered by its unit.

void ModelSpec::validate() const {
  if (inputs <= 0) throw std::invalid_argument("model: inputs must be > 0");
  if (outputs <= 0) throw std::invalid_argument("model: outputs must be > 0");
  if (layers.empty()) throw std::invalid_argument("model: at least one layer is needed (layers >= 1)");
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const auto& L = layers[l];
    const std::string where = "layer " + std::to_string(l) + ": ";
    if (L.units <= 0) throw std::invalid_argument(where + "neurons must be > 0, got " + std::to_string(L.units));
    if (L.units > (1 << 24)) throw std::invalid_argument(where + "neurons = " + std::to_string(L.units) + " is absurd");
    try {
      layer_unit(L.kind).validate(L, where);
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      throw std::invalid_argument(what.rfind(where, 0) == 0 ? what : where + what);
    }
  }
}

int ModelSpec::layer_input_width(int layer) const {
  return layer == 0 ? inputs : layer_output_width(layer - 1);
}

int ModelSpec::layer_output_width(int layer) const {
  const auto& L = layers.at(layer);
  return layer_unit(L.kind).output_width(L);
}

ParamTable::ParamTable(const ModelSpec& spec) {
  spec.validate();
  for (int l = 0; l < static_cast<int>(spec.layers.size()); ++l)
    layer_unit(spec.layers[l].kind).add_params(spec.layers[l], l, spec.layer_input_width(l), *this);
  const int last = spec.layer_output_width(static_cast<int>(spec.layers.size()) - 1);
  add("readout.weight", ParamKind::kWeight, -1, {spec.outputs, last}, true, ParamInit::uniform_fan_in(last));
  add("readout.bias", ParamKind::kBias, -1, {spec.outputs}, true, ParamInit::uniform_fan_in(last));
}

std::unique_ptr<GpuLayer> LayerUnit::make_gpu(const LayerContext& at, const GpuLayerResources&) const {
  throw std::logic_error("layer " + std::to_string(at.layer) + ": the " + std::string(kind()) +
                         " unit has no CUDA half in this build");
}

}  // namespace dynpmnn
